"""Road graphs: the schematic trunk network from ``data/routes``, osmnx graphml, and the choice between sources.

Every source ends up as a :class:`RoadNetwork` (:mod:`.road_network`): node lon/lat arrays plus
directed edge arrays (``u``, ``v``, ``length_m``, ``time_s``). Networks built from an OSM extract
(``geo-app network build``, :mod:`.osm`) are ``.npz`` files loaded by :func:`load_road_network`.
Nothing here imports Flask.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer

from .road_network import RoadNetwork

METRIC_CRS = "EPSG:32651"
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)

#: OSM highway classes kept as drivable (``graph_from_xml`` has no ``network_type``).
DRIVABLE = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "service",
)


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


#: Road network files looked for in ``data/routes`` when none is configured, in this order.
DEFAULT_NETWORK_FILES = ("roads.npz", "roads.graphml")


def load_network_file(path: Path) -> RoadNetwork:
    """Load a road network file: ``.graphml`` (osmnx) or ``.npz`` (``geo-app network build``).

    Raises
    ------
    DataFileError
        The file is missing or is not a road network file.
    """
    from ..errors import DataFileError

    path = Path(path)
    if not path.exists():
        raise DataFileError(f"road network {path} does not exist")
    if path.suffix.lower() == ".graphml":
        return load_graphml_network(path)
    from .osm.store import load_osm_network

    try:
        return load_osm_network(path)
    except (ValueError, OSError) as exc:
        raise DataFileError(f"road network {path}: {exc}") from None


def load_road_network(data_dir: Path, params: Mapping[str, Any], network: Path | None = None) -> RoadNetwork:
    """The road network: an explicit file, else ``data/routes/roads.npz`` or ``roads.graphml``, else the corridors.

    Parameters
    ----------
    data_dir
        The project ``data`` folder.
    params
        Parsed ``model.toml``.
    network
        Explicit ``.npz`` or ``.graphml`` (config ``NETWORK``, or the older ``ROADS_GRAPHML``).

    Returns
    -------
    RoadNetwork
        ``source="osm"`` for a file, ``"trunk"`` for the schematic corridors.
    """
    path = network_file(data_dir, network)
    if path is not None:
        return load_network_file(path)
    return build_trunk_network(Path(data_dir) / "routes", params)


def network_file(data_dir: Path, network: Path | None = None) -> Path | None:
    """The road network file :func:`load_road_network` loads (None: the trunk corridors)."""
    if network is not None:
        return Path(network)
    for name in DEFAULT_NETWORK_FILES:
        candidate = Path(data_dir) / "routes" / name
        if candidate.exists():
            return candidate
    return None
