"""Ways → directed edge arrays → largest strongly connected part → degree-2 chains contracted.

Everything is numpy and ``scipy.sparse.csgraph``; no graph object of the whole area is built.
Segment lengths are great-circle distances on a sphere of radius 6,371,009 m (osmnx's
``great_circle``), so they compare with osmnx and pyrosm lengths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .contract import contract
from .edges import EdgeArrays
from .read import COORD_SCALE, UNDEFINED, WayTable
from .tags import CLASSES

EARTH_RADIUS_M = 6_371_009.0


@dataclass(frozen=True)
class BuiltNetwork:
    """A built OSM road network (what :mod:`geo_app.network.osm.store` writes).

    Attributes
    ----------
    lon, lat, osm_id
        Node coordinates (WGS84) and OSM node ids.
    edges
        Directed edges after contraction.
    strings
        ``ref``/``name`` values that the edge codes index (0 is "").
    report
        Counts for the summary: read, segments, strongly connected part, contraction, km by class.
    """

    lon: np.ndarray
    lat: np.ndarray
    osm_id: np.ndarray
    edges: EdgeArrays
    strings: tuple[str, ...]
    report: dict[str, Any] = field(default_factory=dict)


def haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (radius :data:`EARTH_RADIUS_M`)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2) - np.radians(lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _segments(ways: WayTable) -> dict[str, np.ndarray]:
    """Consecutive node pairs of each way with both locations known, on compact node indices."""
    sizes = np.diff(ways.way_ptr)
    way_of = np.repeat(np.arange(ways.n_ways), sizes)
    a = np.arange(len(ways.node_id) - 1)
    ok = (way_of[a] == way_of[a + 1]) & (ways.x[a] != UNDEFINED) & (ways.x[a + 1] != UNDEFINED)
    ok &= ways.node_id[a] != ways.node_id[a + 1]
    a = a[ok]
    ends = np.concatenate([a, a + 1])
    osm_id, first, inverse = np.unique(ways.node_id[ends], return_index=True, return_inverse=True)
    lon = ways.x[ends[first]] * COORD_SCALE
    lat = ways.y[ends[first]] * COORD_SCALE
    sa, sb = inverse[: len(a)], inverse[len(a):]
    seg_way = way_of[a]
    length = haversine_m(lon[sa], lat[sa], lon[sb], lat[sb])
    way_len = np.bincount(seg_way, weights=length, minlength=ways.n_ways)
    fixed = np.isfinite(ways.length_m)[seg_way] & (way_len[seg_way] > 0)
    length[fixed] *= (ways.length_m / np.where(way_len > 0, way_len, 1.0))[seg_way[fixed]]
    share = length / np.where(way_len > 0, way_len, 1.0)[seg_way]
    return {"a": sa, "b": sb, "way": seg_way, "length": length, "share": share, "osm_id": osm_id, "lon": lon,
            "lat": lat}


def _directed(seg: dict[str, np.ndarray], ways: WayTable) -> tuple[EdgeArrays, np.ndarray]:
    """Directed edges by ``oneway`` (forward, backward or both); also returns each edge's segment."""
    w = seg["way"]
    one = ways.oneway[w]
    fwd, bwd = np.flatnonzero(one >= 0), np.flatnonzero(one <= 0)
    segs = np.concatenate([fwd, bwd])
    u = np.concatenate([seg["a"][fwd], seg["b"][bwd]])
    v = np.concatenate([seg["b"][fwd], seg["a"][bwd]])
    kmh = np.concatenate([ways.speed_fwd[w[fwd]], ways.speed_bwd[w[bwd]]]).astype(float)
    length = seg["length"][segs]
    time = length / (kmh / 3.6)
    dur = ways.time_s[w[segs]]
    fixed = np.isfinite(dur)
    time[fixed] = dur[fixed] * seg["share"][segs][fixed]
    wseg = w[segs]
    edges = EdgeArrays(len(seg["osm_id"]), u, v, length, time, ways.cls[wseg], ways.ref[wseg], ways.name[wseg])
    return edges, segs


