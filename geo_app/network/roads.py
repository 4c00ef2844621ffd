"""Road graphs: the schematic trunk network from ``data/routes`` and OSM graphs via osmnx.

Both sources end up as a :class:`RoadNetwork`: node lon/lat arrays plus directed edge
arrays (``u``, ``v``, ``length_m``, ``time_s``). Nothing here imports Flask.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer

METRIC_CRS = "EPSG:32651"
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)

#: OSM highway classes kept as drivable (``graph_from_xml`` has no ``network_type``).
DRIVABLE = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "service",
)


@dataclass(frozen=True)
class RoadNetwork:
    """Directed road network as plain arrays.

    Attributes
    ----------
    lonlat
        (n, 2) node coordinates, WGS84 lon/lat.
    names
        Node labels (place names or OSM ids).
    u, v
        Edge endpoints (node indices).
    length_m, time_s
        Edge length in metres and travel time in seconds.
    source
        ``"trunk"`` or ``"osm"``.
    """

    lonlat: np.ndarray
    names: tuple[str, ...]
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    time_s: np.ndarray
    source: str


def load_model(path: Path) -> dict[str, Any]:
    """Read ``model.toml`` (the one table of modelling numbers).

    Parameters
    ----------
    path
        The TOML file.

    Returns
    -------
    dict
        The parsed table.
    """
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def value(params: Mapping[str, Any], *keys: str) -> Any:
    """Return ``params[k0][k1]...["value"]`` (or the plain value when not a table)."""
    node: Any = params
    for key in keys:
        node = node[key]
    return node["value"] if isinstance(node, Mapping) and "value" in node else node


def to_metric(lonlat: np.ndarray) -> np.ndarray:
    """Project (n, 2) lon/lat to EPSG:32651 metres."""
    arr = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    if len(arr) == 1:  # pyproj's scalar path is ~5x faster than its array path for one point
        return np.array([_TO_METRIC.transform(float(arr[0, 0]), float(arr[0, 1]))])
    x, y = _TO_METRIC.transform(arr[:, 0], arr[:, 1])
    return np.column_stack([x, y])


def _read_nodes(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read ``road_nodes.csv`` into lon/lat and names."""
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    lonlat = np.array([[float(r["lon"]), float(r["lat"])] for r in rows])
    return lonlat, tuple(r["name_zh"] for r in rows)


def _corridor_edges(row: Mapping[str, str], index: Mapping[str, int], xy: np.ndarray,
                    params: Mapping[str, Any]) -> list[tuple[int, int, float, float]]:
    """Return (u, v, length_m, time_s) both ways between consecutive stops of one corridor."""
    stops = [index[s.strip()] for s in row["stops"].split(";")]
    straight = [float(np.hypot(*(xy[b] - xy[a]))) for a, b in zip(stops, stops[1:], strict=False)]
    known = params["road"].get("corridor_length_km", {}).get(row["corridor"])
    if known is not None:
        factor = value(known) * 1000.0 / sum(straight)
    else:
        factor = value(params, "road", "circuity", row["class"])
    if params["road"].get("speed_source", "class") == "design_speed" and row.get("design_speed_kmh"):
        speed = float(row["design_speed_kmh"])
    else:
        speed = value(params, "road", "speed_kmh", row["class"])
    out = []
    for (a, b), d in zip(zip(stops, stops[1:], strict=False), straight, strict=True):
        length = d * factor
        t = length / (speed / 3.6)
        out += [(a, b, length, t), (b, a, length, t)]
    return out


def build_trunk_network(routes_dir: Path, params: Mapping[str, Any]) -> RoadNetwork:
    """Build the schematic trunk road network from ``road_nodes.csv`` and ``road_corridors.csv``.

    Parameters
    ----------
    routes_dir
        ``data/routes``.
    params
        Parsed ``model.toml``.

    Returns
    -------
    RoadNetwork
        Nodes are the real place points; one edge each way between consecutive stops.
    """
    lonlat, names = _read_nodes(routes_dir / "road_nodes.csv")
    index = {n: i for i, n in enumerate(names)}
    xy = to_metric(lonlat)
    edges: list[tuple[int, int, float, float]] = []
    with open(routes_dir / "road_corridors.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            edges += _corridor_edges(row, index, xy, params)
    arr = np.array(edges, dtype=float)
    return RoadNetwork(lonlat, names, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64),
                       arr[:, 2], arr[:, 3], "trunk")


