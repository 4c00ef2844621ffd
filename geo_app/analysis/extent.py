"""The study extent of an isochrone: where the network can take you within the time limit."""

from __future__ import annotations

import math

import numpy as np
from pyproj import Transformer

from ..network.graph import TravelGraph
from .surface import node_times

_TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
_TO_LONLAT = Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


def reach_extent(graph: TravelGraph, lonlat: tuple[float, float], *, mode: str, direction: str,
                 max_minutes: float, cell_m: float, max_cells: int = 250_000
                 ) -> tuple[tuple[float, float, float, float], float]:
    """Bounds that hold every cell reachable within ``max_minutes``, and a cell size that fits them.

    The extent is the box around the origin and every network node reached within the
    limit, grown by the off-network distance still possible from each node (capped at
    the access limit). When that box would need more than ``max_cells`` cells at
    ``cell_m``, the cell size grows (in 50 m steps) so the request stays bounded.

    Parameters
    ----------
    graph
        The travel graph.
    lonlat
        Origin or destination (WGS84).
    mode, direction
        As for :func:`geo_app.analysis.surface.travel_time_surface`.
    max_minutes
        The largest contour.
    cell_m
        Requested cell size in metres.
    max_cells
        Upper bound on the number of grid cells.

    Returns
    -------
    bounds : tuple of float
        WGS84 ``(minlon, minlat, maxlon, maxlat)``.
    cell_m : float
        The cell size to use (``>= cell_m``).
    """
    limit_s = max_minutes * 60.0
    t = node_times(graph, lonlat, mode=mode, direction=direction, limit_s=limit_s)  # reused by the surface
    ok = np.isfinite(t)
    spare = np.minimum((limit_s - t[ok]) * graph.access_speed_ms, graph.access_limit_m)
    ox, oy = _TO_METRIC.transform(lonlat[0], lonlat[1])
    xy = graph.node_xy[ok]
    reach0 = min(limit_s * graph.access_speed_ms, graph.access_limit_m)
    x0 = min(ox - reach0, float(np.min(xy[:, 0] - spare, initial=np.inf)))
    y0 = min(oy - reach0, float(np.min(xy[:, 1] - spare, initial=np.inf)))
    x1 = max(ox + reach0, float(np.max(xy[:, 0] + spare, initial=-np.inf)))
    y1 = max(oy + reach0, float(np.max(xy[:, 1] + spare, initial=-np.inf)))
    area = (x1 - x0) * (y1 - y0)
    cell = float(cell_m)
    if area / cell**2 > max_cells:
        cell = math.ceil(math.sqrt(area / max_cells) / 50.0) * 50.0
    lons, lats = _TO_LONLAT.transform([x0, x0, x1, x1], [y0, y1, y0, y1])
    return (min(lons), min(lats), max(lons), max(lats)), cell
