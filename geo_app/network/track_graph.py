"""The track graph: VMAP0 track lines noded into a small undirected graph, and points attached to it.

Coordinates are EPSG:32651 metres. Used by :mod:`.tracks` to route rail lines from station to
station. Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class TrackGraph:
    """Undirected track graph: node coordinates (EPSG:32651) and edges with their length in metres."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray

    def matrix(self) -> Any:
        """The graph as a sparse matrix for :mod:`scipy.sparse.csgraph` (one entry per edge)."""
        n = len(self.xy)
        return coo_matrix((np.maximum(self.length_m, 1e-6), (self.u, self.v)), shape=(n, n)).tocsr()


def _noded_lines(geoms_m: Sequence[Any], tol: float) -> list[Any]:
    """Track lines snapped to each other's ends within ``tol`` and noded where they cross."""
    pieces = shapely.get_parts(np.asarray(geoms_m, dtype=object))
    pieces = pieces[shapely.get_type_id(pieces) == 1]  # LineStrings only
    if not len(pieces):
        return []
    ends = shapely.multipoints(shapely.get_coordinates(shapely.boundary(pieces)))
    return list(shapely.get_parts(shapely.unary_union(shapely.snap(pieces, ends, tol))))


def _dedupe(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop self-loops and keep the shortest of parallel edges (sparse matrices would add them up)."""
    keep = u != v
    a, b, w = np.minimum(u, v)[keep], np.maximum(u, v)[keep], w[keep]
    order = np.argsort(w, kind="stable")
    _, first = np.unique(np.stack([a[order], b[order]], axis=1), axis=0, return_index=True)
    sel = order[np.sort(first)]
    return a[sel], b[sel], w[sel]


def build_track_graph(geoms_m: Sequence[Any], tol: float) -> TrackGraph:
    """Build the track graph from metric (Multi)LineStrings.

    Parameters
    ----------
    geoms_m
        Track geometries in EPSG:32651.
    tol
        Noding tolerance in metres: a line end within ``tol`` of another line is joined to it.

    Returns
    -------
    TrackGraph
        One node per distinct vertex, one edge per segment, plus a connector from every dead end
        to each other node within ``tol``.
    """
    segs = [np.stack([c[:-1], c[1:]], axis=1) for c in map(shapely.get_coordinates, _noded_lines(geoms_m, tol))
            if len(c) > 1]
    if not segs:
        return TrackGraph(np.zeros((0, 2)), *(np.zeros(0, dtype=np.int64),) * 2, np.zeros(0))
    pts = np.concatenate(segs).reshape(-1, 2)
    xy, inv = np.unique(np.round(pts, 3), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    u, v = inv[0::2], inv[1::2]
    deg = np.bincount(np.concatenate([u, v]), minlength=len(xy))
    tree = cKDTree(xy)
    ends = np.flatnonzero(deg == 1)
    near = tree.query_ball_point(xy[ends], tol) if len(ends) else []
    cu = np.array([e for e, js in zip(ends, near, strict=True) for _ in js], dtype=np.int64)
    cv = np.array([j for js in near for j in js], dtype=np.int64)
    u, v = np.concatenate([u, cu]), np.concatenate([v, cv])
    a, b, w = _dedupe(u, v, np.hypot(*(xy[u] - xy[v]).T))
    return TrackGraph(xy, a.astype(np.int64), b.astype(np.int64), w)


def _nearest_on_edges(g: TrackGraph, p: np.ndarray) -> tuple[int, float, np.ndarray, float]:
    """The edge nearest to point ``p``: ``(edge, position 0..1 along it, nearest point, distance)``."""
    a, b = g.xy[g.u], g.xy[g.v]
    d = b - a
    len2 = (d * d).sum(axis=1)
    t = np.clip(((p - a) * d).sum(axis=1) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
    q = a + t[:, None] * d
    dist = np.hypot(*(q - p).T)
    k = int(np.argmin(dist))
    return k, float(t[k]), q[k], float(dist[k])


def attach(g: TrackGraph, points_m: np.ndarray, limit_m: float) -> tuple[TrackGraph, np.ndarray]:
    """Attach points (stations) to the graph at their nearest track point, splitting the edge there.

    Returns
    -------
    tuple
        ``(graph with the new nodes, node of each point)``; the node is -1 for a point farther
        than ``limit_m`` from every track.
    """
    nodes = np.full(len(points_m), -1, dtype=np.int64)
    if not len(g.u):
        return g, nodes
    cuts: dict[int, list[tuple[float, int]]] = {}
    xy = [g.xy]
    n = len(g.xy)
    for i, p in enumerate(np.asarray(points_m, dtype=float)):
        k, t, q, dist = _nearest_on_edges(g, p)
        if dist > limit_m:
            continue
        if t <= 0.0 or t >= 1.0:
            nodes[i] = g.u[k] if t <= 0.0 else g.v[k]
            continue
        nodes[i] = n
        xy.append(q[None, :])
        cuts.setdefault(k, []).append((t, n))
        n += 1
    keep = np.ones(len(g.u), dtype=bool)
    eu, ev = [g.u], [g.v]
    for k, marks in cuts.items():
        keep[k] = False
        chain = [int(g.u[k]), *[m for _, m in sorted(marks)], int(g.v[k])]
        eu.append(np.array(chain[:-1], dtype=np.int64))
        ev.append(np.array(chain[1:], dtype=np.int64))
    eu[0], ev[0] = g.u[keep], g.v[keep]
    allxy = np.concatenate(xy)
    u, v = np.concatenate(eu), np.concatenate(ev)
    a, b, w = _dedupe(u, v, np.hypot(*(allxy[u] - allxy[v]).T))
    return TrackGraph(allxy, a, b, w), nodes
