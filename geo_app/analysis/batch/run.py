"""The Dask side of a batch run: the client, the driver :func:`batch_reach` and the chunk task."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from ...network.graph import TravelGraph
from ...network.roads import METRIC_CRS, to_metric
from .chunk import Spec, compute_chunk
from .grid import THRESHOLDS, Column, Destination, Grid, Unit
from .parquet import _summary, write_empty_part, write_part
from .portable import PortableGraph, _reached, _stack, node_times_to

DEFAULT_CHUNK_CELLS = 200_000
DEFAULT_MAX_MINUTES = 240.0
BASE_SCENARIO = "base"

Progress = bool | Callable[[int, int], None]


@dataclass
class BatchResult:
    """What :func:`batch_reach` wrote and measured."""

    out: Path
    counties_csv: Path | None
    townships_csv: Path | None
    cells: int
    columns: list[str]
    chunks: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def cell_destinations_per_s(self) -> float:
        """Cells x columns evaluated per second of wall time."""
        return self.cells * len(self.columns) / self.seconds if self.seconds > 0 else float("nan")


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2, *, processes: bool = True,
                memory_limit: str | int = "auto") -> Iterator[Any]:
    """A ``distributed.Client``: on a running scheduler, else on a fresh ``LocalCluster``.

    Parameters
    ----------
    scheduler
        Scheduler address (``tcp://HOST:PORT``); None starts a LocalCluster.
    n_workers
        LocalCluster workers (one thread each).
    processes
        LocalCluster workers as processes (True) or threads in this process (tests).
    memory_limit
        Per-worker memory limit of the LocalCluster.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    where = {"host": "127.0.0.1"} if processes else {}  # threads talk in-process (inproc://)
    with LocalCluster(n_workers=int(n_workers), threads_per_worker=1, processes=processes,
                      dashboard_address=":0", memory_limit=memory_limit, **where) as cluster, \
            Client(cluster) as client:
        yield client


def batch_reach(graphs: Mapping[str, TravelGraph], extent: BaseGeometry, destinations: Sequence[Destination],
                modes: Sequence[str], out: Path | str, *, client: Any, cell_m: float = 100.0,
                chunk_cells: int = DEFAULT_CHUNK_CELLS, max_minutes: float = DEFAULT_MAX_MINUTES,
                counties: Sequence[Unit] = (), townships: Sequence[Unit] = (), progress: Progress = True,
                meta: Mapping[str, Any] | None = None) -> BatchResult:
    """Compute travel time from every extent cell to every destination and write GeoParquet.

    Parameters
    ----------
    graphs
        ``{scenario name: TravelGraph}`` (``base`` for today's network). Scenarios whose road
        layer has the same nodes share one k-nearest snapping per chunk; others snap on their own.
    extent
        Extent polygon in EPSG:32651.
    destinations
        Destination points.
    modes
        Subset of ``car``, ``rail``, ``best``.
    out
        Output path (``OUT.parquet``): a GeoParquet dataset folder with one part file per chunk
        (``part-00000.parquet``, ...; ``geopandas.read_parquet(OUT)`` reads it whole, in cell
        order). The workers write the parts, so with a remote scheduler ``out`` must be on storage
        the workers share. A previous ``out`` is replaced only when the run succeeds. The summaries
        go next to it: ``<stem>.counties.csv`` and ``<stem>.townships.csv`` (when units are given).
    client
        A ``distributed.Client`` (see :func:`dask_client`).
    cell_m
        Cell size in metres (EPSG:32651 lattice).
    chunk_cells
        Grid cells per chunk (a row band); bounds the memory of a task.
    max_minutes
        Cells slower than this are NaN; also the Dijkstra limit.
    counties, townships
        Summary units (EPSG:32651 geometries).
    progress
        Show a tqdm bar on stderr (True), nothing (False) or call ``progress(done, total)``.
    meta
        Extra JSON-safe metadata stored under the ``geo_app`` key of each part's Parquet schema.

    Returns
    -------
    BatchResult
    """
    t_start = time.perf_counter()
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    grid = Grid.covering(extent.bounds, cell_m)
    bands = grid.bands(chunk_cells)
    columns = [Column(d, m, s) for s in graphs for d in destinations for m in modes]
    job = _prepare(client, graphs, extent, destinations, columns, grid, max_minutes, (counties, townships), meta)
    totals = _run_chunks(client, job, bands, out, progress)
    counties_csv = _write_summary(out, "counties", counties, columns, totals.counts[0], totals.unit_cells[0])
    townships_csv = _write_summary(out, "townships", townships, columns, totals.counts[1], totals.unit_cells[1])
    seconds = time.perf_counter() - t_start
    timings = {"one_to_all_s": job.ready_at - t_start, "total_s": seconds}
    return BatchResult(out, counties_csv, townships_csv, totals.cells, job.names, len(bands), seconds, timings)


@dataclass
class _Job:
    """What every chunk task needs, as scattered data and futures on the cluster (client side only)."""

    grid: Grid
    graph_f: dict[str, Any]
    extent_f: Any
    units_f: Any
    node_f: dict[str, Any]
    spec: list[tuple[str, str, float, float]]
    max_minutes: float
    snap_of: dict[str, str]
    names: list[str]
    meta: dict[str, Any]
    n_units: tuple[int, int]
    ready_at: float  # perf_counter() when the reverse node times were all computed


@dataclass
class _Totals:
    """Running sums of what the chunk tasks send back: cells, and per (county, township) level the counts."""

    counts: list[np.ndarray]
    unit_cells: list[np.ndarray]
    cells: int = 0

    @classmethod
    def zeros(cls, n_units: tuple[int, int], n_columns: int) -> _Totals:
        """All-zero sums for ``n_units`` (counties, townships) and ``n_columns`` columns."""
        return cls([np.zeros((n, n_columns, len(THRESHOLDS)), dtype=np.int64) for n in n_units],
                   [np.zeros(n, dtype=np.int64) for n in n_units])

    def add(self, res: Mapping[str, Any]) -> None:
        """Add one :func:`_chunk_task` result."""
        self.cells += res["cells"]
        for i, level in enumerate(("county", "township")):
            self.counts[i] += res[f"counts_{level}"]
            self.unit_cells[i] += res[f"cells_{level}"]


def _prepare(client: Any, graphs: Mapping[str, TravelGraph], extent: BaseGeometry,
             destinations: Sequence[Destination], columns: Sequence[Column], grid: Grid, max_minutes: float,
             units: tuple[Sequence[Unit], Sequence[Unit]], meta: Mapping[str, Any] | None) -> _Job:
    """Scatter the inputs and compute the reverse node times (one task per column), then wait for them."""
    from distributed import wait

    scen_names = list(graphs)
    limit_s = float(max_minutes) * 60.0
    graph_f = {s: client.scatter(PortableGraph(graphs[s]), broadcast=True, hash=False) for s in scen_names}
    extent_f = client.scatter(extent, broadcast=True, hash=False)
    units_f = client.scatter((list(units[0]), list(units[1])), broadcast=True, hash=False)
    # One reverse one-to-all per destination x mode x scenario, as tasks; stacked per scenario.
    node_f = {s: client.submit(_stack, *[client.submit(node_times_to, graph_f[s], c.destination.lonlat, c.mode,
                                                       limit_s, pure=False)
                                         for c in columns if c.scenario == s], pure=False) for s in scen_names}
    wait(list(node_f.values()))
    ready_at = time.perf_counter()
    reached = {s: iter(client.submit(_reached, node_f[s], pure=False).result()) for s in scen_names}
    no_network = {c.name: not bool(next(reached[c.scenario])) for c in columns}
    return _Job(grid, graph_f, extent_f, units_f, node_f, _spec(destinations, columns), float(max_minutes),
                _snap_groups(graphs), [c.name for c in columns],
                _metadata(grid, max_minutes, columns, no_network, meta), (len(units[0]), len(units[1])), ready_at)


def _spec(destinations: Sequence[Destination], columns: Sequence[Column]) -> list[tuple[str, str, float, float]]:
    """``(scenario, mode, dest_x, dest_y)`` per column, the destination in EPSG:32651."""
    metric = to_metric(np.array([d.lonlat for d in destinations], dtype=float))
    dest_xy = {d.key: (float(x), float(y)) for d, (x, y) in zip(destinations, metric, strict=True)}
    return [(c.scenario, c.mode, *dest_xy[c.destination.key]) for c in columns]


def _snap_groups(graphs: Mapping[str, TravelGraph]) -> dict[str, str]:
    """``{scenario: representative}``: scenarios with the same road nodes and access rules share one snapping."""
    snap_of: dict[str, str] = {}
    for s in graphs:
        snap_of[s] = next((r for r in dict.fromkeys(snap_of.values())
                           if graphs[r].n_road == graphs[s].n_road
                           and np.array_equal(graphs[r].node_xy, graphs[s].node_xy)
                           and graphs[r].params.get("access") == graphs[s].params.get("access")), s)
    return snap_of


def _metadata(grid: Grid, max_minutes: float, columns: Sequence[Column], no_network: Mapping[str, bool],
              meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``geo_app`` metadata of every part file: grid, thresholds and one entry per column."""
    return {"cell_m": float(grid.cell_m), "crs": METRIC_CRS, "max_minutes": float(max_minutes),
            "grid": dataclasses.asdict(grid), "cell_id": "row * grid.width + col, row 0 = north",
            "thresholds": list(THRESHOLDS),
            "columns": [{"name": c.name, "destination": c.destination.key, "destination_name": c.destination.name,
                         "lon": c.destination.lonlat[0], "lat": c.destination.lonlat[1], "mode": c.mode,
                         "scenario": c.scenario, "units": "minutes", "direction": "to",
                         "no_network_nearby": no_network[c.name]} for c in columns],
            **(dict(meta) if meta else {})}


def _run_chunks(client: Any, job: _Job, bands: Sequence[tuple[int, int]], out: Path, progress: Progress) -> _Totals:
    """Run one task per band into a scratch folder, then put it in place of ``out``; the summed counts."""
    from distributed import as_completed

    work = out.with_name(f".{out.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bar = _progress_bar(progress, len(bands))
    totals = _Totals.zeros(job.n_units, len(job.names))
    futures = [client.submit(_chunk_task, job.graph_f, job.grid, band, job.extent_f, job.node_f, job.spec,
                             job.max_minutes, job.units_f, job.snap_of, job.names, job.meta,
                             str(work / f"part-{i:05d}.parquet"), pure=False)
               for i, band in enumerate(bands)]
    try:
        for done, fut in enumerate(as_completed(futures), start=1):
            res = fut.result()
            fut.release()
            totals.add(res)
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(done, len(bands))
        if totals.cells == 0:  # keep the dataset readable: one empty part with the schema
            write_empty_part(job.names, job.meta, work / "part-00000.parquet")
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        work.replace(out)
    finally:
        client.cancel(futures)
        if bar is not None:
            bar.close()
        shutil.rmtree(work, ignore_errors=True)
    return totals


def _progress_bar(progress: Progress, total: int) -> Any:
    """A tqdm bar on stderr when ``progress`` is True, else None."""
    if progress is not True:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="batch reach", smoothing=0.1)


def _write_summary(out: Path, kind: str, units: Sequence[Unit], columns: Sequence[Column], counts: np.ndarray,
                   cells: np.ndarray) -> Path | None:
    """Write ``<stem>.<kind>.csv`` next to ``out`` when there are units; its path or None."""
    if not units:
        return None
    path = out.with_name(f"{out.stem}.{kind}.csv")
    _summary(units, columns, counts, cells).to_csv(path, index=False)
    return path


def _chunk_task(graphs: Mapping[str, PortableGraph], grid: Grid, band: tuple[int, int], extent: BaseGeometry,
                node_t: Mapping[str, np.ndarray], spec: Spec, max_minutes: float,
                units: tuple[list[Unit], list[Unit]], snap_of: Mapping[str, str], names: Sequence[str],
                meta: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Dask task: compute one row band, write its part file, return the cell count and summary counts."""
    part = compute_chunk(graphs, grid, band, extent, node_t, spec, max_minutes, units[0], units[1], snap_of)
    n = len(part["cell_id"])
    if n:
        write_part(part, names, meta, path)
    return {"cells": n, **{k: v for k, v in part.items() if k.startswith(("counts_", "cells_"))}}
