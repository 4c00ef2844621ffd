"""`geo-app data import population` (issue 16): a raster of people per cell or a township table.

The fixtures are SYNTHETIC, written at test time the way the real products are written:

* a WorldPop-style raster: float32 GeoTIFF in EPSG:4326 at 3 arc-seconds with nodata -99999,
  people only in cells more than 2 km inside the county (so every person belongs to the county);
* a census-grid-style raster: 1 km cells in CGCS2000 / 3-degree Gauss–Krüger zone 42 (EPSG:4526);
* township tables as a statistics office exports them: GB18030 CSV with Chinese headers and
  variant spellings, and a UTF-8 CSV with codes.

The figures are random or round numbers, not real populations.
"""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

from geo_app import importer
from geo_app.analysis.population import people_grid, spread_table, unit_key
from geo_app.importer.population import to_lattice
from geo_app.population import load_population
from tests.test_importer import ROOT, make_app, snapshot, write_fixtures

STEP = 3 / 3600  # WorldPop's 3 arc-second grid
WEST, NORTH, N = 125.45, 42.75, 480
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)


def county_metric():
    county = gpd.read_file(ROOT / "data" / "boundary.geojson").to_crs(32651).geometry.union_all()
    return county


def worldpop_like(path, *, negative: bool = False) -> float:
    """Write the raster; return the number of people in it."""
    rng = np.random.default_rng(16)
    lon = WEST + (np.arange(N) + 0.5) * STEP
    lat = NORTH - (np.arange(N) + 0.5) * STEP
    lon2, lat2 = np.meshgrid(lon, lat)
    x, y = TO_UTM.transform(lon2, lat2)
    inner = county_metric().buffer(-2000)
    inside = shapely.contains_xy(inner, x, y)
    people = np.where(inside, rng.uniform(0, 40, (N, N)), 0.0).astype("float32")
    people[:20, :20] = -99999  # nodata (outside the county)
    if negative:
        people[200, 200] = -5
    with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(STEP, 0, WEST, 0, -STEP, NORTH), nodata=-99999, compress="lzw") as dst:
        dst.write(people, 1)
    return float(people[people > 0].astype("float64").sum())


@pytest.fixture()
def env(tmp_path):
    app = make_app(tmp_path)
    from geo_app.cli import main

    runner = app.test_cli_runner()
    return {"app": app, "data": tmp_path / "data", "tmp": tmp_path, "client": app.test_client(),
            "run": lambda args: runner.invoke(main, args)}


def reach(env, **params):
    res = env["client"].get("/api/reach", query_string=params)
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    return body, {r["name_zh"]: r for r in body["rows"]}, body["rows"][-1]


def test_raster_import_conserves_the_county_total(env):
    path = env["tmp"] / "chn_ppp_2020_synthetic.tif"
    total = worldpop_like(path)
    res = env["run"](["data", "import", "population", str(path), "--year", "2020", "--source", "synthetic WorldPop"])
    assert res.exit_code == 0, res.output
    assert "Resampling.sum" in res.output and "in the county" in res.output
    pop = load_population(env["data"])
    assert pop.kind == "raster" and pop.year == "2020" and pop.source == "synthetic WorldPop"
    assert pop.transform.a == 250 and pop.transform.c % 250 == 0 and pop.transform.f % 250 == 0
    assert pop.total == pytest.approx(total, rel=1e-12)
    for cell in (250, 500, 300):  # the lattice itself, a multiple of it, and neither
        body, rows, county = reach(env, cell=cell)
        assert body["population"]["year"] == "2020" and body["population"]["kind"] == "raster"
        assert county["population"] == pytest.approx(total, rel=1e-9), cell
        assert 0 <= county["population_within"] <= county["population"]
        assert county["share_population_within"] == pytest.approx(county["population_within"] / total, abs=1e-4)
        assert county["population_year"] == "2020" and county["population_source"] == "synthetic WorldPop"
    assert rows["山城镇"]["population"] is None and rows["山城镇"]["status"] == "no boundary"


