"""OSM way tags → drivable class, direction and speed.

The way filter follows osmnx's ``drive`` network type (``osmnx._overpass._get_network_filter``),
written as an inclusion list of the classes it keeps, with OSM's access hierarchy for cars
(``motorcar`` > ``motor_vehicle`` > ``vehicle`` > ``access``, as pyrosm's ``driving`` filter).
Speeds come from ``maxspeed`` where it is tagged and parses, otherwise from the class table
``[osm.speed_kmh]`` of ``data/routes/model.toml``. Nothing here reads files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Drivable classes, in the order of their integer codes in built networks. ``service`` is kept only
#: with ``service=True`` and ``ferry`` (``route=ferry``) only with ``ferry=True``.
CLASSES = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "ferry",
)
CLASS_CODE = {name: i for i, name in enumerate(CLASSES)}
#: osmnx ``drive`` drops these ``service=*`` values always; ``drive_service`` keeps alleys and driveways.
_SERVICE_ALWAYS_OUT = frozenset({"emergency_access", "parking", "parking_aisle", "private"})
_SERVICE_DRIVE_OUT = _SERVICE_ALWAYS_OUT | {"alley", "driveway"}
_CLOSED = frozenset({"no", "private"})
_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
_FORWARD = frozenset({"yes", "true", "1"})
_BACKWARD = frozenset({"-1", "reverse"})
_TWO_WAY = frozenset({"no", "false", "0"})
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*(mph|knots|km/h|kmh|kph)?$")
_UNIT_KMH = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
#: Parsed limits outside this range are treated as untagged (typing errors such as ``5000``).
MAXSPEED_RANGE_KMH = (1.0, 200.0)


@dataclass(frozen=True)
class WayAttrs:
    """What the network needs from one drivable way.

    Attributes
    ----------
    cls
        Code into :data:`CLASSES`.
    oneway
        ``1`` along the node order, ``-1`` against it, ``0`` both ways.
    speed_fwd, speed_bwd
        km/h along and against the node order.
    ref, name
        ``ref`` and ``name`` tags ("" when absent).
    duration_s
        A ferry's ``duration`` tag in seconds (the whole way), else None.
    """

    cls: int
    oneway: int
    speed_fwd: float
    speed_bwd: float
    ref: str
    name: str
    duration_s: float | None = None


def class_speeds(params: Mapping[str, Any]) -> dict[str, float]:
    """Class speeds in km/h from the parsed ``model.toml`` table ``[osm.speed_kmh]``.

    A ``*_link`` class without its own entry takes its road's speed.

    Parameters
    ----------
    params
        Parsed ``model.toml``.

    Returns
    -------
    dict
        ``{class: km/h}`` for every class of :data:`CLASSES` that the table covers.
    """
    table = params.get("osm", {}).get("speed_kmh", {})
    out: dict[str, float] = {}
    for name in CLASSES:
        entry = table.get(name, table.get(name.removesuffix("_link")))
        if entry is not None:
            out[name] = float(entry["value"] if isinstance(entry, Mapping) else entry)
    return out


def zone_speeds(params: Mapping[str, Any]) -> dict[str, float]:
    """Implicit limits such as ``CN:urban`` in km/h from ``[osm.maxspeed_zone_kmh]`` (lower-cased keys)."""
    table = params.get("osm", {}).get("maxspeed_zone_kmh", {})
    return {str(k).lower(): float(v["value"] if isinstance(v, Mapping) else v) for k, v in table.items()}


def parse_maxspeed(raw: str | None, zones: Mapping[str, float]) -> float | None:
    """Parse a ``maxspeed`` value as OSM writes it into km/h.

    Parameters
    ----------
    raw
        ``"60"``, ``"60 mph"``, ``"50 km/h"``, ``"CN:urban"``, ``"none"``, ``"60;80"``, ...
    zones
        Implicit limits by lower-cased zone (see :func:`zone_speeds`).

    Returns
    -------
    float or None
        The limit (the mean of several values, as osmnx's ``_clean_maxspeed``); None for
        ``none``, ``signals``, ``walk``, unknown zones and anything that does not parse, so
        that the class speed applies.
    """
    if not raw:
        return None
    values = []
    for part in raw.split(";"):
        text = part.strip().lower()
        m = _NUMBER.match(text)
        kmh = float(m.group(1)) * _UNIT_KMH[m.group(2)] if m else zones.get(text)
        if kmh is not None and MAXSPEED_RANGE_KMH[0] <= kmh <= MAXSPEED_RANGE_KMH[1]:
            values.append(kmh)
    return sum(values) / len(values) if values else None


def closed_to_cars(get: Callable[[str], str | None]) -> bool:
    """Whether the most specific car access tag present says ``no`` or ``private``.

    Parameters
    ----------
    get
        Tag lookup, ``tags.get``.
    """
    for key in _ACCESS_KEYS:
        val = get(key)
        if val is not None:
            return any(p.strip() in _CLOSED for p in val.split(";"))
    return False


def oneway_of(get: Callable[[str], str | None], highway: str) -> int:
    """Direction of travel: ``1`` along the way, ``-1`` against it (``oneway=-1``), ``0`` both.

    ``junction=roundabout`` / ``circular`` and ``highway=motorway`` imply one-way unless
    ``oneway=no`` says otherwise (OSM wiki, Key:oneway). ``reversible`` and ``alternating``
    count as two-way, as in osmnx.
    """
    val = (get("oneway") or "").strip().lower()
    if val in _FORWARD:
        return 1
    if val in _BACKWARD:
        return -1
    if val in _TWO_WAY:
        return 0
    if get("junction") in ("roundabout", "circular") or highway == "motorway":
        return 1
    return 0


def parse_duration(raw: str | None) -> float | None:
    """Parse an OSM ``duration`` (``"90"`` minutes, ``"1:30"``, ``"01:30:00"``) into seconds, or None."""
    if not raw:
        return None
    parts = raw.strip().split(":")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        return None
    if len(nums) == 1:
        seconds = nums[0] * 60.0
    elif len(nums) in (2, 3):
        seconds = nums[0] * 3600.0 + nums[1] * 60.0 + (nums[2] if len(nums) == 3 else 0.0)
    else:
        return None
    return seconds if seconds > 0 else None


def drivable_class(get: Callable[[str], str | None], *, service: bool = False, ferry: bool = False) -> str | None:
    """The drivable class of a way, or None when a car cannot use it.

    Parameters
    ----------
    get
        Tag lookup, ``tags.get``.
    service
        Keep ``highway=service`` (osmnx ``drive_service``: not parking aisles, private or emergency access).
    ferry
        Keep ``route=ferry`` ways that are not closed to cars.
    """
    highway = get("highway")
    if highway is None:
        if ferry and get("route") == "ferry" and not closed_to_cars(get):
            return "ferry"
        return None
    if highway not in CLASS_CODE or highway == "ferry" or get("area") == "yes" or closed_to_cars(get):
        return None
    if highway == "service" and not service:
        return None
    svc = get("service")
    if svc is not None and any(p.strip() in (_SERVICE_ALWAYS_OUT if service else _SERVICE_DRIVE_OUT)
                               for p in svc.split(";")):
        return None
    return highway


class WayTagger:
    """Turns the tags of a way into :class:`WayAttrs` (or None), caching parsed limits.

    Parameters
    ----------
    params
        Parsed ``model.toml`` (class speeds and implicit zone limits).
    service, ferry
        See :func:`drivable_class`.
    """

    def __init__(self, params: Mapping[str, Any], *, service: bool = False, ferry: bool = False) -> None:
        self.speeds = class_speeds(params)
        self.zones = zone_speeds(params)
        self.service, self.ferry = service, ferry
        wanted = [c for c in CLASSES if (c != "service" or service) and (c != "ferry" or ferry)]
        missing = [c for c in wanted if c not in self.speeds]
        if missing:
            raise ValueError(f"model.toml [osm.speed_kmh] has no speed for {', '.join(missing)}")
        self._cache: dict[str, float | None] = {}

    def maxspeed(self, raw: str | None) -> float | None:
        """:func:`parse_maxspeed` with a cache (the same few strings repeat across a province)."""
        if raw is None:
            return None
        if raw not in self._cache:
            self._cache[raw] = parse_maxspeed(raw, self.zones)
        return self._cache[raw]

    def __call__(self, get: Callable[[str], str | None]) -> WayAttrs | None:
        """Attributes of a way from its tag lookup, None when it is not kept."""
        cls = drivable_class(get, service=self.service, ferry=self.ferry)
        if cls is None:
            return None
        default = self.speeds[cls]
        both = self.maxspeed(get("maxspeed"))
        fwd = self.maxspeed(get("maxspeed:forward")) or both or default
        bwd = self.maxspeed(get("maxspeed:backward")) or both or default
        duration = parse_duration(get("duration")) if cls == "ferry" else None
        return WayAttrs(CLASS_CODE[cls], oneway_of(get, cls), fwd, bwd, (get("ref") or "").strip(),
                        (get("name") or "").strip(), duration)
