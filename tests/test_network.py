"""Engine network tests on the shipped data (no internet)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from geo_app.errors import DataFileError, NoNetworkNearby, ValidationError
from geo_app.network.graph import TravelGraph, assemble, build_graph, load_graph, make_csr
from geo_app.network.rail import build_rail_network
from geo_app.network.roads import build_osm_graph, load_graphml_network, load_model, parse_maxspeed

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
MEIHEKOU = (125.67876, 42.52869)  # road node 梅河口 (GeoNames), data/routes/road_nodes.csv
CHANGCHUN = (125.32278, 43.88)  # places.geojson destination="changchun"
FAR_AWAY = (128.0, 42.0)  # > 100 km from any node


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> TravelGraph:
    return build_graph(DATA, REFERENCE, cache_dir=tmp_path_factory.mktemp("cache"))


ORIGINS = [MEIHEKOU, (125.45, 42.40), (125.90, 42.80), (126.0, 43.0), (125.3, 43.3), (125.75, 42.28)]


def test_trunk_nodes_are_real_places(graph):
    nodes = gpd.read_file(DATA / "routes" / "road_nodes.csv")
    assert graph.n_road_nodes == len(nodes)
    assert graph.node_names[3] == "梅河口"
    assert np.allclose(graph.node_lonlat[3], MEIHEKOU)


def test_arrays_are_read_only(graph):
    arrays = [graph.node_lonlat, graph.node_xy, graph.platform_lonlat]
    for mg in graph.modes.values():
        arrays += [mg.fwd.data, mg.fwd.indices, mg.fwd.indptr, mg.rev.data, mg.fwd_len, mg.fwd_kind, mg.table]
    for a in arrays:
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 0


def test_one_to_all_shapes_and_directions(graph):
    fwd = graph.one_to_all(MEIHEKOU, mode="car", direction="from")
    rev = graph.one_to_all(CHANGCHUN, mode="car", direction="to")
    assert fwd.shape == (graph.n_road,) and rev.shape == (graph.n_road,)
    assert fwd[3] == pytest.approx(0, abs=1e-2)
    assert 105 * 60 <= fwd[0] <= 150 * 60
    assert rev[3] == pytest.approx(fwd[0], rel=1e-6)  # symmetric trunk roads


def without_tables(graph: TravelGraph) -> TravelGraph:
    """The same graph with the all-pairs tables dropped, so every query runs Dijkstra."""
    return replace(graph, modes={m: replace(mg, table=None) for m, mg in graph.modes.items()})


def test_shipped_mode_graphs_carry_an_all_pairs_table(graph):
    for mg in graph.modes.values():
        assert mg.table.shape == (mg.n, mg.n)
        assert np.array_equal(mg.table, dijkstra(mg.fwd, directed=True))


@pytest.mark.parametrize("mode", ["car", "rail", "best"])
@pytest.mark.parametrize("direction", ["from", "to"])
def test_table_lookup_equals_dijkstra(graph, mode, direction):
    plain = without_tables(graph)
    rng = np.random.default_rng(7)
    for origin in ORIGINS:
        for limit in (None, 45 * 60.0, 120 * 60.0):
            a = graph.one_to_all(origin, mode=mode, direction=direction, limit_s=limit)
            b = plain.one_to_all(origin, mode=mode, direction=direction, limit_s=limit)
            assert np.array_equal(np.isinf(a), np.isinf(b))
            assert np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=0.01)
    for _ in range(20):  # arbitrary node sets and offsets, single and multiple sources
        nodes = rng.choice(graph.n_road, size=rng.integers(1, 5), replace=False)
        offsets = rng.uniform(0, 3600, len(nodes))
        a = graph.from_nodes(nodes, offsets, mode=mode, direction=direction, limit_s=5400.0)
        b = plain.from_nodes(nodes, offsets, mode=mode, direction=direction, limit_s=5400.0)
        assert np.array_equal(np.isinf(a), np.isinf(b))
        assert np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=0.01)


def test_from_nodes_offset_beyond_limit_reaches_nothing(graph):
    for g in (graph, without_tables(graph)):
        t = g.from_nodes(np.array([3]), np.array([600.0]), mode="car", direction="from", limit_s=300.0)
        assert np.isinf(t).all()


def test_limit_makes_far_nodes_inf(graph):
    t = graph.one_to_all(MEIHEKOU, mode="car", direction="from", limit_s=30 * 60)
    assert np.isinf(t[0]) and np.isfinite(t[3])


def test_rail_never_beats_best_and_car_never_beats_best(graph):
    for o in ORIGINS:
        for direction in ("from", "to"):
            best = graph.one_to_all(o, mode="best", direction=direction)
            rail = graph.one_to_all(o, mode="rail", direction=direction)
            car = graph.one_to_all(o, mode="car", direction=direction)
            assert np.all(rail >= best - 1e-6)
            assert np.all(car >= best - 1e-6)


def test_rail_mode_uses_a_train(graph):
    rail = graph.one_to_all(MEIHEKOU, mode="rail", direction="from")
    car = graph.one_to_all(MEIHEKOU, mode="car", direction="from")
    # even the origin node itself needs a round trip by train in rail mode
    assert rail[3] > car[3] + 20 * 60


def test_snap_shapes_and_limit(graph):
    idx, acc = graph.snap(np.array([MEIHEKOU, FAR_AWAY]))
    k = graph.params["access"]["k"]["value"]
    assert idx.shape == (2, k) and acc.shape == (2, k)
    assert acc[0, 0] == pytest.approx(0, abs=1e-6)
    assert np.isinf(acc[1]).all()


def test_direct_snap_equals_kd_tree(graph):
    """Small snaps measure distances directly; they must agree with the KD-tree query."""
    rng = np.random.default_rng(3)
    near = graph.node_xy[rng.integers(0, graph.n_road, 300)] + rng.normal(0, graph.access_limit_m, (300, 2))
    xy = np.concatenate([near, graph.node_xy[:5]])  # exactly on nodes too
    k = 4
    found_any = 0
    for point in xy:
        idx, acc = graph.snap_xy(point[None, :], k)  # 1 point x ~100 nodes: the direct path
        dist, tidx = graph.tree.query(point, k=k, distance_upper_bound=graph.access_limit_m)
        found = tidx < graph.n_road
        assert np.array_equal(np.isfinite(acc[0]), found)
        assert np.array_equal(idx[0][found], tidx[found])
        assert np.allclose(acc[0][found], graph.access_seconds(dist[found]))
        found_any += found.any()
    assert 50 < found_any < len(xy)  # both outcomes are exercised
    many_idx, many_acc = graph.snap_xy(xy, k)  # 305 points x ~100 nodes: the KD-tree path
    one_by_one = [graph.snap_xy(p[None], k) for p in xy]
    one_idx, one_acc = np.vstack([i for i, _ in one_by_one]), np.vstack([a for _, a in one_by_one])
    assert np.array_equal(many_idx, one_idx) and np.allclose(many_acc, one_acc)


def test_no_network_nearby(graph):
    with pytest.raises(NoNetworkNearby, match=r"no road within 30000 m"):
        graph.one_to_all(FAR_AWAY, mode="car", direction="from")


def test_bad_mode_and_direction(graph):
    with pytest.raises(ValidationError):
        graph.one_to_all(MEIHEKOU, mode="plane", direction="from")
    with pytest.raises(ValidationError):
        graph.one_to_all(MEIHEKOU, mode="car", direction="sideways")


def test_assumptions_panel(graph):
    items = graph.assumptions()
    keys = {a["key"] for a in items}
    for key in ("road.speed_kmh.expressway", "road.circuity.national", "access.limit_m", "rail.transfer_min",
                "rail.speed_kmh.high_speed", "data_quality.trunk_roads"):
        assert key in keys
    assert any(k.startswith("services.") and k.endswith("headway_min") for k in keys)
    for a in items:
        assert {"label_zh", "label_en", "value", "unit", "source", "assumption"} <= set(a)
        assert isinstance(a["assumption"], bool)


def test_model_toml_every_value_flagged():
    params = load_model(DATA / "routes" / "model.toml")

    def walk(node):
        for item in node.values():
            if isinstance(item, dict) and "value" in item:
                assert "assumption" in item and "source" in item
            elif isinstance(item, dict):
                walk(item)

    walk(params)


def test_services_rows_are_assumptions():
    import csv

    with open(DATA / "routes" / "services.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["assumption"] == "true" for r in rows)
    assert set(rows[0]) == {"line", "from_station", "to_station", "minutes", "speed_kmh", "headway_min",
                            "source", "assumption"}


def test_rail_transfer_at_shared_stations():
    rail = build_rail_network(REFERENCE, DATA / "routes" / "services.csv", load_model(DATA / "routes" / "model.toml"))
    jilin = [i for i, n in enumerate(rail.station_names) if n == "吉林"]
    assert len(jilin) == 1
    plats = np.flatnonzero(rail.platform_station == jilin[0])
    assert {rail.platform_line[p] for p in plats} == {"沈吉铁路", "长吉城际铁路"}
    assert "transfer" in rail.kind


def test_pair_minutes_override(tmp_path):
    import shutil

    shutil.copy(DATA / "routes" / "model.toml", tmp_path / "model.toml")
    (tmp_path / "services.csv").write_text(
        "line,from_station,to_station,minutes,speed_kmh,headway_min,source,assumption\n"
        "长吉城际铁路,,,,200,30,test,true\n长吉城际铁路,长春,龙嘉,7,,,test,true\n"
        "沈吉铁路,,,,60,120,t,true\n四梅铁路,,,,60,180,t,true\n梅集铁路,,,,60,180,t,true\n"
        "哈大高速铁路,,,,200,30,t,true\n", encoding="utf-8")
    rail = build_rail_network(REFERENCE, tmp_path / "services.csv", load_model(tmp_path / "model.toml"))
    assert 7 * 60 in set(np.round(rail.time_s, 6))


def test_reference_rail_not_copied_into_repo():
    tracked = [p for p in (ROOT / "data").rglob("*") if p.name in ("lines.geojson", "stations.geojson")]
    assert tracked == []


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_adding_a_faster_link_never_increases_any_time(graph, data):
    mg = graph.modes["best"]
    coo = mg.fwd.tocoo()
    n = mg.n
    base = dijkstra(mg.fwd, indices=[0, 3, 8])
    u = data.draw(st.integers(0, n - 1))
    v = data.draw(st.integers(0, n - 1))
    w = data.draw(st.floats(1.0, 1e5))
    uu, vv = np.append(coo.row, u), np.append(coo.col, v)
    ww = np.append(coo.data, w)
    csr, _, _ = make_csr(n, uu, vv, ww, np.zeros(len(uu)), np.zeros(len(uu), dtype=np.int8))
    new = dijkstra(csr, indices=[0, 3, 8])
    assert np.all(new <= base + 1e-6)


def test_make_csr_keeps_fastest_parallel_edge():
    csr, length, kind = make_csr(2, np.array([0, 0]), np.array([1, 1]), np.array([50.0, 20.0]),
                                 np.array([1.0, 2.0]), np.array([0, 1], dtype=np.int8))
    assert csr.nnz == 1 and csr.data[0] == 20.0 and length[0] == 2.0 and kind[0] == 1


def test_osm_fixture_build_and_load(tmp_path):
    params = load_model(DATA / "routes" / "model.toml")
    out = build_osm_graph(ROOT / "tests" / "data" / "small.osm", tmp_path / "roads.graphml", params=params)
    net = load_graphml_network(out)
    assert net.source == "osm"
    assert 5 <= len(net.lonlat) <= 12  # footway node dropped, simplified
    assert (net.time_s > 0).all() and (net.length_m > 0).all()
    lon, lat = net.lonlat[:, 0], net.lonlat[:, 1]
    assert ((125.6 <= lon) & (lon <= 125.7) & (42.5 <= lat) & (lat <= 42.55)).all()
    # rebuilding from the graphml gives the same edges
    again = load_graphml_network(build_osm_graph(out, tmp_path / "again.graphml", params=params))
    assert len(again.u) == len(net.u)


def test_osm_graph_becomes_the_road_source(tmp_path):
    params = load_model(DATA / "routes" / "model.toml")
    out = build_osm_graph(ROOT / "tests" / "data" / "small.osm", tmp_path / "roads.graphml", params=params)
    g = build_graph(DATA, REFERENCE, roads_graphml=out)
    assert g.road_source == "osm"
    t = g.one_to_all((125.62, 42.51), mode="car", direction="from")
    assert np.isfinite(t[: g.n_road_nodes]).sum() >= 3
    assert not any(a["key"].startswith("road.") for a in g.assumptions())


def test_missing_graphml_is_a_data_error():
    with pytest.raises(DataFileError):
        build_graph(DATA, REFERENCE, roads_graphml=Path("/nonexistent/roads.graphml"))


def test_load_graph_from_config(tmp_path):
    g = load_graph({"DATA_DIR": DATA, "REFERENCE_DATA": REFERENCE, "CACHE_DIR": tmp_path, "ROADS_GRAPHML": None})
    assert isinstance(g, TravelGraph)
    assert list(tmp_path.glob("rail-*.pkl"))  # derived rail cache goes to CACHE_DIR
    g2 = load_graph({"DATA_DIR": DATA, "REFERENCE_DATA": REFERENCE, "CACHE_DIR": tmp_path})
    assert g2.modes["best"].fwd.nnz == g.modes["best"].fwd.nnz


def test_parse_maxspeed():
    assert parse_maxspeed("60") == 60
    assert parse_maxspeed("30 mph") == pytest.approx(48.28, rel=1e-3)
    assert parse_maxspeed(["50", "80"]) == 50
    assert parse_maxspeed("signals") is None and parse_maxspeed(None) is None


def test_assemble_is_pure(graph):
    from geo_app.network.rail import build_rail_network as brn
    from geo_app.network.roads import build_trunk_network

    params = load_model(DATA / "routes" / "model.toml")
    g = assemble(build_trunk_network(DATA / "routes", params),
                 brn(REFERENCE, DATA / "routes" / "services.csv", params), params)
    assert g.modes["rail"].fwd.nnz == graph.modes["rail"].fwd.nnz


def test_engine_and_importer_modules_never_import_flask():
    pattern = re.compile(r"^\s*(import flask|from flask)", re.M)
    for sub in ("network", "analysis", "importer"):
        for path in (ROOT / "geo_app" / sub).rglob("*.py"):
            assert not pattern.search(path.read_text(encoding="utf-8")), path
