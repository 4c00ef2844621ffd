"""Rail alignments along the real tracks: each line routed station to station on the VMAP0 track graph.

The data pack's ``rail/lines.geojson`` draws each line as straight segments between its station
points; ``rail/tracks_vmap0.geojson`` holds the real (1:1,000,000, 1990s) track alignments of the
conventional lines, without names or stations. Both are read *in place* from the reference-data
folder. Here the tracks become a small undirected graph (lines noded where they touch within
``rail.tracks.node_tolerance_m`` in EPSG:32651), every station is attached at its nearest track
point (within ``station_tolerance_m``), and each stretch between consecutive stations is the
shortest track path (:func:`scipy.sparse.csgraph.dijkstra`).

A stretch that cannot be routed (a station too far from any track, no track path, or a path more
than ``max_detour`` times the straight line) keeps the straight segment and is ``schematic``; so
is every stretch of a high-speed line (VMAP0 predates them). The result is cached under
``CACHE_DIR`` (a build output; never committed). Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import pickle
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from ..errors import DataFileError
from .roads import METRIC_CRS, to_metric, value
from .track_graph import TrackGraph, attach, build_track_graph

LINES_FILE = "rail/lines.geojson"
TRACKS_FILE = "rail/tracks_vmap0.geojson"
#: Line kinds routed on the tracks: VMAP0 (1990s) has no high-speed line (PROVENANCE.md).
ROUTED_KINDS = ("conventional",)
#: Why a stretch is schematic (``""`` when routed).
REASONS = ("station_off_track", "no_track_path", "detour", "not_in_tracks", "no_tracks_file")
_TO_WGS84 = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
#: Version of the routing rules, part of the cache key (a change here invalidates cached alignments).
FORMAT = 2


@dataclass(frozen=True)
class TrackParams:
    """The routing tolerances of ``model.toml`` ``[rail.tracks]``."""

    node_tolerance_m: float
    station_tolerance_m: float
    max_detour: float

    @classmethod
    def from_model(cls, params: Mapping[str, Any]) -> TrackParams:
        """Read the three ``rail.tracks`` entries; :class:`DataFileError` when one is missing."""
        try:
            return cls(*(float(value(params, "rail", "tracks", k))
                         for k in ("node_tolerance_m", "station_tolerance_m", "max_detour")))
        except KeyError as exc:
            raise DataFileError(f"model.toml: rail.tracks needs {exc}") from exc


@dataclass(frozen=True)
class Stretch:
    """The alignment between two consecutive stations of a line.

    Attributes
    ----------
    index
        Position of the first station on the line (the stretch runs to station ``index + 1``).
    from_name, to_name
        Station names ("" when OSM has none).
    lonlat
        (n, 2) WGS84 vertices. Routed: the track path between the stations' nearest track points.
        Schematic: a straight segment between those points (a station off the tracks, or on a line
        that is not routed, is its own point), so the stretches of a line join up.
    length_m
        Routed: track length between the stations' nearest track points. Schematic: the straight line.
    straight_m
        Straight distance between the two station points.
    quality, reason
        ``"routed"`` with reason ``""``, or ``"schematic"`` with one of :data:`REASONS`.
    """

    index: int
    from_name: str
    to_name: str
    lonlat: np.ndarray
    length_m: float
    straight_m: float
    quality: str
    reason: str


def _path(pred: np.ndarray, src: int, dst: int) -> list[int]:
    """Node sequence from ``src`` to ``dst`` on a predecessor row of :func:`dijkstra`."""
    out = [dst]
    while out[-1] != src:
        out.append(int(pred[out[-1]]))
    return out[::-1]


def _lonlat(xy: np.ndarray) -> np.ndarray:
    """EPSG:32651 metres to WGS84 lon/lat."""
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _stretch(i: int, names: Sequence[str], st_xy: np.ndarray, anchors: np.ndarray, length: float,
             path_xy: np.ndarray | None, reason: str) -> Stretch:
    """One stretch: the track path between the two stations, or the straight segment when ``reason``.

    ``anchors`` are the lon/lat where each station meets the line (its track point, else itself).
    """
    straight = float(np.hypot(*(st_xy[i + 1] - st_xy[i])))
    if reason or path_xy is None:
        return Stretch(i, names[i], names[i + 1], anchors[i:i + 2].copy(), straight, straight, "schematic", reason)
    coords = _lonlat(path_xy)
    coords[0], coords[-1] = anchors[i], anchors[i + 1]  # the same points as the neighbouring stretches
    if len(coords) == 1:
        coords = anchors[i:i + 2].copy()
    return Stretch(i, names[i], names[i + 1], coords, float(length), straight, "routed", "")


def route_line(g: TrackGraph, lonlat: np.ndarray, names: Sequence[str], tp: TrackParams, *,
               routed: bool = True) -> tuple[Stretch, ...]:
    """Route one line from station to station on the track graph.

    Parameters
    ----------
    g
        The track graph (:func:`build_track_graph`).
    lonlat
        (s, 2) station points of the line, in order.
    names
        The station names, in the same order.
    tp
        Tolerances (:class:`TrackParams`).
    routed
        False keeps every stretch straight (reason ``not_in_tracks``), e.g. for high-speed lines.

    Returns
    -------
    tuple of Stretch
        One per pair of consecutive stations.
    """
    lonlat = np.asarray(lonlat, dtype=float)
    st_xy = to_metric(lonlat)
    n = len(lonlat) - 1
    if not routed or not len(g.u):
        reason = "not_in_tracks" if not routed else "no_tracks_file"
        return tuple(_stretch(i, names, st_xy, lonlat, 0.0, None, reason) for i in range(n))
    ga, nodes = attach(g, st_xy, tp.station_tolerance_m)
    anchors = np.where((nodes >= 0)[:, None], _lonlat(ga.xy[np.maximum(nodes, 0)]), lonlat)
    on = np.unique(nodes[nodes >= 0])
    if len(on):
        dist, pred = dijkstra(ga.matrix(), directed=False, indices=on, return_predecessors=True)
    row = {int(s): r for r, s in enumerate(on)}
    out = []
    for i in range(n):
        a, b = int(nodes[i]), int(nodes[i + 1])
        straight = float(np.hypot(*(st_xy[i + 1] - st_xy[i])))
        if a < 0 or b < 0:
            out.append(_stretch(i, names, st_xy, anchors, 0.0, None, "station_off_track"))
            continue
        length = float(dist[row[a], b])
        if not np.isfinite(length):
            out.append(_stretch(i, names, st_xy, anchors, 0.0, None, "no_track_path"))
        elif length > tp.max_detour * straight or length < straight / tp.max_detour:
            out.append(_stretch(i, names, st_xy, anchors, 0.0, None, "detour"))
        else:
            out.append(_stretch(i, names, st_xy, anchors, length, ga.xy[_path(pred[row[a]], a, b)], ""))
    return tuple(out)


def _station_names(row: Mapping[str, Any], count: int) -> list[str]:
    """The line's station names from its ``stations`` field ("A - B - ..."; "(unnamed)" → "")."""
    raw = row.get("stations")
    names = [s.strip() for s in raw.split(" - ")] if isinstance(raw, str) else []
    names = ["" if s.startswith("(") else s for s in names]
    return names if len(names) == count else [""] * count


