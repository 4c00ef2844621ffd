"""Travel-time surfaces on a regular grid in EPSG:32651 (access and egress off the network included).

Cell time = min over the cell's k nearest road-layer nodes (within the access limit) of
node time + straight distance x circuity / access speed. Cells with no node within the
access limit are NaN (unreachable land is excluded). Every surface also carries, per cell, the
minutes of its trip spent off the network (the point's and the cell's access legs, and any
station access link on the way), and a cell is *low confidence* when those exceed model.toml's
``confidence`` thresholds (DESIGN.md §2 "Confidence"). Nothing here imports Flask.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import Transformer

from ..network.graph import TravelGraph
from ..network.roads import METRIC_CRS, to_metric
from . import budget

_TO_LONLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
_TILE = 64  # cells per side of a cached snapping tile


@dataclass(frozen=True)
class Surface:
    """A travel-time raster.

    Attributes
    ----------
    minutes
        float32 (H, W); NaN = unreachable or beyond ``max_minutes``.
    transform
        Affine transform of the grid in EPSG:32651.
    crs
        Always ``"EPSG:32651"``.
    mode, direction
        As passed to :func:`travel_time_surface`.
    origin
        (lon, lat) of the origin (``from``) or destination (``to``).
    max_minutes
        Cells slower than this are NaN.
    offnet
        float32 (H, W) minutes of each cell's trip spent off the network; NaN where ``minutes`` is.
    confidence
        ``(max_minutes, max_share)``: a cell is low confidence when its off-network minutes exceed
        ``max_minutes`` or ``max_share`` of its time (model.toml ``confidence``).
    """

    minutes: np.ndarray
    transform: Affine
    crs: str
    mode: str
    direction: str
    origin: tuple[float, float]
    max_minutes: float
    offnet: np.ndarray | None = None
    confidence: tuple[float, float] = (15.0, 0.5)

    @property
    def cell_m(self) -> float:
        """Cell size in metres."""
        return float(self.transform.a)

    @functools.cached_property
    def low_confidence(self) -> np.ndarray:
        """Reached cells whose off-network minutes exceed the thresholds: bool (H, W), computed once."""
        if self.offnet is None:
            return np.zeros(self.minutes.shape, dtype=bool)
        most, share = self.confidence
        with np.errstate(invalid="ignore"):
            return (self.offnet > most) | (self.offnet > share * self.minutes)


def confidence_rule(params: dict) -> tuple[float, float]:
    """``(max off-network minutes, max off-network share)`` from model.toml ``[confidence]`` (15 min, 0.5)."""
    table = params.get("confidence", {})
    return (float(table.get("offnet_max_min", {}).get("value", 15.0)),
            float(table.get("offnet_max_share", {}).get("value", 0.5)))


def grid_bounds(graph: TravelGraph, lonlat: tuple[float, float],
                bounds: tuple[float, float, float, float] | None) -> tuple[float, float, float, float]:
    """Metric grid bounds: given WGS84 bounds, else the county (+2 km) extended to the origin (+5 km)."""
    if bounds is not None:
        lon0, lat0, lon1, lat1 = bounds
        corners = to_metric(np.array([[lon0, lat0], [lon0, lat1], [lon1, lat0], [lon1, lat1]]))
        return (*corners.min(axis=0), *corners.max(axis=0))
    o = to_metric(np.array([lonlat]))[0]
    box = [o[0] - 5000, o[1] - 5000, o[0] + 5000, o[1] + 5000]
    if graph.county_bounds is not None:
        c = grid_bounds(graph, lonlat, graph.county_bounds)
        box = [min(box[0], c[0] - 2000), min(box[1], c[1] - 2000), max(box[2], c[2] + 2000),
               max(box[3], c[3] + 2000)]
    return tuple(box)  # type: ignore[return-value]


def node_times(graph: TravelGraph, lonlat: tuple[float, float], *, mode: str, direction: str,
               limit_s: float | None) -> np.ndarray:
    """:meth:`TravelGraph.one_to_all` seconds, cached per graph (the first array of :func:`node_times_offnet`)."""
    return node_times_offnet(graph, lonlat, mode=mode, direction=direction, limit_s=limit_s)[0]


def node_times_offnet(graph: TravelGraph, lonlat: tuple[float, float], *, mode: str, direction: str,
                      limit_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`TravelGraph.one_to_all_offnet`, cached per graph (read-only results).

    An isochrone request runs the same search twice (the extent, then the surface); the
    second one is a cache hit.

    Parameters
    ----------
    graph
        The travel graph.
    lonlat
        Origin (``from``) or destination (``to``).
    mode, direction
        As for :meth:`TravelGraph.one_to_all`.
    limit_s
        Search limit in seconds (None: no limit).

    Returns
    -------
    tuple of numpy.ndarray
        Read-only (n_road,) float seconds (``inf`` when unreachable) and the seconds of each node's
        trip spent off the network.
    """
    lim = None if limit_s is None else float(limit_s)
    key = ("node_t", mode, direction, float(lonlat[0]), float(lonlat[1]), lim)

    def compute() -> tuple[tuple[np.ndarray, np.ndarray], int]:
        budget.check("search")
        mg = graph.modes.get(mode)
        if mg is not None and mg.table is None:  # a csgraph search (graphs above the table limit)
            budget.require(budget.search_seconds(mg.fwd.nnz), "search")
        t, off = graph.one_to_all_offnet((float(lonlat[0]), float(lonlat[1])), mode=mode, direction=direction,
                                         limit_s=lim)
        t, off = np.array(t, dtype=float), np.array(off, dtype=float)
        t.setflags(write=False)
        off.setflags(write=False)
        return (t, off), t.nbytes + off.nbytes

    return graph.cache.get_or_compute(key, compute)


