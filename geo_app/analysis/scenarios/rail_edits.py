"""Rail edits of a scenario: scenario stations and new services, on copies of the rail arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ...network.rail import RailNetwork
from ...network.roads import to_metric, value
from .files import Scenario, _coords
from .inputs import NetworkInputs


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
