"""Snapping points to their nearest network nodes (KD-tree, or direct distances for tiny queries).

All coordinates here are EPSG:32651 metres. Nothing here imports Flask.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..errors import NoNetworkNearby

#: Snaps of at most this many point x node pairs skip the KD-tree (see :func:`snap_xy`).
_BRUTE_MAX_PAIRS = 20_000


def _nearest_direct(xy: np.ndarray, node_xy: np.ndarray, k: int,
                    limit_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k nearest nodes, measuring every point-node distance: ``(dist, idx, missing)``, each (m, k)."""
    d = np.hypot(xy[:, None, 0] - node_xy[None, :, 0], xy[:, None, 1] - node_xy[None, :, 1])
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, idx, axis=1)
    return dist, idx, dist > limit_m


def _nearest_tree(xy: np.ndarray, tree: cKDTree, n_nodes: int, k: int,
                  limit_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k nearest nodes from the KD-tree: ``(dist, idx, missing)``, each (m, k)."""
    dist, idx = tree.query(xy, k=k, distance_upper_bound=limit_m)
    dist, idx = np.asarray(dist).reshape(len(xy), k), np.asarray(idx).reshape(len(xy), k)
    return dist, idx, idx >= n_nodes


def snap_xy(xy: np.ndarray, node_xy: np.ndarray, tree: cKDTree, k: int, limit_m: float,
            speed_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Snap points to their k nearest nodes, with off-network access seconds.

    Few points against a small graph (at most :data:`_BRUTE_MAX_PAIRS` point-node pairs)
    are measured directly: a KD-tree query costs some 40 µs of fixed overhead per call,
    which would dominate a single-point query on the shipped trunk graph.

    Parameters
    ----------
    xy
        (m, 2) points.
    node_xy
        (n, 2) node coordinates.
    tree
        KD-tree over ``node_xy``.
    k
        Candidates per point (at most n).
    limit_m
        Off-network access limit in metres.
    speed_ms
        Access speed in m/s divided by the circuity (straight metres per second).

    Returns
    -------
    node_idx : (m, k) int64
        Node indices (0 where there is no node within the limit; its time is inf).
    access_s : (m, k) float
        Access seconds, ``inf`` beyond the access limit.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n_nodes = len(node_xy)
    if len(xy) * n_nodes <= _BRUTE_MAX_PAIRS:
        dist, idx, missing = _nearest_direct(xy, node_xy, k, limit_m)
    else:
        dist, idx, missing = _nearest_tree(xy, tree, n_nodes, k, limit_m)
    idx = np.where(missing, 0, idx)
    return idx.astype(np.int64), np.where(missing, np.inf, np.asarray(dist, dtype=float) / speed_ms)


def usable_snap(idx: np.ndarray, access_s: np.ndarray, lonlat: tuple[float, float],
                limit_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep one point's candidates within the access limit; :class:`NoNetworkNearby` if none is.

    Parameters
    ----------
    idx, access_s
        (k,) one point's row of :func:`snap_xy`.
    lonlat
        The point (for the error message).
    limit_m
        The access limit (for the error message).

    Returns
    -------
    tuple
        ``(nodes, access_s)`` of the candidates with a finite access time.
    """
    ok = np.isfinite(access_s)
    if not ok.any():
        raise NoNetworkNearby(key="err_no_network", field="lonlat",
                              params={"limit": f"{limit_m:.0f}", "lon": lonlat[0], "lat": lonlat[1]})
    return idx[ok], access_s[ok]


def nearest_within(points_xy: np.ndarray, node_xy: np.ndarray, k: int,
                   limit_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (point, node) pair among each point's k nearest nodes that lies within ``limit_m``.

    Parameters
    ----------
    points_xy
        (m, 2) points.
    node_xy
        (n, 2) nodes; ``k`` is capped at n.
    k
        Candidates per point.
    limit_m
        Distance limit in metres.

    Returns
    -------
    tuple
        ``(point, node, dist_m)`` arrays, one entry per pair, in point-major order.
    """
    k = min(int(k), len(node_xy))
    dist, idx = cKDTree(node_xy).query(points_xy, k=k, distance_upper_bound=limit_m)
    dist, idx = dist.reshape(len(points_xy), k), idx.reshape(len(points_xy), k)
    s, j = np.nonzero(np.isfinite(dist))
    return s, idx[s, j], dist[s, j]
