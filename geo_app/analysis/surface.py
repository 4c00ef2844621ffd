"""Travel-time surfaces on a regular grid in EPSG:32651 (access and egress off the network included).

Cell time = min over the cell's k nearest road-layer nodes (within the access limit) of
node time + straight distance x circuity / access speed. Cells with no node within the
access limit are NaN (unreachable land is excluded). Nothing here imports Flask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import Transformer

from ..network.graph import TravelGraph
from ..network.roads import METRIC_CRS, to_metric

_TO_LONLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
_GRID_CACHE_SIZE = 8


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
    """

    minutes: np.ndarray
    transform: Affine
    crs: str
    mode: str
    direction: str
    origin: tuple[float, float]
    max_minutes: float

    @property
    def cell_m(self) -> float:
        """Cell size in metres."""
        return float(self.transform.a)


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


def _grid(x0: float, y0: float, x1: float, y1: float, cell: float) -> tuple[Affine, int, int, np.ndarray]:
    """Affine, height, width and (H*W, 2) cell-centre coordinates."""
    width, height = max(1, math.ceil((x1 - x0) / cell)), max(1, math.ceil((y1 - y0) / cell))
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y0 + height * cell)
    cx = x0 + (np.arange(width) + 0.5) * cell
    cy = transform.f - (np.arange(height) + 0.5) * cell
    xx, yy = np.meshgrid(cx, cy)
    return transform, height, width, np.column_stack([xx.ravel(), yy.ravel()])


def _cell_snap(graph: TravelGraph, box: tuple, cell: float) -> tuple:
    """Cached (transform, H, W, centres, node idx, access s) for a grid: independent of the origin."""
    key = ("grid", tuple(round(b, 3) for b in box), float(cell))
    hit = graph.cache.get(key)
    if hit is None:
        transform, h, w, centres = _grid(*box, cell)
        k = min(int(graph.params["access"]["k"]["value"]), graph.n_road)
        idx, acc = graph.snap_xy(centres, k)
        hit = (transform, h, w, centres, idx, acc.astype(np.float32))
        if len(graph.cache) >= _GRID_CACHE_SIZE:
            graph.cache.pop(next(iter(graph.cache)))
        graph.cache[key] = hit
    return hit


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
    max_minutes
        Cells slower than this are NaN; also the Dijkstra ``limit``.

    Returns
    -------
    Surface
    """
    lonlat = (float(lonlat[0]), float(lonlat[1]))
    limit_s = float(max_minutes) * 60.0
    node_t = graph.one_to_all(lonlat, mode=mode, direction=direction, limit_s=limit_s)
    transform, h, w, centres, idx, acc = _cell_snap(graph, grid_bounds(graph, lonlat, bounds), float(cell_m))
    t = (node_t.astype(np.float32)[idx] + acc).min(axis=1)
    if mode != "rail":  # direct off-network trip between origin and cell (rail must use a train)
        d = np.hypot(*(centres - to_metric(np.array([lonlat]))[0]).T)
        direct = np.where(d <= graph.access_limit_m, graph.access_seconds(d), np.inf).astype(np.float32)
        t = np.minimum(t, direct)
    minutes = (t / 60.0).reshape(h, w)
    minutes[~(minutes <= max_minutes)] = np.nan
    return Surface(minutes.astype(np.float32), transform, METRIC_CRS, mode, direction, lonlat, float(max_minutes))


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
    """Write the surface as a float32 GeoTIFF (EPSG:32651, nodata NaN)."""
    import rasterio

    h, w = surface.minutes.shape
    with rasterio.open(Path(path), "w", driver="GTiff", height=h, width=w, count=1, dtype="float32",
                       crs=surface.crs, transform=surface.transform, nodata=float("nan"),
                       compress="deflate") as dst:
        dst.write(surface.minutes, 1)
        dst.update_tags(units="minutes", mode=surface.mode, direction=surface.direction,
                        origin=f"{surface.origin[0]},{surface.origin[1]}")
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
