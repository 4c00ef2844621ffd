"""Verdicts that know what they don't know (issue #17 §3): ``incomplete`` when deciding data is missing.

The fixture township and park layers (tests/data/*_fixture.geojson) and the DEM written here are
SYNTHETIC; they stand in for the bureau's data so that a real verdict can be reached.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Point

from geo_app import create_app
from geo_app.analysis.siting import load_rules, review_site
from geo_app.analysis.siting.rules import RULES_PATH
from geo_app.analysis.siting.verdict import missing_data, verdict
from geo_app.cli import main
from geo_app.errors import DataFileError
from geo_app.storage.sqlite import MIGRATIONS, SQLiteReviewStore
from tests.test_siting import CHANGCHUN, IN_COUNTY_NO_PARK, FakeGraph, by_key
from tests.test_store_backends import PostGISBackend, pg_url_or_skip, review

ROOT = Path(__file__).resolve().parents[1]
CENTRE = (125.67876, 42.52869)
FIXTURES = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def rules() -> dict:
    return load_rules()


def _finding(key: str, status: str, **detail) -> dict:
    return {"key": key, "status": status, "note_zh": f"{key}说明", "note_en": f"{key} note", "detail": detail}


# -- the rules file ------------------------------------------------------------------------------
def test_rules_mark_the_deciding_findings(rules):
    assert rules["version"] == 2
    assert set(rules["verdict"]["deciding"]) == {"township", "changchun_best", "slope", "sector_fit",
                                                 "rail_line_distance", "trunk_road_distance"}
    for key in rules["verdict"]["deciding"]:
        src = rules["data_sources"][rules["verdict"]["needs"][key]]
        assert src["zh"] and src["en"]
    assert rules["data_sources"]["towns"]["command"] == "geo-app data import towns FILE"
    assert rules["data_sources"]["dem"]["command"].startswith("geo-app data import dem FILE")
    assert rules["data_sources"]["towns"]["page"] == rules["data_sources"]["dem"]["page"] == "/data"


def test_rules_refuse_a_deciding_finding_without_its_data(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text(RULES_PATH.read_text(encoding="utf-8").replace('slope = "dem"', 'slope = "lidar"'),
                   encoding="utf-8")
    with pytest.raises(DataFileError, match="verdict.needs.slope"):
        load_rules(bad)


# -- the verdict logic ---------------------------------------------------------------------------
def test_missing_deciding_data_makes_the_verdict_incomplete(rules):
    findings = [_finding("township", "unavailable"), _finding("changchun_best", "ok"),
                _finding("elevation", "unavailable"), _finding("slope", "unavailable")]
    judged, reasons, caveats, missing = verdict(findings, True, rules)
    assert judged == "incomplete"
    assert [m["key"] for m in missing] == ["towns", "dem"]
    assert [m["findings"] for m in missing] == [["township"], ["slope"]]
    assert reasons[0]["key"] == "missing_data"
    assert "乡镇边界" in reasons[0]["zh"] and "“数据”页面" in reasons[0]["zh"]
    assert "township boundaries" in reasons[0]["en"] and "Data page" in reasons[0]["en"]
    assert {c["key"] for c in caveats} == {"township", "elevation", "slope"}


def test_a_failure_decides_even_with_data_missing(rules):
    findings = [_finding("township", "unavailable"), _finding("changchun_best", "fail"),
                _finding("slope", "unavailable")]
    judged, reasons, _caveats, missing = verdict(findings, True, rules)
    assert judged == "unsuitable" and missing == []
    assert [r["key"] for r in reasons] == ["changchun_best"]


def test_conditional_with_data_missing_is_incomplete_and_keeps_the_condition(rules):
    findings = [_finding("changchun_best", "conditional"), _finding("slope", "unavailable")]
    judged, reasons, _caveats, missing = verdict(findings, True, rules)
    assert judged == "incomplete" and [m["key"] for m in missing] == ["dem"]
    assert [r["key"] for r in reasons] == ["missing_data", "changchun_best"]


def test_information_findings_never_make_a_verdict_incomplete(rules):
    findings = [_finding("park", "unavailable"), _finding("logistics_hub", "unavailable"),
                _finding("rail_line_distance", "unavailable", judged=False, missing="rail_lines"),
                _finding("township", "ok"), _finding("changchun_best", "ok"), _finding("slope", "ok")]
    assert verdict(findings, True, rules)[0] == "suitable"
    findings[2]["detail"]["judged"] = True
    assert [m["key"] for m in missing_data(findings, rules)] == ["rail_lines"]
    assert verdict(findings, True, rules)[0] == "incomplete"


def test_a_finding_names_the_data_it_lacks(rules):
    one = [_finding("township", "unavailable", missing="boundary")]
    (item,) = missing_data(one, rules)
    assert item["key"] == "boundary" and item["command"] == "geo-app data import boundary FILE"
    two = [_finding("township", "unavailable"), _finding("sector_fit", "unavailable"),
           _finding("slope", "unavailable"), _finding("changchun_best", "unavailable")]
    items = missing_data(two, rules)
    assert [m["key"] for m in items] == ["towns", "parks", "dem", "network"]
    reason = verdict(two, True, rules)[1][0]  # the network has no page: the administrator sets it up
    assert "由系统管理员配置" in reason["zh"] and "set up by the administrator" in reason["en"]


# -- reviews ---------------------------------------------------------------------------------
def _shipped_layers(app) -> dict:
    reg = app.extensions["geo_app"]["layers"]
    return {n: reg.frame(n) for n in ("towns", "parks", "logistics", "stations", "rail_lines", "roads",
                                      "boundary", "places")}


def test_browser_text_never_names_a_command(app, rules):
    rep = review_site(Point(*CENTRE), project=None, sector="商贸物流", layers=_shipped_layers(app),
                      graph=FakeGraph(), rules=rules, dem_path=None, changchun=CHANGCHUN, centre=CENTRE)
    assert rep["verdict"] == "incomplete"
    assert [m["key"] for m in rep["missing_data"]] == ["towns", "dem", "parks"]
    for r in rep["reasons"] + rep["caveats"]:
        assert "geo-app" not in r["zh"] + r["en"] and "--" not in r["zh"] + r["en"]
    assert all(m["command"].startswith("geo-app data import") for m in rep["missing_data"])


def test_logistics_sector_needs_the_rail_lines(app, rules):
    layers = _shipped_layers(app)
    layers["rail_lines"] = None
    kw = {"project": None, "graph": FakeGraph(), "rules": rules, "dem_path": None, "changchun": CHANGCHUN,
          "centre": CENTRE}
    rep = review_site(IN_COUNTY_NO_PARK, sector="商贸物流", layers=layers, **kw)
    assert by_key(rep)["rail_line_distance"]["status"] == "unavailable"
    assert "rail_lines" in [m["key"] for m in rep["missing_data"]]
    rep = review_site(IN_COUNTY_NO_PARK, sector=None, layers=layers, **kw)
    assert "rail_lines" not in [m["key"] for m in rep["missing_data"]]


def _review_json(app, *args: str) -> dict:
    res = app.test_cli_runner().invoke(main, ["review", "--lon", str(CENTRE[0]), "--lat", str(CENTRE[1]), *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_cli_review_at_the_centre_on_shipped_data_is_incomplete(app):
    rep = _review_json(app)
    assert rep["verdict"] == "incomplete" and rep["verdict_zh"] == "待补充数据"
    assert rep["rules_version"] == 2
    missing = {m["key"]: m for m in rep["missing_data"]}
    assert set(missing) == {"towns", "dem"}
    assert missing["towns"]["command"] == "geo-app data import towns FILE" and missing["towns"]["page"] == "/data"
    assert missing["dem"]["command"].startswith("geo-app data import dem FILE")
    assert "乡镇边界" in rep["reasons"][0]["zh"] and "DEM" in rep["reasons"][0]["zh"]


def write_dem(path: Path, centre: tuple[float, float], grad: float) -> Path:
    """A SYNTHETIC 2 km × 2 km plane (EPSG:32651, 20 m cells) rising eastwards by ``grad`` around ``centre``."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform(*centre)
    cell, n = 20.0, 101
    east = (np.arange(n) + 0.5) * cell
    z = np.repeat((200.0 + grad * east)[np.newaxis, :], n, axis=0).astype("float32")
    profile = {"driver": "GTiff", "height": n, "width": n, "count": 1, "dtype": "float32", "crs": "EPSG:32651",
               "transform": from_origin(x - n * cell / 2, y + n * cell / 2, cell, cell), "nodata": -9999.0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return path


@pytest.fixture()
def fixture_app(tmp_path):
    """The app over a copy of data/ with the fixture townships and parks and a synthetic DEM."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("*.bak.*", "history"))
    for layer in ("towns", "parks"):
        gpd.read_file(FIXTURES / f"{layer}_fixture.geojson").to_file(data / f"{layer}.geojson", driver="GeoJSON")
    dem = write_dem(tmp_path / "dem.tif", CENTRE, 0.05)
    return create_app({"TESTING": True, "DATA_DIR": data, "INSTANCE": tmp_path / "instance",
                       "CACHE_DIR": tmp_path / "cache", "DEM": dem})


def test_cli_review_with_towns_parks_and_dem_gives_a_real_verdict(fixture_app):
    rep = _review_json(fixture_app)
    f = by_key(rep)
    assert f["township"]["status"] == "ok" and f["township"]["detail"]["name_zh"] == "测试乙"
    assert f["slope"]["status"] == "ok" and f["slope"]["value"] == pytest.approx(5.0, abs=0.1)
    assert rep["verdict"] == "suitable" and rep["missing_data"] == []
    rep = _review_json(fixture_app, "--sector", "医药健康")  # the centre lies in none of the fixture parks
    assert rep["verdict"] == "conditional" and [r["key"] for r in rep["reasons"]] == ["sector_fit"]


# -- storage and pages -------------------------------------------------------------------------
def test_sqlite_store_upgrades_and_keeps_old_verdicts(tmp_path):
    path = tmp_path / "reviews.sqlite3"
    with sqlite3.connect(path) as c:  # a store written by schema 1 (rules version 1)
        c.executescript(MIGRATIONS[0])
        c.execute("PRAGMA user_version = 1")
        c.execute("INSERT INTO reviews (id, created_at, project, sector, verdict, geometry, report, data_version) "
                  "VALUES ('a' || hex(randomblob(15)), '2025-01-01T00:00:00Z', '旧', NULL, 'suitable', ?, ?, 'v1')",
                  (json.dumps({"type": "Point", "coordinates": [125.6, 42.5]}),
                   json.dumps({"verdict": "suitable", "rules_version": 1})))
    store = SQLiteReviewStore(path)
    try:
        assert store.schema_version() == 2
        rid = store.add(review(1, verdict="incomplete"))
        assert store.get(rid)["verdict"] == "incomplete"
        old = [r for r in store.list() if r["project"] == "旧"]
        assert old and old[0]["verdict"] == "suitable" and old[0]["report"]["rules_version"] == 1
        assert [r["verdict"] for r in store.list(verdict="incomplete")] == ["incomplete"]
    finally:
        store.close()


def test_postgis_store_accepts_incomplete_after_the_upgrade():
    import psycopg

    from geo_app.storage.postgis import MIGRATIONS as PG_MIGRATIONS

    backend = PostGISBackend(pg_url_or_skip(), f"t_{uuid.uuid4().hex[:12]}")
    try:
        with backend.admin() as c:  # schema 1 with one old review
            c.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz "
                      "NOT NULL DEFAULT now())")
            c.execute(PG_MIGRATIONS[0])
            c.execute("INSERT INTO schema_version (version) VALUES (1)")
            c.execute("INSERT INTO reviews (id, created_at, verdict, geometry, geometry_json, report, data_version) "
                      "VALUES ('old', now(), 'conditional', ST_GeomFromText('POINT(125.6 42.5)', 4326), %s, %s, 'v1')",
                      ('{"type": "Point", "coordinates": [125.6, 42.5]}', '{"verdict": "conditional"}'))
        store = backend.open()
        try:
            assert store.schema_version() == 2
            rid = store.add(review(1, verdict="incomplete"))
            assert store.get(rid)["verdict"] == "incomplete" and store.get("old")["verdict"] == "conditional"
        finally:
            store.close()
        with backend.admin() as c, pytest.raises(psycopg.errors.CheckViolation):
            c.execute("UPDATE reviews SET verdict = 'maybe' WHERE id = 'old'")
    finally:
        backend.drop()


def test_report_page_names_the_page_not_the_command(tmp_path):
    from tests.conftest import authorize

    app = create_app({"TESTING": True, "INSTANCE": tmp_path / "instance", "CACHE_DIR": tmp_path / "cache"})
    client = authorize(app, "planner")
    r = client.post("/api/reviews", json={"geometry": {"type": "Point", "coordinates": list(CENTRE)}})
    assert r.status_code == 201 and r.get_json()["verdict"] == "incomplete"
    rid = r.get_json()["id"]
    zh = client.get(f"/reviews/{rid}").get_data(as_text=True)
    assert "待补充数据" in zh and 'id="missing-data"' in zh and 'href="/data"' in zh and "v-unavailable" in zh
    en = client.get(f"/reviews/{rid}?lang=en").get_data(as_text=True)
    assert "incomplete" in en and "Data page" in en
    for page in (zh, en):
        assert "geo-app" not in page and "import towns" not in page
    listing = client.get("/reviews?verdict=incomplete&lang=zh").get_data(as_text=True)
    assert rid in listing and "待补充数据" in listing and "s-unavailable" in listing