def test_census_grid_in_gauss_krueger_is_conserved(env):
    gk = Transformer.from_crs("EPSG:4326", "EPSG:4526", always_xy=True)
    x0, y0 = gk.transform(125.5, 42.7)
    x0, y0 = round(x0, -3), round(y0, -3)
    grid = np.arange(40 * 30, dtype="float64").reshape(30, 40) % 97 * 10.0
    transform = Affine(1000, 0, x0, 0, -1000, y0)
    out, t = to_lattice(grid, transform, rasterio.crs.CRS.from_epsg(4526))
    assert out.sum() == pytest.approx(grid.sum(), rel=1e-12)
    assert t.a == 250 and t.c % 250 == 0
    path = env["tmp"] / "census_1km.tif"
    with rasterio.open(path, "w", driver="GTiff", width=40, height=30, count=1, dtype="float64", crs="EPSG:4526",
                       transform=transform) as dst:
        dst.write(grid, 1)
    res = env["run"](["data", "import", "population", str(path), "--year", "2020", "--source", "census grid"])
    assert res.exit_code == 0, res.output
    assert load_population(env["data"]).total == pytest.approx(grid.sum(), rel=1e-12)


def test_isochrones_count_people(env):
    total = worldpop_like(env["tmp"] / "pop.tif")
    assert env["run"](["data", "import", "population", str(env["tmp"] / "pop.tif"), "--year", "2020"]).exit_code == 0
    res = env["client"].get("/api/isochrones?lon=125.68&lat=42.53&minutes=30,60,120,240")
    assert res.status_code == 200
    fc = res.get_json()
    assert fc["population"]["source"] == "pop.tif" and fc["population"]["year"] == "2020"
    props = [f["properties"] for f in fc["features"]]
    within = [p["population_within"] for p in props]
    assert within == sorted(within) and within[0] > 0
    for p in props:
        assert p["county_population_within"] <= p["population_within"] + 1e-6
        assert p["share_county_population_within"] == pytest.approx(p["county_population_within"] / total,
                                                                    abs=1e-4)
    assert within[-1] <= total * (1 + 1e-9)


def gb18030_table(path) -> dict[str, float]:
    """A statistics-office style table: Chinese headers, variant names, GB18030."""
    figures = {"紅梅鎮": 40123, "山城镇": 52310, "海龙": 21877.0, "小杨乡": 9120, "新华街道": 61002}
    df = pd.DataFrame({"名称": list(figures), "人口": [f"{v:,.0f}" for v in figures.values()],
                       "年份": "2020", "来源": "第七次全国人口普查（示例数据）"})
    path.write_bytes(df.to_csv(index=False).encode("gb18030"))
    return figures


OFFICIAL = {"紅梅鎮": "红梅镇", "山城镇": "山城镇", "海龙": "海龙镇", "小杨乡": "小杨满族朝鲜族乡",
            "新华街道": "新华街道"}


def test_township_table_without_boundaries_is_per_township(env):
    figures = gb18030_table(env["tmp"] / "towns_pop.csv")
    res = env["run"](["data", "import", "population", str(env["tmp"] / "towns_pop.csv")])
    assert res.exit_code == 0, res.output
    assert "reported per township only" in res.output
    body, rows, county = reach(env)
    assert body["population"]["kind"] == "table" and body["population"]["year"] == "2020"
    for name, value in figures.items():
        row = rows[OFFICIAL[name]]
        assert row["population"] == value  # exact
        assert row["population_within"] is None and row["status"] == "no boundary"
        assert row["population_year"] == "2020" and "人口普查" in row["population_source"]
    assert rows["水道镇"]["population"] is None and rows["水道镇"]["population_year"] is None
    assert county["population"] == sum(figures.values())  # exact
    assert county["population_within"] is None
    res = env["client"].get("/api/isochrones?lon=125.68&lat=42.53&minutes=60")
    assert res.get_json()["features"][0]["properties"]["population_within"] is None


