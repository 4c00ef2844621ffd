"""Batch accessibility on Dask: travel time from every cell of an extent to many destinations.

For each destination x mode x scenario there is ONE reverse one-to-all search (direction
``to``) on that scenario's :class:`~geo_app.network.graph.TravelGraph`. The extent's cells are
then processed in row bands ("chunks") on Dask workers: a chunk snaps its cell centres to the k
nearest road-layer nodes once and evaluates every destination column with the formula of
:func:`geo_app.analysis.surface.travel_time_surface` (min over the k nodes of node time +
access, and for ``car``/``best`` the direct off-network trip), so a batch column equals that
surface cell for cell. Cells lie on the same global lattice of ``cell_m`` in EPSG:32651 (cell
``(gx, gy)`` spans ``[gx*cell, (gx+1)*cell) x [gy*cell, (gy+1)*cell)``); a cell belongs to the
extent when its centre lies in the extent polygon.

Memory is bounded: a task holds one chunk, and the worker that computed it writes it as one
part file of the output GeoParquet dataset (``OUT.parquet/part-NNNNN.parquet``), so no process
ever holds all cells and the (serial) encoding is spread over the workers too. Only per-county
and per-township counts of cells within 60/90/120 min travel back to the client, which adds
them up and writes two summary CSVs.

Nothing here imports Flask.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from affine import Affine
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from ..errors import NoNetworkNearby
from ..network.graph import TravelGraph
from ..network.roads import METRIC_CRS, to_metric

THRESHOLDS = (60, 90, 120)
DEFAULT_CHUNK_CELLS = 200_000
DEFAULT_MAX_MINUTES = 240.0
BASE_SCENARIO = "base"
_BLOCK = 8192  # cells per inner block of the evaluation loop (fits in L1/L2 with k = 4)


# --- inputs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Destination:
    """One destination point.

    Attributes
    ----------
    key
        Short ASCII key used in column names (``adcode`` for the shipped places).
    name
        Display name (e.g. ``长春市``).
    lonlat
        WGS84 (lon, lat).
    """

    key: str
    name: str
    lonlat: tuple[float, float]


@dataclass(frozen=True)
class Column:
    """One output column: a destination, a mode and a scenario."""

    destination: Destination
    mode: str
    scenario: str

    @property
    def name(self) -> str:
        """Column name in the output, e.g. ``min_220100_car_base``."""
        return f"min_{self.destination.key}_{self.mode}_{self.scenario}"


@dataclass(frozen=True)
class Unit:
    """A summary unit (county or township); ``geometry`` in EPSG:32651 or None (no boundary)."""

    level: str
    code: str
    name_zh: str
    geometry: BaseGeometry | None


@dataclass(frozen=True)
class Grid:
    """The extent's cells on the global lattice: columns ``gx0..gx0+width``, rows ``gy0..gy0+height``.

    Row 0 is the northern row (``gy = gy0 + height - 1``), as in a raster and in
    :class:`~geo_app.analysis.surface.Surface`.
    """

    cell_m: float
    gx0: int
    gy0: int
    width: int
    height: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], cell_m: float) -> Grid:
        """The lattice grid covering metric ``bounds`` (snapped outward, like the surface)."""
        x0, y0, x1, y1 = bounds
        cell = float(cell_m)
        gx0, gy0 = math.floor(x0 / cell), math.floor(y0 / cell)
        return cls(cell, gx0, gy0, max(1, math.ceil(x1 / cell) - gx0), max(1, math.ceil(y1 / cell) - gy0))

    @property
    def transform(self) -> Affine:
        """Affine transform of the whole grid (EPSG:32651)."""
        c = self.cell_m
        return Affine(c, 0.0, self.gx0 * c, 0.0, -c, (self.gy0 + self.height) * c)

    def bands(self, chunk_cells: int) -> list[tuple[int, int]]:
        """Row ranges ``[r0, r1)`` of about ``chunk_cells`` grid cells each."""
        rows = max(1, int(chunk_cells) // self.width)
        return [(r, min(r + rows, self.height)) for r in range(0, self.height, rows)]


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


# --- extents, destinations and units -----------------------------------------------------------
def _metric_union(frame: Any) -> BaseGeometry:
    """Union of a GeoDataFrame's geometries in EPSG:32651 (WGS84 assumed when it has no CRS)."""
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    return frame.to_crs(METRIC_CRS).geometry.union_all()


