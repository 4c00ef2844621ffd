"""Degree-2 contraction of a directed road graph, vectorised.

A node is *interior* when it only continues one road: a two-way node with exactly two
neighbours, each linked both ways, or a one-way node with one edge in and one edge out to
different neighbours; in both cases every edge at the node has the same class, ``ref`` and
``name`` (so a contracted edge names one road). Chains of interior nodes between kept nodes
become one edge with the summed length and time. Shortest paths between kept nodes do not
change. Long chains keep about one node per ``spacing_m`` (chosen on one canonical walk of
each chain, so both directions of a two-way road keep the same nodes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .edges import EdgeArrays


def _ptr(keys: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets of sorted ``keys`` over ``n`` nodes."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr


def interior_nodes(edges: EdgeArrays) -> tuple[np.ndarray, np.ndarray]:
    """Which nodes are interior, and which of those are two-way.

    ``edges`` must be sorted by (u, v) without parallel edges or self-loops.

    Returns
    -------
    tuple
        ``(interior, two_way)`` boolean masks over the nodes.
    """
    n, u, v = edges.n, edges.u, edges.v
    key = (edges.ref.astype(np.int64) * (int(edges.name.max(initial=0)) + 1) + edges.name) * 64 + edges.cls
    out_ptr, rorder = _ptr(u, n), np.lexsort((u, v))
    in_ptr = _ptr(v[rorder], n)
    out_deg, in_deg = np.diff(out_ptr), np.diff(in_ptr)
    interior, two_way = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    x = np.flatnonzero((out_deg == 2) & (in_deg == 2))
    e0, r0, r1 = out_ptr[x], rorder[in_ptr[x]], rorder[in_ptr[x] + 1]
    e1 = e0 + 1
    ok = (v[e0] == u[r0]) & (v[e1] == u[r1]) & (v[e0] != x) & (v[e1] != x)
    ok &= (key[e0] == key[e1]) & (key[e0] == key[r0]) & (key[e0] == key[r1])
    interior[x[ok]] = two_way[x[ok]] = True
    x = np.flatnonzero((out_deg == 1) & (in_deg == 1))
    e, r = out_ptr[x], rorder[in_ptr[x]]
    ok = (v[e] != u[r]) & (v[e] != x) & (u[r] != x) & (key[e] == key[r])
    interior[x[ok]] = True
    return interior, two_way


def _next_edge(edges: EdgeArrays, interior: np.ndarray) -> np.ndarray:
    """For an edge into an interior node, the edge that continues the road (-1 elsewhere)."""
    out_ptr = _ptr(edges.u, edges.n)
    nxt = np.full(len(edges.u), -1, dtype=np.int64)
    into = np.flatnonzero(interior[edges.v])
    x, p = edges.v[into], edges.u[into]
    base = out_ptr[x]
    two = (out_ptr[x + 1] - base) == 2
    nxt[into] = base + (two & (edges.v[base] == p))
    return nxt


def walk(edges: EdgeArrays, interior: np.ndarray, nxt: np.ndarray, *,
         record: bool = False) -> dict[str, np.ndarray]:
    """Follow every edge that leaves a kept node through interior nodes to the next kept node.

    Returns
    -------
    dict
        ``start`` (first edge), ``end`` (kept node reached), ``length``, ``time``; with ``record``
        also ``step_walk``, ``step_node`` and ``step_cum`` (length from the start to each interior node).
    """
    start = np.flatnonzero(~interior[edges.u])
    cur = start.copy()
    length = edges.length_m[start].astype(float)
    time = edges.time_s[start].astype(float)
    active = np.flatnonzero(interior[edges.v[cur]])
    steps: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for _ in range(edges.n + 1):
        if not active.size:
            break
        if record:
            steps.append((active, edges.v[cur[active]], length[active].copy()))
        e = nxt[cur[active]]
        cur[active] = e
        length[active] += edges.length_m[e]
        time[active] += edges.time_s[e]
        active = active[interior[edges.v[e]]]
    out = {"start": start, "end": edges.v[cur], "length": length, "time": time}
    if record:
        def cat(i: int) -> np.ndarray:
            return np.concatenate([s[i] for s in steps]) if steps else np.zeros(0, dtype=np.int64)
        out.update(step_walk=cat(0), step_node=cat(1), step_cum=cat(2))
    return out


def spacing_nodes(edges: EdgeArrays, interior: np.ndarray, two_way: np.ndarray, spacing_m: float) -> np.ndarray:
    """Interior nodes to keep so that kept nodes are at most about ``spacing_m`` apart along a chain.

    The first node past each multiple of ``spacing_m`` from the chain's start is kept. A two-way
    chain is walked twice (once each way); only the walk from the lower-numbered end decides.
    """
    res = walk(edges, interior, _next_edge(edges, interior), record=True)
    sw, node, cum = res["step_walk"], res["step_node"], res["step_cum"]
    if not len(sw):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((cum, sw))  # steps by walk, then along it
    s_sw = sw[order]
    new_walk = np.r_[True, s_sw[1:] != s_sw[:-1]]
    is_last = np.r_[s_sw[1:] != s_sw[:-1], True]
    last = np.zeros(len(res["start"]), dtype=np.int64)
    last[s_sw[is_last]] = node[order][is_last]
    tail, first = edges.u[res["start"]], edges.v[res["start"]]
    canonical = (tail < res["end"]) | ((tail == res["end"]) & (first <= last)) | ~two_way[first]
    before_sorted = np.where(new_walk, 0.0, np.r_[0.0, cum[order][:-1]])
    before = np.empty(len(order))
    before[order] = before_sorted
    mark = canonical[sw] & (np.floor(cum / spacing_m) > np.floor(before / spacing_m))
    return np.unique(node[mark])


def contract(edges: EdgeArrays, *, spacing_m: float = 1000.0) -> tuple[np.ndarray, EdgeArrays, dict[str, Any]]:
    """Contract chains of interior nodes.

    Parameters
    ----------
    edges
        Directed edges without parallel edges or self-loops (any order).
    spacing_m
        Keep about one node per this many metres along long chains (0: none).

    Returns
    -------
    tuple
        ``(keep, edges, report)``: the mask of kept nodes, the contracted edges on the kept nodes'
        new indices, and ``nodes``, ``edges``, ``spacing_nodes`` counts.
    """
    edges = edges.take(np.lexsort((edges.v, edges.u)))
    interior, two_way = interior_nodes(edges)
    if interior.all() and edges.n:
        interior[0] = False  # a lone ring: keep one node
    n_spacing = 0
    if spacing_m > 0 and interior.any():
        extra = spacing_nodes(edges, interior, two_way, spacing_m)
        interior[extra] = False
        n_spacing = len(extra)
    res = walk(edges, interior, _next_edge(edges, interior))
    keep = ~interior
    remap = np.cumsum(keep) - 1
    start, end = res["start"], res["end"]
    loop = edges.u[start] == end
    start, end = start[~loop], end[~loop]
    out = EdgeArrays(int(keep.sum()), remap[edges.u[start]], remap[end], res["length"][~loop], res["time"][~loop],
                 edges.cls[start], edges.ref[start], edges.name[start])
    report = {"nodes": out.n, "edges": len(out.u), "spacing_nodes": n_spacing, "loops_dropped": int(loop.sum())}
    return keep, out, report
