"""Load test: `geo-app serve` (waitress) under 20 concurrent clients on loopback, then 8 slow uploads.

Mix: 50 % layer GeoJSON, 30 % isochrones, 10 % the overview page `/`, 10 % review posts. Reports
requests/s, p50/p95/p99 latency (and p95 per kind) and errors, and checks that every accepted review
was stored (count after = accepted posts). Then, for ``--upload-seconds``, 8 editors upload a 1.5 MB
GeoJSON each, trickled over ~1.5 s, again and again (a 503 from the full upload pool is retried after
its Retry-After), while a probe asks for ``/api/layers/boundary`` every 0.25 s: its latency is the
figure that shows uploads cannot make the service unanswerable. Bounded in time and count; talks
only to 127.0.0.1.

    .venv/bin/python benchmarks/load.py [--clients 20] [--seconds 60] [--uploads 8] [--upload-seconds 30]

The baseline printed beside it is the same mix run by ONE client (no concurrency), so
the ratio is the throughput gained by serving clients in parallel. Exit 1 on any error, a lost
review, `/` p95 >= 1 s or a probe slower than 2 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LAYERS = ["boundary", "towns", "roads", "rail_lines", "stations", "places", "parks", "logistics", "metro_counties"]
MAX_REQUESTS_PER_CLIENT = 100_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(instance: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "GEO_APP_INSTANCE": instance}
    for name, role in (("load", "planner"), ("load-editor", "editor")):
        subprocess.run([str(BIN / "geo-app"), "users", "add", name, "--role", role, "--password",
                        "load-test-password"], env=env, check=True, capture_output=True)
    # The server's output goes to a file, never to an unread pipe: under load waitress logs
    # "task queue depth" warnings, and a full pipe would block its main loop.
    log = Path(instance) / "serve.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(BIN / "geo-app"), "serve", "--port", str(port), "--threads", "8"], env=env,
                                stdout=fh, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if "serving on" in log.read_text():
            return proc
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start: " + log.read_text()[-2000:])


def token(instance: str, name: str = "load") -> str:
    env = {**os.environ, "GEO_APP_INSTANCE": instance}
    out = subprocess.run([str(BIN / "geo-app"), "users", "token", name], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"geo-app users token {name} failed: {out.stderr.strip()[-1000:]}")
    return out.stdout.strip()


def request(conn: http.client.HTTPConnection, rng: random.Random, auth: str) -> tuple[str, int, float]:
    roll = rng.random()
    headers = {"Authorization": auth}
    if roll < 0.5:
        kind, method, path, body = "layers", "GET", f"/api/layers/{rng.choice(LAYERS)}", None
    elif roll < 0.6:
        kind, method, path, body = "overview", "GET", "/", None
    elif roll < 0.9:
        lon, lat = rng.uniform(125.45, 125.9), rng.uniform(42.3, 42.75)
        kind, method, body = "isochrones", "GET", None
        path = f"/api/isochrones?lon={lon:.5f}&lat={lat:.5f}&minutes=30,60,90,120&mode=best"
    else:
        lon, lat = rng.uniform(125.5, 125.8), rng.uniform(42.4, 42.6)
        kind, method, path = "reviews", "POST", "/api/reviews"
        body = json.dumps({"geometry": {"type": "Point", "coordinates": [lon, lat]}, "sector": "商贸物流"})
        headers["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return kind, resp.status, time.perf_counter() - t0


def run(port: int, auth: str, clients: int, seconds: float) -> dict:
    results: list[tuple[str, int, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local = []
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.time() >= stop:
                break
            try:
                local.append(request(conn, rng, auth))
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            results.extend(local)

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    lat = sorted(r[2] for r in results)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    kinds = ("layers", "overview", "isochrones", "reviews")
    return {
        "clients": clients, "seconds": round(wall, 1), "requests": len(results),
        "rps": round(len(results) / wall, 1), "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "errors": len(errors) + sum(1 for r in results if r[1] >= 500),
        "non_2xx": sum(1 for r in results if not 200 <= r[1] < 300),
        "accepted_reviews": sum(1 for r in results if r[0] == "reviews" and r[1] == 201),
        "by_kind": {k: sum(1 for r in results if r[0] == k) for k in kinds},
        "p95_ms_by_kind": {k: p95_ms([r[2] for r in results if r[0] == k]) for k in kinds},
    }


def p95_ms(values: list[float]) -> float | None:
    """The 95th percentile in milliseconds (None for fewer than two values)."""
    return round(statistics.quantiles(values, n=100)[94] * 1000, 1) if len(values) > 1 else None


def stored_reviews(port: int, auth: str) -> int:
    """How many reviews are stored (the list is paged: every page is counted)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    url: str | None = "/api/reviews?format=json"
    total = 0
    while url is not None:
        conn.request("GET", url, headers={"Authorization": auth})
        page = json.loads(conn.getresponse().read())
        total += page["count"]
        url = page.get("next")
    conn.close()
    return total