def load_extent(extent: str | Path, data_dir: Path) -> BaseGeometry:
    """The extent polygon in EPSG:32651.

    Parameters
    ----------
    extent
        ``metro`` (union of ``data/metro_counties.geojson``), ``county`` (``data/boundary.geojson``)
        or a polygon file any GDAL driver reads.
    data_dir
        The project data folder.
    """
    import geopandas as gpd

    from ..errors import ValidationError

    name = str(extent)
    path = {"metro": Path(data_dir) / "metro_counties.geojson",
            "county": Path(data_dir) / "boundary.geojson"}.get(name, Path(name))
    if not path.is_file():
        raise ValidationError(f"extent must be metro, county or a polygon file; {name!r} is none", field="extent")
    geom = _metric_union(gpd.read_file(path))
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValidationError(f"extent {name!r} holds no polygon", field="extent")
    return geom


def load_destinations(to: str | Path, data_dir: Path) -> list[Destination]:
    """Destinations by name.

    Parameters
    ----------
    to
        ``seats``: every place of ``data/places.geojson`` (36 county seats + 5 prefecture
        cities = 41); ``changchun``: the place whose ``destination`` is ``changchun``; or a
        point file (key from ``key``/``id``/``code``/``adcode``, name from ``name_zh``/``name``).
    data_dir
        The project data folder.
    """
    import geopandas as gpd

    from ..errors import ValidationError

    name = str(to)
    if name in ("seats", "changchun"):
        frame = gpd.read_file(Path(data_dir) / "places.geojson")
        if name == "changchun":
            frame = frame[frame["destination"] == "changchun"]
    elif Path(name).is_file():
        frame = gpd.read_file(name)
    else:
        raise ValidationError(f"--to must be seats, changchun or a point file; {name!r} is none", field="to")
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    key_col = next((c for c in ("key", "id", "code", "adcode") if c in frame.columns), None)
    name_col = next((c for c in ("name_zh", "name", "name_en") if c in frame.columns), None)
    out: list[Destination] = []
    for i, (row, geom) in enumerate(zip(frame.to_dict("records"), frame.geometry, strict=True)):
        if geom is None or geom.is_empty:
            continue
        pt = geom if geom.geom_type == "Point" else geom.representative_point()
        key = _slug(row.get(key_col) if key_col else None) or f"d{i}"
        out.append(Destination(key, str(row.get(name_col) if name_col else key), (float(pt.x), float(pt.y))))
    if not out:
        raise ValidationError(f"no destination point in {name!r}", field="to")
    keys = [d.key for d in out]
    if len(set(keys)) != len(keys):
        out = [dataclasses.replace(d, key=f"{d.key}_{i}") for i, d in enumerate(out)]
    return out


