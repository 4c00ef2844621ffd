"""`geo-app data import|undo|reload` and the importer (issue 5 acceptance).

Every test works on a tmp copy of data/; the township fixture is SYNTHETIC: four grid
cells (0.2°) clipped to the shipped county boundary, labelled with real township names
(in variant spellings) only so that name matching can be tested. It is generated at test
time into tmp_path and never shipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo_app import create_app, importer
from geo_app import crs as crs_mod

ROOT = Path(__file__).resolve().parents[1]
#: Fixture names as a bureau file might spell them -> the official name they must match.
FIXTURE_NAMES = {"山城镇": "山城镇", "紅梅鎮": "红梅镇", "海龙": "海龙镇", "小杨乡": "小杨满族朝鲜族乡"}


def make_app(tmp_path: Path, *, data: Path | None = None, **config):
    """An app over a tmp copy of data/ (tests never write into the repository's data/).

    ``data`` is where the copy goes (default ``tmp_path/data``; kept if it already holds one);
    ``config`` overrides app settings.
    """
    data = data or tmp_path / "data"
    if not data.exists():
        shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("*.bak.*", "history"))
    return create_app({"TESTING": True, "DATA_DIR": data, "INSTANCE": tmp_path / "instance",
                       "LAYERS_DIR": ROOT / "layers", **config})


def synthetic_towns() -> gpd.GeoDataFrame:
    """SYNTHETIC township polygons in WGS84: 2×2 grid cells clipped to the county boundary."""
    county = gpd.read_file(ROOT / "data" / "boundary.geojson").geometry.iloc[0]
    x0, y0, _, _ = county.bounds
    cells = []
    for i in range(2):
        for j in range(2):
            box = shapely.box(x0 + 0.2 + 0.2 * i, y0 + 0.2 + 0.2 * j, x0 + 0.4 + 0.2 * i, y0 + 0.4 + 0.2 * j)
            part = box.intersection(county)
            if part.geom_type != "Polygon":
                part = max(part.geoms, key=lambda g: g.area)
            cells.append(part)
    return gpd.GeoDataFrame({"NAME": list(FIXTURE_NAMES)}, geometry=cells, crs="EPSG:4326")


def write_fixtures(folder: Path) -> dict[str, Path]:
    """Write the fixture as Shapefile (EPSG:4490), GCJ-02 GeoJSON (no CRS) and GeoPackage (EPSG:4526)."""
    folder.mkdir(parents=True, exist_ok=True)
    wgs = synthetic_towns()
    shp = folder / "towns_cgcs2000.shp"
    wgs.set_crs("EPSG:4490", allow_override=True).to_file(shp, encoding="UTF-8")  # CGCS2000 = WGS84 to cm
    gcj = folder / "towns_gcj02.geojson"
    shifted = [crs_mod.shift_geometry(g, crs_mod.wgs84_to_gcj02) for g in wgs.geometry]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"NAME": n}, "geometry": shapely.geometry.mapping(g)}
        for n, g in zip(wgs["NAME"], shifted, strict=True)]}
    gcj.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    gpkg = folder / "towns_gk.gpkg"
    wgs.to_crs("EPSG:4526").to_file(gpkg, driver="GPKG")
    return {"shp": shp, "gcj": gcj, "gpkg": gpkg}


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under a folder, except the (always empty) write-lock file."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != importer.LOCK_FILE}


@pytest.fixture()
def env(tmp_path):
    app = make_app(tmp_path)
    files = write_fixtures(tmp_path / "fixtures")
    runner = app.test_cli_runner()

    from geo_app.cli import main

    return {"app": app, "files": files, "data": tmp_path / "data", "tmp": tmp_path,
            "run": lambda args: runner.invoke(main, args)}


def imported_towns(data: Path) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(data / "towns.geojson")
    return gdf[gdf.geometry.notna()].set_index("name_zh")


def assert_within_5m(data: Path) -> None:
    wgs = synthetic_towns()
    got = imported_towns(data)
    assert sorted(got.index) == sorted(FIXTURE_NAMES.values())
    for name, geom in zip(wgs["NAME"], wgs.geometry, strict=True):
        a = gpd.GeoSeries([geom], crs=4326).to_crs(32651).iloc[0]
        b = gpd.GeoSeries([got.loc[FIXTURE_NAMES[name]].geometry], crs=4326).to_crs(32651).iloc[0]
        assert a.hausdorff_distance(b) < 5.0, name


@pytest.mark.parametrize(("key", "crs_opt"), [("shp", []), ("gcj", []), ("gpkg", []), ("gcj", ["--crs", "gcj02"])])
def test_import_each_format_gives_back_the_original(env, key, crs_opt):
    res = env["run"](["data", "import", "towns", str(env["files"][key]), *crs_opt])
    assert res.exit_code == 0, res.output
    assert "overlaps between townships" in res.output and "share of county covered" in res.output
    assert_within_5m(env["data"])
    towns = gpd.read_file(env["data"] / "towns.geojson")
    assert len(towns) == 25  # every official unit kept; those not imported stay without geometry
    got = towns[towns.geometry.notna()]
    assert set(got["geometry_quality"]) == {importer.IMPORTED}
    assert {"code", "name_zh", "name_en", "kind", "in_plan"} <= set(got.columns)
    assert got.set_index("name_zh").loc["小杨满族朝鲜族乡", "code"] == "220581205"
    assert list(env["data"].glob("towns.bak.*.geojson"))  # the previous file kept
    assert "`towns` ← `" in (env["data"] / "README.md").read_text(encoding="utf-8").split("## Imports")[1]
    history = importer.read_history(env["data"], "towns")
    assert history[-1]["action"] == "import" and history[-1]["time"]


def test_detection_picks_gcj02_without_crs(env):
    src = importer.read_source(env["files"]["gcj"])
    assert src.declared_crs is None
    det = importer.detect_datum(src.frame, gpd.read_file(env["data"] / "boundary.geojson"))
    assert det["best"] == "gcj02", det
    res = env["run"](["data", "import", "towns", str(env["files"]["gcj"]), "--dry-run"])
    assert res.exit_code == 0 and "best fit gcj02" in res.output


def test_detection_bd09_and_wgs84(env):
    boundary = gpd.read_file(env["data"] / "boundary.geojson")
    wgs = synthetic_towns()
    bd = wgs.copy()
    bd["geometry"] = [crs_mod.shift_geometry(g, crs_mod.wgs84_to_bd09) for g in wgs.geometry]
    assert importer.detect_datum(bd, boundary)["best"] == "bd09"
    assert importer.detect_datum(wgs, boundary)["best"] == "wgs84"


def test_detection_refuses_to_guess(env):
    """Points inside the county do not tell WGS84 from GCJ-02: the import asks for --crs."""
    pts = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "梅河口装备制造产业园"},
         "geometry": {"type": "Point", "coordinates": [125.7, 42.55]}}]}
    path = env["tmp"] / "parks.geojson"
    path.write_text(json.dumps(pts, ensure_ascii=False), encoding="utf-8")
    before = snapshot(env["data"])
    res = env["run"](["data", "import", "parks", str(path)])
    assert res.exit_code == 2 and "refusing to guess" in res.output and "--crs" in res.output
    assert snapshot(env["data"]) == before


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_projected_without_crs_is_refused_with_a_hint(env):
    wgs = synthetic_towns().to_crs("EPSG:4530").set_crs(None, allow_override=True)
    path = env["tmp"] / "gk.shp"
    wgs.to_file(path, encoding="UTF-8")
    path.with_suffix(".prj").unlink(missing_ok=True)
    res = env["run"](["data", "import", "towns", str(path)])
    assert res.exit_code == 2 and "not degrees" in res.output and "EPSG:4530" in res.output
    res = env["run"](["data", "import", "towns", str(path), "--crs", "EPSG:4530"])
    assert res.exit_code == 0, res.output
    assert_within_5m(env["data"])


def _bad_files(tmp: Path) -> dict[str, Path]:
    bowtie = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "山城镇"},
         "geometry": {"type": "Polygon", "coordinates": [[[125.5, 42.4], [125.6, 42.5], [125.6, 42.4],
                                                          [125.5, 42.5], [125.5, 42.4]]]}}]}
    unknown = synthetic_towns().rename(columns={"NAME": "name"})
    unknown.loc[0, "name"] = "不存在镇"
    files = {"self_intersecting": tmp / "bowtie.geojson", "unknown_name": tmp / "unknown.geojson",
             "empty": tmp / "empty.geojson", "zero_bytes": tmp / "zero.geojson", "non_geo_zip": tmp / "docs.zip",
             "vrt": tmp / "evil.vrt"}
    files["self_intersecting"].write_text(json.dumps(bowtie, ensure_ascii=False), encoding="utf-8")
    unknown.to_file(files["unknown_name"], driver="GeoJSON")
    files["empty"].write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    files["zero_bytes"].write_bytes(b"")
    with zipfile.ZipFile(files["non_geo_zip"], "w") as zf:
        zf.writestr("readme.txt", "not a shapefile")
        zf.writestr("table.csv", "a,b\n1,2\n")
    files["vrt"].write_text('<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
                            "</OGRVRTLayer></OGRVRTDataSource>", encoding="utf-8")
    return files


@pytest.mark.parametrize(("kind", "message"), [
    ("self_intersecting", "Self-intersection"),
    ("unknown_name", "不存在镇"),
    ("empty", "no features"),
    ("zero_bytes", "empty file"),
    ("non_geo_zip", "exactly one Shapefile"),
    ("vrt", "not GeoJSON, GeoPackage"),
])
def test_bad_files_give_a_clear_error_and_change_nothing(env, kind, message):
    path = _bad_files(env["tmp"])[kind]
    before = snapshot(env["data"])
    res = env["run"](["data", "import", "towns", str(path), "--crs", "wgs84"])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert snapshot(env["data"]) == before


def test_force_accepts_a_repaired_geometry(env):
    path = _bad_files(env["tmp"])["self_intersecting"]
    res = env["run"](["data", "import", "towns", str(path), "--crs", "wgs84", "--force"])
    assert res.exit_code == 0, res.output
    assert "make_valid fixed it" in res.output
    assert imported_towns(env["data"]).loc["山城镇"].geometry.is_valid


def test_dry_run_writes_nothing_and_saves_the_report(env):
    before = snapshot(env["data"])
    res = env["run"](["data", "import", "towns", str(env["files"]["shp"]), "--dry-run"])
    assert res.exit_code == 0 and "dry run" in res.output
    assert snapshot(env["data"]) == before
    reports = list((env["tmp"] / "instance" / "import-reports").glob("towns-*.json"))
    assert reports and json.loads(reports[0].read_text(encoding="utf-8"))["coverage"]["share_covered"] > 0


def test_undo_restores_the_previous_file(env):
    original = (env["data"] / "towns.geojson").read_bytes()
    assert env["run"](["data", "import", "towns", str(env["files"]["shp"])]).exit_code == 0
    assert (env["data"] / "towns.geojson").read_bytes() != original
    res = env["run"](["data", "undo", "towns", "--note", "wrong file"])
    assert res.exit_code == 0, res.output
    assert (env["data"] / "towns.geojson").read_bytes() == original
    history = importer.read_history(env["data"], "towns")
    assert [e["action"] for e in history] == ["import", "undo"] and history[1]["note"] == "wrong file"
    res = env["run"](["data", "undo", "towns"])
    assert res.exit_code == 2 and "nothing to undo" in res.output


def test_reload_and_unknown_layer(env):
    res = env["run"](["data", "reload"])
    assert res.exit_code == 0 and "towns" in res.output
    res = env["run"](["data", "import", "rail_lines", str(env["files"]["shp"])])
    assert res.exit_code == 2 and "cannot be imported" in res.output


def test_the_running_app_uses_the_import(env):
    app = env["app"]
    reg = app.extensions["geo_app"]["layers"]
    assert reg.frame("towns").geometry.notna().sum() == 0
    assert env["run"](["data", "import", "towns", str(env["files"]["gcj"])]).exit_code == 0
    assert reg.frame("towns").geometry.notna().sum() == 4  # the CLI cleared this process's cache


def test_reach_and_siting_review_use_the_imported_townships(env):
    from geo_app.analysis.siting import load_rules, review_site

    assert env["run"](["data", "import", "towns", str(env["files"]["gpkg"])]).exit_code == 0
    res = env["run"](["reach", "--format", "json", "--cell", "1000"])
    assert res.exit_code == 0, res.output
    rows = {r["name_zh"]: r for r in json.loads(res.output) if r.get("level") == "township"}
    for name in FIXTURE_NAMES.values():
        assert rows[name]["has_boundary"] is True
        assert rows[name]["share_area_within"] is not None
    # A site inside one fixture township is reviewed as lying in it.
    reg = env["app"].extensions["geo_app"]["layers"]
    town = imported_towns(env["data"]).loc["海龙镇"].geometry
    site = town.representative_point()
    report = review_site(site, layers=reg, graph=None, rules=load_rules(), changchun=(125.32, 43.88),
                         centre=(125.68, 42.53))
    township = next(f for f in report["findings"] if f["key"] == "township")
    assert "海龙镇" in str(township["value"])


@pytest.mark.parametrize(("raw", "key"), [
    ("小杨满族朝鲜族乡", "小杨"), ("小杨乡", "小杨"), ("小楊鄉", "小杨"), ("新华街道", "新华"),
    ("新華街道办事处", "新华"),
    ("梅河口市红梅镇", "红梅"), ("紅梅鎮", "红梅"), (" 海龙 ", "海龙"), ("梅河口高新技术产业开发区", "梅河口高新区"),
    (None, ""),
])
def test_name_key(raw, key):
    assert importer.name_key(raw) == key


def test_every_official_name_matches_itself_and_its_variants(env):
    towns = gpd.read_file(env["data"] / "towns.geojson")
    keys = [importer.name_key(n) for n in towns["name_zh"]]
    assert len(set(keys)) == len(keys)  # no two official units collide
    assert importer.code_key("220581205000") == "220581205" and importer.code_key(220581205) == "220581205"


def test_readme_record_goes_under_imports(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Imports\n\nintro\n\n## Other\n\ntext\n", encoding="utf-8")
    importer.record_readme(tmp_path, "- one")
    importer.record_readme(tmp_path, "- two")
    text = readme.read_text(encoding="utf-8")
    assert text.index("- one") < text.index("- two") < text.index("## Other")
