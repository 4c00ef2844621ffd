"""Road edits of a scenario: corridor speeds, removed links and new links, on copies of the road arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...network.osm import OsmRoadNetwork, known_roads, road_edges
from ...network.roads import RoadNetwork, to_metric, value
from .files import Scenario, _coords
from .inputs import NetworkInputs

_COORD_EPS = 1e-5  # degrees: a place at a road node's coordinates is that node


@dataclass
class _Edit:
    """Mutable working copies of the inputs while one scenario is applied."""

    lonlat: list[tuple[float, float]]
    names: list[str]
    u: list[np.ndarray]
    v: list[np.ndarray]
    length: list[np.ndarray]
    time: list[np.ndarray]
    keep: np.ndarray
    extra_rows: list[dict[str, Any]] = field(default_factory=list)


def _edit_road(inputs: NetworkInputs, scen: Scenario) -> RoadNetwork:
    base = inputs.road
    work = _Edit(lonlat=[tuple(p) for p in base.lonlat.tolist()], names=list(base.names), u=[base.u.copy()],
                 v=[base.v.copy()], length=[base.length_m.copy()], time=[base.time_s.copy()],
                 keep=np.ones(len(base.u), dtype=bool))
    for i, row in enumerate(scen.edits["corridor"]):
        _corridor(inputs, scen, i, row, work)
    for i, row in enumerate(scen.edits["remove_link"]):
        _remove(inputs, scen, i, row, work)
    _check_connected(inputs, scen, work)
    for i, row in enumerate(scen.edits["road_link"]):
        _add_link(inputs, scen, i, row, work)
    keep = np.concatenate([work.keep, np.ones(sum(len(a) for a in work.u[1:]), dtype=bool)])
    cat = [np.concatenate(a)[keep] for a in (work.u, work.v, work.length, work.time)]
    return RoadNetwork(np.array(work.lonlat, dtype=float), tuple(work.names), cat[0].astype(np.int64),
                       cat[1].astype(np.int64), cat[2].astype(float), cat[3].astype(float), base.source)


def _class_speed(inputs: NetworkInputs, scen: Scenario, table: str, i: int, row: Mapping[str, Any]) -> float:
    """``speed_kmh`` of an edit, else the model.toml speed of its ``class`` (on an OSM network also an OSM class)."""
    if "speed_kmh" in row:
        return float(row["speed_kmh"])
    classes = dict(inputs.params["road"]["speed_kmh"])
    if inputs.road.source == "osm":
        classes.update(inputs.params.get("osm", {}).get("speed_kmh", {}))
    if row["class"] not in classes:
        raise scen.error(f"unknown road class {row['class']!r}; model.toml has {', '.join(classes)}",
                         table, i, "class")
    return float(value(classes[row["class"]]))


def _corridor(inputs: NetworkInputs, scen: Scenario, i: int, row: Mapping[str, Any], work: _Edit) -> None:
    cid = row["id"]
    if inputs.road.source == "osm":
        sel = _osm_road(inputs, scen, i, str(cid))
    elif cid not in inputs.corridors:
        raise scen.error(f"unknown corridor {cid!r}; road_corridors.csv has {', '.join(inputs.corridors)}",
                         "corridor", i, "id", cid)
    else:
        sel = inputs.edge_corridor == cid
    speed = _class_speed(inputs, scen, "corridor", i, row)
    work.time[0] = np.where(sel, work.length[0] / (speed / 3.6), work.time[0])


def _osm_road(inputs: NetworkInputs, scen: Scenario, i: int, name: str) -> np.ndarray:
    """Edges of the OSM road whose ``ref`` or ``name`` is ``name`` (``G202``, ``黑大公路``)."""
    road = inputs.road
    if not isinstance(road, OsmRoadNetwork):
        raise scen.error("naming a road needs a network built by `geo-app network build` (it keeps ref and name); "
                         "this graph comes from a graphml", "corridor", i, "id", name)
    found = road_edges(road, name)
    if not len(found):
        raise scen.error(f"no road with ref or name {name!r} in the OSM network; its longest roads are "
                         f"{', '.join(known_roads(road, 8))}", "corridor", i, "id", name)
    sel = np.zeros(len(road.u), dtype=bool)
    sel[found] = True
    return sel


def _node_index(inputs: NetworkInputs, scen: Scenario, table: str, i: int, key: str, work: _Edit) -> int:
    """Index of an endpoint (place name or [lon, lat]); a real point not yet a node becomes one."""
    raw = scen.edits[table][i][key]
    if isinstance(raw, str):
        if raw in work.names[: len(inputs.road.names)]:
            return work.names.index(raw)
        if raw not in inputs.places:
            raise scen.error(f"unknown place {raw!r}: not in data/routes/road_nodes.csv or data/places.geojson",
                             table, i, key, raw)
        pt, label = inputs.places[raw], raw
    else:
        pt, label = _coords(scen, table, i, key, raw), f"{key}:{raw}"
    near = [j for j, q in enumerate(work.lonlat) if abs(q[0] - pt[0]) < _COORD_EPS and abs(q[1] - pt[1]) < _COORD_EPS]
    if near:
        return near[0]
    if table == "remove_link":
        raise scen.error(f"{label!r} is not a road node, so it has no link to remove", table, i, key, raw)
    work.lonlat.append(pt)
    work.names.append(label)
    return len(work.lonlat) - 1


def _add_link(inputs: NetworkInputs, scen: Scenario, i: int, row: Mapping[str, Any], work: _Edit) -> None:
    a = _node_index(inputs, scen, "road_link", i, "from", work)
    b = _node_index(inputs, scen, "road_link", i, "to", work)
    if a == b:
        raise scen.error("link into nowhere: both ends are the same point", "road_link", i, "to")
    if a >= len(inputs.road.names) and b >= len(inputs.road.names) and not _touches(work, a, b):
        raise scen.error("link into nowhere: neither end is on the network (a road node or a place "
                         "joined by an earlier link)", "road_link", i, "from")
    speed = _class_speed(inputs, scen, "road_link", i, row)
    if "length_km" in row:
        length = float(row["length_km"]) * 1000.0
    else:
        cls = row.get("class", "national")
        circ = inputs.params["road"]["circuity"].get(cls) or inputs.params["road"]["circuity"]["national"]
        xy = to_metric(np.array([work.lonlat[a], work.lonlat[b]]))
        length = float(np.hypot(*(xy[1] - xy[0]))) * float(value(circ))
    pairs = [(a, b), (b, a)] if row.get("both_ways", True) else [(a, b)]
    for p, q in pairs:
        work.u.append(np.array([p]))
        work.v.append(np.array([q]))
        work.length.append(np.array([length]))
        work.time.append(np.array([length / (speed / 3.6)]))


def _touches(work: _Edit, a: int, b: int) -> bool:
    """True when node a or b already has an added edge (joined to the network by an earlier link)."""
    ends = {int(x) for arr in work.u[1:] for x in arr}
    return a in ends or b in ends


def _remove(inputs: NetworkInputs, scen: Scenario, i: int, row: Mapping[str, Any], work: _Edit) -> None:
    a = _node_index(inputs, scen, "remove_link", i, "from", work)
    b = _node_index(inputs, scen, "remove_link", i, "to", work)
    u, v = work.u[0], work.v[0]
    sel = ((u == a) & (v == b)) | ((u == b) & (v == a))
    if "corridor" in row:
        sel &= inputs.edge_corridor == row["corridor"]
    if not (sel & work.keep).any():
        raise scen.error(f"no road link between {row['from']!r} and {row['to']!r} to remove", "remove_link", i,
                         "from")
    work.keep &= ~sel


def _check_connected(inputs: NetworkInputs, scen: Scenario, work: _Edit) -> None:
    """Removing links must not cut a road node off the network."""
    if not scen.edits["remove_link"]:
        return
    n = len(inputs.road.names)
    before = set(inputs.road.u.tolist()) | set(inputs.road.v.tolist())
    after = set(work.u[0][work.keep].tolist()) | set(work.v[0][work.keep].tolist())
    cut = sorted(before - after)
    if cut:
        names = ", ".join(work.names[j] for j in cut if j < n)
        raise scen.error(f"removing these links leaves {names} with no road at all", "remove_link", 0, "from")
