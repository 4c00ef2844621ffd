"""Siting review: rules, findings, verdict logic (fake graph), fixture parks, DEM, the real engine.

The shipped data has no park, hub or township geometry (PROVENANCE "Not available"), so the
"site inside a park" case is asserted on the SYNTHETIC fixture tests/data/parks_fixture.geojson.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from geo_app.analysis.siting import RULES_PATH, load_rules, review_site, sectors
from geo_app.config import defaults
from geo_app.errors import DataFileError, GeometryError, NoNetworkNearby, ValidationError
from geo_app.layers import LayerRegistry
from geo_app.raster import write_geotiff

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_PARKS = ROOT / "tests" / "data" / "parks_fixture.geojson"
CHANGCHUN = (125.32278, 43.88)
CENTRE = (125.67876, 42.52869)
IN_PHARMA_PARK = Point(125.65, 42.53)  # inside the synthetic pharma park
IN_EQUIP_PARK = Point(125.705, 42.505)  # inside the synthetic equipment park
IN_COUNTY_NO_PARK = Point(125.68, 42.53)
OUTSIDE = Point(125.0, 43.0)  # 东辽县/辽源, outside Meihekou
ORDER = ["basis", "township", "park", "changchun_car", "changchun_rail", "changchun_best",
         "changchun_within_2h", "centre_best", "station", "logistics_hub", "rail_line_distance",
         "trunk_road_distance", "elevation", "slope", "sector_fit"]
NAMES = ("towns", "parks", "logistics", "stations", "rail_lines", "roads", "boundary", "places")


class FakeGraph:
    """Test double of TravelGraph: node 0 is Changchun, node 1 everything else.

    ``one_to_all`` returns the configured minutes to Changchun per mode and 10 min to node 1;
    ``snap`` returns (m, k=2) candidates with zero access (the second candidate is worse).
    """

    def __init__(self, minutes: dict[str, float] | None = None, *, no_network: bool = False) -> None:
        self.minutes = minutes or {"car": 110.0, "rail": 170.0, "best": 105.0}
        self.no_network = no_network
        self.calls: list[tuple] = []

    def one_to_all(self, lonlat, *, mode, direction, limit_s=None):
        self.calls.append((tuple(lonlat), mode, direction))
        if self.no_network:
            raise NoNetworkNearby("no road within 5000 m of the site", field="lonlat")
        return np.array([self.minutes[mode] * 60.0, 600.0, np.inf])

    def snap(self, lonlat_array):
        pts = np.asarray(lonlat_array, dtype=float).reshape(-1, 2)
        near_cc = np.hypot(pts[:, 0] - CHANGCHUN[0], pts[:, 1] - CHANGCHUN[1]) < 0.05
        idx = np.stack([np.where(near_cc, 0, 1), np.full(len(pts), 2)], axis=1)
        return idx, np.zeros(idx.shape)


@pytest.fixture(scope="module")
def registry() -> LayerRegistry:
    cfg = defaults()
    return LayerRegistry(cfg["LAYERS_DIR"], cfg["DATA_DIR"], cfg["REFERENCE_DATA"])


@pytest.fixture(scope="module")
def shipped(registry) -> dict:
    return {name: registry.frame(name) for name in NAMES}


@pytest.fixture(scope="module")
def with_parks(shipped) -> dict:
    layers = dict(shipped)
    layers["parks"] = gpd.read_file(FIXTURE_PARKS)
    return layers


@pytest.fixture(scope="module")
def complete(with_parks) -> dict:
    """Every deciding layer loaded: the fixture parks and a SYNTHETIC township outline around the test points."""
    layers = dict(with_parks)
    towns = with_parks["towns"]
    geoms = [None] * len(towns)
    geoms[0] = box(125.60, 42.45, 125.75, 42.60)  # synthetic outline for 新华街道
    layers["towns"] = gpd.GeoDataFrame(towns.drop(columns="geometry"), geometry=geoms, crs="EPSG:4326")
    return layers


@pytest.fixture(scope="module")
def rules() -> dict:
    return load_rules()


def run(geom, layers, rules, graph=None, **kw):
    kw.setdefault("project", "测试项目")
    kw.setdefault("sector", "医药健康")
    report = review_site(geom, layers=layers, graph=FakeGraph() if graph is None else graph, rules=rules,
                         dem_path=kw.pop("dem_path", None), changchun=CHANGCHUN, centre=CENTRE, **kw)
    json.dumps(report, allow_nan=False)  # JSON-safe, always
    return report


def by_key(report) -> dict:
    return {f["key"]: f for f in report["findings"]}


# -- rules -------------------------------------------------------------------------------------
def test_rules_load_and_thresholds(rules):
    assert rules["changchun"]["pass_max_min"] == 120
    assert rules["changchun"]["conditional_max_min"] == 150
    assert sectors(rules) == ["医药健康", "食品加工", "装备制造", "信息技术", "文化体育", "旅游会展",
                              "商贸物流", "现代金融", "商贸流通", "健康养老"]
    assert sectors() == sectors(rules)
    assert rules["slope"]["default"] == {"ok_max_pct": 15.0, "conditional_max_pct": 25.0}
    load_rules()["changchun"]["pass_max_min"] = 1  # a copy: the cache is not mutated
    assert load_rules()["changchun"]["pass_max_min"] == 120


def test_rules_park_table_matches_shipped_parks(rules, shipped):
    parks = shipped["parks"]
    table = {r.name_zh: r.sectors.split(";") for r in parks.itertuples()}
    assert {k: sorted(v) for k, v in rules["parks"].items()} == {k: sorted(v) for k, v in table.items()}


def test_every_threshold_has_a_source_comment():
    text = RULES_PATH.read_text(encoding="utf-8")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        code = line.split("#")[0]
        if "=" in code and any(k in code for k in ("_max_", "_min ")):
            window = "\n".join(lines[max(0, i - 6):i + 1])
            assert "PLAN" in window or "ASSUMPTION" in window, f"no source for: {line}"


def test_bad_rules_file(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text(RULES_PATH.read_text(encoding="utf-8").replace("pass_max_min = 120", "pass_max_min = 200"),
                   encoding="utf-8")
    with pytest.raises(DataFileError, match="pass_max_min"):
        load_rules(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("version = [", encoding="utf-8")
    with pytest.raises(DataFileError):
        load_rules(broken)


# -- findings and verdicts on shipped data -------------------------------------------------------
def test_findings_order_and_shape(shipped, rules):
    rep = run(IN_COUNTY_NO_PARK, shipped, rules)
    assert [f["key"] for f in rep["findings"]] == ORDER
    for f in rep["findings"]:
        assert set(f) >= {"key", "label_zh", "label_en", "value", "unit", "rule", "status", "note_zh",
                          "note_en"}
        assert f["status"] in ("ok", "conditional", "fail", "unavailable", "info")
        assert f["rule"] and f["note_zh"] and f["note_en"]


def test_shipped_data_inside_county(shipped, rules):
    rep = run(IN_COUNTY_NO_PARK, shipped, rules)
    f = by_key(rep)
    assert rep["inside_meihekou"] is True
    assert f["township"]["status"] == "unavailable"
    assert "township boundaries not loaded" in f["township"]["note_en"]
    assert "inside Meihekou" in f["township"]["note_en"]
    assert f["park"]["status"] == "unavailable" and "no park locations loaded" in f["park"]["note_en"]
    assert f["logistics_hub"]["status"] == "unavailable"
    assert "no hub locations loaded" in f["logistics_hub"]["note_en"]
    assert f["elevation"]["status"] == "unavailable" and "no DEM configured" in f["slope"]["note_en"]
    assert f["sector_fit"]["status"] == "unavailable"
    assert f["changchun_car"]["value"] == 110.0 and f["changchun_rail"]["value"] == 170.0
    assert f["changchun_best"]["value"] == 105.0 and f["changchun_best"]["status"] == "ok"
    assert f["changchun_within_2h"]["value"] is True
    assert f["centre_best"]["value"] == 10.0
    assert f["station"]["detail"]["straight_km"] < 5 and f["station"]["detail"]["minutes_car"] == 10.0
    assert f["rail_line_distance"]["unit"] == "m" and f["rail_line_distance"]["value"] >= 0
    # unavailable findings are caveats, not failures; deciding ones make the verdict incomplete (#17 §3)
    assert rep["verdict"] == "incomplete" and rep["verdict_zh"] == "待补充数据"
    assert [m["key"] for m in rep["missing_data"]] == ["towns", "dem", "parks"]
    assert {c["key"] for c in rep["caveats"]} >= {"township", "park", "logistics_hub", "elevation",
                                                   "sector_fit"}


def test_outside_county_is_unsuitable(shipped, rules):
    rep = run(OUTSIDE, shipped, rules)
    f = by_key(rep)
    assert rep["inside_meihekou"] is False
    assert f["township"]["value"] == "outside Meihekou" and f["township"]["status"] == "fail"
    assert rep["verdict"] == "unsuitable"
    assert rep["reasons"][0]["en"] == "outside Meihekou"
    assert "梅河口市域之外" in rep["reasons"][0]["zh"]


@pytest.mark.parametrize(("best", "verdict", "status"), [
    (119.0, "suitable", "ok"),
    (120.0, "suitable", "ok"),
    (135.0, "conditional", "conditional"),
    (150.0, "conditional", "conditional"),
    (151.0, "unsuitable", "fail"),
    (math.inf, "unsuitable", "fail"),
])
def test_changchun_thresholds(tmp_path, complete, rules, best, verdict, status):
    g = FakeGraph({"car": best, "rail": math.inf, "best": best})
    rep = run(IN_PHARMA_PARK, complete, rules, graph=g, dem_path=dem_plane(tmp_path, 0.0, at=IN_PHARMA_PARK))
    f = by_key(rep)
    assert f["changchun_best"]["status"] == status
    assert f["changchun_car"]["status"] == "info" and f["changchun_rail"]["status"] == "info"
    assert f["changchun_rail"]["value"] is None  # unreachable → None, never Infinity
    assert rep["verdict"] == verdict
    if verdict != "suitable":
        assert any(r["key"] == "changchun_best" for r in rep["reasons"])


def test_no_network_and_no_graph(tmp_path, complete, rules):
    dem = dem_plane(tmp_path, 0.0, at=IN_PHARMA_PARK)
    rep = run(IN_PHARMA_PARK, complete, rules, graph=FakeGraph(no_network=True), dem_path=dem)
    f = by_key(rep)
    assert f["changchun_best"]["status"] == "conditional" and "no road within" in f["changchun_best"]["note_en"]
    assert rep["verdict"] == "conditional"
    rep = review_site(IN_PHARMA_PARK, project=None, sector=None, layers=complete, graph=None, rules=rules,
                      dem_path=dem, changchun=CHANGCHUN, centre=CENTRE)
    f = by_key(rep)
    assert f["changchun_best"]["status"] == "unavailable" and f["changchun_best"]["value"] is None
    # no travel time to judge the 2-hour goal: incomplete (it was "suitable" with a caveat before #17 §3)
    assert rep["verdict"] == "incomplete" and any(c["key"] == "changchun_best" for c in rep["caveats"])
    assert [m["key"] for m in rep["missing_data"]] == ["network"]
    assert f["sector_fit"]["status"] == "info"


def test_travel_uses_centroid_of_polygon(shipped, rules):
    g = FakeGraph()
    poly = box(125.66, 42.52, 125.70, 42.54)
    rep = run(poly, shipped, rules, graph=g)
    f = by_key(rep)
    assert f["basis"]["value"] == "centroid" and "centroid" in f["basis"]["note_en"]
    assert rep["site"]["area_km2"] == pytest.approx(3.3 * 2.2, rel=0.1)
    origins = {c[0] for c in g.calls}
    assert origins and all(o == pytest.approx((125.68, 42.53)) for o in origins)
    assert all(c[2] == "from" for c in g.calls)


def test_inputs_are_checked(shipped, rules):
    with pytest.raises(ValidationError) as e:
        run(IN_COUNTY_NO_PARK, shipped, rules, sector="钢铁")
    assert e.value.field == "sector"
    with pytest.raises(GeometryError):
        run(LineString([(125.6, 42.5), (125.7, 42.6)]), shipped, rules)


def test_logistics_sector_judged_on_rail_and_road(shipped, rules):
    far = Point(125.50, 42.30)  # inside the county, far from the schematic lines
    rep = run(far, shipped, rules, sector="商贸物流")
    f = by_key(rep)
    assert rep["inside_meihekou"] is True
    assert f["trunk_road_distance"]["status"] in ("ok", "conditional", "fail")
    assert f["rail_line_distance"]["status"] in ("ok", "conditional")
    rep2 = run(far, shipped, rules, sector="医药健康")
    assert by_key(rep2)["trunk_road_distance"]["status"] == "info"


# -- parks (synthetic fixture) -----------------------------------------------------------------
def test_pharma_site_in_fixture_park_fits(tmp_path, complete, rules):
    rep = run(IN_PHARMA_PARK, complete, rules, sector="医药健康", dem_path=dem_plane(tmp_path, 0.0, at=IN_PHARMA_PARK))
    f = by_key(rep)
    # nested synthetic parks: the specific pharma park first, then 梅河口高新区 around it
    assert f["park"]["value"] == "梅河口高新区医药健康产业园、梅河口高新区"
    assert [p["name_zh"] for p in f["park"]["detail"]["parks"]] == ["梅河口高新区医药健康产业园", "梅河口高新区"]
    assert f["park"]["status"] == "info"
    assert f["sector_fit"]["status"] == "ok" and f["sector_fit"]["value"] == "fit"
    assert "医药健康" in f["sector_fit"]["note_zh"]
    assert rep["verdict"] == "suitable"


def test_sector_mismatch_is_conditional(tmp_path, complete, rules):
    rep = run(IN_EQUIP_PARK, complete, rules, sector="医药健康", dem_path=dem_plane(tmp_path, 0.0, at=IN_EQUIP_PARK))
    f = by_key(rep)
    assert f["park"]["value"] == "梅河口装备制造产业园"
    assert f["sector_fit"]["status"] == "conditional" and f["sector_fit"]["value"] == "mismatch"
    assert rep["verdict"] == "conditional"
    assert any(r["key"] == "sector_fit" for r in rep["reasons"])


def test_not_in_any_park(with_parks, rules):
    rep = run(IN_COUNTY_NO_PARK, with_parks, rules, sector="食品加工")
    f = by_key(rep)
    assert f["park"]["value"] == "not in a park" and f["park"]["detail"]["nearest"]["distance_km"] > 0
    assert f["sector_fit"]["status"] == "conditional"
    rep = run(IN_COUNTY_NO_PARK, with_parks, rules, sector="现代金融")
    assert by_key(rep)["sector_fit"]["status"] == "info"


def test_polygon_overlap_counts_for_park(with_parks, rules):
    # centroid (125.663, 42.530) outside both parks; the area overlaps them
    poly = box(125.652, 42.526, 125.674, 42.534)
    assert not poly.centroid.within(box(125.643, 42.523, 125.660, 42.537))
    rep = run(poly, with_parks, rules, sector="医药健康")
    f = by_key(rep)
    parks = {p["name_zh"]: p["share"] for p in f["park"]["detail"]["parks"]}
    assert set(parks) == {"梅河口高新区医药健康产业园", "梅河口高新区"}
    assert 0 < parks["梅河口高新区医药健康产业园"] < parks["梅河口高新区"] < 0.5
    assert f["sector_fit"]["status"] == "ok"


def test_township_with_fixture_boundaries(shipped, rules):
    layers = dict(shipped)
    towns = shipped["towns"].copy()
    geoms = [None] * len(towns)
    geoms[0] = box(125.60, 42.45, 125.75, 42.60)  # synthetic outline for 新华街道
    layers["towns"] = gpd.GeoDataFrame(towns.drop(columns="geometry"), geometry=geoms, crs="EPSG:4326")
    rep = run(IN_COUNTY_NO_PARK, layers, rules)
    f = by_key(rep)
    assert f["township"]["status"] == "ok"
    assert f["township"]["value"] == f"{towns.loc[0, 'name_zh']} ({towns.loc[0, 'code']})"


# -- DEM -----------------------------------------------------------------------------------
def dem_plane(tmp_path, grad: float, at: Point = IN_COUNTY_NO_PARK) -> Path:
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    x, y = to_utm.transform(*at.coords[0])
    x0, y0 = x - 505.0, y + 505.0
    east = (np.arange(101) + 0.5) * 10.0
    z = np.repeat((300.0 + grad * east)[np.newaxis, :], 101, axis=0)
    return write_geotiff(z, Affine(10.0, 0, x0, 0, -10.0, y0), "EPSG:32651", tmp_path / f"dem_{grad}.tif")


@pytest.mark.parametrize(("grad", "status", "verdict"), [(0.1, "ok", "suitable"), (0.2, "conditional", "conditional"),
                                                         (0.3, "fail", "unsuitable")])
def test_dem_slope_rules(tmp_path, complete, rules, grad, status, verdict):
    rep = run(IN_PHARMA_PARK, complete, rules, dem_path=dem_plane(tmp_path, grad, at=IN_PHARMA_PARK))
    f = by_key(rep)
    assert f["slope"]["value"] == pytest.approx(grad * 100, abs=0.05)
    assert f["slope"]["status"] == status
    assert f["elevation"]["value"] == pytest.approx(300 + grad * 505, abs=0.1)
    assert rep["verdict"] == verdict


def test_dem_sector_specific_limit(tmp_path, shipped, rules):
    rep = run(IN_COUNTY_NO_PARK, shipped, rules, sector="旅游会展", dem_path=dem_plane(tmp_path, 0.2))
    assert by_key(rep)["slope"]["status"] == "ok"


def test_dem_missing_or_corrupt_is_a_caveat(tmp_path, complete, rules):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"garbage")
    for path in (bad, tmp_path / "missing.tif"):
        rep = run(IN_PHARMA_PARK, complete, rules, dem_path=path)
        f = by_key(rep)
        assert f["slope"]["status"] == "unavailable" and f["elevation"]["value"] is None
        assert any(c["key"] == "slope" for c in rep["caveats"])
        # the slope decides: without a usable DEM the verdict waits for one (was "suitable" before #17 §3)
        assert rep["verdict"] == "incomplete" and [m["key"] for m in rep["missing_data"]] == ["dem"]


def test_json_safe_with_nan_everywhere(tmp_path, shipped, rules):
    z = np.full((5, 5), np.nan)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    x, y = to_utm.transform(*IN_COUNTY_NO_PARK.coords[0])
    dem = write_geotiff(z, Affine(10.0, 0, x - 25, 0, -10.0, y + 25), "EPSG:32651", tmp_path / "nan.tif")
    g = FakeGraph({"car": math.inf, "rail": math.nan, "best": math.inf})
    rep = run(IN_COUNTY_NO_PARK, shipped, rules, graph=g, dem_path=dem)
    text = json.dumps(rep, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text


# -- the real engine ---------------------------------------------------------------------------
def test_real_graph_centre_to_changchun(registry, rules):
    graph_mod = pytest.importorskip("geo_app.network.graph")
    graph = graph_mod.load_graph(defaults())
    places = registry.frame("places")
    try:
        from geo_app.analysis.routing import resolve_place

        cc = resolve_place("changchun", places)
    except ImportError:  # routing not landed yet: the places layer marks Changchun
        row = places[places["destination"] == "changchun"].iloc[0]
        cc = (row.geometry.x, row.geometry.y)
    rep = review_site(Point(125.68, 42.535), project="中心测试", sector="医药健康", layers=registry, graph=graph,
                      rules=rules, dem_path=None, changchun=cc, centre=CENTRE)
    json.dumps(rep, allow_nan=False)
    f = by_key(rep)
    assert 100 <= f["changchun_car"]["value"] <= 160
    assert f["changchun_best"]["value"] <= f["changchun_car"]["value"]
    assert f["centre_best"]["value"] < 15
    assert f["station"]["detail"]["straight_km"] < 10
    try:
        from geo_app.analysis.routing import route
    except ImportError:  # pragma: no cover
        return
    for mode in ("car", "best"):  # the report agrees with the routing engine
        r = route(graph, (125.68, 42.535), cc, mode=mode)
        assert f[f"changchun_{mode}"]["value"] == pytest.approx(r["minutes"], abs=0.2)