def _lattice(box: tuple[float, float, float, float], cell: float) -> tuple[int, int, int, int]:
    """The box snapped outward to the global cell lattice: ``(gx0, gy0, width, height)`` in cells.

    Cell ``(gx, gy)`` spans ``[gx*cell, (gx+1)*cell) x [gy*cell, (gy+1)*cell)`` in EPSG:32651, so
    every grid at one cell size shares its cells (and their snapping) with every other grid.
    """
    x0, y0, x1, y1 = box
    gx0, gy0 = math.floor(x0 / cell), math.floor(y0 / cell)
    width = max(1, math.ceil(x1 / cell) - gx0)
    height = max(1, math.ceil(y1 / cell) - gy0)
    return gx0, gy0, width, height


def grid_cells(graph: TravelGraph, lonlat: tuple[float, float], bounds: tuple[float, float, float, float] | None,
               cell_m: float) -> int:
    """How many cells :func:`travel_time_surface` would compute for these arguments (for budgets)."""
    _, _, width, height = _lattice(grid_bounds(graph, lonlat, bounds), float(cell_m))
    return width * height


def _tile_centres(cell: float, tx: int, ty: int) -> np.ndarray:
    """(TILE*TILE, 2) cell centres of one tile, rows south to north."""
    g = np.arange(_TILE)
    xx, yy = np.meshgrid((tx * _TILE + g + 0.5) * cell, (ty * _TILE + g + 0.5) * cell)
    return np.column_stack([xx.ravel(), yy.ravel()])


