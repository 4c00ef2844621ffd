"""One-to-all search on a :class:`~geo_app.network.csr.ModeGraph`: table lookups or scipy Dijkstra.

A mode graph with an all-pairs table (at most :data:`~geo_app.network.csr.TABLE_MAX_NODES`
nodes) answers by row lookups; larger graphs run scipy's Dijkstra per query. Node offsets
(``start``: where the searched layer begins, ``result``: where the returned road layer begins)
come from the caller, which knows the node layout. Nothing here imports Flask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse.csgraph import dijkstra

from ..errors import ValidationError
from .csr import ModeGraph, with_source

MODES = ("car", "rail", "best")
DIRECTIONS = ("from", "to")


def check_query(mode: str, direction: str) -> None:
    """Raise :class:`ValidationError` for an unknown mode or direction."""
    if mode not in MODES:
        raise ValidationError(key="err_mode_choice", params={"modes": list(MODES), "got": mode}, field="mode")
    if direction not in DIRECTIONS:
        raise ValidationError(key="err_direction_choice", params={"got": direction}, field="direction")


def point_search(mg: ModeGraph, nodes: np.ndarray, access_s: np.ndarray, start: int, result: int,
                 direction: str, limit_s: float | None, predecessors: bool) -> dict[str, Any]:
    """Run one Dijkstra from a virtual source linked to ``nodes`` (each with its access seconds).

    Parameters
    ----------
    mg
        The mode graph.
    nodes, access_s
        (m,) snapped road-layer nodes and their access seconds.
    start, result
        Offsets of the start layer and of the result road layer in ``mg``'s node numbering.
    direction
        ``from`` (forward graph) or ``to`` (reversed graph).
    limit_s
        Search limit in seconds (None: no limit).
    predecessors
        Also return the predecessor array.

    Returns
    -------
    dict
        ``dist`` (all nodes of the mode graph, virtual source last), ``pred`` (or None),
        ``csr`` searched, ``result_offset`` (where road-layer results start), ``source``.
    """
    base = mg.fwd if direction == "from" else mg.rev
    csr = with_source(base, nodes + start, access_s)
    lim = np.inf if limit_s is None else float(limit_s)
    out = dijkstra(csr, directed=True, indices=mg.n, limit=lim, return_predecessors=predecessors)
    dist, pred = (out if predecessors else (out, None))
    return {"dist": dist, "pred": pred, "csr": csr, "result_offset": result, "source": mg.n}


def from_nodes(mg: ModeGraph, nodes: np.ndarray, offsets: np.ndarray, start: int, result: int,
               n_road: int, direction: str, limit_s: float | None) -> np.ndarray:
    """One-to-all from (or to) a set of road-layer nodes, each with a start offset.

    ``t[x] = min_i(offsets[i] + time(nodes[i] → x))`` for ``direction="from"`` (``x →
    nodes[i]`` for ``"to"``). With an all-pairs table the answer is a vectorised row minimum;
    otherwise :func:`_dijkstra_from` runs.

    Parameters
    ----------
    mg
        The mode graph.
    nodes
        (m,) road-layer node indices, m ≥ 1.
    offsets
        (m,) seconds already spent on reaching each node (finite, ≥ 0).
    start, result
        Offsets of the start layer and of the result road layer in ``mg``'s node numbering.
    n_road
        Number of road-layer nodes (the length of the result).
    direction
        ``from`` or ``to``.
    limit_s
        Search limit in seconds; nodes beyond it are inf.

    Returns
    -------
    numpy.ndarray
        (n_road,) float seconds, ``inf`` when unreachable or beyond ``limit_s``.
    """
    nodes = np.asarray(nodes, dtype=np.int64).ravel()
    offsets = np.asarray(offsets, dtype=float).ravel()
    lim = np.inf if limit_s is None else float(limit_s)
    if mg.table is None:
        return _dijkstra_from(mg, nodes, offsets, start, result, n_road, direction, lim)
    rows = slice(result, result + n_road)
    if len(nodes) == 1:  # basic indexing: a view of one row (column for "to"), then one add
        node = start + int(nodes[0])
        t = (mg.table[node, rows] if direction == "from" else mg.table[rows, node]) + offsets[0]
    else:
        block = mg.table[start + nodes, rows] if direction == "from" else mg.table[rows, start + nodes].T
        t = (block + offsets[:, None]).min(axis=0)
    if limit_s is not None:
        t[t > lim] = np.inf
    return t


def _dijkstra_from(mg: ModeGraph, nodes: np.ndarray, offsets: np.ndarray, start: int, result: int,
                   n_road: int, direction: str, lim: float) -> np.ndarray:
    """Scipy Dijkstra for :func:`from_nodes` (no table).

    Straight from the node when there is one source (no CSR copy), else from a virtual source
    linked to all of them.
    """
    base = mg.fwd if direction == "from" else mg.rev
    if len(nodes) == 1:
        if offsets[0] > lim:
            return np.full(n_road, np.inf)
        dist = dijkstra(base, directed=True, indices=int(start + nodes[0]), limit=lim - offsets[0])
        return dist[result:result + n_road] + offsets[0]
    csr = with_source(base, nodes + start, offsets)
    return dijkstra(csr, directed=True, indices=mg.n, limit=lim)[result:result + n_road]


def from_nodes_offnet(mg: ModeGraph, nodes: np.ndarray, offsets: np.ndarray, start: int, result: int,
                      n_road: int, direction: str, limit_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`from_nodes` plus the seconds each node's trip spends off the network.

    The off-network part is the start offset of the node the trip starts from (the point's own
    access leg) plus the access edges on the way (:mod:`.offnet`).

    Returns
    -------
    tuple of numpy.ndarray
        ``(seconds, offnet_seconds)``, each (n_road,); ``inf`` / undefined where unreachable.
    """
    nodes = np.asarray(nodes, dtype=np.int64).ravel()
    offsets = np.asarray(offsets, dtype=float).ravel()
    lim = np.inf if limit_s is None else float(limit_s)
    if mg.table is None or mg.offnet is None:
        t, off = _dijkstra_offnet(mg, nodes, offsets, start, result, n_road, direction, lim)
    else:
        rows = slice(result, result + n_road)
        if direction == "from":
            block, offb = mg.table[start + nodes, rows], mg.offnet[start + nodes, rows]
        else:
            block, offb = mg.table[rows, start + nodes].T, mg.offnet[rows, start + nodes].T
        total = block + offsets[:, None]
        pick = np.argmin(total, axis=0)[None, :]
        t = np.take_along_axis(total, pick, axis=0)[0]
        off = np.take_along_axis(offb, pick, axis=0)[0] + offsets[pick[0]]
    if limit_s is not None:
        t[t > lim] = np.inf
    return t, off


def _dijkstra_offnet(mg: ModeGraph, nodes: np.ndarray, offsets: np.ndarray, start: int, result: int,
                     n_road: int, direction: str, lim: float) -> tuple[np.ndarray, np.ndarray]:
    """Scipy Dijkstra with predecessors for :func:`from_nodes_offnet` (graphs without a table)."""
    from .offnet import search_offnet

    base = mg.fwd if direction == "from" else mg.rev
    kind = mg.fwd_kind if direction == "from" else mg.rev_kind
    csr = with_source(base, nodes + start, offsets)
    dist, pred = dijkstra(csr, directed=True, indices=mg.n, limit=lim, return_predecessors=True)
    first = np.full(mg.n + 1, np.inf)  # the virtual source's edge into each node (the smallest offset)
    np.minimum.at(first, nodes + start, offsets)
    first[~np.isfinite(first)] = 0.0
    off = search_offnet(dist, pred, csr, kind, mg.n, first)
    return dist[result:result + n_road], off[result:result + n_road]