def parse_maxspeed(raw: Any) -> float | None:
    """Parse an OSM ``maxspeed`` tag (``"60"``, ``"50 mph"``, lists) into km/h, or None."""
    if isinstance(raw, list | tuple):
        vals = [parse_maxspeed(r) for r in raw]
        vals = [v for v in vals if v is not None]
        return min(vals) if vals else None
    if raw is None:
        return None
    text = str(raw).strip()
    if text.startswith("["):  # lists serialised into graphml
        return parse_maxspeed(re.findall(r"[\d.]+(?:\s*mph)?", text))
    m = re.match(r"^([\d.]+)\s*(mph)?", text)
    if not m:
        return None
    kmh = float(m.group(1)) * (1.609344 if m.group(2) else 1.0)
    return kmh if kmh > 0 else None


def _highway(raw: Any) -> str:
    """Return the first highway class of an edge (osmnx may store a list)."""
    if isinstance(raw, list | tuple):
        raw = raw[0]
    text = str(raw)
    if text.startswith("["):
        found = re.findall(r"'([a-z_]+)'", text)
        text = found[0] if found else text
    return text


def build_osm_graph(path: Path, out: Path | None = None, *, params: Mapping[str, Any] | None = None) -> Path:
    """Build a drivable road graphml from an ``.osm`` file or an existing graphml.

    Parameters
    ----------
    path
        ``FILE.osm`` (read with ``osmnx.graph_from_xml``) or ``FILE.graphml``.
    out
        Output graphml; ``data/routes/roads.graphml`` beside the package data when None.
    params
        Parsed ``model.toml``; read from ``data/routes/model.toml`` when None.

    Returns
    -------
    Path
        The written graphml. Each kept edge has ``speed_kph`` (from ``maxspeed``, else the class
        speed of model.toml) and ``travel_time`` in seconds.
    """
    import osmnx as ox  # slow import, only when building
    from tqdm import tqdm

    root = Path(__file__).resolve().parents[2]
    params = params or load_model(root / "data" / "routes" / "model.toml")
    out = out or root / "data" / "routes" / "roads.graphml"
    path = Path(path)
    if path.suffix.lower() == ".graphml":
        src = ox.load_graphml(path)
    else:
        src = ox.graph_from_xml(path, bidirectional=False, simplify=True, retain_all=True)
    graph = src.copy()  # never mutate a possibly shared graph in place
    speeds = params["osm"]["speed_kmh"]
    drop = []
    for u, v, k, data in tqdm(list(graph.edges(keys=True, data=True)), desc="edges", unit="edge"):
        hw = _highway(data.get("highway"))
        if hw.removesuffix("_link") not in speeds and hw not in speeds:
            drop.append((u, v, k))
            continue
        kmh = parse_maxspeed(data.get("maxspeed")) or value(speeds[hw.removesuffix("_link")])
        data["speed_kph"] = float(kmh)
        data["travel_time"] = float(data["length"]) / (kmh / 3.6)
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n, d in list(graph.degree()) if d == 0])
    out.parent.mkdir(parents=True, exist_ok=True)
    ox.save_graphml(graph, out)
    return out


def load_graphml_network(path: Path) -> RoadNetwork:
    """Turn a graphml written by :func:`build_osm_graph` into a :class:`RoadNetwork`.

    Parallel edges keep the fastest one (done later by the graph builder).
    """
    import osmnx as ox

    g = ox.load_graphml(Path(path))
    ids = list(g.nodes)
    index = {n: i for i, n in enumerate(ids)}
    lonlat = np.array([[float(g.nodes[n]["x"]), float(g.nodes[n]["y"])] for n in ids])
    rows = [(index[u], index[v], float(d.get("length", 0.0)), float(d["travel_time"]))
            for u, v, d in g.edges(data=True) if "travel_time" in d]
    arr = np.array(rows, dtype=float).reshape(-1, 4)
    return RoadNetwork(lonlat, tuple(str(n) for n in ids), arr[:, 0].astype(np.int64),
                       arr[:, 1].astype(np.int64), arr[:, 2], arr[:, 3], "osm")


def load_road_network(data_dir: Path, params: Mapping[str, Any], roads_graphml: Path | None = None) -> RoadNetwork:
    """Return the OSM graphml network when one exists, else the trunk corridors.

    Parameters
    ----------
    data_dir
        The project ``data`` folder.
    params
        Parsed ``model.toml``.
    roads_graphml
        Explicit graphml (config ``ROADS_GRAPHML``); ``data/routes/roads.graphml`` is used when present.
    """
    if roads_graphml is not None and not Path(roads_graphml).exists():
        from ..errors import DataFileError

        raise DataFileError(f"ROADS_GRAPHML {roads_graphml} does not exist")
    candidate = roads_graphml or data_dir / "routes" / "roads.graphml"
    if Path(candidate).exists():
        return load_graphml_network(Path(candidate))
    return build_trunk_network(data_dir / "routes", params)
