"""The inputs a travel graph is assembled from: road and rail arrays, parameters and name look-ups."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from ...errors import ValidationError
from ...network.graph import _rail_cached
from ...network.rail import RailNetwork, read_services
from ...network.roads import RoadNetwork, _corridor_edges, load_model, load_road_network, to_metric


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
                roads_graphml: Path | None = None, network: Path | None = None) -> NetworkInputs:
    """Read the network inputs the same way :func:`~geo_app.network.graph.build_graph` does."""
    data_dir, reference_dir = Path(data_dir), Path(reference_dir)
    params = load_model(data_dir / "routes" / "model.toml")
    services_csv = data_dir / "routes" / "services.csv"
    chosen = network or roads_graphml
    road = load_road_network(data_dir, params, Path(chosen) if chosen else None)
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
