"""The model assumptions a request may change (DESIGN.md §2 "Sensitivity"): names, bounds, parsing.

Each :class:`Parameter` is one number of ``data/routes/model.toml`` that moves answers most: the
off-network speed and circuity, station entry time, a fixed boarding wait (instead of the share of
the headway) and the speed of each road class. A request names them ``access_kmh``, ``circuity``,
``station_entry_min``, ``wait_min`` and ``speed_<class>``; each has bounds (a value outside them is a
400 naming the parameter and the bound) and a low and a high value for the sensitivity table.
:mod:`.variants` builds the graph for modified values. Nothing here imports Flask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..i18n import Value
from ..validate import parse_float
from .road_network import RoadNetwork
from .roads import value

#: Road speed classes of the trunk corridors (model.toml ``[road.speed_kmh]``).
TRUNK_CLASSES = ("expressway", "national", "provincial", "county")
#: Road speed classes of OSM networks (model.toml ``[osm.speed_kmh]``).
OSM_CLASSES = ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
               "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
               "service", "ferry")
#: Road speeds a request may set (km/h): legal limits of Chinese roads top out at 120.
SPEED_BOUNDS = (5.0, 120.0)
#: An edge follows its class speed when its own speed is within this share of it.
_SPEED_TOLERANCE = 0.005


@dataclass(frozen=True)
class Parameter:
    """One assumption a request may change.

    Attributes
    ----------
    name
        The request parameter (``access_kmh``, ``speed_expressway``...).
    keys
        Its entry in model.toml (``()`` for ``wait_min``, which replaces the share of the headway).
    unit
        Unit of the value.
    lo, hi
        Accepted values (inclusive).
    low, high
        The values of the sensitivity table.
    """

    name: str
    keys: tuple[str, ...]
    unit: str
    lo: float
    hi: float
    low: float
    high: float

    def model_value(self, params: Mapping[str, Any]) -> float | None:
        """The model's value (None for ``wait_min``: the model waits a share of each line's headway)."""
        return float(value(params, *self.keys)) if self.keys else None

    def labels(self, params: Mapping[str, Any]) -> tuple[str, str] | None:
        """(zh, en) label of the model entry; None for ``wait_min`` (the catalogue's ``param_wait_min``)."""
        if not self.keys:
            return None
        node: Any = params
        for key in self.keys:
            node = node[key]
        return str(node.get("label_zh", self.name)), str(node.get("label_en", self.name))


#: The assumptions that are not road speeds, in the order of the panel and the sensitivity table.
BASE = (
    Parameter("access_kmh", ("access", "speed_kmh"), "km/h", 5.0, 80.0, 20.0, 40.0),
    Parameter("circuity", ("access", "circuity"), "ratio", 1.0, 3.0, 1.1, 1.5),
    Parameter("station_entry_min", ("rail", "station_entry_min"), "min", 0.0, 60.0, 5.0, 15.0),
    Parameter("wait_min", (), "min", 0.0, 180.0, 5.0, 60.0),
)


def speed_parameter(section: str, cls: str, model_kmh: float) -> Parameter:
    """``speed_<cls>``: bounds :data:`SPEED_BOUNDS`, sensitivity values ±20 % of the model's speed (5 km/h steps)."""
    lo, hi = SPEED_BOUNDS
    return Parameter(f"speed_{cls}", (section, "speed_kmh", cls), "km/h", lo, hi,
                     max(lo, 5.0 * round(model_kmh * 0.8 / 5)), min(hi, 5.0 * round(model_kmh * 1.2 / 5)))


def schema_parameters() -> list[dict[str, Any]]:
    """Every request parameter with its bounds, without reading model.toml (for the OpenAPI document)."""
    lo, hi = SPEED_BOUNDS
    out = [{"name": p.name, "unit": p.unit, "minimum": p.lo, "maximum": p.hi} for p in BASE]
    out += [{"name": f"speed_{c}", "unit": "km/h", "minimum": lo, "maximum": hi} for c in TRUNK_CLASSES + OSM_CLASSES]
    return out


def declared(params: Mapping[str, Any]) -> list[Parameter]:
    """Every parameter a request may send: :data:`BASE` and a speed per trunk and OSM class."""
    out = list(BASE)
    for section, classes in (("road", TRUNK_CLASSES), ("osm", OSM_CLASSES)):
        table = params.get(section, {}).get("speed_kmh", {})
        out += [speed_parameter(section, c, float(value(table[c]))) for c in classes if c in table]
    return out


def editable(graph: Any) -> list[Parameter]:
    """The parameters that change this graph's answers: :data:`BASE` and the speeds of its road classes.

    A road class counts when at least one road edge of the graph is timed at its class speed.
    """
    section = "osm" if graph.road_source == "osm" else "road"
    car = graph.modes["car"]
    codes = [a for a in (car.fwd_cls, None if car.fwd_par is None else car.fwd_par[4]) if a is not None]
    used = sorted({int(c) for a in codes for c in np.unique(a[a >= 0])})
    table = graph.params.get(section, {}).get("speed_kmh", {})
    speeds = [speed_parameter(section, graph.road_classes[i], float(value(table[graph.road_classes[i]])))
              for i in used if graph.road_classes[i] in table]
    return [*BASE, *speeds]


def parse_params(args: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, float]:
    """The assumption parameters of a request, checked against their bounds.

    Parameters
    ----------
    args
        The request's parameters (others are ignored; an empty value means "the model's value").
    params
        Parsed ``model.toml`` (for the declared road classes).

    Returns
    -------
    dict
        ``{name: value}`` of the parameters given, in :func:`declared` order.

    Raises
    ------
    ValidationError
        A value that is not a finite number or lies outside its bounds (naming both).
    """
    out: dict[str, float] = {}
    for p in declared(params):
        raw = args.get(p.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        got = parse_float(raw, p.name)
        if not p.lo <= got <= p.hi:
            raise ValidationError(key="err_param_bound_ratio" if p.unit == "ratio" else "err_param_bound",
                                  field=p.name, params={"field": p.name, "lo": f"{p.lo:g}", "hi": f"{p.hi:g}",
                                                        "unit": Value(p.unit), "got": f"{got:g}"})
        out[p.name] = got
    return out


def effective(overrides: Mapping[str, float], params: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """The overrides that differ from the model's values, sorted (a cache key; empty: the model itself)."""
    by_name = {p.name: p for p in declared(params)}
    out = []
    for name, got in overrides.items():
        model = by_name[name].model_value(params)
        if model is None or not math.isclose(float(got), model, rel_tol=1e-9, abs_tol=1e-9):
            out.append((name, float(got)))
    return tuple(sorted(out))


def road_speed_classes(road: RoadNetwork, params: Mapping[str, Any]) -> tuple[tuple[str, ...], np.ndarray]:
    """The road speed class of each edge of a road network, where the edge is timed at that class's speed.

    An OSM network names each edge's class (``edge_class``); the trunk corridors do not, and an edge
    takes the class whose speed it runs at when exactly one class has that speed. An edge timed
    otherwise (a ``maxspeed`` tag, a design speed, a scenario's own speed) gets -1 and keeps its time.

    Returns
    -------
    names : tuple of str
        The class names the codes point to.
    codes : numpy.ndarray
        (m,) int8 per edge, -1 when the edge does not follow a class speed.
    """
    section = "osm" if road.source == "osm" else "road"
    table = params.get(section, {}).get("speed_kmh", {})
    names = tuple(table)
    speeds = np.array([float(value(table[c])) for c in names]) if names else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kmh = np.asarray(road.length_m, float) / np.asarray(road.time_s, float) * 3.6
    codes = np.full(len(road.u), -1, dtype=np.int8)
    own = getattr(road, "edge_class", None)
    if own is not None and hasattr(road, "classes"):
        lookup = np.array([names.index(c) if c in names else -1 for c in road.classes], dtype=np.int64)
        cand = lookup[np.asarray(own, dtype=np.int64)] if len(lookup) else np.full(len(road.u), -1)
    else:
        unique = [i for i, s in enumerate(speeds) if np.sum(np.isclose(speeds, s)) == 1]
        cand = np.full(len(road.u), -1, dtype=np.int64)
        for i in unique:
            cand[np.isclose(kmh, speeds[i], rtol=_SPEED_TOLERANCE)] = i
    ok = cand >= 0
    ok[ok] = np.isclose(kmh[ok], speeds[cand[ok]], rtol=_SPEED_TOLERANCE)
    codes[ok] = cand[ok]
    return names, codes
