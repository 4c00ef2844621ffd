"""Confidence of travel times (#17 §1): minutes off the network per cell and the low-confidence share."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from geo_app.analysis.accessibility import reach_table
from geo_app.analysis.isochrones import isochrones, low_confidence_area
from geo_app.analysis.surface import confidence_rule, travel_time_surface
from geo_app.network.graph import TravelGraph, assemble, build_graph
from geo_app.network.offnet import tree_sums
from geo_app.network.rail import build_rail_network, read_services
from geo_app.network.road_network import RoadNetwork
from geo_app.network.roads import load_model, to_metric

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
CHANGCHUN = (125.32278, 43.88)
MEIHEKOU = (125.67876, 42.52869)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> TravelGraph:
    return build_graph(DATA, REFERENCE, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def frames() -> dict[str, gpd.GeoDataFrame]:
    return {name: gpd.read_file(DATA / f"{name}.geojson") for name in ("towns", "boundary", "town_points")}


def grid_network(spacing_km: float, graph: TravelGraph) -> TravelGraph:
    """A synthetic road grid over the county (4-neighbour, both ways, 60 km/h) with a chain of nodes to Changchun.

    The shipped rail network is joined as usual, so the graph has every mode.
    """
    west, south, east, north = graph.county_bounds
    lat_step, lon_step = spacing_km / 111.0, spacing_km / (111.0 * np.cos(np.radians(42.6)))
    lons = np.arange(west - 0.03, east + 0.03 + lon_step, lon_step)
    lats = np.arange(south - 0.03, north + 0.03 + lat_step, lat_step)
    grid = np.array([(x, y) for y in lats for x in lons])
    nx = len(lons)
    top = (len(lats) - 1) * nx + int(np.argmin(np.abs(lons - CHANGCHUN[0])))
    steps = int(np.ceil((CHANGCHUN[1] - lats[-1]) / lat_step))
    chain = np.linspace(grid[top], CHANGCHUN, steps + 1)[1:]
    lonlat = np.concatenate([grid, chain])
    edges = [(r * nx + c, r * nx + c + 1) for r in range(len(lats)) for c in range(nx - 1)]
    edges += [(r * nx + c, (r + 1) * nx + c) for r in range(len(lats) - 1) for c in range(nx)]
    ids = [top, *range(len(grid), len(lonlat))]
    edges += list(zip(ids[:-1], ids[1:], strict=True))
    e = np.array(edges + [(b, a) for a, b in edges], dtype=np.int64)
    xy = to_metric(lonlat)
    length = np.hypot(*(xy[e[:, 1]] - xy[e[:, 0]]).T)
    road = RoadNetwork(lonlat, tuple(f"g{i}" for i in range(len(lonlat))), e[:, 0], e[:, 1], length,
                       length / (60 / 3.6), "trunk")
    params = load_model(DATA / "routes" / "model.toml")
    rail = build_rail_network(REFERENCE, DATA / "routes" / "services.csv", params)
    out = assemble(road, rail, params, tuple(read_services(DATA / "routes" / "services.csv")))
    object.__setattr__(out, "county_bounds", graph.county_bounds)
    return out


@pytest.fixture(scope="module")
def dense(graph) -> TravelGraph:
    return grid_network(2.5, graph)


@pytest.fixture(scope="module")
def sparse(graph) -> TravelGraph:
    return grid_network(12.0, graph)


def county_row(g: TravelGraph, frames, to=CHANGCHUN, mode="best", cell=500):
    surface, table = reach_table(g, frames["towns"], frames["boundary"], to_lonlat=to, mode=mode, minutes=120,
                                 cell_m=cell)
    return surface, table.iloc[-1]


def test_threshold_comes_from_the_model_table(graph):
    assert confidence_rule(graph.params) == (15.0, 0.5)
    entry = graph.params["confidence"]["offnet_max_min"]
    assert {"value", "unit", "label_zh", "label_en", "source", "assumption"} <= set(entry)
    assert any(a["key"] == "confidence.offnet_max_min" for a in graph.assumptions())


def test_every_surface_knows_its_offnet_minutes(graph):
    for mode in ("car", "rail", "best"):
        s = travel_time_surface(graph, MEIHEKOU, mode=mode, direction="from", cell_m=1000, max_minutes=120)
        assert s.offnet is not None and s.offnet.shape == s.minutes.shape and s.offnet.dtype == np.float32
        reached = np.isfinite(s.minutes)
        assert np.array_equal(np.isfinite(s.offnet), reached)  # NaN exactly where the time is
        assert (s.offnet[reached] >= 0).all()
        assert (s.offnet[reached] <= s.minutes[reached] + 1e-3).all()  # a part of the trip, never more
        low = s.low_confidence
        most, share = s.confidence
        expect = reached & ((np.nan_to_num(s.offnet) > most) | (np.nan_to_num(s.offnet) > share * s.minutes))
        assert np.array_equal(low, expect)


def test_offnet_of_a_cell_is_its_egress_plus_the_trip_from_the_origin(graph):
    """A cell's off-network minutes = its own leg to the chosen node + the origin's leg (+ station links)."""
    s = travel_time_surface(graph, MEIHEKOU, mode="car", direction="from", cell_m=1000, max_minutes=240)
    t, off = graph.one_to_all_offnet(MEIHEKOU, mode="car", direction="from")
    rng = np.random.default_rng(7)
    rows, cols = np.nonzero(np.isfinite(s.minutes))
    for i in rng.choice(len(rows), 40, replace=False):
        r, c = rows[i], cols[i]
        x, y = s.transform @ (c + 0.5, r + 0.5)
        idx, acc = graph.snap_xy(np.array([[x, y]]), 4)
        total = t[idx[0]] + acc[0]
        j = int(np.argmin(total))
        d = float(np.hypot(*(to_metric(np.array([MEIHEKOU]))[0] - (x, y))))
        direct = graph.access_seconds(d) if d <= graph.access_limit_m else np.inf
        if direct < total[j]:  # the direct off-network trip: all of it off the network
            assert s.offnet[r, c] == pytest.approx(s.minutes[r, c], abs=0.02)
        else:
            assert s.offnet[r, c] == pytest.approx((off[idx[0][j]] + acc[0][j]) / 60, abs=0.02)


def test_table_and_search_agree_on_offnet(graph):
    """The all-pairs path sums and the per-search path sums (graphs without a table) give one answer."""
    for mode in ("car", "rail", "best"):
        for direction in ("from", "to"):
            t1, off1 = graph.one_to_all_offnet(CHANGCHUN, mode=mode, direction=direction)
            bare = replace(graph.modes[mode], table=None, offnet=None)
            g2 = replace(graph, modes={**graph.modes, mode: bare})
            t2, off2 = g2.one_to_all_offnet(CHANGCHUN, mode=mode, direction=direction)
            ok = np.isfinite(t1)
            assert np.allclose(t1[ok], t2[ok], atol=0.01) and np.array_equal(ok, np.isfinite(t2))
            assert np.allclose(off1[ok], off2[ok], atol=1e-2)
    # rail trips reach stations over forecourt access links: those count as off the network
    _t, off = graph.one_to_all_offnet(CHANGCHUN, mode="rail", direction="to")
    assert np.nanmax(np.where(np.isfinite(_t), off, np.nan)) > 0


def test_tree_sums_by_pointer_doubling():
    # 0 is the root (start offset 5), 1 and 3 hang off it, 2 off 1, 4 off 3; 5 is unreached
    pred = np.array([-1, 0, 1, 0, 3, -1])
    step = np.array([5.0, 1.0, 2.0, 0.0, 7.0, 0.0])
    assert tree_sums(pred, step).tolist() == [5.0, 6.0, 8.0, 5.0, 12.0, 0.0]
    rows = tree_sums(np.stack([pred, pred]), np.stack([step, 2 * step]))
    assert rows[1].tolist() == [10.0, 12.0, 16.0, 10.0, 24.0, 0.0]


def test_share_low_confidence_in_the_reach_table(graph, frames):
    _surface, table = reach_table(graph, frames["towns"], frames["boundary"], to_lonlat=CHANGCHUN, minutes=120)
    county = table.iloc[-1]
    assert 0 < county["share_low_confidence"] <= 1
    assert county["share_low_confidence"] + county["share_beyond_limit"] <= 1 + 1e-9
    for _, row in table.iterrows():
        v = row["share_low_confidence"]
        assert v is None if row["status"] != "ok" else 0 <= v <= 1


def test_share_is_zero_on_a_dense_network_and_drops_as_the_network_densifies(graph, dense, sparse, frames):
    most, _share = confidence_rule(graph.params)
    s_dense, c_dense = county_row(dense, frames, to=CHANGCHUN)
    reached = np.isfinite(s_dense.minutes)
    assert np.nanmax(s_dense.offnet) < most  # no cell needs more than the threshold off the network
    assert c_dense["share_low_confidence"] == 0
    _s, c_sparse = county_row(sparse, frames, to=CHANGCHUN)
    _s, c_trunk = county_row(graph, frames, to=CHANGCHUN)
    assert 0 < c_sparse["share_low_confidence"] < c_trunk["share_low_confidence"] <= 1
    assert reached.any()


def test_isochrones_carry_the_low_confidence_share(graph):
    s = travel_time_surface(graph, MEIHEKOU, mode="best", direction="from", cell_m=500, max_minutes=120)
    iso = isochrones(s, [30, 60, 90, 120])
    shares = iso["share_low_confidence"].tolist()
    assert all(0 <= v <= 1 for v in shares)
    with np.errstate(invalid="ignore"):
        inside = s.minutes <= 120
    assert shares[-1] == pytest.approx((inside & s.low_confidence).sum() / inside.sum(), abs=1e-4)
    area = low_confidence_area(s, 120)
    assert area is not None and area.geom_type in ("Polygon", "MultiPolygon")
    assert area.within(iso.geometry.iloc[-1].buffer(1e-6))  # low-confidence cells of the largest contour


def test_reach_api_reports_share_low_confidence(client):
    body = client.get("/api/reach").get_json()
    county = body["rows"][-1]
    assert county["level"] == "county"
    assert body["share_low_confidence"] == county["share_low_confidence"]
    assert 0 < body["share_low_confidence"] <= 1
    assert body["low_confidence"] == {"share": county["share_low_confidence"], "offnet_max_min": 15.0,
                                      "offnet_max_share": 0.5}
    for row in body["rows"]:
        assert row["share_low_confidence"] is None or 0 <= row["share_low_confidence"] <= 1


def test_reach_tif_has_an_offnet_band(client):
    r = client.get("/api/reach.tif")
    assert r.status_code == 200
    with rasterio.open(io.BytesIO(r.data)) as ds:
        assert ds.count == 2 and ds.descriptions == ("minutes", "offnet_minutes")
        minutes, offnet = ds.read(1), ds.read(2)
        assert float(ds.tags(2)["low_confidence_max_min"]) == 15.0
    ok = np.isfinite(minutes)
    assert np.array_equal(ok, np.isfinite(offnet)) and (offnet[ok] <= minutes[ok] + 1e-3).all()
    assert (offnet[ok] > 15).mean() > 0.5  # most of the county rests on the off-network leg today


def test_isochrone_api_has_a_low_confidence_member(client):
    body = client.get("/api/isochrones?lon=125.68&lat=42.53").get_json()
    low = body["low_confidence"]
    assert low["type"] == "Feature" and low["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert low["properties"]["share"] == body["features"][-1]["properties"]["share_low_confidence"]
    assert len(body["features"]) == 4  # the contours are unchanged: one feature per requested minute


def test_siting_review_reports_the_offnet_minutes_of_its_trip(planner_client):
    r = planner_client.post("/api/reviews", json={"geometry": {"type": "Point", "coordinates": [125.68, 42.53]}})
    findings = {f["key"]: f for f in r.get_json()["findings"]}
    for mode in ("car", "rail", "best"):
        detail = findings[f"changchun_{mode}"]["detail"]
        assert 0 <= detail["offnet_min"] <= findings[f"changchun_{mode}"]["value"]
        assert isinstance(detail["low_confidence"], bool)
        assert f"{detail['offnet_min']:g}" in findings[f"changchun_{mode}"]["note_en"]
    assert "网外" in findings["changchun_rail"]["note_zh"]


def test_scenario_summary_has_low_confidence_shares(client):
    body = client.get("/api/scenarios/fast_rail_changchun/compare").get_json()
    for k in ("before", "after"):
        assert 0 <= body["summary"][f"share_low_confidence_{k}"] <= 1
