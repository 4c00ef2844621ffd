"""Edge arrays → read-only scipy CSR mode graphs (with the all-pairs table for small graphs).

This is the one path from plain edge arrays (``u``, ``v``, seconds, metres, kind) to a
:class:`ModeGraph`; every road source (trunk corridors, graphml, OSM extracts) ends here.
Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .offnet import all_pairs

#: Edge kinds, aligned with each CSR's data.
KINDS = ("road", "access", "board", "alight", "ride", "transfer", "origin")
_MIN_W = 1e-3  # seconds; keeps zero-cost edges (alighting) as explicit, positive weights
#: Mode graphs up to this many nodes keep an all-pairs time table (n x n float64, at most
#: 1,500² x 8 B = 18 MB per mode), so one-to-all becomes a row lookup instead of a Dijkstra
#: run. The shipped trunk graph has 59-218 nodes per mode; OSM graphs are far above it.
TABLE_MAX_NODES = 1500

#: One group of edges: ``(u, v, time_s, length_m)`` arrays of equal length.
EdgeGroup = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ModeGraph:
    """CSR forward/reverse matrices of one mode with edge lengths and kinds aligned to ``data``."""

    n: int
    fwd: csr_matrix
    rev: csr_matrix
    fwd_len: np.ndarray
    rev_len: np.ndarray
    fwd_kind: np.ndarray
    rev_kind: np.ndarray
    #: All-pairs seconds ``table[i, j]`` = time i → j (``inf`` if unreachable), read-only;
    #: None above :data:`TABLE_MAX_NODES`.
    table: np.ndarray | None = None
    #: Seconds of access edges on each shortest path of ``table`` (float32, read-only; :mod:`.offnet`).
    offnet: np.ndarray | None = None
    #: Road speed class of each entry (codes into ``TravelGraph.road_classes``; -1: not a road edge timed
    #: at its class speed), aligned with ``fwd.data`` / ``rev.data``; None when the builder gave none.
    fwd_cls: np.ndarray | None = None
    rev_cls: np.ndarray | None = None
    #: Every edge of each parallel group, ``(entry, w, length, kind, cls)`` (see :func:`make_csr`), so a
    #: re-weighted copy can let a slower class's edge win when it becomes the faster one.
    fwd_par: tuple[np.ndarray, ...] | None = None
    rev_par: tuple[np.ndarray, ...] | None = None


def readonly(*arrays: np.ndarray) -> None:
    """Make arrays read-only."""
    for a in arrays:
        a.setflags(write=False)


def make_csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, length: np.ndarray,
             kind: np.ndarray, *extra: np.ndarray, parallels: bool = False) -> tuple[Any, ...]:
    """Build a CSR matrix keeping the fastest of parallel edges.

    Parameters
    ----------
    n
        Number of nodes.
    u, v, w, length, kind
        Edge arrays (seconds, metres, kind code).
    *extra
        More per-edge arrays to align with ``csr.data`` (e.g. road speed classes).
    parallels
        Also return every edge of each group of parallel edges (see below).

    Returns
    -------
    tuple
        ``(csr, length, kind, *extra)`` with the arrays aligned to ``csr.data``; all read-only. With
        ``parallels``, one more item: ``(entry, w, length, kind, *extra)`` of every edge that shares its
        (u, v) with another, ``entry`` being the CSR entry of the group (re-weighting may change the winner).
    """
    order = np.lexsort((w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    every = [a[order] for a in (length, kind, *extra)]
    aligned = [np.ascontiguousarray(a[first]) for a in every]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u[first], minlength=n), out=indptr[1:])
    csr = csr_matrix((np.maximum(w[first], _MIN_W), v[first].astype(np.int32), indptr), shape=(n, n))
    readonly(csr.data, csr.indices, csr.indptr, *aligned)
    if not parallels:
        return (csr, *aligned)
    group = np.cumsum(first) - 1
    shared = np.bincount(group, minlength=int(first.sum()))[group] > 1
    side = tuple(np.ascontiguousarray(a[shared]) for a in (group, w, *every))
    readonly(*side)
    return (csr, *aligned, side)


def all_pairs_table(fwd: csr_matrix) -> np.ndarray | None:
    """All-pairs seconds of a forward CSR (read-only), or None above :data:`TABLE_MAX_NODES` nodes."""
    if fwd.shape[0] > TABLE_MAX_NODES:
        return None
    table = dijkstra(fwd, directed=True)  # one csgraph call, every node as a source
    readonly(table)
    return table


def mode_graph(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, length: np.ndarray,
               kind: np.ndarray, cls: np.ndarray | None = None) -> ModeGraph:
    """Forward and reversed CSR for one mode, plus its all-pairs tables when small enough.

    Parameters
    ----------
    n
        Number of nodes.
    u, v, w, length, kind
        Edge arrays as for :func:`make_csr`.
    cls
        Optional road speed class code per edge (-1: none).

    Returns
    -------
    ModeGraph
    """
    if cls is None:
        fwd, fl, fk = make_csr(n, u, v, w, length, kind)
        rev, rl, rk = make_csr(n, v, u, w, length, kind)
        fc = rc = fp = rp = None
    else:
        fwd, fl, fk, fc, fp = make_csr(n, u, v, w, length, kind, cls, parallels=True)
        rev, rl, rk, rc, rp = make_csr(n, v, u, w, length, kind, cls, parallels=True)
    table, offnet = all_pairs(fwd, fk) if n <= TABLE_MAX_NODES else (None, None)
    return ModeGraph(n, fwd, rev, fl, rl, fk, rk, table, offnet, fc, rc, fp, rp)


def combine(n: int, groups: Mapping[str, EdgeGroup], use: Sequence[str],
            kinds: Mapping[str, np.ndarray | int], classes: Mapping[str, np.ndarray] | None = None) -> ModeGraph:
    """Concatenate edge groups into one mode graph.

    Parameters
    ----------
    n
        Number of nodes of the mode graph.
    groups
        ``{name: (u, v, time_s, length_m)}``.
    use
        The group names to include, in order.
    kinds
        Per group: one kind code for all its edges, or an array of codes aligned with its edges.
    classes
        Per group, road speed class codes aligned with its edges (groups not named get -1); None: none.

    Returns
    -------
    ModeGraph
    """
    u = np.concatenate([groups[k][0] for k in use]).astype(np.int64)
    v = np.concatenate([groups[k][1] for k in use]).astype(np.int64)
    w = np.concatenate([groups[k][2] for k in use]).astype(float)
    length = np.concatenate([groups[k][3] for k in use]).astype(float)
    kind = np.concatenate([np.full(len(groups[k][0]), kinds[k], np.int8) if np.isscalar(kinds[k]) else kinds[k]
                           for k in use])
    cls = None if classes is None else np.concatenate(
        [np.asarray(classes[k], np.int8) if k in classes else np.full(len(groups[k][0]), -1, np.int8) for k in use])
    return mode_graph(n, u, v, w, length, kind.astype(np.int8), cls)


def with_source(csr: csr_matrix, targets: np.ndarray, weights: np.ndarray) -> csr_matrix:
    """Return a copy of ``csr`` with one extra (virtual source) node linked to ``targets``.

    The source row is appended last; its index is ``csr.shape[0]``.
    """
    n = csr.shape[0]
    order = np.argsort(targets)
    indptr = np.append(csr.indptr, csr.indptr[-1] + len(targets))
    indices = np.concatenate([csr.indices, np.asarray(targets, dtype=csr.indices.dtype)[order]])
    data = np.concatenate([csr.data, np.maximum(np.asarray(weights, dtype=float)[order], _MIN_W)])
    return csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
