"""Network scenarios: declarative edits of the travel network and before/after comparison.

A scenario is one TOML file in ``data/scenarios/`` (see ``data/scenarios/README.md``)::

    title_zh = "…"  ; title_en = "…" ; description_zh = "…" ; description_en = "…"
    [[road_link]]     from, to (place name or [lon, lat]), class or speed_kmh, length_km?
    [[corridor]]      id (road_corridors.csv), class and/or speed_kmh
    [[station]]       name, lon, lat (a station point the author supplies)
    [[rail_service]]  line, stops (station names), speed_kmh or minutes (one per leg), headway_min
    [[remove_link]]   from, to (road nodes), corridor?

Every edit may list ``assumptions = ["speed_kmh", …]`` (which of its numbers are assumptions) and
``source``. Applying a scenario edits *copies* of the network inputs (road and rail arrays) and
calls the same :func:`~geo_app.network.graph.assemble` as the base graph, so the base
:class:`~geo_app.network.graph.TravelGraph` is never touched. No coordinate is invented: new
links join road nodes, places, stations, or coordinates written in the scenario file itself.
Nothing here imports Flask.
"""

from __future__ import annotations

import csv
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import NotFound, ValidationError
from ..network.graph import TravelGraph, _rail_cached, assemble
from ..network.rail import RailNetwork, read_services
from ..network.roads import RoadNetwork, _corridor_edges, load_model, load_road_network, to_metric, value
from ..validate import check_lonlat, in_service_area
from .accessibility import reach_table
from .isochrones import isochrones
from .surface import Surface

EDIT_TABLES = ("road_link", "corridor", "station", "rail_service", "remove_link")
TOP_KEYS = {"title_zh", "title_en", "description_zh", "description_en", "source", "mode", *EDIT_TABLES}
EDIT_KEYS = {
    "road_link": {"from", "to", "class", "speed_kmh", "length_km", "name", "both_ways", "assumptions", "source",
                  "note"},
    "corridor": {"id", "class", "speed_kmh", "assumptions", "source", "note"},
    "station": {"name", "lon", "lat", "assumptions", "source", "note"},
    "rail_service": {"line", "stops", "kind", "speed_kmh", "minutes", "headway_min", "assumptions", "source",
                     "note"},
    "remove_link": {"from", "to", "corridor", "assumptions", "source", "note"},
}
MODES = ("car", "rail", "best")
_COORD_EPS = 1e-5  # degrees: a place at a road node's coordinates is that node


class ScenarioError(ValidationError):
    """A scenario file is malformed or refers to something that does not exist.

    The message starts with ``FILE:LINE:`` so an editor can jump to the offending line.
    """

    code = "invalid_scenario"

    def __init__(self, message: str, *, path: Path | str, line: int | None, field: str | None = None) -> None:
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {message}", field=field)
        self.path = str(path)
        self.line = line


