"""Load test: `geo-app serve` (waitress) under 20 concurrent clients on loopback.

Mix: 60 % layer GeoJSON, 30 % isochrones, 10 % review posts. Reports requests/s,
p50/p95/p99 latency and errors, and checks that every accepted review was stored
(count after = accepted posts). Bounded in time and count; talks only to 127.0.0.1.

    .venv/bin/python benchmarks/load.py [--clients 20] [--seconds 60]

The baseline printed beside it is the same mix run by ONE client (no concurrency), so
the ratio is the throughput gained by serving clients in parallel.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
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
    subprocess.run([str(BIN / "geo-app"), "users", "add", "load", "--role", "planner", "--password",
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


def token(instance: str) -> str:
    env = {**os.environ, "GEO_APP_INSTANCE": instance}
    out = subprocess.run([str(BIN / "geo-app"), "users", "token", "load"], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def request(conn: http.client.HTTPConnection, rng: random.Random, auth: str) -> tuple[str, int, float]:
    roll = rng.random()
    headers = {"Authorization": auth}
    if roll < 0.6:
        kind, method, path, body = "layers", "GET", f"/api/layers/{rng.choice(LAYERS)}", None
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
    return {
        "clients": clients, "seconds": round(wall, 1), "requests": len(results),
        "rps": round(len(results) / wall, 1), "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "errors": len(errors) + sum(1 for r in results if r[1] >= 500),
        "non_2xx": sum(1 for r in results if not 200 <= r[1] < 300),
        "accepted_reviews": sum(1 for r in results if r[0] == "reviews" and r[1] == 201),
        "by_kind": {k: sum(1 for r in results if r[0] == k) for k in ("layers", "isochrones", "reviews")},
    }


def stored_reviews(port: int, auth: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/api/reviews?format=json", headers={"Authorization": auth})
    return json.loads(conn.getresponse().read())["count"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="geo-app-load-") as instance:
        port = free_port()
        proc = start_server(instance, port)
        try:
            auth = "Bearer " + token(instance)
            base = run(port, auth, 1, min(15.0, args.seconds))
            before = stored_reviews(port, auth)
            load = run(port, auth, args.clients, args.seconds)
            after = stored_reviews(port, auth)
        finally:
            proc.terminate()
            proc.wait(10)
    lost = load["accepted_reviews"] - (after - before)
    print(f"baseline (1 client): {json.dumps(base)}")
    print(f"load ({args.clients} clients): {json.dumps(load)}")
    print(f"reviews accepted={load['accepted_reviews']} stored={after - before} lost={lost}")
    print(f"ratio_rps_vs_single_client={load['rps'] / max(base['rps'], 1e-9):.2f}")
    return 0 if load["errors"] == 0 and lost == 0 and load["non_2xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