def dedupe(edges: EdgeArrays) -> tuple[EdgeArrays, np.ndarray]:
    """Keep the fastest of parallel edges (same u and v); edges come out sorted by (u, v).

    Returns
    -------
    tuple
        ``(edges, index)`` with ``index`` the kept positions of the input.
    """
    order = np.lexsort((edges.time_s, edges.v, edges.u))
    u, v = edges.u[order], edges.v[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    first &= u != v
    keep = order[first]
    return edges.take(keep), keep


def largest_strong_part(edges: EdgeArrays) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of the nodes in the largest strongly connected component, and what the others held.

    Parameters
    ----------
    edges
        Directed edges.

    Returns
    -------
    tuple
        ``(mask, report)``; the report has ``components``, ``dropped_parts``, ``dropped_nodes``.
    """
    n = edges.n
    if n == 0:
        return np.zeros(0, dtype=bool), {"components": 0, "dropped_parts": 0, "dropped_nodes": 0}
    graph = csr_matrix((np.ones(len(edges.u), dtype=np.int8), (edges.u, edges.v)), shape=(n, n))
    count, labels = connected_components(graph, directed=True, connection="strong")
    sizes = np.bincount(labels, minlength=count)
    keep = labels == int(np.argmax(sizes))
    return keep, {"components": int(count), "dropped_parts": int(count - 1), "dropped_nodes": int((~keep).sum())}


def _km_by_class(seg: dict[str, np.ndarray], ways: WayTable, in_part: np.ndarray) -> dict[str, float]:
    """Road km (each segment once, whatever its direction) by class, for segments inside the kept part."""
    ok = in_part[seg["a"]] & in_part[seg["b"]]
    km = np.bincount(ways.cls[seg["way"][ok]], weights=seg["length"][ok], minlength=len(CLASSES)) / 1000.0
    return {name: round(float(k), 1) for name, k in zip(CLASSES, km, strict=True) if k > 0}


def build_arrays(ways: WayTable, *, spacing_m: float = 1000.0,
                 step: Callable[[str], None] | None = None) -> BuiltNetwork:
    """Build the contracted, strongly connected network from the ways.

    Parameters
    ----------
    ways
        Clipped drivable ways (:func:`geo_app.network.osm.read.read_ways`).
    spacing_m
        Contraction keeps about one node per ``spacing_m`` along long chains so points beside a
        long road still snap near it; 0 contracts every chain to one edge.
    step
        Called with the name of each step as it starts (for a progress bar).

    Returns
    -------
    BuiltNetwork
    """
    step = step or (lambda name: None)
    step("segments")
    seg = _segments(ways)
    edges, _ = _directed(seg, ways)
    edges, _ = dedupe(edges)
    step("strongly connected part")
    in_part, scc = largest_strong_part(edges)
    remap = np.cumsum(in_part) - 1
    sel = in_part[edges.u] & in_part[edges.v]
    dropped_km = float(seg["length"][~(in_part[seg["a"]] & in_part[seg["b"]])].sum()) / 1000.0
    part = edges.take(sel, int(in_part.sum()), remap)
    lon, lat, osm_id = seg["lon"][in_part], seg["lat"][in_part], seg["osm_id"][in_part]
    step("contraction")
    keep, small, creport = contract(part, spacing_m=spacing_m)
    report = {
        **{k: int(val) for k, val in ways.stats.items()},
        "segments": len(seg["a"]), "nodes_read": int(edges.n), "edges_read": len(edges.u),
        **scc, "dropped_edges": int(len(edges.u) - sel.sum()), "dropped_km": round(dropped_km, 1),
        "nodes_connected": int(part.n), "edges_connected": len(part.u), **creport,
        "km_by_class": _km_by_class(seg, ways, in_part),
    }
    return BuiltNetwork(lon[keep], lat[keep], osm_id[keep], small, ways.strings, report)