# --- parsing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file.

    Attributes
    ----------
    name
        File stem (the scenario's id in URLs and on the command line).
    path
        The file.
    text
        The file's text (for line numbers in errors).
    meta
        ``title_zh``, ``title_en``, ``description_zh``, ``description_en``, ``source``, ``mode``.
    edits
        ``{table: [dict, ...]}`` for each of :data:`EDIT_TABLES`.
    """

    name: str
    path: Path
    text: str
    meta: dict[str, str]
    edits: dict[str, list[dict[str, Any]]]

    @property
    def mode(self) -> str:
        """The mode the scenario is meant to be compared in (``best`` unless the file says)."""
        return self.meta.get("mode") or "best"

    def line_of(self, table: str | None, index: int, key: str, needle: Any = None) -> int | None:
        """Line number (1-based) of ``key`` (or of ``needle`` after it) in the ``index``-th ``[[table]]``."""
        return find_line(self.text, table, index, key, needle)

    def error(self, message: str, table: str | None, index: int, key: str, needle: Any = None) -> ScenarioError:
        """A :class:`ScenarioError` pointing at ``key`` of edit ``index`` of ``table``."""
        fld = key if table is None else f"{table}[{index}].{key}"
        return ScenarioError(message, path=self.path, line=self.line_of(table, index, key, needle), field=fld)

    def assumptions(self) -> list[dict[str, Any]]:
        """Every edit parameter the file marks as an assumption, with its value and source."""
        out = []
        for table, rows in self.edits.items():
            for i, row in enumerate(rows):
                for key in row.get("assumptions", []):
                    out.append({"key": f"{table}[{i}].{key}", "edit": table, "label": edit_label(table, row),
                                "parameter": key, "value": row.get(key), "source": row.get("source", "")})
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no computation)."""
        return {"name": self.name, **{k: self.meta.get(k, "") for k in
                                      ("title_zh", "title_en", "description_zh", "description_en", "source")},
                "mode": self.mode, "edits": {k: v for k, v in self.edits.items() if v},
                "assumptions": self.assumptions()}


def edit_label(table: str, row: Mapping[str, Any]) -> str:
    """A short human label of one edit."""
    if table in ("road_link", "remove_link"):
        return f"{_label(row.get('from'))}–{_label(row.get('to'))}"
    if table == "corridor":
        return str(row.get("id"))
    if table == "rail_service":
        return str(row.get("line"))
    return str(row.get("name"))


def _label(endpoint: Any) -> str:
    return endpoint if isinstance(endpoint, str) else str(list(endpoint or []))


def find_line(text: str, table: str | None, index: int, key: str, needle: Any = None) -> int | None:
    """Find the line of a key (and optionally of a value after it) in a TOML text.

    ``tomllib`` gives no positions, so the text is scanned: the ``index``-th ``[[table]]`` header
    bounds the search (the top level when ``table`` is None), then the ``key =`` line, then, for
    values inside multi-line arrays, the first line from there that holds ``needle``.

    Returns
    -------
    int or None
        1-based line number; None when nothing matches.
    """
    lines = text.splitlines()
    header = re.compile(r"^\s*\[")
    if table is None:
        lo = 0
        hi = next((i for i, s in enumerate(lines) if header.match(s)), len(lines))
    else:
        mine = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        starts = [i for i, s in enumerate(lines) if mine.match(s)]
        if index >= len(starts):
            return None
        lo = starts[index]
        hi = next((i for i in range(lo + 1, len(lines)) if header.match(lines[i])), len(lines))
    keyre = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    at = next((i for i in range(lo, hi) if keyre.match(lines[i])), None)
    if at is None:
        return lo + 1 if table is not None else None
    if needle is None:
        return at + 1
    token = json.dumps(needle, ensure_ascii=False) if isinstance(needle, str) else str(needle)
    return next((i + 1 for i in range(at, hi) if token in lines[i]), at + 1)


def load_scenario(path: Path | str) -> Scenario:
    """Read and check the structure of one scenario file (types, signs, known keys).

    References to places and stations are checked when the scenario is applied
    (:func:`apply_scenario`), against the network it is applied to.

    Raises
    ------
    ScenarioError
        Naming the file and the line.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(f"not valid TOML: {exc}", path=path, line=int(m.group(1)) if m else None) from None
    meta = {k: raw[k] for k in ("title_zh", "title_en", "description_zh", "description_en", "source", "mode")
            if k in raw}
    scen = Scenario(path.stem, path, text, meta, {t: [] for t in EDIT_TABLES})
    for key in raw:
        if key not in TOP_KEYS:
            raise scen.error(f"unknown key {key!r}; expected one of {', '.join(sorted(TOP_KEYS))}", None, 0, key)
    for key in ("title_zh", "title_en"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ScenarioError(f"{key} is required (a non-empty string)", path=path, line=None, field=key)
    if "mode" in raw and raw["mode"] not in MODES:
        raise scen.error(f"mode must be one of {', '.join(MODES)}", None, 0, "mode")
    for table in EDIT_TABLES:
        rows = raw.get(table, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise scen.error(f"{table} must be an array of tables: [[{table}]]", None, 0, table)
        for i, row in enumerate(rows):
            _check_row(scen, table, i, row)
        scen.edits[table].extend(rows)
    return scen


def _check_row(scen: Scenario, table: str, i: int, row: dict[str, Any]) -> None:
    """Structural checks of one edit: keys, required fields, numbers positive and finite."""
    for key in row:
        if key not in EDIT_KEYS[table]:
            raise scen.error(f"unknown key {key!r} in [[{table}]]; expected one of "
                             f"{', '.join(sorted(EDIT_KEYS[table]))}", table, i, key)
    required = {"road_link": ("from", "to"), "corridor": ("id",), "station": ("name", "lon", "lat"),
                "rail_service": ("line", "stops", "headway_min"), "remove_link": ("from", "to")}[table]
    for key in required:
        if key not in row:
            raise ScenarioError(f"[[{table}]] #{i + 1} needs {key!r}", path=scen.path,
                                line=scen.line_of(table, i, key), field=f"{table}[{i}].{key}")
    for key in ("speed_kmh", "length_km", "headway_min", "lon", "lat"):
        if key in row:
            _number(scen, table, i, key, row[key], positive=key not in ("lon", "lat"))
    if "minutes" in row:
        mins = row["minutes"] if isinstance(row["minutes"], list) else [row["minutes"]]
        for m in mins:
            _number(scen, table, i, "minutes", m, positive=True)
    for key in ("assumptions",):
        vals = row.get(key, [])
        if not isinstance(vals, list) or any(v not in row for v in vals):
            raise scen.error(f"{key} must list keys of this edit that it sets, got {vals!r}", table, i, key)
    if table == "road_link" and "class" not in row and "speed_kmh" not in row:
        raise scen.error("a road link needs a class or a speed_kmh", table, i, "from")
    if table == "corridor" and "class" not in row and "speed_kmh" not in row:
        raise scen.error("a corridor edit needs a class or a speed_kmh", table, i, "id")
    if table == "rail_service":
        _check_service(scen, i, row)


def _check_service(scen: Scenario, i: int, row: dict[str, Any]) -> None:
    stops = row["stops"]
    if not isinstance(stops, list) or len(stops) < 2 or not all(isinstance(s, str) for s in stops):
        raise scen.error("stops must list at least two station names", "rail_service", i, "stops")
    if len(set(stops)) != len(stops):
        raise scen.error("a stop appears twice", "rail_service", i, "stops")
    if "minutes" in row:
        mins = row["minutes"] if isinstance(row["minutes"], list) else None
        if mins is None or len(mins) != len(stops) - 1:
            raise scen.error(f"minutes must list one value per leg ({len(stops) - 1})", "rail_service", i,
                             "minutes")
    elif "speed_kmh" not in row and "kind" not in row:
        raise scen.error("a rail service needs minutes, speed_kmh or kind", "rail_service", i, "line")


def _number(scen: Scenario, table: str, i: int, key: str, val: Any, *, positive: bool) -> float:
    if isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val):
        raise scen.error(f"{key} must be a finite number, got {val!r}", table, i, key, val)
    if positive and val <= 0:
        raise scen.error(f"{key} must be > 0, got {val}", table, i, key, val)
    return float(val)


def list_scenarios(directory: Path | str) -> list[Scenario | ScenarioError]:
    """Every ``*.toml`` in ``directory``, parsed (a broken file appears as its error)."""
    out: list[Scenario | ScenarioError] = []
    for path in sorted(Path(directory).glob("*.toml")):
        try:
            out.append(load_scenario(path))
        except ScenarioError as exc:
            out.append(exc)
    return out


def find_scenario(directory: Path | str, name: str) -> Scenario:
    """Load ``directory/NAME.toml``; :class:`~geo_app.errors.NotFound` when there is none."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,80}", name or ""):
        raise NotFound(f"no scenario named {name!r}", field="name")
    path = Path(directory) / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(Path(directory).glob("*.toml")))
        raise NotFound(f"no scenario named {name!r}; known: {known}", field="name")
    return load_scenario(path)


