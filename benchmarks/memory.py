"""Memory benchmark: 400 scenario comparisons with distinct parameters against `geo-app serve`.

Starts the production server (waitress, 8 threads) on loopback, warms it with one comparison per
scenario (so the network inputs and both scenario graphs are built: fixed costs), then sends 400
``GET /api/scenarios/<name>/compare`` with distinct (scenario, mode, minutes, cell) from 4 clients,
sampling the server's resident memory (psutil) every 0.2 s. Before the caches were bounded the
scenario "before" cache grew by 2.2 GB over 400 such requests; the acceptance is < 200 MB.

    .venv/bin/python benchmarks/memory.py [--requests 400] [--clients 4]

Last line ``rss_growth_mb=``; exit 1 when the growth is 200 MB or more or a request failed.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import sys
import tempfile
import threading
import time

import psutil
from load import free_port, start_server, token

SCENARIOS = ("fast_rail_changchun", "trunk_roads_first_class")
LIMIT_MB = 200


def distinct_params(n: int, seed: int = 14) -> list[str]:
    """``n`` distinct compare URLs (scenario, mode, minutes 1-240, cell 100-2000 m in 50 m steps)."""
    rng = random.Random(seed)
    grid = list(itertools.product(SCENARIOS, ("car", "rail", "best"), range(1, 241), range(100, 2001, 50)))
    picks = rng.sample(grid, n)
    return [f"/api/scenarios/{s}/compare?mode={m}&minutes={t}&cell={c}" for s, m, t, c in picks]


def fetch(conn: http.client.HTTPConnection, url: str, auth: str) -> int:
    conn.request("GET", url, headers={"Authorization": auth})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def sample_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        out.append(proc.memory_info().rss)
        stop.wait(0.2)


def run(port: int, auth: str, urls: list[str], clients: int) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()
    work = iter(urls)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for url in iter(lambda: next(work, None), None):
            status = fetch(conn, url, auth)
            with lock:
                statuses.append(status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="geo-app-memory-") as instance:
        port = free_port()
        proc = start_server(instance, port)
        try:
            auth = "Bearer " + token(instance)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            warm = [fetch(conn, f"/api/scenarios/{s}/compare", auth) for s in SCENARIOS]
            conn.close()
            server = psutil.Process(proc.pid)
            rss0 = server.memory_info().rss
            samples: list[int] = []
            stop = threading.Event()
            sampler = threading.Thread(target=sample_rss, args=(proc.pid, stop, samples))
            sampler.start()
            t0 = time.time()
            statuses = run(port, auth, distinct_params(args.requests), args.clients)
            wall = time.time() - t0
            stop.set()
            sampler.join()
            rss1 = server.memory_info().rss
        finally:
            proc.terminate()
            proc.wait(10)
    growth = (rss1 - rss0) / 2**20
    report = {"requests": len(statuses), "clients": args.clients, "seconds": round(wall, 1),
              "ok": statuses.count(200), "warm_statuses": warm, "rss_before_mb": round(rss0 / 2**20, 1),
              "rss_after_mb": round(rss1 / 2**20, 1), "rss_peak_mb": round(max(samples, default=rss1) / 2**20, 1)}
    print(json.dumps(report))
    print(f"rss_growth_mb={growth:.1f} (limit {LIMIT_MB})")
    return 0 if growth < LIMIT_MB and statuses.count(200) == len(statuses) == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
