"""Assembling the mode graphs ``car``, ``rail`` and ``best`` from a road and a rail network.

Any :class:`~geo_app.network.roads.RoadNetwork` (trunk corridors, graphml, OSM extract) goes
through :func:`assemble`: its edge arrays become the ``road`` edge group, station forecourts are
linked to it, and :func:`~geo_app.network.csr.combine` turns the groups into CSR mode graphs.
:func:`build_graph` / :func:`load_graph` read the project data. Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .csr import KINDS, EdgeGroup, ModeGraph, combine
from .origin import GraphOrigin, file_stamp
from .params import road_speed_classes
from .rail import RailNetwork, build_rail_network, read_services
from .roads import RoadNetwork, load_model, load_road_network, network_file, to_metric, value
from .snapping import nearest_within
from .tracks import FORMAT as TRACKS_FORMAT
from .travel import TravelGraph

#: The edge groups of ``car`` and ``best`` (``rail`` holds ride and transfer edges).
_CAR = ("road", "access")
_BEST = ("road", "access", "board", "alight", "rail")


def _station_access(road_xy: np.ndarray, station_xy: np.ndarray, params: Mapping[str, Any],
                    k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Access links between each station forecourt and its k nearest road nodes (model.toml ``access.k``).

    Returns
    -------
    tuple
        ``(station, road_node, length_m, time_s)``, one entry per link (used both ways).
    """
    s, node, dist = nearest_within(station_xy, road_xy, value(params, "access", "k") if k is None else k,
                                   float(value(params, "access", "limit_m")))
    length = dist * value(params, "access", "circuity")
    t = length / (value(params, "access", "speed_kmh") / 3.6)
    return s, node, length, t