# --- the inputs a graph is assembled from --------------------------------------------------------


@dataclass(frozen=True)
class NetworkInputs:
    """The road and rail arrays, parameters and name look-ups the travel graph is built from.

    Attributes
    ----------
    road
        Road network; ``edge_corridor`` holds each edge's corridor id ("" for OSM edges).
    rail
        Rail network.
    params, services
        ``model.toml`` and ``services.csv`` rows.
    places
        Name → (lon, lat): road nodes (zh and en names) and ``places.geojson`` (full and short names).
    stations
        Name → (lon, lat) of OSM station points with a unique name (``stations.geojson``).
    corridors
        ``road_corridors.csv`` rows by corridor id.
    county_bounds
        WGS84 bounds of the county boundary, when present.
    """

    road: RoadNetwork
    edge_corridor: np.ndarray
    rail: RailNetwork
    params: dict[str, Any]
    services: tuple[dict[str, Any], ...]
    places: dict[str, tuple[float, float]]
    stations: dict[str, tuple[float, float]]
    corridors: dict[str, dict[str, str]]
    county_bounds: tuple[float, float, float, float] | None = None


def load_inputs(data_dir: Path, reference_dir: Path, *, cache_dir: Path | None = None,
                roads_graphml: Path | None = None) -> NetworkInputs:
    """Read the network inputs the same way :func:`~geo_app.network.graph.build_graph` does."""
    data_dir, reference_dir = Path(data_dir), Path(reference_dir)
    params = load_model(data_dir / "routes" / "model.toml")
    services_csv = data_dir / "routes" / "services.csv"
    road = load_road_network(data_dir, params, Path(roads_graphml) if roads_graphml else None)
    corridors = _read_corridors(data_dir / "routes" / "road_corridors.csv")
    labels = _edge_corridors(road, corridors, params) if road.source == "trunk" else np.full(len(road.u), "")
    rail = _rail_cached(reference_dir, services_csv, params, Path(cache_dir) if cache_dir else None)
    bounds = None
    if (data_dir / "boundary.geojson").exists():
        bounds = tuple(float(b) for b in gpd.read_file(data_dir / "boundary.geojson").to_crs("EPSG:4326")
                       .total_bounds)
    return NetworkInputs(road, labels, rail, params, tuple(read_services(services_csv)),
                         _place_lookup(data_dir, road), _station_lookup(reference_dir), corridors,
                         bounds)  # type: ignore[arg-type]