def upload_body(vertices: int = 1500) -> tuple[bytes, str]:
    """A multipart upload of 25 township polygons (SYNTHETIC circles, ~1.5 MB) for the towns layer."""
    towns = json.loads((ROOT / "data" / "towns.geojson").read_text(encoding="utf-8"))["features"]
    features = []
    for i, town in enumerate(towns[:25]):
        cx, cy = 125.45 + 0.09 * (i % 5), 42.30 + 0.09 * (i // 5)
        ring = [[round(cx + 0.04 * math.cos(a), 6), round(cy + 0.04 * math.sin(a), 6)]
                for a in (2 * math.pi * k / vertices for k in range(vertices))]
        features.append({"type": "Feature", "properties": {"name": town["properties"]["name_zh"]},
                         "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}})
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    boundary = "geoappload"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"layer\"\r\n\r\ntowns\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"towns.geojson\"\r\n"
            "Content-Type: application/geo+json\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def editor_session(port: int, auth: str) -> dict[str, str]:
    """Headers of an editor's upload: the token, the session cookie and its CSRF token (from /data)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/data", headers={"Authorization": auth})
    resp = conn.getresponse()
    html = resp.read().decode("utf-8")
    cookie = "; ".join(v.split(";", 1)[0] for k, v in resp.getheaders() if k.lower() == "set-cookie")
    conn.close()
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
    return {"Authorization": auth, "Cookie": cookie, "X-CSRFToken": csrf}


def slow_upload(port: int, headers: dict[str, str], body: bytes, ctype: str) -> tuple[int, float]:
    """Send one upload trickled in 32 KB pieces (~1.5 s); return its status and Retry-After."""
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Type": ctype,
                                                 "Content-Length": str(len(body))}.items())
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(f"POST /data/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
        for i in range(0, len(body), 32768):
            sock.sendall(body[i:i + 32768])
            time.sleep(0.03)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        resp.read()
        return resp.status, float(resp.getheader("Retry-After") or 0)


def uploads_phase(port: int, auth: str, editor: str, n: int, seconds: float) -> dict:
    """``n`` editors upload again and again while a probe times ``/api/layers/boundary``."""
    body, ctype = upload_body()
    stop = time.time() + seconds
    statuses: list[int] = []
    probes: list[float] = []
    lock = threading.Lock()

    def uploader() -> None:
        headers = editor_session(port, editor)
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.time() >= stop:
                break
            status, retry = slow_upload(port, headers, body, ctype)
            with lock:
                statuses.append(status)
            if status == 503:
                time.sleep(min(retry, max(0.0, stop - time.time())))

    def probe() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.time() < stop:
            t0 = time.perf_counter()
            conn.request("GET", "/api/layers/boundary", headers={"Authorization": auth})
            resp = conn.getresponse()
            resp.read()
            probes.append(time.perf_counter() - t0 if resp.status == 200 else math.inf)
            time.sleep(0.25)
        conn.close()

    threads = [threading.Thread(target=uploader) for _ in range(n)] + [threading.Thread(target=probe)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"uploads": n, "seconds": seconds, "upload_mb": round(len(body) / 1e6, 2),
            "processed": sum(1 for s in statuses if s != 503), "busy_503": statuses.count(503),
            "errors": sum(1 for s in statuses if s >= 500 and s != 503), "probes": len(probes),
            "probe_p50_ms": round(statistics.median(probes) * 1000, 1) if probes else None,
            "probe_p95_ms": p95_ms(probes), "probe_max_ms": round(max(probes, default=math.inf) * 1000, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--uploads", type=int, default=8)
    ap.add_argument("--upload-seconds", type=float, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="geo-app-load-") as instance:
        port = free_port()
        proc = start_server(instance, port)
        try:
            auth = "Bearer " + token(instance)
            editor = "Bearer " + token(instance, "load-editor")  # before the load: the CLI writes users.sqlite3
            base = run(port, auth, 1, min(15.0, args.seconds))
            before = stored_reviews(port, auth)
            load = run(port, auth, args.clients, args.seconds)
            after = stored_reviews(port, auth)
            up = uploads_phase(port, auth, editor, args.uploads, args.upload_seconds)
        finally:
            proc.terminate()
            proc.wait(10)
    lost = load["accepted_reviews"] - (after - before)
    print(f"baseline (1 client): {json.dumps(base)}")
    print(f"load ({args.clients} clients): {json.dumps(load)}")
    print(f"reviews accepted={load['accepted_reviews']} stored={after - before} lost={lost}")
    print(f"uploads ({args.uploads} slow editors): {json.dumps(up)}")
    print(f"ratio_rps_vs_single_client={load['rps'] / max(base['rps'], 1e-9):.2f}")
    overview = load["p95_ms_by_kind"]["overview"]
    ok = load["errors"] == 0 and lost == 0 and load["non_2xx"] == 0 and up["errors"] == 0
    return 0 if ok and overview is not None and overview < 1000 and up["probe_max_ms"] < 2000 else 1


if __name__ == "__main__":
    sys.exit(main())
