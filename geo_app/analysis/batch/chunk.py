"""One chunk (a row band of the grid): cell travel times to every column, and per-unit counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry.base import BaseGeometry

from ...network.graph import TravelGraph
from .grid import THRESHOLDS, Grid, Unit, _label_raster
from .portable import PortableGraph

_BLOCK = 8192  # cells per inner block of the evaluation loop (fits in L1/L2 with k = 4)

Spec = Sequence[tuple[str, str, float, float]]
Snaps = dict[str, tuple[np.ndarray, np.ndarray]]


def compute_chunk(graphs: Mapping[str, PortableGraph | TravelGraph], grid: Grid, rows: tuple[int, int],
                  extent: BaseGeometry, node_t: Mapping[str, np.ndarray], columns: Spec, max_minutes: float,
                  counties: Sequence[Unit] = (), townships: Sequence[Unit] = (),
                  snap_of: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Travel times of one row band of the grid to every column.

    Parameters
    ----------
    graphs
        ``{scenario: graph}``.
    grid
        The extent's lattice grid.
    rows
        Row range ``[r0, r1)`` of the grid (row 0 = north).
    extent
        Extent polygon (EPSG:32651): cells whose centre is inside are computed.
    node_t
        ``{scenario: (C_s, n_road) float32}`` reverse node times, in the order of ``columns``.
    columns
        ``(scenario, mode, dest_x, dest_y)`` per output column (destination in EPSG:32651).
    max_minutes
        Cells slower than this are NaN.
    counties, townships
        Summary units.
    snap_of
        ``{scenario: scenario whose snapping it shares}`` (scenarios with the same road-layer
        nodes are snapped once); default: each scenario snaps on its own graph.

    Returns
    -------
    dict
        ``cell_id``, ``gx``, ``gy``, ``x``, ``y`` (n,), ``minutes`` (C, n) float32, and per level
        ``counts_<level>`` (U, C, len(THRESHOLDS)) int64 and ``cells_<level>`` (U,) int64.
    """
    gs = {s: (g.graph if isinstance(g, PortableGraph) else g) for s, g in graphs.items()}
    snap_of = dict(snap_of or {s: s for s in gs})
    transform, rr, cc, out = _band_cells(grid, rows, extent)
    x, y = out["x"], out["y"]
    out["minutes"] = np.empty((len(columns), len(x)), dtype=np.float32)
    if len(x):
        rows_of: dict[str, list[int]] = {}
        for c, (scen, _, _, _) in enumerate(columns):
            rows_of.setdefault(scen, []).append(c)
        snaps = _snap_cells(gs, snap_of, rows_of, x, y)
        _node_minutes(out["minutes"], node_t, rows_of, snaps, snap_of)
        _direct_and_limit(out["minutes"], columns, gs, x, y, max_minutes)
    shape = (rows[1] - rows[0], grid.width)
    for level, units in (("county", counties), ("township", townships)):
        out[f"counts_{level}"], out[f"cells_{level}"] = _unit_counts(units, transform, shape, rr, cc, out["minutes"])
    return out


def _band_cells(grid: Grid, rows: tuple[int, int],
                extent: BaseGeometry) -> tuple[Affine, np.ndarray, np.ndarray, dict[str, Any]]:
    """The band's transform, the raster row/column of its extent cells, and their ids and centres.

    Returns
    -------
    tuple
        ``(transform, rr, cc, cells)`` with ``cells`` holding ``cell_id``, ``gx``, ``gy``, ``x``, ``y``.
    """
    r0, r1 = rows
    cell = grid.cell_m
    transform = grid.transform @ Affine.translation(0, r0)
    inside = _label_raster([Unit("extent", "", "", extent)], transform, (r1 - r0, grid.width)) > 0
    rr, cc = np.nonzero(inside)
    gx = (grid.gx0 + cc).astype(np.int32)
    gy = (grid.gy0 + grid.height - 1 - (r0 + rr)).astype(np.int32)
    x = (gx + 0.5) * cell  # the exact expressions of the surface's cell centres
    y = (gy + 0.5) * cell
    cells = {"cell_id": ((r0 + rr).astype(np.int64) * grid.width + cc), "gx": gx, "gy": gy, "x": x, "y": y}
    return transform, rr, cc, cells