def _read_corridors(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        return {r["corridor"]: r for r in csv.DictReader(fh)}


def _edge_corridors(road: RoadNetwork, corridors: Mapping[str, Mapping[str, str]],
                    params: Mapping[str, Any]) -> np.ndarray:
    """Corridor id of each trunk edge (the trunk builder emits corridors in file order)."""
    index = {n: i for i, n in enumerate(road.names)}
    xy = to_metric(road.lonlat)
    labels: list[str] = []
    for cid, row in corridors.items():
        labels += [cid] * len(_corridor_edges(row, index, xy, params))
    if len(labels) != len(road.u):
        raise ValidationError("road_corridors.csv does not match the trunk network")
    return np.array(labels, dtype=object)


def _place_lookup(data_dir: Path, road: RoadNetwork) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    nodes = data_dir / "routes" / "road_nodes.csv"
    if nodes.exists():
        with open(nodes, encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                pt = (float(r["lon"]), float(r["lat"]))
                out.setdefault(r["name_zh"], pt)
                out.setdefault(r["name_en"].split(" (")[0], pt)
    places = data_dir / "places.geojson"
    if places.exists():
        for f in json.loads(places.read_text(encoding="utf-8"))["features"]:
            name, geom = f["properties"].get("name_zh"), f.get("geometry")
            if name and geom:
                pt = (float(geom["coordinates"][0]), float(geom["coordinates"][1]))
                out.setdefault(name, pt)
                out.setdefault(re.sub(r"(满族自治县|市|县|区)$", "", name) or name, pt)
    return out


def _station_lookup(reference_dir: Path) -> dict[str, tuple[float, float]]:
    path = reference_dir / "rail" / "stations.geojson"
    if not path.exists():
        return {}
    seen: dict[str, list[tuple[float, float]]] = {}
    for f in json.loads(path.read_text(encoding="utf-8"))["features"]:
        name, geom = f["properties"].get("osm_name"), f.get("geometry")
        if name and geom:
            seen.setdefault(name, []).append((float(geom["coordinates"][0]), float(geom["coordinates"][1])))
    return {n: pts[0] for n, pts in seen.items() if len(pts) == 1}


# --- applying a scenario -------------------------------------------------------------------------


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


def apply_scenario(inputs: NetworkInputs, scenario: Scenario) -> TravelGraph:
    """Apply a scenario to copies of the network inputs and assemble a new travel graph.

    Parameters
    ----------
    inputs
        The base inputs (never modified).
    scenario
        A parsed scenario.

    Returns
    -------
    TravelGraph
        A new graph; the base graph and ``inputs`` are untouched.

    Raises
    ------
    ScenarioError
        Unknown place, corridor or station, or a link into nowhere, naming the file and line.
    """
    road = _edit_road(inputs, scenario)
    rail, rows = _edit_rail(inputs, scenario)
    graph = assemble(road, rail, inputs.params, inputs.services + tuple(rows))
    object.__setattr__(graph, "county_bounds", inputs.county_bounds)
    return graph


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
    """``speed_kmh`` of an edit, else the model.toml speed of its ``class``."""
    if "speed_kmh" in row:
        return float(row["speed_kmh"])
    classes = inputs.params["road"]["speed_kmh"]
    if row["class"] not in classes:
        raise scen.error(f"unknown road class {row['class']!r}; model.toml has {', '.join(classes)}",
                         table, i, "class")
    return float(value(classes[row["class"]]))


def _corridor(inputs: NetworkInputs, scen: Scenario, i: int, row: Mapping[str, Any], work: _Edit) -> None:
    cid = row["id"]
    if inputs.road.source != "trunk":
        raise scen.error("corridor edits need the trunk road network; this graph uses OSM roads",
                         "corridor", i, "id")
    if cid not in inputs.corridors:
        raise scen.error(f"unknown corridor {cid!r}; road_corridors.csv has {', '.join(inputs.corridors)}",
                         "corridor", i, "id", cid)
    speed = _class_speed(inputs, scen, "corridor", i, row)
    sel = inputs.edge_corridor == cid
    work.time[0] = np.where(sel, work.length[0] / (speed / 3.6), work.time[0])


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


def _coords(scen: Scenario, table: str, i: int, key: str, raw: Any) -> tuple[float, float]:
    ok = isinstance(raw, list) and len(raw) == 2 and all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw)
    if not ok:
        raise scen.error(f"{key} must be a place name or [lon, lat], got {raw!r}", table, i, key)
    lon, lat = float(raw[0]), float(raw[1])
    try:
        check_lonlat(lon, lat, key)
    except ValidationError as exc:
        raise scen.error(exc.message, table, i, key) from None
    if not in_service_area(lon, lat):
        raise scen.error(f"link into nowhere: ({lon}, {lat}) is outside the service area (lon,lat order)",
                         table, i, key)
    return lon, lat


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


# --- rail edits ----------------------------------------------------------------------------------


def _edit_rail(inputs: NetworkInputs, scen: Scenario) -> tuple[RailNetwork, list[dict[str, Any]]]:
    rail = inputs.rail
    own = {}
    for i, row in enumerate(scen.edits["station"]):
        own[row["name"]] = _coords(scen, "station", i, "lon", [row["lon"], row["lat"]])
    rows: list[dict[str, Any]] = []
    for i, row in enumerate(scen.edits["rail_service"]):
        rail = _add_service(inputs, scen, i, row, rail, own)
        rows.append({"line": row["line"], "speed_kmh": row.get("speed_kmh", ""), "headway_min": row["headway_min"],
                     "source": row.get("source", f"scenario {scen.name}"),
                     "assumption": str("headway_min" in row.get("assumptions", [])).lower()})
    return rail, rows


def _station_index(inputs: NetworkInputs, scen: Scenario, i: int, stop: str, rail: RailNetwork,
                   own: Mapping[str, tuple[float, float]]) -> tuple[int, RailNetwork]:
    """Station index of a stop; an OSM or scenario station not yet on a line is appended."""
    if stop in rail.station_names:
        return rail.station_names.index(stop), rail
    pt = own.get(stop) or inputs.stations.get(stop)
    if pt is None:
        raise scen.error(f"unknown station {stop!r}: not on a rail line, not a uniquely named station in "
                         "rail/stations.geojson and not a [[station]] of this file", "rail_service", i, "stops",
                         stop)
    rail = replace(rail, station_lonlat=np.vstack([rail.station_lonlat, [pt]]),
                   station_names=(*rail.station_names, stop))
    return len(rail.station_names) - 1, rail


def _add_service(inputs: NetworkInputs, scen: Scenario, i: int, row: Mapping[str, Any], rail: RailNetwork,
                 own: Mapping[str, tuple[float, float]]) -> RailNetwork:
    """Append one service: a platform per stop, ride edges both ways, transfers at shared stations."""
    params = inputs.params
    stations = []
    for stop in row["stops"]:
        s, rail = _station_index(inputs, scen, i, stop, rail, own)
        stations.append(s)
    entry = value(params, "rail", "station_entry_min") * 60.0
    wait = value(params, "rail", "wait_fraction") * float(row["headway_min"]) * 60.0
    xy = to_metric(rail.station_lonlat[stations])
    length = np.hypot(*np.diff(xy, axis=0).T) * value(params, "rail", "circuity")
    if "minutes" in row:
        secs = np.array(row["minutes"], dtype=float) * 60.0
    else:
        kind = row.get("kind", "high_speed")
        if "speed_kmh" not in row and kind not in params["rail"]["speed_kmh"]:
            raise scen.error(f"unknown rail kind {kind!r}", "rail_service", i, "kind")
        speed = float(row.get("speed_kmh") or value(params, "rail", "speed_kmh", kind))
        secs = length / (speed / 3.6)
    p0 = len(rail.platform_station)
    plats = np.arange(p0, p0 + len(stations))
    fwd = np.arange(len(stations) - 1)
    u = np.concatenate([plats[fwd], plats[fwd + 1]])
    v = np.concatenate([plats[fwd + 1], plats[fwd]])
    ride_len, ride_t = np.tile(length, 2), np.tile(secs, 2)
    t_u, t_v, t_t = _new_transfers(rail, stations, plats, wait, value(params, "rail", "transfer_min") * 60.0, entry)
    return replace(
        rail, platform_station=np.concatenate([rail.platform_station, stations]).astype(np.int64),
        platform_line=(*rail.platform_line, *[row["line"]] * len(stations)),
        board_s=np.concatenate([rail.board_s, np.full(len(stations), entry + wait)]),
        u=np.concatenate([rail.u, u, t_u]).astype(np.int64), v=np.concatenate([rail.v, v, t_v]).astype(np.int64),
        length_m=np.concatenate([rail.length_m, ride_len, np.zeros(len(t_u))]),
        time_s=np.concatenate([rail.time_s, ride_t, t_t]),
        kind=(*rail.kind, *["ride"] * len(u), *["transfer"] * len(t_u)))


def _new_transfers(rail: RailNetwork, stations: Sequence[int], plats: np.ndarray, wait_new: float,
                   transfer_s: float, entry_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transfer edges between the new platforms and existing ones at the same stations (both ways)."""
    u, v, t = [], [], []
    for s, p in zip(stations, plats, strict=True):
        for q in np.flatnonzero(rail.platform_station == s):
            u += [int(q), int(p)]
            v += [int(p), int(q)]
            t += [transfer_s + wait_new, transfer_s + float(rail.board_s[q]) - entry_s]
    return np.array(u, dtype=np.int64), np.array(v, dtype=np.int64), np.array(t, dtype=float)


# --- comparison ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Before/after surfaces of one scenario, the minutes saved and the township table.

    Attributes
    ----------
    before, after
        Surfaces (minutes to the destination, direction ``to``).
    saved
        float32 minutes saved (before − after); NaN where either side is unreachable.
    table
        One row per unit and the county row: before, after, change, newly within.
    summary
        County-level figures (areas in km², minutes saved).
    """

    before: Surface
    after: Surface
    saved: np.ndarray
    table: pd.DataFrame
    summary: dict[str, Any]


TABLE_COLUMNS = ("level", "code", "name_zh", "name_en", "has_boundary", "basis", "before", "after", "change",
                 "before_share", "after_share", "newly_within")


def compare(before_graph: TravelGraph, after_graph: TravelGraph, towns: gpd.GeoDataFrame,
            boundary: gpd.GeoDataFrame, *, to_lonlat: tuple[float, float], mode: str = "best",
            minutes: float = 120, cell_m: float = 250, town_points: gpd.GeoDataFrame | None = None,
            county_seat: tuple[float, float] | None = None,
            before: tuple[Surface, pd.DataFrame] | None = None) -> Comparison:
    """Compare the reach to a destination before and after a scenario.

    Parameters
    ----------
    before_graph, after_graph
        The base graph and the scenario graph.
    towns, boundary, to_lonlat, mode, minutes, cell_m, town_points, county_seat
        As for :func:`~geo_app.analysis.accessibility.reach_table`.
    before
        A precomputed ``reach_table`` result for ``before_graph`` (same arguments), to reuse.

    Returns
    -------
    Comparison
    """
    kw = {"to_lonlat": to_lonlat, "mode": mode, "minutes": minutes, "cell_m": cell_m,
          "town_points": town_points, "county_seat": county_seat}
    s0, t0 = before if before is not None else reach_table(before_graph, towns, boundary, **kw)
    s1, t1 = reach_table(after_graph, towns, boundary, **kw)
    with np.errstate(invalid="ignore"):
        saved = (s0.minutes - s1.minutes).astype(np.float32)
    county = _county_mask(s0, boundary)
    return Comparison(s0, s1, saved, township_changes(t0, t1, minutes), _summary(s0, s1, saved, county, minutes))


def _county_mask(surface: Surface, boundary: gpd.GeoDataFrame) -> np.ndarray:
    from rasterio.features import rasterize

    geom = boundary.to_crs(surface.crs).geometry.union_all()
    return rasterize([(geom, 1)], out_shape=surface.minutes.shape, transform=surface.transform, fill=0,
                     dtype="uint8").astype(bool)


def _summary(s0: Surface, s1: Surface, saved: np.ndarray, county: np.ndarray, minutes: float) -> dict[str, Any]:
    """County figures: areas within the limit before/after, area gaining, minutes saved."""
    cell_km2 = s0.cell_m ** 2 / 1e6
    with np.errstate(invalid="ignore"):
        within0, within1 = county & (s0.minutes <= minutes), county & (s1.minutes <= minutes)
        gain = county & (saved > 0.05)
        slower = county & (saved < -0.05)
    vals = saved[county & np.isfinite(saved)]
    bins = [(0.05, 5), (5, 15), (15, 30), (30, math.inf)]
    return {
        "county_km2": _r(county.sum() * cell_km2), "within_before_km2": _r(within0.sum() * cell_km2),
        "within_after_km2": _r(within1.sum() * cell_km2),
        "newly_within_km2": _r((within1 & ~within0).sum() * cell_km2),
        "improved_km2": _r(gain.sum() * cell_km2), "slower_km2": _r(slower.sum() * cell_km2),
        "max_saved_min": _r(vals.max()) if vals.size else None,
        "mean_saved_min": _r(vals.mean()) if vals.size else None,
        "saved_bins_km2": [{"from": lo, "to": None if math.isinf(hi) else hi,
                            "km2": _r((county & (saved > lo) & (saved <= hi)).sum() * cell_km2)}
                           for lo, hi in bins],
    }


def _r(x: Any, nd: int = 1) -> float | None:
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def township_changes(before: pd.DataFrame, after: pd.DataFrame, minutes: float) -> pd.DataFrame:
    """Join two reach tables: before, after, change (negative = faster) and ``newly_within``.

    A unit with a boundary is compared on its median minutes; one without, on its point (seat).
    """
    rows = []
    for b, a in zip(before.to_dict("records"), after.to_dict("records"), strict=True):
        basis = "median" if b.get("median") is not None or a.get("median") is not None else "seat_minutes"
        v0, v1 = b.get(basis), a.get(basis)
        change = None if v0 is None or v1 is None else round(v1 - v0, 1)
        newly = v1 is not None and v1 <= minutes and (v0 is None or v0 > minutes)
        if b.get("share_area_within") is not None and a.get("share_area_within") is not None:
            newly = newly or (b["share_area_within"] < 1.0 <= a["share_area_within"])
        rows.append({"level": b["level"], "code": b["code"], "name_zh": b["name_zh"], "name_en": b["name_en"],
                     "has_boundary": b["has_boundary"], "basis": basis if v0 is not None or v1 is not None else None,
                     "before": v0, "after": v1, "change": change, "before_share": b.get("share_area_within"),
                     "after_share": a.get("share_area_within"), "newly_within": bool(newly)})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype(object)
    return table.where(pd.notna(table), None)


def boundaries(comparison: Comparison, minutes: float, county: Any | None = None) -> gpd.GeoDataFrame:
    """The ``minutes`` contour before and after (WGS84), optionally clipped to the county polygon."""
    rows = []
    for label, surf in (("before", comparison.before), ("after", comparison.after)):
        iso = isochrones(surf, [int(minutes)])
        iso["state"] = label
        rows.append(iso)
    out = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), crs="EPSG:4326")
    if county is not None:
        out["geometry"] = out.geometry.intersection(county)
        out["area_km2"] = (out.geometry.to_crs("EPSG:32651").area.fillna(0) / 1e6).round(1)
    return out


