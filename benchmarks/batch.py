"""Batch accessibility scaling: metro extent, every destination, 2 modes, on 1 and on 2 Dask workers.

Runs :func:`geo_app.analysis.batch.batch_reach` (the code behind ``geo-app batch reach``) over the
union of the 36 metro counties at ``--cell`` metres (100 m: ~8.3 M cells) to ``--max-destinations``
of the 41 places (36 county seats + 5 prefecture cities) x ``--modes``, once per worker count of a
``LocalCluster`` (one thread per worker). The cluster start is not timed; everything else is (the
one-to-all searches, snapping, evaluation, summaries and writing the GeoParquet parts).

Reports per run: cells, columns, wall time, cells x destinations per second, the speed-up against
the first run, the CPU seconds of the worker processes, and peak memory = the sum over every
process of the run (this one, the nannies and the workers) of its peak RSS (``VmHWM``). The load
average is printed as well: on a machine shared with other jobs the speed-up measures the share of
the cores the run got, not the code. The last line is ``RESULT {json}``.

    python benchmarks/batch.py                       # full size: 100 m, 41 destinations, car+best
    python benchmarks/batch.py --cell 250 --max-destinations 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import psutil

from geo_app.analysis import batch
from geo_app.config import defaults
from geo_app.network.graph import load_graph


class PeakRSS:
    """Sample the peak RSS (VmHWM) of this process and all its descendants until stopped."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _hwm(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return psutil.Process(pid).memory_info().rss
        except psutil.Error:
            return 0

    def sample(self) -> None:
        me = psutil.Process()
        procs = [me, *me.children(recursive=True)]
        for p in procs:
            self.peaks[p.pid] = max(self.peaks.get(p.pid, 0), self._hwm(p.pid))
            if p.pid != me.pid:
                try:
                    t = p.cpu_times()
                    self.cpu[p.pid] = max(self.cpu.get(p.pid, 0.0), t.user + t.system)
                except psutil.Error:
                    pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    @property
    def total_bytes(self) -> int:
        return sum(self.peaks.values())


def run(n_workers: int, args: argparse.Namespace, graph, extent, dests, counties, towns, out: Path) -> dict:
    with batch.dask_client(None, n_workers) as client:
        client.run(lambda: None)  # workers up
        with PeakRSS() as mem:
            cpu0 = sum(mem.cpu.values())
            load0 = os.getloadavg()[0]
            res = batch.batch_reach({"base": graph}, extent, dests, args.modes.split(","), out, client=client,
                                    cell_m=args.cell, chunk_cells=args.chunk_cells, counties=counties,
                                    townships=towns, progress=not args.quiet)
            mem.sample()
            load1 = os.getloadavg()[0]
        worker_cpu = sum(mem.cpu.values()) - cpu0
    size = sum(p.stat().st_size for p in out.glob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    return {"workers": n_workers, "cells": res.cells, "columns": len(res.columns), "chunks": res.chunks,
            "wall_s": round(res.seconds, 2), "one_to_all_s": round(res.timings.get("one_to_all_s", 0.0), 2),
            "cell_dest_per_s": round(res.cell_destinations_per_s), "worker_cpu_s": round(worker_cpu, 1),
            "cell_dest_per_worker_cpu_s": round(res.cells * len(res.columns) / worker_cpu) if worker_cpu else None,
            "peak_rss_gb": round(mem.total_bytes / 2**30, 3), "output_gb": round(size / 2**30, 3),
            "loadavg_start": round(load0, 2), "loadavg_end": round(load1, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", type=float, default=100.0, help="cell size in metres (default 100)")
    ap.add_argument("--max-destinations", type=int, default=41, help="first N of the 41 places (default all)")
    ap.add_argument("--modes", default="car,best")
    ap.add_argument("--workers", default="1,2", help="comma list of LocalCluster sizes (default 1,2)")
    ap.add_argument("--chunk-cells", type=int, default=batch.DEFAULT_CHUNK_CELLS)
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds over the worker counts; the fastest run per count is reported (shared machines)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args()

    cfg = defaults()
    data = Path(cfg["DATA_DIR"])
    graph = load_graph(cfg)
    extent = batch.load_extent("metro", data)
    dests = batch.load_destinations("seats", data)[: args.max_destinations]
    counties, towns = batch.load_units(data)
    grid = batch.Grid.covering(extent.bounds, args.cell)
    print(f"metro extent {extent.area / 1e6:,.0f} km2, grid {grid.width} x {grid.height} at {args.cell:g} m; "
          f"{len(dests)} destinations x {args.modes}; cores {os.cpu_count()}, loadavg {os.getloadavg()[0]:.2f}",
          flush=True)
    best: dict[int, dict] = {}
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="geoapp-batch-bench-") as tmp:
        for rnd in range(args.repeat):
            for n in counts:
                r = run(n, args, graph, extent, dests, counties, towns, Path(tmp) / f"w{n}.parquet")
                print(f"[round {rnd + 1}] {n} worker(s): {r['cells']:,} cells x {r['columns']} columns in "
                      f"{r['wall_s']:.1f} s = {r['cell_dest_per_s'] / 1e6:.2f} M cell-destinations/s, "
                      f"worker CPU {r['worker_cpu_s']:.0f} s, peak RSS (sum) {r['peak_rss_gb']:.2f} GB, "
                      f"output {r['output_gb']:.2f} GB, loadavg {r['loadavg_start']:.1f}->{r['loadavg_end']:.1f}",
                      flush=True)
                if n not in best or r["wall_s"] < best[n]["wall_s"]:
                    best[n] = r
    rows = [best[n] for n in counts]
    for r in rows:
        r["speedup"] = round(r["cell_dest_per_s"] / rows[0]["cell_dest_per_s"], 2)
        print(f"best of {args.repeat}: {r['workers']} worker(s) {r['wall_s']:.1f} s, "
              f"{r['cell_dest_per_s'] / 1e6:.2f} M cell-destinations/s, speed-up x{r['speedup']}, "
              f"peak RSS (sum) {r['peak_rss_gb']:.2f} GB")
    print("RESULT " + json.dumps({"cell_m": args.cell, "destinations": len(dests), "modes": args.modes,
                                  "runs": rows}))


if __name__ == "__main__":
    main()