def _slug(value: Any) -> str:
    """A column-name-safe key ('' for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in text)


def load_units(data_dir: Path) -> tuple[list[Unit], list[Unit]]:
    """Counties (``metro_counties.geojson``) and townships (``towns.geojson``) for the summaries.

    Townships without a boundary are kept (summarised as ``no boundary``).
    """
    import geopandas as gpd

    def units(path: Path, level: str, code_col: str) -> list[Unit]:
        if not path.is_file():
            return []
        frame = gpd.read_file(path)
        if frame.crs is None:
            frame = frame.set_crs("EPSG:4326")
        geoms = list(frame.geometry.to_crs(METRIC_CRS))
        out = []
        for row, g in zip(frame.to_dict("records"), geoms, strict=True):
            ok = g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon")
            out.append(Unit(level, _slug(row.get(code_col)) or "", str(row.get("name_zh") or ""), g if ok else None))
        return out

    return (units(Path(data_dir) / "metro_counties.geojson", "county", "adcode"),
            units(Path(data_dir) / "towns.geojson", "township", "code"))


# --- graphs on workers -------------------------------------------------------------------------
def _rebuild_graph(cls: type, fields: dict[str, Any]) -> TravelGraph:
    """Re-create a TravelGraph from its init fields (KD-tree rebuilt, fresh empty cache)."""
    return cls(**fields)


class PortableGraph:
    """A TravelGraph that pickles (its cache holds a lock): only the init fields travel.

    Parameters
    ----------
    graph
        The travel graph to ship to Dask workers.
    """

    def __init__(self, graph: TravelGraph) -> None:
        self.graph = graph

    def __reduce__(self) -> tuple[Any, ...]:
        g = self.graph
        fields = {f.name: getattr(g, f.name) for f in dataclasses.fields(g) if f.init}
        return (_portable, (type(g), fields))


def _portable(cls: type, fields: dict[str, Any]) -> PortableGraph:
    return PortableGraph(_rebuild_graph(cls, fields))


def node_times_to(graph: PortableGraph | TravelGraph, lonlat: tuple[float, float], mode: str,
                  limit_s: float) -> np.ndarray:
    """Seconds from every road-layer node to ``lonlat`` (one reverse one-to-all), float32.

    Parameters
    ----------
    graph
        The (scenario's) travel graph.
    lonlat
        The destination.
    mode
        ``car``, ``rail`` or ``best``.
    limit_s
        Dijkstra limit; slower nodes are inf.

    Returns
    -------
    numpy.ndarray
        (n_road,) float32 seconds; all inf when no road node lies within the access limit of the
        destination (:func:`travel_time_surface` raises ``NoNetworkNearby`` there; the batch keeps
        the column, reachable only by the direct off-network trip, and flags it in the metadata).
    """
    g = graph.graph if isinstance(graph, PortableGraph) else graph
    try:
        t = g.one_to_all((float(lonlat[0]), float(lonlat[1])), mode=mode, direction="to", limit_s=float(limit_s))
    except NoNetworkNearby:  # only the direct off-network trip can reach it (car/best)
        return np.full(g.n_road, np.inf, dtype=np.float32)
    return np.asarray(t, dtype=np.float32)


def _reached(stack: np.ndarray) -> list[bool]:
    """Per column, whether any road-layer node reaches the destination."""
    return [bool(v) for v in np.isfinite(stack).any(axis=1)]


def _stack(*arrays: np.ndarray) -> np.ndarray:
    """(C, n_road) float32 from per-column node times."""
    return np.stack(arrays).astype(np.float32, copy=False)


# --- one chunk ---------------------------------------------------------------------------------
def _label_raster(units: Sequence[Unit], transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Unit index + 1 of every cell (0: none), by cell centre.

    Each geometry is first clipped to the window (GEOS), so a chunk never walks the vertices of a
    whole metropolitan multipolygon.
    """
    import shapely
    from rasterio.features import rasterize

    h, w = shape
    x0, y1 = transform @ (0, 0)
    x1, y0 = transform @ (w, h)
    pad = abs(transform.a)
    shapes = []
    for i, u in enumerate(units):
        if u.geometry is None:
            continue
        gx0, gy0, gx1, gy1 = u.geometry.bounds
        if gx1 < x0 or gx0 > x1 or gy1 < y0 or gy0 > y1:
            continue
        part = shapely.clip_by_rect(u.geometry, x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        if not part.is_empty:
            shapes.append((part, i + 1))
    if not shapes:
        return np.zeros(shape, dtype=np.int32)
    return rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")


def compute_chunk(graphs: Mapping[str, PortableGraph | TravelGraph], grid: Grid, rows: tuple[int, int],
                  extent: BaseGeometry, node_t: Mapping[str, np.ndarray],
                  columns: Sequence[tuple[str, str, float, float]], max_minutes: float,
                  counties: Sequence[Unit] = (), townships: Sequence[Unit] = (),
                  snap_of: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Travel times of one row band of the grid to every column.

    Parameters
    ----------
    graphs
        ``{scenario: graph}``.
    grid
        The extent's lattice grid.
    rows
        Row range ``[r0, r1)`` of the grid (row 0 = north).
    extent
        Extent polygon (EPSG:32651): cells whose centre is inside are computed.
    node_t
        ``{scenario: (C_s, n_road) float32}`` reverse node times, in the order of ``columns``.
    columns
        ``(scenario, mode, dest_x, dest_y)`` per output column (destination in EPSG:32651).
    max_minutes
        Cells slower than this are NaN.
    counties, townships
        Summary units.
    snap_of
        ``{scenario: scenario whose snapping it shares}`` (scenarios with the same road-layer
        nodes are snapped once); default: each scenario snaps on its own graph.

    Returns
    -------
    dict
        ``cell_id``, ``gx``, ``gy``, ``x``, ``y`` (n,), ``minutes`` (C, n) float32, and per level
        ``counts_<level>`` (U, C, len(THRESHOLDS)) int64 and ``cells_<level>`` (U,) int64.
    """
    gs = {s: (g.graph if isinstance(g, PortableGraph) else g) for s, g in graphs.items()}
    snap_of = dict(snap_of or {s: s for s in gs})
    r0, r1 = rows
    cell = grid.cell_m
    h = r1 - r0
    transform = grid.transform @ Affine.translation(0, r0)
    inside = _label_raster([Unit("extent", "", "", extent)], transform, (h, grid.width)) > 0
    rr, cc = np.nonzero(inside)
    gx = (grid.gx0 + cc).astype(np.int32)
    gy = (grid.gy0 + grid.height - 1 - (r0 + rr)).astype(np.int32)
    x = (gx + 0.5) * cell  # the exact expressions of the surface's cell centres
    y = (gy + 0.5) * cell
    n = len(gx)
    out: dict[str, Any] = {
        "cell_id": ((r0 + rr).astype(np.int64) * grid.width + cc), "gx": gx, "gy": gy, "x": x, "y": y,
        "minutes": np.empty((len(columns), n), dtype=np.float32)}
    if n:
        box = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
        minutes = out["minutes"]
        snaps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        rows_of: dict[str, list[int]] = {}
        for c, (scen, _, _, _) in enumerate(columns):
            rows_of.setdefault(scen, []).append(c)
        for scen, rep in snap_of.items():
            if scen in rows_of and rep not in snaps:
                k = min(int(gs[rep].params["access"]["k"]["value"]), gs[rep].n_road)
                i_, a_ = gs[rep].snap_xy(np.column_stack([x, y]), k)
                snaps[rep] = (np.ascontiguousarray(i_.T, dtype=np.intp), np.ascontiguousarray(a_.T, dtype=np.float32))
        # Node part, in cache-sized blocks of cells (the k x block snapping stays in cache for every column):
        # t = min_j (node_t[idx_j] + access_j), in float32 like the surface.
        tmp = np.empty(_BLOCK, dtype=np.float32)
        for b0 in range(0, n, _BLOCK):
            sl = slice(b0, min(b0 + _BLOCK, n))
            tb = tmp[: sl.stop - b0]
            for scen, cols in rows_of.items():
                idx, acc = snaps[snap_of[scen]]
                for nt, c in zip(node_t[scen], cols, strict=True):
                    row = minutes[c, sl]
                    np.take(nt, idx[0, sl], out=row)
                    row += acc[0, sl]
                    for j in range(1, len(idx)):
                        np.take(nt, idx[j, sl], out=tb)
                        tb += acc[j, sl]
                        np.minimum(row, tb, out=row)
        limit = np.float32(max_minutes)
        for c, (scen, mode, dx, dy) in enumerate(columns):
            row = minutes[c]
            g = gs[scen]
            lim = g.access_limit_m
            if mode != "rail" and box[0] - lim <= dx <= box[2] + lim and box[1] - lim <= dy <= box[3] + lim:
                # direct off-network trip between the destination and the cell (only near the destination)
                near = np.flatnonzero((np.abs(x - dx) <= lim) & (np.abs(y - dy) <= lim))
                if len(near):
                    d = np.hypot(x[near] - dx, y[near] - dy)
                    direct = np.where(d <= lim, g.access_seconds(d), np.inf).astype(np.float32)
                    row[near] = np.minimum(row[near], direct)
            row /= np.float32(60.0)
            row[~(row <= limit)] = np.nan
    for level, units in (("county", counties), ("township", townships)):
        out[f"counts_{level}"], out[f"cells_{level}"] = _unit_counts(units, transform, (h, grid.width), rr, cc,
                                                                     out["minutes"])
    return out


def _unit_counts(units: Sequence[Unit], transform: Affine, shape: tuple[int, int], rr: np.ndarray, cc: np.ndarray,
                 minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells per unit and, per unit x column x threshold, cells within the threshold.

    Counting is a matrix product: ``(minutes <= th)`` as 0/1 (columns x cells) times the one-hot
    unit membership (cells x units present) — one BLAS call per threshold instead of a loop.
    """
    n_t, n_u, n_c = len(THRESHOLDS), len(units), minutes.shape[0]
    counts = np.zeros((n_u, n_c, n_t), dtype=np.int64)
    cells = np.zeros(n_u, dtype=np.int64)
    if not len(rr) or not any(u.geometry is not None for u in units):
        return counts, cells
    label = _label_raster(units, transform, shape)[rr, cc]
    sel = np.flatnonzero(label > 0)
    if not len(sel):
        return counts, cells
    m = minutes if len(sel) == len(label) else minutes[:, sel]
    lab = label[sel] - 1
    present = np.unique(lab)
    exact = np.float32 if len(sel) < 2**24 else np.float64  # integer sums stay exact
    onehot = (lab[:, None] == present[None, :]).astype(exact)
    within = np.empty(m.shape, dtype=exact)
    for j, th in enumerate(THRESHOLDS):
        np.less_equal(m, th, out=within, casting="unsafe")  # 0/1 without a bool temporary (NaN: 0)
        counts[present, :, j] = np.rint(within @ onehot).astype(np.int64).T
    cells[present] = np.bincount(lab, minlength=n_u)[present]
    return counts, cells


# --- output ------------------------------------------------------------------------------------
def _wkb_points(x: np.ndarray, y: np.ndarray) -> pa.Array:
    """Little-endian WKB points as an Arrow binary array, built without Python objects."""
    n = len(x)
    rec = np.empty(n, dtype=np.dtype([("bo", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")]))
    rec["bo"], rec["type"], rec["x"], rec["y"] = 1, 1, x, y
    offsets = np.arange(0, 21 * (n + 1), 21, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())])


def _schema(columns: Sequence[str], bbox: Sequence[float], meta: Mapping[str, Any]) -> pa.Schema:
    """Arrow schema with GeoParquet 1.0 ``geo`` metadata (cell centroids, EPSG:32651)."""
    geo = {"version": "1.0.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"],
                                    "crs": CRS.from_user_input(METRIC_CRS).to_json_dict(),
                                    "bbox": [float(v) for v in bbox]}}}
    fields = [pa.field("cell_id", pa.int64()), pa.field("gx", pa.int32()), pa.field("gy", pa.int32()),
              pa.field("geometry", pa.binary())]
    fields += [pa.field(c, pa.float32()) for c in columns]
    return pa.schema(fields, metadata={b"geo": json.dumps(geo).encode(),
                                       b"geo_app": json.dumps(meta, ensure_ascii=False).encode()})


def write_part(part: Mapping[str, Any], columns: Sequence[str], meta: Mapping[str, Any], path: Path | str) -> None:
    """Write one chunk as a GeoParquet file (atomically: temporary name, then rename).

    Parameters
    ----------
    part
        A :func:`compute_chunk` result.
    columns
        Names of the ``minutes`` rows.
    meta
        JSON-safe metadata stored under the ``geo_app`` key.
    path
        Target file.
    """
    x, y = part["x"], part["y"]
    bbox = [x.min(), y.min(), x.max(), y.max()] if len(x) else [0.0, 0.0, 0.0, 0.0]
    schema = _schema(columns, bbox, meta)
    arrays = [pa.array(part["cell_id"], pa.int64()), pa.array(part["gx"], pa.int32()),
              pa.array(part["gy"], pa.int32()), _wkb_points(x, y)]
    arrays += [pa.array(col, pa.float32()) for col in part["minutes"]]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    # No dictionary encoding: travel times rarely repeat, and trying it costs ~4x the write time.
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp, compression="snappy", use_dictionary=False)
    tmp.replace(path)


def _summary(units: Sequence[Unit], columns: Sequence[Column], counts: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    """Long table: one row per unit x column, shares of cells within each threshold."""
    rows = []
    for i, u in enumerate(units):
        for c, col in enumerate(columns):
            base = {"level": u.level, "code": u.code, "name_zh": u.name_zh, "column": col.name,
                    "destination": col.destination.key, "destination_name": col.destination.name,
                    "mode": col.mode, "scenario": col.scenario, "cells": int(cells[i])}
            if u.geometry is None:
                status, shares = "no boundary", [None] * len(THRESHOLDS)
            elif cells[i] == 0:
                status, shares = "outside extent", [None] * len(THRESHOLDS)
            else:
                status = "ok"
                shares = [round(float(counts[i, c, j]) / float(cells[i]), 4) for j in range(len(THRESHOLDS))]
            rows.append({**base, **{f"share_within_{th}": s for th, s in zip(THRESHOLDS, shares, strict=True)},
                         "status": status})
    return pd.DataFrame(rows)


# --- Dask --------------------------------------------------------------------------------------
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
                counties: Sequence[Unit] = (), townships: Sequence[Unit] = (),
                progress: bool | Callable[[int, int], None] = True,
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
    import shutil

    from distributed import as_completed, wait

    t_start = time.perf_counter()
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    grid = Grid.covering(extent.bounds, cell_m)
    bands = grid.bands(chunk_cells)
    columns = [Column(d, m, s) for s in graphs for d in destinations for m in modes]
    metric = to_metric(np.array([d.lonlat for d in destinations], dtype=float))
    dest_xy = {d.key: (float(x), float(y)) for d, (x, y) in zip(destinations, metric, strict=True)}
    spec = [(c.scenario, c.mode, *dest_xy[c.destination.key]) for c in columns]
    limit_s = float(max_minutes) * 60.0
    timings: dict[str, float] = {}

    # One reverse one-to-all per destination x mode x scenario, as tasks; stacked per scenario.
    scen_names = list(graphs)
    graph_f = {s: client.scatter(PortableGraph(graphs[s]), broadcast=True, hash=False) for s in scen_names}
    extent_f = client.scatter(extent, broadcast=True, hash=False)
    units_f = client.scatter((list(counties), list(townships)), broadcast=True, hash=False)
    node_f = {s: client.submit(_stack, *[client.submit(node_times_to, graph_f[s], c.destination.lonlat, c.mode,
                                                       limit_s, pure=False)
                                         for c in columns if c.scenario == s], pure=False) for s in scen_names}
    wait(list(node_f.values()))
    timings["one_to_all_s"] = time.perf_counter() - t_start
    reached = {s: iter(client.submit(_reached, node_f[s], pure=False).result()) for s in scen_names}
    no_network = {c.name: not bool(next(reached[c.scenario])) for c in columns}
    # Scenarios with the same road-layer nodes (and access rules) share one snapping per chunk.
    snap_of: dict[str, str] = {}
    for s in scen_names:
        snap_of[s] = next((r for r in dict.fromkeys(snap_of.values())
                           if graphs[r].n_road == graphs[s].n_road
                           and np.array_equal(graphs[r].node_xy, graphs[s].node_xy)
                           and graphs[r].params.get("access") == graphs[s].params.get("access")), s)

    meta_all = {"cell_m": float(cell_m), "crs": METRIC_CRS, "max_minutes": float(max_minutes),
                "grid": dataclasses.asdict(grid), "cell_id": "row * grid.width + col, row 0 = north",
                "thresholds": list(THRESHOLDS),
                "columns": [{"name": c.name, "destination": c.destination.key, "destination_name": c.destination.name,
                             "lon": c.destination.lonlat[0], "lat": c.destination.lonlat[1], "mode": c.mode,
                             "scenario": c.scenario, "units": "minutes", "direction": "to",
                             "no_network_nearby": no_network[c.name]} for c in columns],
                **(dict(meta) if meta else {})}
    names = [c.name for c in columns]
    work = out.with_name(f".{out.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=len(bands), unit="chunk", desc="batch reach", smoothing=0.1)
    county_counts = np.zeros((len(counties), len(columns), len(THRESHOLDS)), dtype=np.int64)
    town_counts = np.zeros((len(townships), len(columns), len(THRESHOLDS)), dtype=np.int64)
    county_cells = np.zeros(len(counties), dtype=np.int64)
    town_cells = np.zeros(len(townships), dtype=np.int64)
    n_cells = 0
    futures = [client.submit(_chunk_task, graph_f, grid, band, extent_f, node_f, spec, float(max_minutes), units_f,
                             snap_of, names, meta_all, str(work / f"part-{i:05d}.parquet"), pure=False)
               for i, band in enumerate(bands)]
    try:
        for done, fut in enumerate(as_completed(futures), start=1):
            res = fut.result()
            fut.release()
            n_cells += res["cells"]
            county_counts += res["counts_county"]
            county_cells += res["cells_county"]
            town_counts += res["counts_township"]
            town_cells += res["cells_township"]
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(done, len(bands))
        if n_cells == 0:  # keep the dataset readable: one empty part with the schema
            write_part({"cell_id": np.empty(0, np.int64), "gx": np.empty(0, np.int32), "gy": np.empty(0, np.int32),
                        "x": np.empty(0), "y": np.empty(0), "minutes": np.empty((len(names), 0), np.float32)},
                       names, meta_all, work / "part-00000.parquet")
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
    counties_csv = townships_csv = None
    if counties:
        counties_csv = out.with_name(out.stem + ".counties.csv")
        _summary(counties, columns, county_counts, county_cells).to_csv(counties_csv, index=False)
    if townships:
        townships_csv = out.with_name(out.stem + ".townships.csv")
        _summary(townships, columns, town_counts, town_cells).to_csv(townships_csv, index=False)
    seconds = time.perf_counter() - t_start
    timings["total_s"] = seconds
    return BatchResult(out, counties_csv, townships_csv, n_cells, names, len(bands), seconds, timings)


def _chunk_task(graphs: Mapping[str, PortableGraph], grid: Grid, band: tuple[int, int], extent: BaseGeometry,
                node_t: Mapping[str, np.ndarray], spec: Sequence[tuple[str, str, float, float]], max_minutes: float,
                units: tuple[list[Unit], list[Unit]], snap_of: Mapping[str, str], names: Sequence[str],
                meta: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Dask task: compute one row band, write its part file, return the cell count and summary counts."""
    part = compute_chunk(graphs, grid, band, extent, node_t, spec, max_minutes, units[0], units[1], snap_of)
    n = len(part["cell_id"])
    if n:
        write_part(part, names, meta, path)
    return {"cells": n, **{k: v for k, v in part.items() if k.startswith(("counts_", "cells_"))}}
