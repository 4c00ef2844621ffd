"""Seconds spent off the network along shortest paths (DESIGN.md §2 "Confidence").

A trip's off-network part is every leg timed by the access assumption (straight line x circuity ÷
local speed): the leg from a point to the nodes it snaps to (the search's start offsets) and the
``access`` edges between station forecourts and road nodes. Times along a shortest-path tree are
summed by pointer doubling over the predecessor array, so the work is ``O(n log depth)`` vector
steps, never a Python loop over nodes. Nothing here imports Flask.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

#: Edge kinds timed by the access assumption (``KINDS`` index of ``"access"``).
ACCESS_KIND = 1


def access_lookup(csr: csr_matrix, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys ``u * n + v`` and seconds of the access-kind entries of a CSR (usually a few hundred).

    Parameters
    ----------
    csr
        A mode graph's forward or reverse matrix.
    kind
        Kind codes aligned with ``csr.data``.
    """
    n = csr.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr))
    sel = kind == ACCESS_KIND
    keys = rows[sel] * n + csr.indices[sel].astype(np.int64)
    order = np.argsort(keys, kind="stable")
    return keys[order], np.asarray(csr.data[sel], dtype=float)[order]


def _edge_seconds(keys: np.ndarray, secs: np.ndarray, pred: np.ndarray, node: np.ndarray, n: int) -> np.ndarray:
    """Seconds of the access edge ``pred -> node`` for each pair (0 when it is not an access edge)."""
    out = np.zeros(pred.shape, dtype=float)
    if not len(keys):
        return out
    ok = pred >= 0
    want = pred[ok].astype(np.int64) * n + node[ok]
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    out[ok] = np.where(keys[pos] == want, secs[pos], 0.0)
    return out


def tree_sums(pred: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Sum ``step`` from every node up its predecessor chain (itself included) by pointer doubling.

    Parameters
    ----------
    pred
        (..., n) predecessor per node; negative for a root or an unreached node.
    step
        (..., n) seconds of the edge into each node (for a root: its start offset).

    Returns
    -------
    numpy.ndarray
        (..., n) float seconds: ``step[j] + step[pred[j]] + ...`` up to the root.
    """
    n = pred.shape[-1]
    sentinel = n  # one extra node per row: parent of every root, step 0, its own parent
    parent = np.where(pred >= 0, pred, sentinel).astype(np.int64)
    parent = np.concatenate([parent, np.full((*pred.shape[:-1], 1), sentinel, dtype=np.int64)], axis=-1)
    total = np.concatenate([np.asarray(step, dtype=float), np.zeros((*pred.shape[:-1], 1))], axis=-1)
    while True:
        up = np.take_along_axis(parent, parent, axis=-1)
        total = total + np.take_along_axis(total, parent, axis=-1)
        if np.array_equal(up, parent):
            break
        parent = up
    return total[..., :n]


def all_pairs(fwd: csr_matrix, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs seconds and the off-network seconds along each shortest path, in one csgraph call.

    Parameters
    ----------
    fwd
        Forward CSR of a mode graph.
    kind
        Kind codes aligned with ``fwd.data``.

    Returns
    -------
    table, offnet : numpy.ndarray
        (n, n) read-only: ``table[i, j]`` seconds i → j (``inf`` if unreachable) and the seconds of
        access edges on that path (``offnet[i, i] = 0``), float32.
    """
    table, pred = dijkstra(fwd, directed=True, return_predecessors=True)
    n = fwd.shape[0]
    keys, secs = access_lookup(fwd, kind)
    cols = np.broadcast_to(np.arange(n, dtype=np.int64), (n, n))
    offnet = tree_sums(pred, _edge_seconds(keys, secs, pred, cols, n)).astype(np.float32)
    table.setflags(write=False)
    offnet.setflags(write=False)
    return table, offnet


def search_offnet(dist: np.ndarray, pred: np.ndarray, csr: csr_matrix, kind: np.ndarray, source: int,
                  source_s: np.ndarray) -> np.ndarray:
    """Off-network seconds along the shortest-path tree of one search.

    Parameters
    ----------
    dist, pred
        The search's distances and predecessors (over ``csr``'s nodes).
    csr
        The searched matrix; rows past ``len(kind)``'s owner (a virtual source) have no kind.
    kind
        Kind codes aligned with the graph's own entries (the virtual source's row comes last).
    source
        Index of the search's source node (a virtual source, or the node itself).
    source_s
        (n,) start offset of each node whose predecessor is the source (0 elsewhere).

    Returns
    -------
    numpy.ndarray
        (n,) float seconds (0 for unreached nodes; their time is ``inf`` anyway).
    """
    n = len(dist)
    own = len(kind)
    base = csr_matrix((csr.data[:own], csr.indices[:own], np.minimum(csr.indptr, own)), shape=csr.shape)
    keys, secs = access_lookup(base, kind)
    step = _edge_seconds(keys, secs, np.where(pred == source, -1, pred), np.arange(n, dtype=np.int64), n)
    step = np.where(pred == source, source_s, step)
    step[source] = 0.0
    return tree_sums(np.where(pred == source, -1, pred), step)