def _rail_cached(reference_dir: Path, services_csv: Path, params: Mapping[str, Any],
                 cache_dir: Path | None) -> RailNetwork:
    """Build the rail network, caching the derived arrays in ``cache_dir`` (never in the repo)."""
    if cache_dir is None:
        return build_rail_network(reference_dir, services_csv, params)
    h = hashlib.sha256(repr(sorted(params.get("rail", {}).items())).encode() + f"tracks{TRACKS_FORMAT}".encode())
    for p in (reference_dir / "rail" / "lines.geojson", reference_dir / "rail" / "stations.geojson", services_csv,
              reference_dir / "rail" / "tracks_vmap0.geojson"):
        if p.exists():
            h.update(p.read_bytes())
    path = Path(cache_dir) / f"rail-{h.hexdigest()[:16]}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own cache file
    rail = build_rail_network(reference_dir, services_csv, params, cache_dir=Path(cache_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(rail, fh)
    return rail


def _edge_groups(road: RoadNetwork, rail: RailNetwork, road_xy: np.ndarray, station_xy: np.ndarray,
                 params: Mapping[str, Any]) -> dict[str, EdgeGroup]:
    """Edge groups of the single-layer graph ``[road nodes | station forecourts | platforms]``.

    Returns
    -------
    dict
        ``{"road" | "access" | "board" | "alight" | "rail": (u, v, time_s, length_m)}``.
    """
    nr0, npl = len(road.lonlat), len(rail.platform_station)
    nr = nr0 + len(rail.station_lonlat)
    # A surveyed (OSM) network has a road at every station: join the nearest node only, so the forecourt
    # never becomes a shortcut between roads. The sparse trunk network keeps its k nearest nodes.
    s, j, alen, at = _station_access(road_xy, station_xy, params, 1 if road.source == "osm" else None)
    plat = np.arange(npl) + nr
    fore = rail.platform_station + nr0
    return {
        "road": (road.u, road.v, road.time_s, road.length_m),
        "access": (np.concatenate([s + nr0, j]), np.concatenate([j, s + nr0]), np.tile(at, 2), np.tile(alen, 2)),
        "board": (fore, plat, rail.board_s, np.zeros(npl)),
        "alight": (plat, fore, np.zeros(npl), np.zeros(npl)),
        "rail": (rail.u + nr, rail.v + nr, rail.time_s, rail.length_m),
    }


def assemble(road: RoadNetwork, rail: RailNetwork, params: dict[str, Any],
             services: tuple[dict[str, Any], ...] = ()) -> TravelGraph:
    """Join a road network and a rail network into a :class:`TravelGraph`.

    Parameters
    ----------
    road, rail
        The two networks as arrays.
    params
        Parsed ``model.toml``.
    services
        ``services.csv`` rows (for the assumptions list).
    """
    road_xy, st_xy = to_metric(road.lonlat), to_metric(rail.station_lonlat)
    nr, npl = len(road.lonlat) + len(rail.station_lonlat), len(rail.platform_station)
    groups = _edge_groups(road, rail, road_xy, st_xy, params)
    ride_kinds = np.array([KINDS.index(k) for k in rail.kind], dtype=np.int8)
    kinds: dict[str, np.ndarray | int] = {name: KINDS.index(name) for name in _CAR + ("board", "alight")}
    kinds["rail"] = ride_kinds
    classes, codes = road_speed_classes(road, params)  # re-weighting by class speed (network/variants.py)
    modes = {
        "car": combine(nr, groups, _CAR, kinds, {"road": codes}),
        "best": combine(nr + npl, groups, _BEST, kinds, {"road": codes}),
        "rail": _rail_layers(nr, npl, groups, ride_kinds, codes),
    }
    names = road.names + tuple(f"station:{n}" if n else "station" for n in rail.station_names)
    return TravelGraph(params=params, node_lonlat=np.concatenate([road.lonlat, rail.station_lonlat]),
                       node_xy=np.concatenate([road_xy, st_xy]), node_names=names, n_road_nodes=len(road.lonlat),
                       platform_lonlat=rail.station_lonlat[rail.platform_station].copy(),
                       platform_line=rail.platform_line, modes=modes, road_source=road.source,
                       services=services, road_classes=classes)


def _shift(group: EdgeGroup, du: int, dv: int, mask: np.ndarray | None = None) -> EdgeGroup:
    """Renumber an edge group (``u + du``, ``v + dv``), keeping only the ``mask`` edges when given."""
    sel = slice(None) if mask is None else mask
    return (group[0][sel] + du, group[1][sel] + dv, group[2][sel], group[3][sel])


def _rail_layers(nr: int, npl: int, groups: Mapping[str, EdgeGroup], ride_kinds: np.ndarray,
                 road_cls: np.ndarray | None = None) -> ModeGraph:
    """Two-layer graph ``[road 0 | platforms before a ride | platforms after a ride | road 1]``.

    Boarding from road layer 0 reaches the "before" platforms; only a ride edge leads to the
    "after" platforms; alighting goes from "after" platforms into road layer 1. A path from
    layer 0 to layer 1 therefore contains at least one in-vehicle (ride) edge.
    """
    p0, p1, r1 = nr, nr + npl, nr + 2 * npl
    road, acc, board, alight, ride = (groups[k] for k in _BEST)
    ride_only = ride_kinds == KINDS.index("ride")
    layered: dict[str, tuple[EdgeGroup, np.ndarray | int]] = {
        "r0": (_shift(road, 0, 0), 0), "a0": (_shift(acc, 0, 0), 1),
        "r1": (_shift(road, r1, r1), 0), "a1": (_shift(acc, r1, r1), 1),
        "b0": (_shift(board, 0, p0 - nr), 2), "b1": (_shift(board, r1, p1 - nr), 2),
        "first": (_shift(ride, p0 - nr, p1 - nr, ride_only), 4),
        "ride": (_shift(ride, p1 - nr, p1 - nr), ride_kinds),
        "off": (_shift(alight, p1 - nr, r1), 3),
    }
    return combine(r1 + nr, {name: g for name, (g, _) in layered.items()}, list(layered),
                   {name: k for name, (_, k) in layered.items()},
                   None if road_cls is None else {"r0": road_cls, "r1": road_cls})


def _county_bounds(data_dir: Path) -> tuple[float, float, float, float] | None:
    """WGS84 bounds of ``data/boundary.geojson``, or None when there is no such file."""
    boundary = data_dir / "boundary.geojson"
    if not boundary.exists():
        return None
    import geopandas as gpd

    west, south, east, north = (float(b) for b in gpd.read_file(boundary).to_crs("EPSG:4326").total_bounds)
    return west, south, east, north


def build_graph(data_dir: Path, reference_dir: Path, *, cache_dir: Path | None = None,
                roads_graphml: Path | None = None, network: Path | None = None) -> TravelGraph:
    """Build the travel graph from the project data and the reference rail data (read in place).

    Parameters
    ----------
    data_dir
        The project ``data`` folder (``routes/model.toml``, ``routes/services.csv``, road data).
    reference_dir
        The reference-data folder holding ``rail/lines.geojson`` and ``rail/stations.geojson``.
    cache_dir
        Where derived rail arrays may be cached (git-ignored); no cache when None.
    roads_graphml
        OSM road graphml (the older setting; ``network`` wins when both are given).
    network
        Road network file (``.npz`` from ``geo-app network build``, or ``.graphml``); without one,
        ``data/routes/roads.npz`` or ``roads.graphml`` when present, else the trunk corridors.

    Returns
    -------
    TravelGraph
    """
    data_dir, reference_dir = Path(data_dir), Path(reference_dir)
    params = load_model(data_dir / "routes" / "model.toml")
    services_csv = data_dir / "routes" / "services.csv"
    explicit = network or roads_graphml
    chosen = network_file(data_dir, Path(explicit) if explicit else None)
    stamp = file_stamp(chosen) if chosen is not None and chosen.exists() else None
    road = load_road_network(data_dir, params, chosen)
    rail = _rail_cached(reference_dir, services_csv, params, Path(cache_dir) if cache_dir else None)
    graph = assemble(road, rail, params, tuple(read_services(services_csv)))
    origin = GraphOrigin(str(data_dir.resolve()), str(reference_dir.resolve()),
                         str(Path(cache_dir).resolve()) if cache_dir else None,
                         str(chosen.resolve()) if chosen is not None else None, stamp)
    object.__setattr__(graph, "origin", origin)
    bounds = _county_bounds(data_dir)
    if bounds is not None:
        object.__setattr__(graph, "county_bounds", bounds)
    return graph


def load_graph(config: Mapping[str, Any]) -> TravelGraph:
    """Build the graph from a config mapping (DATA_DIR, REFERENCE_DATA, CACHE_DIR, NETWORK, ROADS_GRAPHML)."""
    return build_graph(Path(config["DATA_DIR"]), Path(config["REFERENCE_DATA"]),
                       cache_dir=config.get("CACHE_DIR"), roads_graphml=config.get("ROADS_GRAPHML"),
                       network=config.get("NETWORK"))
