"""Point-to-point routes on the travel graph (Dijkstra with predecessors).

Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString

from ..errors import NotFound, ValidationError
from ..network.graph import KINDS, TravelGraph
from ..network.roads import to_metric
from ..validate import parse_lonlat

UNREACHABLE: dict[str, Any] = {"minutes": None, "km": None, "modes": [], "geometry": None}


def _path(pred: np.ndarray, source: int, target: int) -> list[int]:
    """Node sequence source→target (virtual source excluded)."""
    nodes = [target]
    while nodes[-1] != source:
        p = int(pred[nodes[-1]])
        if p < 0:
            return []
        nodes.append(p)
    return nodes[::-1][1:]


def _edge(csr: Any, lengths: np.ndarray, kinds: np.ndarray, a: int, b: int) -> tuple[float, int]:
    """Length and kind of edge a→b of a CSR."""
    lo, hi = csr.indptr[a], csr.indptr[a + 1]
    j = lo + int(np.flatnonzero(csr.indices[lo:hi] == b)[0])
    return float(lengths[j]), int(kinds[j])


def _modes(kinds: set[int]) -> list[str]:
    """Modes used: access and road legs are ``car``; in-vehicle legs are ``rail``."""
    rail = {KINDS.index("ride"), KINDS.index("transfer")}
    return ["car", "rail"] if kinds & rail else ["car"]


def route(graph: TravelGraph, origin_lonlat: Sequence[float], dest_lonlat: Sequence[float], *,
          mode: str) -> dict[str, Any]:
    """Fastest route between two points.

    Parameters
    ----------
    graph
        The travel graph.
    origin_lonlat, dest_lonlat
        WGS84 (lon, lat).
    mode
        ``car``, ``rail`` or ``best``.

    Returns
    -------
    dict
        ``minutes`` (float, None when unreachable), ``km``, ``modes`` (e.g. ``["car", "rail"]``),
        ``geometry`` (shapely LineString in lon/lat incl. access and egress legs, or None).
        Raises :class:`~geo_app.errors.NoNetworkNearby` when the origin has no node in reach.
    """
    o = (float(origin_lonlat[0]), float(origin_lonlat[1]))
    d = (float(dest_lonlat[0]), float(dest_lonlat[1]))
    res = graph.search(o, mode=mode, direction="from", predecessors=True)
    idx, acc = graph.snap(np.array([d]))
    ends = idx[0] + res["result_offset"]
    total = res["dist"][ends] + acc[0]
    best = int(np.argmin(total))
    minutes = float(total[best]) / 60.0
    direct = _direct(graph, o, d) if mode != "rail" else None
    if direct is not None and direct["minutes"] <= minutes:
        return direct
    if not np.isfinite(minutes):
        return dict(UNREACHABLE)
    nodes = _path(res["pred"], res["source"], int(ends[best]))
    return _describe(graph, mode, o, d, nodes, minutes, float(acc[0][best]))


def _direct(graph: TravelGraph, o: tuple[float, float], d: tuple[float, float]) -> dict[str, Any] | None:
    """Off-network trip straight between two points within the access limit, else None."""
    xy = to_metric(np.array([o, d]))
    dist = float(np.hypot(*(xy[1] - xy[0])))
    if dist > graph.access_limit_m:
        return None
    secs = float(graph.access_seconds(dist))
    km = secs * graph.access_speed_ms * graph.params["access"]["circuity"]["value"] / 1000.0
    return {"minutes": round(secs / 60.0, 2), "km": round(km, 2), "modes": ["car"], "geometry": LineString([o, d])}


def _describe(graph: TravelGraph, mode: str, o: tuple[float, float], d: tuple[float, float], nodes: list[int],
              minutes: float, egress_s: float) -> dict[str, Any]:
    """Minutes, km, modes and geometry of a node path."""
    mg = graph.modes[mode]
    res_csr = mg.fwd
    circ = graph.params["access"]["circuity"]["value"]
    per_s = graph.access_speed_ms * circ  # metres of road per access second
    first_xy = to_metric(np.array([o]))[0]
    access_m = float(np.hypot(*(graph.node_xy[nodes[0] % graph.n_road] - first_xy))) * circ if nodes else 0.0
    length, kinds = access_m + egress_s * per_s, set()
    for a, b in zip(nodes, nodes[1:], strict=False):
        m, k = _edge(res_csr, mg.fwd_len, mg.fwd_kind, a, b)
        length += m
        kinds.add(k)
    coords = graph.node_coords(mode)[nodes] if nodes else np.empty((0, 2))
    pts = [o, *[tuple(map(float, c)) for c in coords], d]
    pts = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]] or [o]
    geom = LineString(pts if len(pts) > 1 else [pts[0], pts[0]])
    return {"minutes": round(minutes, 2), "km": round(length / 1000.0, 2), "modes": _modes(kinds),
            "geometry": geom}


def resolve_place(name_or_lonlat: Any, places: gpd.GeoDataFrame) -> tuple[float, float]:
    """Resolve ``"changchun"``, a place name, ``"LON,LAT"`` or a (lon, lat) pair to (lon, lat).

    Parameters
    ----------
    name_or_lonlat
        A destination key (``places.destination``), a ``name_zh`` / ``gn_name``, a ``"LON,LAT"``
        string or a two-number sequence.
    places
        The places layer (Changchun has ``destination="changchun"``).

    Returns
    -------
    tuple of float
    """
    if not isinstance(name_or_lonlat, str):
        return parse_lonlat(list(name_or_lonlat), "to")
    text = name_or_lonlat.strip()
    if "," in text:
        return parse_lonlat(text, "to")
    pts = places.to_crs("EPSG:4326") if places.crs else places
    for col in ("destination", "name_zh", "gn_name"):
        if col in pts:
            hit = pts[pts[col].astype(str).str.lower() == text.lower()]
            if len(hit):
                g = hit.geometry.iloc[0]
                return float(g.x), float(g.y)
    if not text:
        raise ValidationError(key="err_place_form", field="to")
    raise NotFound(key="err_unknown_place", params={"place": text[:40]}, field="to")