def to_geotiff(comparison: Comparison, path: Path | str) -> Path:
    """Write the minutes-saved surface as a float32 GeoTIFF (EPSG:32651, nodata NaN)."""
    from .surface import to_geotiff as write

    return write(replace(comparison.after, minutes=comparison.saved), path)


def table_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """Township rows first, the county row last, JSON-ready (None for missing)."""
    return comparison.table.to_dict(orient="records")


# --- a per-process runner with caches ------------------------------------------------------------


class ScenarioRunner:
    """Apply and compare scenarios against one base graph, caching what does not change.

    Scenario graphs are cached by file content; the base "before" reach table by its
    arguments.

    Parameters
    ----------
    inputs
        The network inputs the base graph was built from.
    base
        The base travel graph (never modified).
    directory
        ``data/scenarios``.
    """

    def __init__(self, inputs: NetworkInputs, base: TravelGraph, directory: Path | str) -> None:
        self.inputs, self.base, self.directory = inputs, base, Path(directory)
        self._graphs: dict[tuple[str, str], TravelGraph] = {}
        self._before: dict[tuple, tuple[Surface, pd.DataFrame]] = {}

    def scenario(self, name: str) -> Scenario:
        """Load one scenario by name (NotFound when missing)."""
        return find_scenario(self.directory, name)

    def graph(self, scenario: Scenario) -> TravelGraph:
        """The scenario's graph (cached by the file's text)."""
        key = (scenario.name, scenario.text)
        if key not in self._graphs:
            graph = apply_scenario(self.inputs, scenario)
            if len(self._graphs) >= 16:
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = graph
        return self._graphs[key]

    def compare(self, scenario: Scenario, towns: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame,
                **kw: Any) -> Comparison:
        """:func:`compare` the base graph with the scenario's (keyword arguments as there)."""
        key = tuple(sorted((k, repr(v)) for k, v in kw.items() if k != "town_points"))
        before = self._before.get(key)
        if before is None:
            before = reach_table(self.base, towns, boundary, **kw)
            self._before[key] = before
        return compare(self.base, self.graph(scenario), towns, boundary, before=before, **kw)


