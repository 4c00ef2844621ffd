"""Why a scenario changes nothing: derived from the comparison and the edited road links.

A scenario that saves no minute anywhere has edits that carry no fastest path to the
destination. For road edits this module says more: when every edited link is *paralleled* by a
faster route between its own two ends (which the edit does not make faster), no fastest path can
ever use it, whatever the destination. Nothing here imports Flask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse.csgraph import dijkstra

from ...network.csr import make_csr
from ...network.roads import RoadNetwork
from .compare import Comparison
from .files import Scenario
from .inputs import NetworkInputs
from .road_edits import _edit_road

#: Minutes below which a cell counts as unchanged (as in the comparison's summary).
UNCHANGED_MIN = 0.05
#: Above this many edited links the per-link check is skipped (the reason is then "unused").
MAX_LINKS_CHECKED = 64
_EPS_S = 1e-6


def changes_nothing(comparison: Comparison) -> bool:
    """True when no cell gains or loses time and no unit of the table changes."""
    saved = comparison.saved[np.isfinite(comparison.saved)]
    if saved.size and float(np.abs(saved).max()) > UNCHANGED_MIN:
        return False
    changes = [c for c in comparison.table["change"].tolist() if c is not None and np.isfinite(c)]
    return all(abs(c) <= UNCHANGED_MIN for c in changes)


def edited_links(inputs: NetworkInputs, scenario: Scenario) -> tuple[RoadNetwork, list[int]]:
    """The edited road network and the indices of the links the scenario makes faster or adds.

    Without removed links the edited network keeps the base links in their order (new links
    are appended), so a link is edited when its time dropped or it is new.
    """
    after = _edit_road(inputs, scenario)
    nb = len(inputs.road.u)
    if scenario.edits["remove_link"] or len(after.u) < nb:
        return after, []
    faster = np.flatnonzero(after.time_s[:nb] < inputs.road.time_s - _EPS_S)
    return after, [*faster.tolist(), *range(nb, len(after.u))]


def _parallel_classes(inputs: NetworkInputs, after: RoadNetwork, links: list[int]) -> list[str] | None:
    """Road classes on the faster routes that parallel each edited link, or None when one has none."""
    n = len(after.lonlat)
    cls_of = _link_classes(inputs, after)
    classes: list[str] = []
    for i in links:
        a, b, w = int(after.u[i]), int(after.v[i]), float(after.time_s[i])
        keep = np.arange(len(after.u)) != i
        u, v, t = after.u[keep], after.v[keep], after.time_s[keep]
        graph, _, _ = make_csr(n, u, v, t, after.length_m[keep], np.zeros(len(u), dtype=np.int8))
        dist, pred = dijkstra(graph, indices=a, return_predecessors=True, limit=w)
        if not dist[b] < w - _EPS_S:
            return None
        node = b
        while node != a and pred[node] >= 0:
            prev = int(pred[node])
            pair = np.flatnonzero((u == prev) & (v == node))
            best = int(np.flatnonzero(keep)[pair[np.argmin(t[pair])]])
            if cls_of[best] and cls_of[best] not in classes:
                classes.append(cls_of[best])
            node = prev
    return classes


def _link_classes(inputs: NetworkInputs, after: RoadNetwork) -> list[str]:
    """The road class of each link of the edited network ("" for links the scenario adds)."""
    base = [inputs.corridors.get(str(c), {}).get("class", "") for c in inputs.edge_corridor.tolist()]
    return base + [""] * (len(after.u) - len(base))


def no_change_reason(inputs: NetworkInputs, scenario: Scenario, comparison: Comparison, *,
                     mode: str) -> dict[str, Any] | None:
    """Why a scenario saves no minute anywhere, or None when it changes something.

    Parameters
    ----------
    inputs
        The base network inputs.
    scenario
        The scenario compared.
    comparison
        The comparison of the scenario with the base network.
    mode
        The mode compared.

    Returns
    -------
    dict or None
        ``{"reason": "paralleled", "corridors": [...], "faster": [road classes]}`` when every edited
        road link has a faster route between its ends; ``{"reason": "mode"}`` when only rail is
        edited and the mode is ``car``; else ``{"reason": "unused", "corridors": [...]}``.
    """
    if not changes_nothing(comparison):
        return None
    corridors = [str(r["id"]) for r in scenario.edits["corridor"]]
    road = any(scenario.edits[k] for k in ("corridor", "road_link", "remove_link"))
    if not road and mode == "car":
        return {"reason": "mode", "corridors": corridors}
    after, links = edited_links(inputs, scenario)
    if links and len(links) <= MAX_LINKS_CHECKED:
        faster = _parallel_classes(inputs, after, links)
        if faster is not None:
            return {"reason": "paralleled", "corridors": corridors, "faster": faster}
    return {"reason": "unused", "corridors": corridors}