def _snap_cells(gs: Mapping[str, TravelGraph], snap_of: Mapping[str, str], rows_of: Mapping[str, list[int]],
                x: np.ndarray, y: np.ndarray) -> Snaps:
    """k-nearest road-layer nodes of the cells, once per snapping group that has columns.

    Returns
    -------
    dict
        ``{representative scenario: (idx (k, n) intp, access seconds (k, n) float32)}``.
    """
    snaps: Snaps = {}
    for scen, rep in snap_of.items():
        if scen in rows_of and rep not in snaps:
            k = min(int(gs[rep].params["access"]["k"]["value"]), gs[rep].n_road)
            i_, a_ = gs[rep].snap_xy(np.column_stack([x, y]), k)
            snaps[rep] = (np.ascontiguousarray(i_.T, dtype=np.intp), np.ascontiguousarray(a_.T, dtype=np.float32))
    return snaps


def _node_minutes(minutes: np.ndarray, node_t: Mapping[str, np.ndarray], rows_of: Mapping[str, list[int]],
                  snaps: Snaps, snap_of: Mapping[str, str]) -> None:
    """Fill ``minutes`` (C, n) in place with the node part in seconds: ``min_j (node_t[idx_j] + access_j)``.

    Works in cache-sized blocks of cells (the k x block snapping stays in cache for every column),
    in float32 like the surface.
    """
    n = minutes.shape[1]
    tmp = np.empty(_BLOCK, dtype=np.float32)
    for b0 in range(0, n, _BLOCK):
        sl = slice(b0, min(b0 + _BLOCK, n))
        tb = tmp[: sl.stop - b0]
        for scen, cols in rows_of.items():
            idx, acc = snaps[snap_of[scen]]
            for nt, c in zip(node_t[scen], cols, strict=True):
                row = minutes[c, sl]
                np.take(nt, idx[0, sl], out=row)
                row += acc[0, sl]
                for j in range(1, len(idx)):
                    np.take(nt, idx[j, sl], out=tb)
                    tb += acc[j, sl]
                    np.minimum(row, tb, out=row)


def _direct_and_limit(minutes: np.ndarray, columns: Spec, gs: Mapping[str, TravelGraph], x: np.ndarray,
                      y: np.ndarray, max_minutes: float) -> None:
    """In place: add the direct off-network trip (car/best), convert to minutes, NaN beyond ``max_minutes``."""
    box = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    limit = np.float32(max_minutes)
    for c, (scen, mode, dx, dy) in enumerate(columns):
        row = minutes[c]
        g = gs[scen]
        lim = g.access_limit_m
        if mode != "rail" and box[0] - lim <= dx <= box[2] + lim and box[1] - lim <= dy <= box[3] + lim:
            # direct off-network trip between the destination and the cell (only near the destination)
            near = np.flatnonzero((np.abs(x - dx) <= lim) & (np.abs(y - dy) <= lim))
            if len(near):
                d = np.hypot(x[near] - dx, y[near] - dy)
                direct = np.where(d <= lim, g.access_seconds(d), np.inf).astype(np.float32)
                row[near] = np.minimum(row[near], direct)
        row /= np.float32(60.0)
        row[~(row <= limit)] = np.nan


def _unit_counts(units: Sequence[Unit], transform: Affine, shape: tuple[int, int], rr: np.ndarray, cc: np.ndarray,
                 minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells per unit and, per unit x column x threshold, cells within the threshold.

    Counting is a matrix product: ``(minutes <= th)`` as 0/1 (columns x cells) times the one-hot
    unit membership (cells x units present) — one BLAS call per threshold instead of a loop.
    """
    n_t, n_u, n_c = len(THRESHOLDS), len(units), minutes.shape[0]
    counts = np.zeros((n_u, n_c, n_t), dtype=np.int64)
    cells = np.zeros(n_u, dtype=np.int64)
    if not len(rr) or not any(u.geometry is not None for u in units):
        return counts, cells
    label = _label_raster(units, transform, shape)[rr, cc]
    sel = np.flatnonzero(label > 0)
    if not len(sel):
        return counts, cells
    m = minutes if len(sel) == len(label) else minutes[:, sel]
    lab = label[sel] - 1
    present = np.unique(lab)
    exact = np.float32 if len(sel) < 2**24 else np.float64  # integer sums stay exact
    onehot = (lab[:, None] == present[None, :]).astype(exact)
    within = np.empty(m.shape, dtype=exact)
    for j, th in enumerate(THRESHOLDS):
        np.less_equal(m, th, out=within, casting="unsafe")  # 0/1 without a bool temporary (NaN: 0)
        counts[present, :, j] = np.rint(within @ onehot).astype(np.int64).T
    cells[present] = np.bincount(lab, minlength=n_u)[present]
    return counts, cells
