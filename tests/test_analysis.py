"""Engine analysis tests on the shipped data: surfaces, isochrones, reach table, routes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from shapely.geometry import Point

from geo_app.analysis.accessibility import reach_table
from geo_app.analysis.isochrones import isochrones
from geo_app.analysis.routing import resolve_place, route
from geo_app.analysis.surface import cell_lonlat, sample, to_geotiff, travel_time_surface
from geo_app.errors import NoNetworkNearby, NotFound
from geo_app.network.graph import TravelGraph, build_graph
from geo_app.network.roads import to_metric

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
MEIHEKOU = (125.67876, 42.52869)  # road node 梅河口 (GeoNames), data/routes/road_nodes.csv
CHANGCHUN = (125.32278, 43.88)  # places.geojson destination="changchun"
SHUANGYANG = (125.65948, 43.52259)  # road node 双阳: on no corridor, and no other node within 30 km
FAR_AWAY = (128.0, 42.0)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> TravelGraph:
    return build_graph(DATA, REFERENCE, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def layers():
    return {name: gpd.read_file(DATA / f"{name}.geojson")
            for name in ("towns", "boundary", "places", "town_points")}


@pytest.fixture(scope="module")
def meihekou_station() -> tuple[float, float]:
    st = gpd.read_file(REFERENCE / "rail" / "stations.geojson")
    g = st[(st["osm_name"] == "梅河口") & (st["station_type"] == "train")].geometry.iloc[0]
    return float(g.x), float(g.y)


def _strip(d):
    return {k: v for k, v in d.items() if k != "geometry"}


# --- calibration -------------------------------------------------------------------------------

def test_car_meihekou_to_changchun_calibration(graph, layers):
    dest = resolve_place("changchun", layers["places"])
    assert dest == pytest.approx(CHANGCHUN)
    r = route(graph, MEIHEKOU, dest, mode="car")
    assert 105 <= r["minutes"] <= 150, _strip(r)
    assert 160 <= r["km"] <= 240
    assert r["modes"] == ["car"]
    coords = list(r["geometry"].coords)
    assert coords[0] == pytest.approx(MEIHEKOU) and coords[-1] == pytest.approx(CHANGCHUN)


def test_rail_route_uses_rail_and_is_not_faster_than_best(graph):
    best = route(graph, MEIHEKOU, CHANGCHUN, mode="best")
    rail = route(graph, MEIHEKOU, CHANGCHUN, mode="rail")
    assert "rail" in rail["modes"]
    assert rail["minutes"] >= best["minutes"] - 1e-6
    assert rail["geometry"].length > 0


def test_unreachable_route_is_none_not_inf(graph):
    r = route(graph, MEIHEKOU, SHUANGYANG, mode="car")
    assert r == {"minutes": None, "km": None, "modes": [], "geometry": None}
    json.dumps(_strip(r), allow_nan=False)


def test_route_from_nowhere_raises(graph):
    with pytest.raises(NoNetworkNearby):
        route(graph, FAR_AWAY, CHANGCHUN, mode="best")


def test_resolve_place_variants(layers):
    assert resolve_place("125.5,42.5", layers["places"]) == (125.5, 42.5)
    assert resolve_place((125.5, 42.5), layers["places"]) == (125.5, 42.5)
    with pytest.raises(NotFound):
        resolve_place("atlantis", layers["places"])


# --- surfaces and isochrones --------------------------------------------------------------------

def test_surface_basics(graph, tmp_path):
    s = travel_time_surface(graph, MEIHEKOU, mode="car", direction="from", max_minutes=120)
    assert s.minutes.dtype == np.float32 and s.crs == "EPSG:32651" and s.cell_m == 250
    assert np.nanmax(s.minutes) <= 120
    assert sample(s, *MEIHEKOU) < 2
    assert sample(s, 0.0, 0.0) is None
    path = to_geotiff(s, tmp_path / "s.tif")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32651 and ds.read(1).shape == s.minutes.shape


def test_surface_cells_respect_access_limit(graph):
    s = travel_time_surface(graph, MEIHEKOU, mode="best", direction="from")
    finite = np.isfinite(s.minutes.ravel())
    xy = to_metric(cell_lonlat(s))
    dist, _ = graph.tree.query(xy[finite])
    origin_d = np.hypot(*(xy[finite] - to_metric(np.array([MEIHEKOU]))[0]).T)
    assert np.all(np.minimum(dist, origin_d) <= graph.access_limit_m + 1)


def test_isochrones_nested_and_increasing(graph):
    s = travel_time_surface(graph, MEIHEKOU, mode="car", direction="from", max_minutes=120)
    iso = isochrones(s, [30, 60, 90, 120])
    assert len(iso) == 4 and iso.crs.to_epsg() == 4326
    assert list(iso.columns) == ["minutes", "mode", "direction", "area_km2", "share_low_confidence", "geometry"]
    areas = list(iso["area_km2"])
    assert areas == sorted(areas) and areas[0] > 0 and len(set(areas)) == 4
    for inner, outer in zip(iso.geometry[:-1], iso.geometry[1:], strict=True):
        assert shapely.difference(inner, outer).area <= 1e-9 * max(inner.area, 1e-12) + 1e-10
    for geom in iso.geometry:
        for poly in getattr(geom, "geoms", [geom]):
            assert shapely.is_ccw(poly.exterior)  # right-hand rule
    # none covers land beyond the access limit: every vertex lies near a network node
    limit = graph.access_limit_m + s.cell_m * math.sqrt(2)
    verts = shapely.get_coordinates(iso.geometry.iloc[-1])
    dist, _ = graph.tree.query(to_metric(verts))
    assert dist.max() <= limit


def test_isochrone_area_equals_cells(graph):
    s = travel_time_surface(graph, MEIHEKOU, mode="best", direction="from", max_minutes=60)
    iso = isochrones(s, [60])
    cells = np.nansum(s.minutes <= 60) * (s.cell_m ** 2) / 1e6
    assert iso["area_km2"].iloc[0] == pytest.approx(cells, rel=1e-6)


def test_empty_contour_has_none_geometry(graph):
    s = travel_time_surface(graph, MEIHEKOU, mode="rail", direction="from", max_minutes=240)
    iso = isochrones(s, [1, 240])
    assert len(iso) == 2
    assert iso["area_km2"].iloc[0] == 0 and iso.geometry.iloc[0] is None
    assert iso.geometry.iloc[1] is not None


def test_to_isochrone_at_changchun_contains_meihekou_station_iff_car_within_120(graph, meihekou_station):
    s = travel_time_surface(graph, CHANGCHUN, mode="car", direction="to", max_minutes=120)
    iso = isochrones(s, [120])
    contains = iso.geometry.iloc[0] is not None and iso.geometry.iloc[0].contains(Point(meihekou_station))
    car = route(graph, meihekou_station, CHANGCHUN, mode="car")["minutes"]
    assert contains == (car is not None and car <= 120)


def test_rail_surface_never_beats_best(graph):
    for o in (MEIHEKOU, (125.45, 42.40), (125.90, 42.80)):
        rail = travel_time_surface(graph, o, mode="rail", direction="from").minutes
        best = travel_time_surface(graph, o, mode="best", direction="from").minutes
        both = np.isfinite(rail) & np.isfinite(best)
        assert np.all(rail[both] >= best[both] - 1e-3)
        assert not np.any(np.isfinite(rail) & ~np.isfinite(best))


def test_surface_from_nowhere_raises(graph):
    with pytest.raises(NoNetworkNearby):
        travel_time_surface(graph, FAR_AWAY, mode="car", direction="from")


# --- reach table ---------------------------------------------------------------------------------

def test_reach_table_lists_all_units(graph, layers):
    s, table = reach_table(graph, layers["towns"], layers["boundary"], to_lonlat=CHANGCHUN,
                           town_points=layers["town_points"], county_seat=MEIHEKOU)
    assert s.direction == "to"
    towns = table[table["level"] == "township"]
    assert len(towns) == 25 == len(layers["towns"])
    assert (towns["status"] == "no boundary").all()
    assert towns["share_area_within"].isna().all()
    county = table[table["level"] == "county"].iloc[0]
    assert county["code"] == "220581" and county["status"] == "ok"
    assert 0 <= county["share_area_within"] <= 1
    seats = towns.set_index("code")["seat_minutes"]
    assert seats["220581101"] is not None and seats["220581001"] is None
    text = json.dumps(table.to_dict(orient="records"), allow_nan=False, ensure_ascii=False)
    assert "NaN" not in text and "Infinity" not in text


def test_reach_table_with_synthetic_polygons(graph, layers):
    towns = gpd.read_file(ROOT / "tests" / "data" / "towns_fixture.geojson")
    _, table = reach_table(graph, towns, layers["boundary"], to_lonlat=CHANGCHUN, mode="best", minutes=120)
    rows = table[table["level"] == "township"].set_index("code")
    assert list(rows.index) == ["T1", "T2", "T3", "T4"]
    for code in ("T1", "T2", "T3"):
        r = rows.loc[code]
        assert r["status"] == "ok" and r["has_boundary"]
        assert 0 <= r["share_area_within"] <= 1
        assert r["min"] <= r["median"] <= r["max"]
    assert rows.loc["T4", "status"] == "no boundary" and rows.loc["T4", "share_area_within"] is None
    # T2 holds Meihekou's centre, ~2 h from Changchun by car: part of it within 120 min
    assert rows.loc["T2", "min"] < 120
