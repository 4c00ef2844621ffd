"""Rail network: platform nodes per line, in-vehicle, boarding, alighting and transfer edges.

Lines and stations are read *in place* from the reference-data folder (never copied).
Each LineString's vertices are the station points, in order. A station that appears on
several lines (same coordinates) is a transfer point. The in-vehicle length of a stretch
between two stations is its track length where :mod:`.tracks` routes it on the VMAP0 tracks,
else the straight line x ``rail.circuity`` (a schematic stretch). Nothing here imports Flask.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from ..errors import DataFileError
from .roads import value
from .tracks import Stretch, load_routed


@dataclass(frozen=True)
class RailNetwork:
    """Rail as arrays.

    Attributes
    ----------
    station_lonlat
        (s, 2) unique station points (the street side of the station).
    station_names
        Station names ("" when OSM has none).
    platform_station, platform_line
        For each platform node (one per line and station): its station index and line name.
    board_s
        Cost of boarding each platform from the street: station entry + wait (share of headway).
    u, v, length_m, time_s, kind
        Platform-to-platform edges; ``kind`` is ``"ride"`` (in-vehicle) or ``"transfer"``.
    """

    station_lonlat: np.ndarray
    station_names: tuple[str, ...]
    platform_station: np.ndarray
    platform_line: tuple[str, ...]
    board_s: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    time_s: np.ndarray
    kind: tuple[str, ...]


def read_services(path: Path) -> list[dict[str, Any]]:
    """Read ``services.csv`` (line-level rows: blank stations; or station-pair rows with minutes)."""
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _line_service(rows: list[dict[str, Any]], line: str, kind: str, params: Mapping[str, Any]) -> dict:
    """Return speed_kmh, headway_min and per-pair minutes for one line."""
    speed = value(params, "rail", "speed_kmh", kind)
    headway = None
    pairs: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["line"] != line:
            continue
        if r.get("from_station") and r.get("to_station") and r.get("minutes"):
            pairs[(r["from_station"], r["to_station"])] = float(r["minutes"])
            continue
        speed = float(r["speed_kmh"]) if r.get("speed_kmh") else speed
        headway = float(r["headway_min"]) if r.get("headway_min") else headway
    if headway is None:
        raise DataFileError(f"services.csv: no headway_min for line {line}")
    return {"speed_kmh": speed, "headway_min": headway, "pairs": pairs}


def _station_key(lon: float, lat: float) -> tuple[float, float]:
    """Key that identifies a station by its coordinates (shared points are transfer points)."""
    return round(lon, 6), round(lat, 6)


def _names_by_key(stations: gpd.GeoDataFrame) -> dict[tuple[float, float], str]:
    """Map station coordinates to their OSM name."""
    out = {}
    for name, geom in zip(stations["osm_name"], stations.geometry, strict=True):
        if geom is not None:
            out[_station_key(geom.x, geom.y)] = "" if not isinstance(name, str) else name
    return out


#: One platform-to-platform edge: ``(u, v, length_m, time_s, kind)``.
_Edge = tuple[int, int, float, float, str]


@dataclass
class _Platforms:
    """Platforms collected line by line; stations are numbered in the order they are first met."""

    keys: dict[tuple[float, float], int] = field(default_factory=dict)
    station: list[int] = field(default_factory=list)
    line: list[str] = field(default_factory=list)
    board: list[float] = field(default_factory=list)

    def add_line(self, coords: np.ndarray, line: str, board_s: float) -> list[int]:
        """Add one platform per vertex of a line (boarding cost ``board_s``); return their indices."""
        plats = []
        for lon, lat in coords:
            sidx = self.keys.setdefault(_station_key(lon, lat), len(self.keys))
            plats.append(len(self.station))
            self.station.append(sidx)
            self.line.append(line)
            self.board.append(board_s)
        return plats

    def station_keys(self) -> list[tuple[float, float]]:
        """Station keys in station-index order."""
        return sorted(self.keys, key=self.keys.get)


def _read_rail_inputs(reference_dir: Path,
                      services_csv: Path) -> tuple[gpd.GeoDataFrame, dict[tuple[float, float], str], list[dict]]:
    """Read lines, station names by key and services; :class:`DataFileError` when a file is missing."""
    lines_path = reference_dir / "rail" / "lines.geojson"
    stations_path = reference_dir / "rail" / "stations.geojson"
    for p in (lines_path, stations_path, services_csv):
        if not p.exists():
            raise DataFileError(f"rail data file missing: {p}")
    return gpd.read_file(lines_path), _names_by_key(gpd.read_file(stations_path)), read_services(services_csv)


def _ride_edges(plats: list[int], coords: np.ndarray, names: Mapping[tuple[float, float], str],
                svc: Mapping[str, Any], circuity: float, stretches: tuple[Stretch, ...]) -> list[_Edge]:
    """In-vehicle edges both ways between consecutive platforms of one line.

    Length is the stretch's track length when routed, else its straight line x circuity; time is the
    services.csv pair minutes when given for the named pair, else length / speed.
    """
    stn = [names.get(_station_key(lon, lat), "") for lon, lat in coords]
    edges: list[_Edge] = []
    for i in range(len(plats) - 1):
        st = stretches[i]
        length = st.length_m if st.quality == "routed" else st.straight_m * circuity
        t = length / (svc["speed_kmh"] / 3.6)
        for a, b, na, nb in ((i, i + 1, stn[i], stn[i + 1]), (i + 1, i, stn[i + 1], stn[i])):
            minutes = svc["pairs"].get((na, nb)) if na and nb else None
            edges.append((plats[a], plats[b], length, minutes * 60.0 if minutes else t, "ride"))
    return edges


def _to_network(platforms: _Platforms, names: Mapping[tuple[float, float], str], plat_station: np.ndarray,
                board: np.ndarray, edges: list[_Edge]) -> RailNetwork:
    """Pack the collected platforms and edges into a :class:`RailNetwork`."""
    keys = platforms.station_keys()
    return RailNetwork(
        station_lonlat=np.array(keys, dtype=float),
        station_names=tuple(names.get(k, "") for k in keys),
        platform_station=plat_station,
        platform_line=tuple(platforms.line),
        board_s=board,
        u=np.array([e[0] for e in edges], dtype=np.int64),
        v=np.array([e[1] for e in edges], dtype=np.int64),
        length_m=np.array([e[2] for e in edges]),
        time_s=np.array([e[3] for e in edges]),
        kind=tuple(e[4] for e in edges),
    )


def build_rail_network(reference_dir: Path, services_csv: Path, params: Mapping[str, Any], *,
                       cache_dir: Path | None = None) -> RailNetwork:
    """Build platforms and edges from ``rail/lines.geojson``, ``rail/stations.geojson`` and services.

    Parameters
    ----------
    reference_dir
        The reference-data folder (config ``REFERENCE_DATA``), read in place.
    services_csv
        ``data/routes/services.csv``.
    params
        Parsed ``model.toml``.
    cache_dir
        Where the routed track alignment (:func:`.tracks.load_routed`) may be cached.

    Returns
    -------
    RailNetwork
        In-vehicle time = pair minutes if services.csv gives them, else length / speed, the length
        being the routed track length or, on a schematic stretch, the straight line x circuity.
    """
    lines, names, services = _read_rail_inputs(reference_dir, services_csv)
    routed = load_routed(reference_dir, params, cache_dir)
    circuity = value(params, "rail", "circuity")
    entry_s = value(params, "rail", "station_entry_min") * 60.0
    wait_frac = value(params, "rail", "wait_fraction")
    transfer_s = value(params, "rail", "transfer_min") * 60.0
    platforms = _Platforms()
    edges: list[_Edge] = []
    for line, kind, geom in zip(lines["line_zh"], lines["kind"], lines.geometry, strict=True):
        svc = _line_service(services, line, kind, params)
        coords = np.asarray(geom.coords)[:, :2]
        plats = platforms.add_line(coords, line, entry_s + wait_frac * svc["headway_min"] * 60.0)
        edges += _ride_edges(plats, coords, names, svc, circuity, routed[line])
    plat_station = np.array(platforms.station, dtype=np.int64)
    board = np.array(platforms.board)
    edges += _transfer_edges(plat_station, board - entry_s, transfer_s)
    return _to_network(platforms, names, plat_station, board, edges)


def _transfer_edges(plat_station: np.ndarray, wait_s: np.ndarray, transfer_s: float) -> list[_Edge]:
    """Edges between platforms of different lines at one station: transfer time + wait for the new line."""
    out = []
    for s in np.unique(plat_station):
        plats = np.flatnonzero(plat_station == s)
        for a in plats:
            for b in plats:
                if a != b:
                    out.append((int(a), int(b), 0.0, transfer_s + float(wait_s[b]), "transfer"))
    return out
