"""Edge arrays → read-only scipy CSR mode graphs (with the all-pairs table for small graphs).

This is the one path from plain edge arrays (``u``, ``v``, seconds, metres, kind) to a
:class:`ModeGraph`; every road source (trunk corridors, graphml, OSM extracts) ends here.
Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

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


def readonly(*arrays: np.ndarray) -> None:
    """Make arrays read-only."""
    for a in arrays:
        a.setflags(write=False)


def make_csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, length: np.ndarray,
             kind: np.ndarray) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
    """Build a CSR matrix keeping the fastest of parallel edges.

    Parameters
    ----------
    n
        Number of nodes.
    u, v, w, length, kind
        Edge arrays (seconds, metres, kind code).

    Returns
    -------
    tuple
        ``(csr, length, kind)`` with ``length`` and ``kind`` aligned to ``csr.data``; all read-only.
    """
    order = np.lexsort((w, v, u))
    u, v, w, length, kind = u[order], v[order], w[order], length[order], kind[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w, length, kind = u[first], v[first], w[first], length[first], kind[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    csr = csr_matrix((np.maximum(w, _MIN_W), v.astype(np.int32), indptr), shape=(n, n))
    readonly(csr.data, csr.indices, csr.indptr, length, kind)
    return csr, np.ascontiguousarray(length), np.ascontiguousarray(kind)


def all_pairs_table(fwd: csr_matrix) -> np.ndarray | None:
    """All-pairs seconds of a forward CSR (read-only), or None above :data:`TABLE_MAX_NODES` nodes."""
    if fwd.shape[0] > TABLE_MAX_NODES:
        return None
    table = dijkstra(fwd, directed=True)  # one csgraph call, every node as a source
    readonly(table)
    return table


def mode_graph(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, length: np.ndarray,
               kind: np.ndarray) -> ModeGraph:
    """Forward and reversed CSR for one mode, plus its all-pairs table when small enough.

    Parameters
    ----------
    n
        Number of nodes.
    u, v, w, length, kind
        Edge arrays as for :func:`make_csr`.

    Returns
    -------
    ModeGraph
    """
    fwd, fl, fk = make_csr(n, u, v, w, length, kind)
    rev, rl, rk = make_csr(n, v, u, w, length, kind)
    return ModeGraph(n, fwd, rev, fl, rl, fk, rk, all_pairs_table(fwd))


def combine(n: int, groups: Mapping[str, EdgeGroup], use: Sequence[str],
            kinds: Mapping[str, np.ndarray | int]) -> ModeGraph:
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
    return mode_graph(n, u, v, w, length, kind.astype(np.int8))


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
