"""Sensitivity to the assumptions (#17 §2): parameter variants, bounds, the sensitivity table."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_app.analysis.accessibility import reach_table
from geo_app.analysis.sensitivity import COLUMNS, county_figures, sensitivity_table
from geo_app.errors import ValidationError
from geo_app.network.graph import TravelGraph, build_graph
from geo_app.network.params import OSM_CLASSES, TRUNK_CLASSES, declared, editable, parse_params
from geo_app.network.variants import with_params

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
CHANGCHUN = (125.32278, 43.88)
MEIHEKOU = (125.67876, 42.52869)
KW = {"to_lonlat": CHANGCHUN, "mode": "best", "minutes": 120, "cell_m": 500}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> TravelGraph:
    return build_graph(DATA, REFERENCE, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def boundary() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "boundary.geojson")


def share(graph, boundary, **over) -> float:
    return county_figures(with_params(graph, over), boundary, **KW)["share_area_within"]


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(min_value=20, max_value=50, allow_nan=False), min_size=2, max_size=4))
def test_two_hour_share_is_monotone_in_access_speed(graph, boundary, speeds):
    speeds = sorted(speeds)
    shares = [share(graph, boundary, access_kmh=v) for v in speeds]
    assert all(a <= b for a, b in zip(shares, shares[1:], strict=False)), (speeds, shares)


def test_share_over_the_issue_speeds(graph, boundary):
    shares = [share(graph, boundary, access_kmh=v) for v in (20, 30, 40, 50)]
    assert shares == sorted(shares) and shares[0] < shares[-1]
    assert shares[1] == share(graph, boundary)  # 30 km/h is the model's value


def test_default_is_the_model(graph, boundary):
    assert with_params(graph, {}) is graph
    assert with_params(graph, {"access_kmh": 30, "circuity": 1.3, "station_entry_min": 10}) is graph
    assert with_params(graph, {"speed_expressway": 100}) is graph
    s0, t0 = reach_table(graph, gpd.GeoDataFrame(geometry=[]), boundary, **KW)
    s1, t1 = reach_table(with_params(graph, {"access_kmh": 30.0}), gpd.GeoDataFrame(geometry=[]), boundary, **KW)
    assert np.array_equal(s0.minutes, s1.minutes, equal_nan=True)


def test_sensitivity_table_has_one_row_per_assumption(graph, boundary):
    rows = sensitivity_table(graph, boundary, **KW)
    names = [r["parameter"] for r in rows]
    assert sorted(names) == sorted(p.name for p in editable(graph)) and len(set(names)) == len(names)
    assert {"access_kmh", "circuity", "station_entry_min", "wait_min", "speed_expressway"} <= set(names)
    model = share(graph, boundary)
    for r in rows:
        assert set(r) == set(COLUMNS)
        assert r["share_model"] == model
        assert r["spread"] == pytest.approx(max(r["share_low"], r["share_model"], r["share_high"])
                                            - min(r["share_low"], r["share_model"], r["share_high"]), abs=1e-4)
        assert r["label_zh"] and r["label_en"]
    spreads = [r["spread"] for r in rows]
    assert spreads == sorted(spreads, reverse=True)  # the deciding assumption first
    access = next(r for r in rows if r["parameter"] == "access_kmh")
    assert (access["low"], access["model"], access["high"]) == (20.0, 30.0, 40.0)
    assert access["share_low"] <= access["share_model"] <= access["share_high"]
    assert next(r for r in rows if r["parameter"] == "wait_min")["model"] is None  # half the headway


def test_variants_never_touch_the_base_graph(graph):
    before = {m: (mg.fwd.data.copy(), mg.table.copy()) for m, mg in graph.modes.items()}
    t0 = graph.one_to_all(MEIHEKOU, mode="rail", direction="from").copy()
    v = with_params(graph, {"access_kmh": 45, "station_entry_min": 0, "wait_min": 0, "speed_expressway": 120})
    assert v is not graph and v.params["access"]["speed_kmh"]["value"] == 45
    assert graph.params["access"]["speed_kmh"]["value"] == 30
    for m, mg in graph.modes.items():
        assert np.array_equal(mg.fwd.data, before[m][0]) and np.array_equal(mg.table, before[m][1])
        assert not v.modes[m].fwd.data.flags.writeable and not v.modes[m].table.flags.writeable
    assert np.array_equal(graph.one_to_all(MEIHEKOU, mode="rail", direction="from"), t0)
    assert (v.one_to_all(MEIHEKOU, mode="rail", direction="from") <= t0 + 1e-6).all()
    assert with_params(graph, {"access_kmh": 45, "station_entry_min": 0, "wait_min": 0,
                               "speed_expressway": 120}) is v  # cached


def test_each_parameter_moves_the_edges_it_names(graph):
    car0 = graph.one_to_all(MEIHEKOU, mode="car", direction="from")
    rail0 = graph.one_to_all(MEIHEKOU, mode="rail", direction="from")
    # the national roads run beside expressways: faster than those they take the trips (a parallel edge wins)
    fast_national = with_params(graph, {"speed_national": 115}).one_to_all(MEIHEKOU, mode="car", direction="from")
    assert (fast_national <= car0 + 1e-6).all() and (fast_national < car0 - 60).any()
    slow_express = with_params(graph, {"speed_expressway": 60}).one_to_all(MEIHEKOU, mode="car", direction="from")
    assert (slow_express >= car0 - 1e-6).all() and (slow_express > car0 + 60).any()
    board = with_params(graph, {"station_entry_min": 0, "wait_min": 0}).one_to_all(MEIHEKOU, mode="rail",
                                                                                   direction="from")
    assert (board < rail0 - 60).any()
    longer = with_params(graph, {"wait_min": 120}).one_to_all(MEIHEKOU, mode="rail", direction="from")
    assert (longer >= rail0 - 1e-6).all()
    # the car mode has no boarding: rail parameters leave it alone
    car_rail_params = with_params(graph, {"station_entry_min": 30}).one_to_all(MEIHEKOU, mode="car",
                                                                              direction="from")
    assert np.allclose(car_rail_params, car0)


def test_variants_share_the_grid_snaps_of_their_parent(graph):
    from geo_app.analysis.surface import travel_time_surface

    travel_time_surface(graph, MEIHEKOU, mode="car", direction="from", cell_m=750, max_minutes=60)
    tiles = sum(1 for k in graph.cache._items if isinstance(k, tuple) and k[:1] == ("tile",))
    v = with_params(graph, {"access_kmh": 33.3})
    s = travel_time_surface(v, MEIHEKOU, mode="car", direction="from", cell_m=750, max_minutes=60)
    assert sum(1 for k in graph.cache._items if isinstance(k, tuple) and k[:1] == ("tile",)) == tiles
    base = travel_time_surface(graph, MEIHEKOU, mode="car", direction="from", cell_m=750, max_minutes=60)
    ok = np.isfinite(base.minutes) & np.isfinite(s.minutes)
    assert (s.minutes[ok] <= base.minutes[ok] + 1e-3).all() and (s.minutes[ok] < base.minutes[ok] - 0.1).any()


def test_variant_cache_is_bounded(tmp_path):
    g = build_graph(DATA, REFERENCE, cache_dir=tmp_path)
    g.cache.configure(max_entries=5)
    for v in np.linspace(21, 49, 12):
        with_params(g, {"access_kmh": float(v)})
    assert len(g.cache) <= 5
    assert g.cache.nbytes <= g.cache.max_bytes


def test_parse_params_bounds():
    params = tomllib.loads((DATA / "routes" / "model.toml").read_text(encoding="utf-8"))
    assert parse_params({"access_kmh": "40", "speed_county": 55, "mode": "car", "wait_min": ""}, params) == {
        "access_kmh": 40.0, "speed_county": 55.0}
    for p in declared(params):
        for bad in (p.lo - 1, p.hi + 1):
            with pytest.raises(ValidationError) as exc:
                parse_params({p.name: str(bad)}, params)
            assert exc.value.field == p.name
            msg = exc.value.localized("en")
            assert p.name in msg and f"{p.lo:g}" in msg and f"{p.hi:g}" in msg
    for bad in ("NaN", "inf", "1e400", "abc", "３０"):
        with pytest.raises(ValidationError):
            parse_params({"access_kmh": bad}, params)
    assert {p.name.removeprefix("speed_") for p in declared(params) if p.name.startswith("speed_")} == set(
        TRUNK_CLASSES + OSM_CLASSES) == set(params["road"]["speed_kmh"]) | set(params["osm"]["speed_kmh"])


@pytest.mark.parametrize("path", ["/api/reach", "/api/reach.tif", "/api/isochrones?lon=125.68&lat=42.53",
                                  "/api/scenarios/fast_rail_changchun/compare"])
def test_api_refuses_values_outside_the_bounds(client, path):
    sep = "&" if "?" in path else "?"
    for name, bad, bound in (("access_kmh", "81", "80"), ("circuity", "0.9", "1"), ("station_entry_min", "-1", "60"),
                             ("wait_min", "181", "180"), ("speed_expressway", "200", "120")):
        r = client.get(f"{path}{sep}{name}={bad}")
        assert r.status_code == 400, (path, name)
        err = r.get_json()["error"]
        assert err["field"] == name and name in err["message"] and bound in err["message"]
    r = client.get(f"{path}{sep}access_kmh=81", headers={"Accept-Language": "zh"})
    assert "须在" in r.get_json()["error"]["message"]


def test_api_takes_the_parameters(client):
    base = client.get("/api/reach").get_json()
    fast = client.get("/api/reach?speed_expressway=120&access_kmh=40").get_json()
    assert fast["params"] == {"access_kmh": 40.0, "speed_expressway": 120.0} and base["params"] == {}
    assert fast["rows"][-1]["share_area_within"] > base["rows"][-1]["share_area_within"]
    same = client.get("/api/reach?access_kmh=30").get_json()
    assert same["rows"] == base["rows"]
    iso0 = client.get("/api/isochrones?lon=125.68&lat=42.53").get_json()
    iso1 = client.get("/api/isochrones?lon=125.68&lat=42.53&access_kmh=50").get_json()
    assert iso1["params"] == {"access_kmh": 50.0}
    assert [f["properties"]["area_km2"] for f in iso1["features"]] > [f["properties"]["area_km2"]
                                                                     for f in iso0["features"]]
    post = client.post("/api/isochrones", json={"lon": 125.68, "lat": 42.53, "access_kmh": 50})
    assert post.get_json()["features"][0]["properties"] == iso1["features"][0]["properties"]
    csv0, csv1 = client.get("/api/reach.csv").data, client.get("/api/reach.csv?access_kmh=50").data
    assert csv0 != csv1


def test_scenario_compare_passes_the_parameters(client):
    base = client.get("/api/scenarios/fast_rail_changchun/compare").get_json()
    quick = client.get("/api/scenarios/fast_rail_changchun/compare?station_entry_min=0&wait_min=0").get_json()
    assert quick["params"] == {"station_entry_min": 0.0, "wait_min": 0.0}
    assert quick["summary"]["within_after_km2"] > base["summary"]["within_after_km2"]
    rows = {r["code"]: r for r in quick["rows"]}
    assert rows["220581"]["before"] < {r["code"]: r for r in base["rows"]}["220581"]["before"]


def test_openapi_declares_the_parameters_with_bounds(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/reach", "/api/reach.tif", "/api/reach.csv", "/api/isochrones",
                 "/api/scenarios/{name}/compare"):
        params = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
        assert params["access_kmh"] == {"type": "number", "minimum": 5.0, "maximum": 80.0}
        assert params["circuity"]["minimum"] == 1.0 and params["wait_min"]["maximum"] == 180.0
        assert {"speed_expressway", "speed_national", "speed_motorway"} <= set(params)
    body = spec["components"]["schemas"]["IsochroneInput"]["properties"]
    assert body["station_entry_min"] == {"type": "number", "minimum": 0.0, "maximum": 60.0}


def test_cli_reach_sensitivity(invoke, graph):
    r = invoke(["reach", "--sensitivity", "--format", "json", "--cell", "500"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert sorted(x["parameter"] for x in rows) == sorted(p.name for p in editable(graph))
    table = invoke(["reach", "--sensitivity", "--cell", "500"])
    assert table.exit_code == 0 and "access_kmh" in table.output and "接驳车速" in table.output
    csv = invoke(["reach", "--sensitivity", "--format", "csv", "--cell", "500"])
    assert csv.output.startswith("\ufeffparameter,") and "½ headway" in csv.output


def test_accessibility_page_shows_the_table_and_the_values_in_use(client):
    html = client.get("/accessibility?access_kmh=40&lang=en").get_data(as_text=True)
    assert 'id="sensitivity-table"' in html and html.count('class="sensitivity-row"') >= 5
    assert 'id="param-access_kmh"' in html and 'value="40"' in html
    assert 'id="assumption-changed"' in html and "Access speed (local roads) 40" in html
    assert "access_kmh=40" in html  # the mode tabs and downloads keep the values in use
    assert 'class="swatch hatch"' in html and "low-confidence" in html
    zh = client.get("/accessibility?lang=zh").get_data(as_text=True)
    assert "对假设的敏感性" in zh and 'id="assumption-changed"' not in zh
    assert client.get("/accessibility?circuity=5").status_code == 400


def test_osm_edges_follow_their_class_speed_unless_tagged(tmp_path):
    """An OSM network names each edge's class; edges timed by a maxspeed tag keep their time."""
    from geo_app.network.osm import build_osm_network, load_osm_network
    from geo_app.network.params import road_speed_classes
    from tests.test_osm_pbf import PARAMS, _write

    build_osm_network(_write(tmp_path / "tiny.osm.pbf"), tmp_path / "tiny.npz", data_dir=DATA, params=PARAMS,
                      clip="none", progress=False, spacing_m=0)
    net = load_osm_network(tmp_path / "tiny.npz")
    names, codes = road_speed_classes(net, PARAMS)
    kmh = net.length_m / net.time_s * 3.6
    for code, cls, speed in zip(codes, net.edge_class, kmh, strict=True):
        model = PARAMS["osm"]["speed_kmh"][net.classes[cls]]["value"]
        assert (code >= 0) == bool(np.isclose(speed, model, rtol=0.005))
        assert code < 0 or names[code] == net.classes[cls]
    g = build_graph(DATA, REFERENCE, network=tmp_path / "tiny.npz")
    assert "speed_residential" in {p.name for p in editable(g)}
    lonlat = tuple(g.node_lonlat[0])
    t0 = g.one_to_all(lonlat, mode="car", direction="from")
    t1 = with_params(g, {"speed_residential": 10}).one_to_all(lonlat, mode="car", direction="from")
    assert (t1 >= t0 - 1e-6).all() and (t1 > t0 + 1).any()