def route_lines(lines: Any, tracks: Any, tp: TrackParams) -> dict[str, tuple[Stretch, ...]]:
    """Route every line of ``rail/lines.geojson`` on the tracks of ``rail/tracks_vmap0.geojson``.

    Parameters
    ----------
    lines
        GeoDataFrame of the lines (``line_zh``, ``kind``, ``stations``; vertices = station points).
    tracks
        GeoDataFrame of the track lines, or None when the data pack has no track file.
    tp
        Tolerances (model.toml ``rail.tracks``).

    Returns
    -------
    dict
        ``{line_zh: stretches}`` in the order of ``lines``.
    """
    geoms = [] if tracks is None else list(tracks.to_crs(METRIC_CRS).geometry)
    g = build_track_graph(geoms, tp.node_tolerance_m)
    out: dict[str, tuple[Stretch, ...]] = {}
    for _, row in lines.iterrows():
        coords = shapely.get_coordinates(row.geometry)
        out[row["line_zh"]] = route_line(g, coords, _station_names(row, len(coords)), tp,
                                         routed=row.get("kind") in ROUTED_KINDS)
    return out


def _key(reference_dir: Path, tp: TrackParams) -> str:
    """Hash of the inputs: the two rail files' bytes and the tolerances."""
    h = hashlib.sha256(f"{FORMAT}:{tp!r}".encode())
    for name in (LINES_FILE, TRACKS_FILE):
        p = reference_dir / name
        h.update(p.read_bytes() if p.exists() else b"-")
    return h.hexdigest()[:16]


