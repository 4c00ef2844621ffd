"""Rail lines routed on the real VMAP0 tracks (issue #17 §4): the track graph, routing, layer, rail links, reviews.

Synthetic tracks (straight metric lines made up here) test the graph rules; the data pack's
``rail/tracks_vmap0.geojson`` (read in place, never copied) tests the real alignments.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point

from geo_app.analysis.siting import load_rules, review_site
from geo_app.config import defaults
from geo_app.layers import LayerRegistry
from geo_app.network import tracks
from geo_app.network.rail import build_rail_network
from geo_app.network.roads import load_model, to_metric
from geo_app.network.track_graph import attach, build_track_graph
from geo_app.network.tracks import TrackParams, load_routed, route_line

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
PARAMS = load_model(DATA / "routes" / "model.toml")
TP = TrackParams(75.0, 1500.0, 2.0)
SIMEI_PUBLISHED_KM = 155.0  # Japanese Wikipedia, 四梅線 (README)
TO_WGS84 = Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


def node(g, x: float, y: float) -> int:
    return int(np.argmin(np.hypot(g.xy[:, 0] - x, g.xy[:, 1] - y)))


def track_km(g, a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(dijkstra(g.matrix(), directed=False, indices=node(g, *a))[node(g, *b)]) / 1000.0


def lonlat(*xy: tuple[float, float]) -> np.ndarray:
    """Metric points (EPSG:32651) as lon/lat, for stations of synthetic lines."""
    x, y = np.array(xy, dtype=float).T
    return np.column_stack(TO_WGS84.transform(x, y))


X0, Y0 = 700_000.0, 4_710_000.0  # near Meihekou in EPSG:32651


# -- the track graph (synthetic) ---------------------------------------------------------------
def test_line_ends_within_the_tolerance_are_joined():
    g = build_track_graph([LineString([(0, 0), (1000, 0)]), LineString([(1040, 0), (2000, 0)])], 75.0)
    assert track_km(g, (0, 0), (2000, 0)) == pytest.approx(2.0, abs=0.001)
    g = build_track_graph([LineString([(0, 0), (1000, 0)]), LineString([(1150, 0), (2000, 0)])], 75.0)
    assert np.isinf(track_km(g, (0, 0), (2000, 0)))


def test_crossings_and_ends_on_a_segment_are_noded():
    cross = build_track_graph([LineString([(0, 0), (2000, 0)]), LineString([(1000, -1000), (1000, 1000)])], 75.0)
    assert track_km(cross, (0, 0), (1000, 1000)) == pytest.approx(2.0, abs=0.001)
    # a branch ending 30 m short of the main line, opposite no vertex of it
    tee = build_track_graph([LineString([(0, 0), (2000, 0)]), LineString([(700, 30), (700, 1000)])], 75.0)
    assert track_km(tee, (0, 0), (700, 1000)) == pytest.approx(0.7 + 0.97, abs=0.002)


def test_attach_splits_the_nearest_edge():
    g = build_track_graph([LineString([(0, 0), (3000, 0)])], 75.0)
    g2, nodes = attach(g, np.array([[1000.0, 200.0], [2500.0, -100.0], [1000.0, 5000.0]]), 1500.0)
    assert nodes[2] == -1  # 5 km from the track
    assert g2.xy[nodes[0]] == pytest.approx([1000.0, 0.0]) and g2.xy[nodes[1]] == pytest.approx([2500.0, 0.0])
    d = dijkstra(g2.matrix(), directed=False, indices=nodes[0])
    assert d[nodes[1]] == pytest.approx(1500.0) and len(g2.u) == 3


def test_route_line_marks_each_stretch():
    main = LineString([(X0, Y0), (X0 + 20_000, Y0)])
    loop = LineString([(X0 + 20_000, Y0), (X0 + 20_000, Y0 + 30_000), (X0 + 30_000, Y0 + 30_000),
                       (X0 + 30_000, Y0)])
    island = LineString([(X0 + 60_000, Y0), (X0 + 70_000, Y0)])
    g = build_track_graph([main, loop, island], 75.0)
    stations = lonlat((X0, Y0 + 300), (X0 + 10_000, Y0 - 200), (X0 + 20_000, Y0), (X0 + 30_000, Y0),
                      (X0 + 45_000, Y0 + 9_000), (X0 + 60_000, Y0), (X0 + 70_000, Y0))
    got = route_line(g, stations, list("ABCDEFG"), TP)
    assert [(s.quality, s.reason) for s in got] == [
        ("routed", ""), ("routed", ""), ("schematic", "detour"), ("schematic", "station_off_track"),
        ("schematic", "station_off_track"), ("routed", "")]
    assert got[0].length_m == pytest.approx(10_000, abs=5) and got[0].straight_m == pytest.approx(10_012.5, abs=1)
    assert got[2].length_m == got[2].straight_m == pytest.approx(10_000, abs=5)  # straight: the track is 70 km
    assert [s.from_name for s in got] == list("ABCDEF")
    # the stretches join up: at the station's track point, or at the station when it is off the tracks
    for s, t in zip(got[:-1], got[1:], strict=True):
        assert s.lonlat[-1] == pytest.approx(t.lonlat[0])
    assert got[0].lonlat[0] == pytest.approx(lonlat((X0, Y0))[0])
    assert got[3].lonlat[-1] == pytest.approx(stations[4]) and got[4].lonlat[0] == pytest.approx(stations[4])
    apart = route_line(g, lonlat((X0, Y0), (X0 + 65_000, Y0)), ["", ""], TP)
    assert apart[0].reason == "no_track_path"
    hsr = route_line(g, stations[:2], ["A", "B"], TP, routed=False)
    assert hsr[0].reason == "not_in_tracks"
    empty = build_track_graph([], 75.0)
    assert route_line(empty, stations[:2], ["A", "B"], TP)[0].reason == "no_tracks_file"


# -- the data pack's tracks ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    tracks._routed.cache_clear()
    out = load_routed(REFERENCE, PARAMS, cache)
    assert list(cache.glob("rail-tracks-*.pkl"))  # the derived alignment goes to CACHE_DIR
    tracks._routed.cache_clear()
    again = load_routed(REFERENCE, PARAMS, cache)  # read back from the cache file
    lengths = {k: [s.length_m for s in v] for k, v in out.items()}
    assert {k: [s.length_m for s in v] for k, v in again.items()} == lengths
    return out


def test_simei_follows_the_tracks_and_matches_its_published_length(routed):
    simei = routed["四梅铁路"]
    assert len(simei) == 9 and all(s.quality == "routed" for s in simei)
    vertices = sum(len(s.lonlat) for s in simei) - (len(simei) - 1)
    assert vertices > 60  # the real alignment, not the 10 station points
    km = sum(s.length_m for s in simei) / 1000.0
    assert abs(km - SIMEI_PUBLISHED_KM) / SIMEI_PUBLISHED_KM < 0.10
    assert km > sum(s.straight_m for s in simei) / 1000.0  # track is longer than the chords


def test_schematic_stretches_are_stations_away_from_every_track(routed):
    tracks_m = gpd.read_file(REFERENCE / tracks.TRACKS_FILE).to_crs("EPSG:32651").union_all()
    for line in ("沈吉铁路", "梅集铁路"):
        stretches = routed[line]
        assert sum(s.quality == "routed" for s in stretches) >= len(stretches) - 3
        for s in stretches:
            if s.quality == "schematic":
                assert s.reason == "station_off_track" and len(s.lonlat) == 2
                ends = [Point(to_metric(p)[0]) for p in s.lonlat]
                assert max(tracks_m.distance(p) for p in ends) > TP.station_tolerance_m
    assert all(s.reason == "not_in_tracks" for line in ("长吉城际铁路", "哈大高速铁路") for s in routed[line])


def test_rail_links_use_the_track_length(routed):
    rail = build_rail_network(REFERENCE, DATA / "routes" / "services.csv", PARAMS)
    circuity = PARAMS["rail"]["circuity"]["value"]
    for line in ("四梅铁路", "梅集铁路"):
        plats = [i for i, ln in enumerate(rail.platform_line) if ln == line]
        rides = [(u, v, length) for u, v, length, k in zip(rail.u, rail.v, rail.length_m, rail.kind, strict=True)
                 if k == "ride" and u in plats and v == u + 1]
        expect = [s.length_m if s.quality == "routed" else s.straight_m * circuity for s in routed[line]]
        assert [length for _, _, length in rides] == pytest.approx(expect)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    cfg = defaults()
    return LayerRegistry(cfg["LAYERS_DIR"], cfg["DATA_DIR"], cfg["REFERENCE_DATA"], tmp_path_factory.mktemp("c"))


def test_the_rail_layer_draws_the_routed_alignment(registry):
    lines = registry.frame("rail_lines")
    simei = lines[lines.line_zh == "四梅铁路"]
    assert len(simei) == 1 and len(simei.geometry.iloc[0].coords) > 60
    km = float(simei.to_crs("EPSG:32651").length.iloc[0]) / 1000.0
    assert abs(km - SIMEI_PUBLISHED_KM) / SIMEI_PUBLISHED_KM < 0.10
    assert simei.line_length_km.iloc[0] == pytest.approx(km, abs=0.1)  # drawn = routed track length
    assert set(lines.quality) == {"surveyed (VMAP0 1:1M)", "schematic"}
    assert registry.summary("rail_lines")["quality"] == "surveyed (VMAP0 1:1M), partly schematic"
    assert "Rail tracks: VMAP0 (NGA, public domain) via DIVA-GIS" in registry.attributions()
    # runs of a line join up: each starts where the previous one ended
    shenji = lines[lines.line_zh == "沈吉铁路"].geometry.tolist()
    for a, b in zip(shenji[:-1], shenji[1:], strict=True):
        assert a.coords[-1] == pytest.approx(b.coords[0])


def test_the_review_measures_to_the_routed_alignment(registry):
    lines = registry.frame("rail_lines")
    simei = lines[lines.line_zh == "四梅铁路"].geometry.iloc[0]
    chords = gpd.read_file(REFERENCE / tracks.LINES_FILE).to_crs("EPSG:32651").union_all()
    verts = [Point(c) for c in simei.coords]
    far = max(verts, key=lambda p: chords.distance(Point(to_metric(np.array(p.coords))[0])))
    assert chords.distance(Point(to_metric(np.array(far.coords))[0])) > 2000  # the chord misses this point
    layers = {n: registry.frame(n) for n in ("towns", "parks", "logistics", "stations", "rail_lines", "roads",
                                             "boundary", "places")}
    rep = review_site(far, project=None, sector=None, layers=layers, graph=None, rules=load_rules(), dem_path=None,
                      changchun=(125.32278, 43.88), centre=(125.67876, 42.52869))
    f = {x["key"]: x for x in rep["findings"]}["rail_line_distance"]
    assert f["value"] < 10 and "VMAP0" in f["note_en"] and f["detail"]["quality"] == "surveyed (VMAP0 1:1M)"


def test_tracks_and_derived_files_are_not_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "tracks_vmap0" not in tracked and "rail-tracks-" not in tracked
    ignored = subprocess.run(["git", "check-ignore", "-q", ".cache/rail-tracks-0.pkl"], cwd=ROOT)
    assert ignored.returncode == 0


def test_multilinestrings_and_points_in_the_track_file_are_handled():
    parts = shapely.MultiLineString([[(0, 0), (1000, 0)], [(1000, 0), (1000, 1000)]])
    g = build_track_graph([parts, Point(5, 5)], 75.0)
    assert track_km(g, (0, 0), (1000, 1000)) == pytest.approx(2.0)
