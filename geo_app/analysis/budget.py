"""The time budget of one request: a deadline, an estimate of the work before it starts, checks between steps.

Nothing here imports Flask. The web layer opens a budget per request (:func:`deadline`, from
``REQUEST_TIMEOUT_S``); the analysis estimates what a step will cost before running it
(:func:`require`: a grid of cells on a graph, a search, contours) and checks the clock between
steps (:func:`check`). Both raise :class:`~geo_app.errors.BudgetExceeded` (503), before anything is
cached or stored, so a refused or stopped request leaves nothing half-done. Without an open budget
(the command line, batch runs) both do nothing.

The costs per unit were measured on this project's machine (2 cores, Debian 12) and multiplied by
about 3-4 for a loaded server (README, Performance): a cold
snapping of the grid to the k nearest nodes ~0.9 µs per cell on the shipped network (1.6 µs per
KD-tree query on a 200k-node graph), the warm gather ~0.05 µs per cell, a csgraph search ~40 ns
per edge, contours ~0.04 µs per cell and contour.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextvars import ContextVar

from ..errors import BudgetExceeded

#: Seconds per cell and nearest node to snap a cell that no cached tile holds.
SNAP_S_PER_CELL_K = 0.75e-6
#: Seconds per cell and nearest node to gather and take the minimum over cached snaps.
GATHER_S_PER_CELL_K = 0.05e-6
#: Seconds per directed edge of a one-to-all search (graphs without an all-pairs table).
SEARCH_S_PER_EDGE = 150e-9
#: Seconds per cell and contour to polygonise and clip a contour.
CONTOUR_S_PER_CELL = 0.15e-6

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("geo_app_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Run the block under a budget of ``seconds`` (None: no budget); budgets do not nest outward.

    Parameters
    ----------
    seconds
        The budget; an inner budget never extends an outer one.
    """
    if seconds is None:
        yield
        return
    now = time.monotonic()
    outer = _DEADLINE.get()
    end = now + max(0.0, float(seconds))
    if outer is not None:
        end = min(end, outer[0])
    token = _DEADLINE.set((end, float(seconds)))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float:
    """Seconds left of the open budget (``inf`` without one)."""
    box = _DEADLINE.get()
    return math.inf if box is None else box[0] - time.monotonic()


def _budget_s() -> float:
    box = _DEADLINE.get()
    return math.inf if box is None else box[1]


def require(estimate_s: float, what: str) -> None:
    """Refuse a step whose estimated cost exceeds what is left of the budget (before it starts).

    Raises
    ------
    BudgetExceeded
        With the estimate and the seconds left.
    """
    left = remaining()
    if estimate_s > left:
        raise BudgetExceeded(key="err_budget_refused", field="budget",
                             params={"what": what, "estimate": f"{estimate_s:.1f}", "budget": f"{max(left, 0):.1f}"})


def check(what: str) -> None:
    """Stop the request (between two steps) when its budget has run out.

    Raises
    ------
    BudgetExceeded
        Naming the step that was about to start.
    """
    if remaining() <= 0:
        raise BudgetExceeded(key="err_budget_stopped", field="budget",
                             params={"what": what, "budget": f"{_budget_s():g}"})


def surface_seconds(cells: int, k: int, *, cold_cells: int | None = None) -> float:
    """Estimated seconds of a travel-time surface of ``cells`` cells snapped to ``k`` nodes.

    Parameters
    ----------
    cells
        Cells of the grid.
    k
        Nearest nodes per cell.
    cold_cells
        Cells whose snapping is not cached (default: all of them).
    """
    cold = cells if cold_cells is None else cold_cells
    return k * (cold * SNAP_S_PER_CELL_K + cells * GATHER_S_PER_CELL_K)


def search_seconds(edges: int) -> float:
    """Estimated seconds of one one-to-all search over ``edges`` directed edges."""
    return edges * SEARCH_S_PER_EDGE


def contour_seconds(cells: int, contours: int) -> float:
    """Estimated seconds to draw ``contours`` contours from a surface of ``cells`` cells."""
    return cells * contours * CONTOUR_S_PER_CELL