def test_township_table_is_spread_over_the_boundaries(env):
    files = write_fixtures(env["tmp"] / "fixtures")
    assert env["run"](["data", "import", "towns", str(files["shp"])]).exit_code == 0
    figures = {"220581101": 40000, "220581100": 50000, "220581102": 20000, "220581205": 10000}
    text = "code,population,year,source\n" + "".join(f"{c},{v},2021,bureau statistics\n" for c, v in figures.items())
    (env["tmp"] / "pop.csv").write_text(text, encoding="utf-8")
    res = env["run"](["data", "import", "population", str(env["tmp"] / "pop.csv")])
    assert res.exit_code == 0, res.output
    assert "spread over the polygon by area" in res.output
    _, rows, county = reach(env)
    by_code = {r["code"]: r for r in rows.values()}
    for code, value in figures.items():
        r = by_code[code]
        assert r["population"] == value
        assert r["population_within"] == pytest.approx(value * r["share_area_within"], rel=2e-3, abs=1)
    assert county["population"] == sum(figures.values())
    assert county["population_within"] == pytest.approx(sum(by_code[c]["population_within"] for c in figures))
    # the spread grid holds every township's people exactly
    reg = env["app"].extensions["geo_app"]["layers"]
    towns = reg.frame("towns")
    pop = load_population(env["data"])
    keys = [unit_key(c, n) for c, n in zip(towns["code"], towns["name_zh"], strict=True)]
    grid, transform = spread_table(pop, keys, list(towns.geometry.to_crs(32651)), 250.0)
    assert grid.sum() == pytest.approx(sum(figures.values()), rel=1e-12)
    wide = Affine(500, 0, transform.c - 5000, 0, -500, transform.f + 5000)
    shape = (grid.shape[0] // 2 + 30, grid.shape[1] // 2 + 30)
    on_other = people_grid(pop, wide, shape, keys=keys, geoms=list(towns.geometry.to_crs(32651)))
    assert on_other.sum() == pytest.approx(sum(figures.values()), rel=1e-9)


def test_pages_and_scenarios_show_people(env):
    worldpop_like(env["tmp"] / "pop.tif")
    assert env["run"](["data", "import", "population", str(env["tmp"] / "pop.tif"), "--year", "2020",
                       "--source", "synthetic WorldPop"]).exit_code == 0
    page = env["client"].get("/accessibility").get_data(as_text=True)
    assert 'class="small population"' in page and "synthetic WorldPop" in page
    res = env["client"].get("/api/scenarios/fast_rail_changchun/compare")
    assert res.status_code == 200
    s = res.get_json()["summary"]
    _, _, county = reach(env, mode="rail")
    assert s["county_population"] == pytest.approx(county["population"])
    assert s["population_within_before"] <= s["county_population"]
    assert s["population_within_after"] >= s["population_within_before"]
    assert s["population_year"] == "2020" and s["newly_within_population"] >= 0
    row = res.get_json()["rows"][-1]
    assert row["population"] == pytest.approx(county["population"])
    page = env["client"].get("/scenarios?name=fast_rail_changchun").get_data(as_text=True)
    assert 'id="summary-people"' in page


def test_without_population_the_columns_are_empty(env):
    body, rows, county = reach(env)
    assert body["population"] is None and county["population"] is None
    assert "population_within" in county
    page = env["client"].get("/accessibility").get_data(as_text=True)
    from geo_app.i18n import text

    assert text("pop_none", "zh") in page  # where to import it, without naming a command


def _refused(env, args: list[str], message: str) -> None:
    before = snapshot(env["data"])
    res = env["run"](["data", "import", "population", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert snapshot(env["data"]) == before


def test_refusals_change_nothing(env):
    tif = env["tmp"] / "pop.tif"
    worldpop_like(tif)
    _refused(env, [str(tif)], "give the year")
    worldpop_like(tif, negative=True)
    _refused(env, [str(tif), "--year", "2020"], "negative people")
    bad = env["tmp"] / "bad.csv"
    bad.write_text("名称,人口,年份,来源\n不存在镇,100,2020,x\n山城镇,200,2020,x\n", encoding="utf-8")
    _refused(env, [str(bad)], "match no township")
    dup = env["tmp"] / "dup.csv"
    dup.write_text("name,population,year,source\n山城镇,1,2020,x\n山城,2,2020,x\n", encoding="utf-8")
    _refused(env, [str(dup)], "several rows for 山城镇")
    nosrc = env["tmp"] / "nosrc.csv"
    nosrc.write_text("name,population\n山城镇,1\n", encoding="utf-8")
    _refused(env, [str(nosrc)], "is not a year")
    zipped = env["tmp"] / "pop.zip"
    zipped.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    _refused(env, [str(zipped)], "neither a GeoTIFF nor a CSV")
    vrt = env["tmp"] / "vrt.tif"
    vrt.write_text('<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>', encoding="utf-8")
    _refused(env, [str(vrt)], "geo-app:")  # read as a table: it has no name or code column


def test_raster_and_table_replace_each_other_and_undo(env):
    tif = env["tmp"] / "pop.tif"
    total = worldpop_like(tif)
    assert env["run"](["data", "import", "population", str(tif), "--year", "2020"]).exit_code == 0
    gb18030_table(env["tmp"] / "t.csv")
    assert env["run"](["data", "import", "population", str(env["tmp"] / "t.csv")]).exit_code == 0
    assert (env["data"] / "population.csv").exists() and not (env["data"] / "population.tif").exists()
    assert load_population(env["data"]).kind == "table"
    res = env["run"](["data", "undo", "population"])
    assert res.exit_code == 0, res.output
    assert (env["data"] / "population.tif").exists() and not (env["data"] / "population.csv").exists()
    assert load_population(env["data"]).total == pytest.approx(total, rel=1e-12)
    assert env["run"](["data", "undo", "population"]).exit_code == 0
    assert load_population(env["data"]) is None
    history = [e["action"] for e in importer.read_history(env["data"], "population")]
    assert history == ["import", "import", "undo", "undo"]


def test_csv_reader_accepts_excel_utf8_bom(env):
    df = pd.DataFrame({"code": ["220581100"], "population": [123], "year": [2019], "source": ["x"]})
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    (env["tmp"] / "bom.csv").write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    res = env["run"](["data", "import", "population", str(env["tmp"] / "bom.csv"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "dry run" in res.output and not (env["data"] / "population.csv").exists()


def test_data_page_imports_a_township_table(env):
    import re

    from tests.conftest import authorize

    editor = authorize(env["app"], "editor")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"',
                      editor.get("/data").get_data(as_text=True)).group(1)
    figures = gb18030_table(env["tmp"] / "towns.csv")
    before = snapshot(env["data"])
    with open(env["tmp"] / "towns.csv", "rb") as fh:
        r = editor.post("/data/upload", headers={"X-CSRFToken": token}, content_type="multipart/form-data",
                        data={"layer": "population", "file": (fh, "乡镇人口.csv")})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["ok"] and body["report"]["total"] == sum(figures.values())
    assert snapshot(env["data"]) == before
    r = editor.post("/data/apply", headers={"X-CSRFToken": token}, json={"token": body["token"]})
    assert r.status_code == 200, r.get_json()
    assert load_population(env["data"]).total == sum(figures.values())
    assert "乡镇人口.csv" in (env["data"] / "README.md").read_text(encoding="utf-8")
    with open(env["tmp"] / "towns.csv", "rb") as fh:
        r = editor.post("/data/upload", headers={"X-CSRFToken": token}, content_type="multipart/form-data",
                        data={"layer": "population", "file": [(fh, "a.csv"), (io.BytesIO(b"x"), "b.csv")]})
    assert r.status_code == 400  # one population file at a time