def _grid_snap(graph: TravelGraph, gx0: int, gy0: int, width: int, height: int, cell: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """(k, H, W) nearest-node indices and straight distances (metres, inf beyond the limit), north row first.

    The snapping depends neither on the origin nor on the access speed, so it is cached per
    ``_TILE`` x ``_TILE`` tile of the global lattice (thread-safe LRU in ``graph.cache``; graphs for
    other assumption values share it); missing tiles are snapped in one KD-tree query.
    """
    k = min(int(graph.params["access"]["k"]["value"]), graph.n_road)
    tys = range(gy0 // _TILE, (gy0 + height - 1) // _TILE + 1)
    txs = range(gx0 // _TILE, (gx0 + width - 1) // _TILE + 1)
    keys = {(tx, ty): ("tile", float(cell), k, tx, ty) for ty in tys for tx in txs}
    tiles = {t: graph.cache.get(key) for t, key in keys.items()}
    missing = [t for t, hit in tiles.items() if hit is None]
    budget.require(budget.surface_seconds(width * height, k, cold_cells=len(missing) * _TILE * _TILE), "surface")
    if missing:
        idx, acc = graph.snap_xy(np.concatenate([_tile_centres(cell, tx, ty) for tx, ty in missing]), k)
        n = _TILE * _TILE
        for i, t in enumerate(missing):
            ti = np.ascontiguousarray(idx[i * n:(i + 1) * n].T, dtype=np.int32).reshape(k, _TILE, _TILE)
            dist = acc[i * n:(i + 1) * n].T * graph.access_speed_ms  # seconds -> straight metres
            ta = np.ascontiguousarray(dist, dtype=np.float32).reshape(k, _TILE, _TILE)
            ti.setflags(write=False)
            ta.setflags(write=False)
            tiles[t] = graph.cache.put(keys[t], (ti, ta), ti.nbytes + ta.nbytes)
    out_idx = np.empty((k, height, width), dtype=np.int32)
    out_acc = np.empty((k, height, width), dtype=np.float32)
    for (tx, ty), (ti, ta) in tiles.items():  # rows south to north here; flipped at the end
        ya, yb = max(gy0, ty * _TILE), min(gy0 + height, (ty + 1) * _TILE)
        xa, xb = max(gx0, tx * _TILE), min(gx0 + width, (tx + 1) * _TILE)
        src = (slice(None), slice(ya - ty * _TILE, yb - ty * _TILE), slice(xa - tx * _TILE, xb - tx * _TILE))
        dst = (slice(None), slice(ya - gy0, yb - gy0), slice(xa - gx0, xb - gx0))
        out_idx[dst] = ti[src]
        out_acc[dst] = ta[src]
    return out_idx[:, ::-1], out_acc[:, ::-1]


def travel_time_surface(graph: TravelGraph, lonlat: tuple[float, float], *, mode: str, direction: str,
                        cell_m: float = 250, bounds: tuple[float, float, float, float] | None = None,
                        max_minutes: float = 240) -> Surface:
    """Compute a travel-time surface from (or to) a point.

    Parameters
    ----------
    graph
        The travel graph.
    lonlat
        Origin (``direction="from"``) or destination (``"to"``), WGS84 lon/lat.
    mode
        ``car``, ``rail`` or ``best``.
    direction
        ``from`` or ``to``.
    cell_m
        Cell size in metres (EPSG:32651).
    bounds
        WGS84 ``(minlon, minlat, maxlon, maxlat)``; default: county + 2 km, extended to the origin + 5 km.
        The grid covers them, snapped outward to the global lattice of ``cell_m`` in EPSG:32651
        (cell corners at multiples of ``cell_m``), so grids of one cell size are pixel-aligned.
    max_minutes
        Cells slower than this are NaN; also the Dijkstra ``limit``.

    Returns
    -------
    Surface

    Notes
    -----
    Thread-safe: the graph is only read; the shared caches in ``graph.cache`` are locked.
    """
    budget.check("surface")
    lonlat = (float(lonlat[0]), float(lonlat[1]))
    limit_s = float(max_minutes) * 60.0
    cell = float(cell_m)
    node_t, node_off = node_times_offnet(graph, lonlat, mode=mode, direction=direction, limit_s=limit_s)
    gx0, gy0, w, h = _lattice(grid_bounds(graph, lonlat, bounds), cell)
    transform = Affine(cell, 0.0, gx0 * cell, 0.0, -cell, (gy0 + h) * cell)
    idx, dist = _grid_snap(graph, gx0, gy0, w, h, cell)
    t, off = _cell_seconds(node_t, node_off, idx, dist, graph.access_speed_ms)
    if mode != "rail":  # direct off-network trip between origin and cell (rail must use a train)
        _direct_trip(graph, lonlat, t, off, (gx0, gy0, w, h), cell)
    minutes = t / np.float32(60.0)
    beyond = ~(minutes <= max_minutes)
    minutes[beyond] = np.nan
    off /= np.float32(60.0)
    off[beyond] = np.nan
    return Surface(minutes.astype(np.float32, copy=False), transform, METRIC_CRS, mode, direction, lonlat,
                   float(max_minutes), off, confidence_rule(graph.params))


def _cell_seconds(node_t: np.ndarray, node_off: np.ndarray, idx: np.ndarray, dist: np.ndarray,
                  speed_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 seconds of each cell (best candidate node) and the off-network seconds of that trip.

    The comparison runs on ``node_t x speed + distance`` (metres), one candidate at a time into
    preallocated (H, W) buffers, keeping the winner's node; its egress is the total less the node's
    part. Only the (H, W) results are divided.
    """
    speed = np.float32(speed_ms)
    nt = (node_t * speed_ms).astype(np.float32)
    best = nt[idx[0]]
    best += dist[0]
    node = idx[0].copy()
    cand = np.empty_like(best)
    better = np.empty(best.shape, dtype=bool)
    for j in range(1, len(idx)):
        np.take(nt, idx[j], out=cand)
        cand += dist[j]
        np.less(cand, best, out=better)
        np.copyto(best, cand, where=better)
        np.copyto(node, idx[j], where=better)
    with np.errstate(invalid="ignore"):  # inf - inf where no node is within the limit: NaN, masked later
        off = best - nt[node]  # the winner's egress in metres
    off /= speed
    off += node_off.astype(np.float32)[node]
    best /= speed
    return best, off


def _direct_trip(graph: TravelGraph, lonlat: tuple[float, float], t: np.ndarray, off: np.ndarray,
                 grid: tuple[int, int, int, int], cell: float) -> None:
    """In place: cells nearer by a direct off-network trip from the point take it (all of it off-network)."""
    gx0, gy0, w, h = grid
    ox, oy = to_metric(np.array([lonlat]))[0]
    lim = graph.access_limit_m
    cx = (gx0 + np.arange(w) + 0.5) * cell
    cy = (gy0 + h - np.arange(h) - 0.5) * cell
    cols = np.flatnonzero(np.abs(cx - ox) <= lim)
    rows = np.flatnonzero(np.abs(cy - oy) <= lim)
    if not (len(cols) and len(rows)):  # only the window around the origin can be within the limit
        return
    win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    d = np.hypot(cx[win[1]][None, :] - ox, cy[win[0]][:, None] - oy)
    direct = np.where(d <= lim, graph.access_seconds(d), np.inf).astype(np.float32)
    better = direct < t[win]
    t[win] = np.where(better, direct, t[win])
    off[win] = np.where(better, direct, off[win])


def sample(surface: Surface, lon: float, lat: float) -> float | None:
    """Minutes at a WGS84 point; None outside the grid or where unreachable."""
    x, y = to_metric(np.array([[lon, lat]]))[0]
    col, row = ~surface.transform @ (x, y)
    r, c = int(math.floor(row)), int(math.floor(col))
    h, w = surface.minutes.shape
    if not (0 <= r < h and 0 <= c < w):
        return None
    val = float(surface.minutes[r, c])
    return None if math.isnan(val) else val


def to_geotiff(surface: Surface, path: Path | str) -> Path:
    """Write the surface as a float32 GeoTIFF (EPSG:32651, nodata NaN).

    Band 1 holds the minutes; band 2 (when the surface has them) the minutes off the network, with
    the low-confidence thresholds in the band's tags.
    """
    import rasterio

    h, w = surface.minutes.shape
    bands = 1 if surface.offnet is None else 2
    with rasterio.open(Path(path), "w", driver="GTiff", height=h, width=w, count=bands, dtype="float32",
                       crs=surface.crs, transform=surface.transform, nodata=float("nan"),
                       compress="deflate") as dst:
        dst.write(surface.minutes, 1)
        dst.set_band_description(1, "minutes")
        dst.update_tags(units="minutes", mode=surface.mode, direction=surface.direction,
                        origin=f"{surface.origin[0]},{surface.origin[1]}")
        if surface.offnet is not None:
            dst.write(surface.offnet, 2)
            dst.set_band_description(2, "offnet_minutes")
            dst.update_tags(2, units="minutes off the network (access and egress)",
                            low_confidence_max_min=str(surface.confidence[0]),
                            low_confidence_max_share=str(surface.confidence[1]))
    return Path(path)


def cell_lonlat(surface: Surface) -> np.ndarray:
    """(H*W, 2) lon/lat of every cell centre (row-major)."""
    h, w = surface.minutes.shape
    t = surface.transform
    cx = t.c + (np.arange(w) + 0.5) * t.a
    cy = t.f + (np.arange(h) + 0.5) * t.e
    xx, yy = np.meshgrid(cx, cy)
    lon, lat = _TO_LONLAT.transform(xx.ravel(), yy.ravel())
    return np.column_stack([lon, lat])