def edit_lines(inputs: NetworkInputs, scenario: Scenario) -> gpd.GeoDataFrame:
    """The scenario's road links, corridors and rail services as schematic lines (WGS84), for maps.

    Only points that resolve are drawn (the scenario is validated by :func:`apply_scenario`).
    """
    from shapely.geometry import LineString

    own = {r["name"]: (float(r["lon"]), float(r["lat"])) for r in scenario.edits["station"]}
    stations = {n: tuple(p) for n, p in zip(inputs.rail.station_names, inputs.rail.station_lonlat.tolist(),
                                             strict=True) if n}

    def point(raw: Any, lookup: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
        return lookup.get(raw) if isinstance(raw, str) else (float(raw[0]), float(raw[1]))

    rows = []
    for table, row in ((t, r) for t in ("road_link", "corridor", "rail_service") for r in scenario.edits[t]):
        if table == "road_link":
            pts = [point(row["from"], inputs.places), point(row["to"], inputs.places)]
        elif table == "corridor":
            stops = inputs.corridors.get(row["id"], {}).get("stops", "")
            pts = [inputs.places.get(s.strip()) for s in stops.split(";") if s.strip()]
        else:
            pts = [point(s, {**inputs.stations, **stations, **own}) for s in row["stops"]]
        pts = [p for p in pts if p is not None]
        if len(pts) >= 2:
            rows.append({"edit": table, "label": edit_label(table, row), "geometry": LineString(pts)})
    return gpd.GeoDataFrame(rows, columns=["edit", "label", "geometry"], geometry="geometry", crs="EPSG:4326")