@lru_cache(maxsize=4)
def _routed(reference_dir: str, key: str, tp: TrackParams, cache_dir: str | None) -> dict[str, tuple[Stretch, ...]]:
    """Routed lines for one input hash: from the cache file, or computed and then cached."""
    import geopandas as gpd

    path = Path(cache_dir) / f"rail-tracks-{key}.pkl" if cache_dir else None
    if path is not None and path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own cache file
    ref = Path(reference_dir)
    if not (ref / LINES_FILE).exists():
        raise DataFileError(f"rail data file missing: {ref / LINES_FILE}")
    tracks = gpd.read_file(ref / TRACKS_FILE) if (ref / TRACKS_FILE).exists() else None
    routed = route_lines(gpd.read_file(ref / LINES_FILE), tracks, tp)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(routed, fh)
        tmp.replace(path)
    return routed


def load_routed(reference_dir: Path, params: Mapping[str, Any],
                cache_dir: Path | None = None) -> dict[str, tuple[Stretch, ...]]:
    """Routed stretches of every line, read in place from ``reference_dir`` (cached in ``cache_dir``).

    Parameters
    ----------
    reference_dir
        The reference-data folder (config ``REFERENCE_DATA``).
    params
        Parsed ``model.toml`` (``rail.tracks``).
    cache_dir
        ``CACHE_DIR`` for the derived alignment (git-ignored); none when None.

    Returns
    -------
    dict
        ``{line_zh: stretches}``; shared within the process, do not mutate.
    """
    reference_dir, tp = Path(reference_dir), TrackParams.from_model(params)
    return _routed(str(reference_dir.resolve()), _key(reference_dir, tp), tp,
                   str(Path(cache_dir).resolve()) if cache_dir else None)


#: Layer quality of a routed run and of a schematic run (``quality`` of each feature).
RUN_QUALITY = {"routed": "surveyed (VMAP0 1:1M)", "schematic": "schematic"}


def _runs(stretches: tuple[Stretch, ...]) -> list[list[Stretch]]:
    """Consecutive stretches grouped by quality and, when schematic, by reason."""
    runs: list[list[Stretch]] = []
    for st in stretches:
        if runs and (runs[-1][-1].quality, runs[-1][-1].reason) == (st.quality, st.reason):
            runs[-1].append(st)
        else:
            runs.append([st])
    return runs


def routed_frame(lines: Any, routed: Mapping[str, tuple[Stretch, ...]]) -> Any:
    """The rail-line layer on the routed alignment: one feature per run of stretches of one quality.

    Parameters
    ----------
    lines
        GeoDataFrame of ``rail/lines.geojson`` (EPSG:4326).
    routed
        From :func:`load_routed`.

    Returns
    -------
    GeoDataFrame
        The lines' own fields, with ``quality`` (:data:`RUN_QUALITY`), ``schematic_reason``,
        ``from_station``, ``to_station``, ``n_stretches`` and ``length_km`` per run, and
        ``line_length_km`` (the whole line) on every run of the line.
    """
    import geopandas as gpd
    from shapely.geometry import LineString

    rows, geoms = [], []
    for _, line in lines.iterrows():
        stretches = routed.get(line["line_zh"], ())
        total = sum(s.length_m for s in stretches) / 1000.0
        for run in _runs(stretches):
            coords = np.vstack([run[0].lonlat] + [s.lonlat[1:] for s in run[1:]])
            rows.append({**{k: v for k, v in line.items() if k != "geometry"},
                         "quality": RUN_QUALITY[run[0].quality], "schematic_reason": run[0].reason,
                         "from_station": run[0].from_name, "to_station": run[-1].to_name,
                         "n_stretches": len(run), "length_km": round(sum(s.length_m for s in run) / 1000.0, 1),
                         "line_length_km": round(total, 1)})
            geoms.append(LineString(coords))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
