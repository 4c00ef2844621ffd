"""`geo-app data import dem` (issue 16): tiles in EPSG:4326 with a known planar slope, mosaicked and reprojected.

The tiles are SYNTHETIC, written at test time with rasterio the way Copernicus GLO-30 tiles are
(float32 GeoTIFF in EPSG:4326, 1 arc-second, edge pixels centred on the tile edge so neighbours
share a column, a nodata value): two adjacent 0.1° tiles near Meihekou's centre whose elevation is
``300 + A · (easting − E0)`` in metres of EPSG:32651, i.e. a plane rising A m per metre east.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer

from geo_app import importer
from geo_app.importer.dem import prepare_dem
from geo_app.raster import open_geotiff, resolve_dem, sample_dem, slope_grid
from tests.test_importer import make_app, snapshot

A = 0.08  # rise per metre east: 8 % slope
STEP = 1 / 3600  # 1 arc-second
LAT0, SIZE = 42.45, 0.1
WEST_LON, EAST_LON = 125.55, 125.65
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
E0 = 700_000.0
NODATA = -32767.0


def write_tile(path, lon0: float, lat0: float = LAT0, *, nodata_box: tuple[slice, slice] | None = None,
               crs: str | None = "EPSG:4326"):
    """One tile whose pixel centres run from (lon0, lat0) to (lon0 + SIZE, lat0 + SIZE)."""
    n = round(SIZE / STEP) + 1
    lons = lon0 + np.arange(n) * STEP
    lats = lat0 + SIZE - np.arange(n) * STEP
    lon, lat = np.meshgrid(lons, lats)
    east, _ = TO_UTM.transform(lon, lat)
    z = (300.0 + A * (east - E0)).astype("float32")
    if nodata_box is not None:
        z[nodata_box] = NODATA
    transform = Affine(STEP, 0.0, lon0 - STEP / 2, 0.0, -STEP, lat0 + SIZE + STEP / 2)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs=crs,
                       transform=transform, nodata=NODATA, compress="deflate", tiled=True,
                       blockxsize=256, blockysize=256) as dst:
        dst.write(z, 1)
    return path


def expected_z(lon: float, lat: float) -> float:
    east, _ = TO_UTM.transform(lon, lat)
    return 300.0 + A * (east - E0)


@pytest.fixture()
def env(tmp_path):
    app = make_app(tmp_path)
    from geo_app.cli import main

    runner = app.test_cli_runner()
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    west = write_tile(tiles / "Copernicus_DSM_N42_E125_west.tif", WEST_LON)
    hole = (slice(300, 340), slice(300, 340))
    east = write_tile(tiles / "Copernicus_DSM_N42_E125_east.tif", EAST_LON, nodata_box=hole)
    return {"app": app, "data": tmp_path / "data", "tmp": tmp_path, "west": west, "east": east,
            "run": lambda args: runner.invoke(main, args)}


def test_two_geographic_tiles_give_the_known_slope(env):
    res = env["run"](["data", "import", "dem", str(env["west"]), str(env["east"]),
                      "--source", "synthetic GLO-30-like"])
    assert res.exit_code == 0, res.output
    assert "share of the county covered" in res.output and "nodata share" in res.output
    assert "resolution" in res.output
    dem = env["data"] / "dem.tif"
    with open_geotiff(dem) as src:
        assert src.crs.to_epsg() == 32651
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        tags = src.tags()
        assert tags["SOURCE"] == "synthetic GLO-30-like" and float(tags["RESOLUTION_M"]) == src.transform.a
        z = src.read(1)
        slope = slope_grid(z, src.transform, src.crs)
    assert 20 <= src.transform.a <= 35  # the tiles' own ~1 arc-second resolution in metres
    assert np.nanmedian(slope) * 100 == pytest.approx(A * 100, abs=0.5)
    # points in both tiles and on the seam between them (lon 125.65)
    for lon, lat in [(125.58, 42.50), (125.62, 42.47), (125.65, 42.51), (125.6501, 42.49), (125.72, 42.53)]:
        out = sample_dem(dem, lon, lat)
        assert out["available"] and out["source"] == "synthetic GLO-30-like"
        assert out["slope_pct"] == pytest.approx(A * 100, abs=0.5), (lon, lat)
        assert out["elevation_m"] == pytest.approx(expected_z(lon, lat), abs=0.5 * A * src.transform.a + 0.05)
    history = importer.read_history(env["data"], "dem")
    assert history[-1]["action"] == "import" and history[-1]["files"] == ["dem.tif"]
    assert "`dem` ←" in (env["data"] / "README.md").read_text(encoding="utf-8")


def test_report_figures(env):
    boundary = env["app"].extensions["geo_app"]["layers"].frame("boundary")
    plan = prepare_dem([env["west"], env["east"]], boundary)
    r = plan.report
    assert plan.ok and r["crs"] == "EPSG:32651"
    assert 0 < r["county_share_covered"] < 0.2  # two 0.1° tiles cover a corner of the county
    assert r["nodata_share"] > 0  # the nodata box in the east tile
    lon0, lat0, lon1, lat1 = r["extent_wgs84"]
    assert lon0 == pytest.approx(WEST_LON, abs=0.01) and lon1 == pytest.approx(EAST_LON + SIZE, abs=0.01)
    assert lat0 == pytest.approx(LAT0, abs=0.01) and lat1 == pytest.approx(LAT0 + SIZE, abs=0.01)
    assert r["slope_pct_median"] == pytest.approx(A * 100, abs=0.5)
    assert any("of the county has no elevation" in w for w in r["warnings"])


def test_geographic_slope_grid_uses_each_rows_latitude():
    """A plane in degrees: the cell width in metres shrinks with cos(lat) row by row."""
    n, step, lat_top = 400, 0.001, 43.0
    lons = 125.0 + (np.arange(n) + 0.5) * step
    lats = lat_top - (np.arange(n) + 0.5) * step
    lon, lat = np.meshgrid(lons, lats)
    east, _ = TO_UTM.transform(lon, lat)
    z = A * (east - E0)
    slope = slope_grid(z, Affine(step, 0, 125.0, 0, -step, lat_top), rasterio.crs.CRS.from_epsg(4326))
    assert np.nanmax(np.abs(slope - A)) * 100 < 0.5
    assert np.isnan(slope[0]).all() and np.isnan(slope[:, -1]).all()


def test_undo_restores_the_folder(env):
    before = snapshot(env["data"])
    assert env["run"](["data", "import", "dem", str(env["west"])]).exit_code == 0
    first = snapshot(env["data"])["dem.tif"]
    res = env["run"](["data", "import", "dem", str(env["west"]), str(env["east"])])
    assert res.exit_code == 0, res.output
    assert snapshot(env["data"])["dem.tif"] != first
    assert list(env["data"].glob("dem.bak.*.tif"))
    res = env["run"](["data", "undo", "dem"])
    assert res.exit_code == 0, res.output
    assert snapshot(env["data"])["dem.tif"] == first
    assert env["run"](["data", "undo", "dem"]).exit_code == 0
    assert not (env["data"] / "dem.tif").exists()
    def models(snap: dict[str, str]) -> dict[str, str]:  # the model files: no backups, history or README record
        return {k: v for k, v in snap.items() if ".bak." not in k and not k.startswith("history") and k != "README.md"}

    assert models(snapshot(env["data"])) == models(before)
    assert env["run"](["data", "undo", "dem"]).exit_code == 2  # nothing left to undo


def test_resolve_dem_prefers_the_import(env, tmp_path):
    configured = tmp_path / "other.tif"
    assert resolve_dem(configured, env["data"]) == configured
    assert resolve_dem(None, env["data"]) is None
    assert env["run"](["data", "import", "dem", str(env["west"])]).exit_code == 0
    assert resolve_dem(configured, env["data"]) == env["data"] / "dem.tif"


def _refused(env, args: list[str], message: str) -> None:
    before = snapshot(env["data"])
    res = env["run"](["data", "import", "dem", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert snapshot(env["data"]) == before


def test_not_a_tiff_is_refused_by_its_bytes(env):
    vrt = env["tmp"] / "tile.tif"
    vrt.write_text(f'<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand band="1">'
                   f'<SimpleSource><SourceFilename>{env["west"]}</SourceFilename></SimpleSource>'
                   f'</VRTRasterBand></VRTDataset>', encoding="utf-8")
    _refused(env, [str(env["west"]), str(vrt)], "not a GeoTIFF")


def test_corrupt_tiff_without_crs_and_outside_are_refused(env):
    bad = env["tmp"] / "corrupt.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 64)
    _refused(env, [str(bad)], "cannot read it as a GeoTIFF")
    nocrs = write_tile(env["tmp"] / "nocrs.tif", WEST_LON, crs=None)
    _refused(env, [str(nocrs)], "has no CRS")
    far = write_tile(env["tmp"] / "far.tif", 127.5, 44.0)
    _refused(env, [str(far)], "no tile covers any of Meihekou")


def test_failed_write_changes_nothing(env, monkeypatch):
    before = snapshot(env["data"])
    from geo_app.importer import files

    def fail(*_args, **_kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", fail)
    res = env["run"](["data", "import", "dem", str(env["west"])])
    assert res.exit_code == 2 and "nothing was changed" in res.output
    assert snapshot(env["data"]) == before
    assert not list(env["data"].glob(".dem.tif.*"))


def test_bigtiff_signature_is_accepted(env):
    big = env["tmp"] / "big.tif"
    with rasterio.open(env["west"]) as src:
        profile = {**src.profile, "BIGTIFF": "YES"}
        data = src.read()
    with rasterio.open(big, "w", **profile) as dst:
        dst.write(data)
    assert big.read_bytes()[:4] == b"II+\x00"
    res = env["run"](["data", "import", "dem", str(big)])
    assert res.exit_code == 0, res.output
    assert math.isfinite(sample_dem(env["data"] / "dem.tif", 125.6, 42.5)["slope_pct"])


def test_siting_review_reads_the_imported_dem(env):
    service = env["app"].extensions["geo_app"]["reviews"]
    site = service.parse({"geometry": {"type": "Point", "coordinates": [125.60, 42.50]}})
    before = {f["key"]: f for f in service.review(site)["findings"]}
    assert before["slope"]["status"] == "unavailable"  # no DEM configured yet
    res = env["run"](["data", "import", "dem", str(env["west"]), "--source", "synthetic GLO-30-like"])
    assert res.exit_code == 0, res.output
    after = {f["key"]: f for f in service.review(site)["findings"]}
    slope, elev = after["slope"], after["elevation"]
    assert slope["value"] == pytest.approx(A * 100, abs=0.5)
    assert elev["value"] == pytest.approx(expected_z(125.60, 42.50), abs=2.0)
    res_m = elev["detail"]["resolution_m"]
    assert elev["detail"]["source"] == "synthetic GLO-30-like" and 20 <= res_m <= 35
    assert f"DEM: synthetic GLO-30-like, {res_m:g} m resolution" in elev["note_en"]
    assert "synthetic GLO-30-like" in slope["note_zh"] and f"分辨率 {res_m:g} m" in slope["note_zh"]


def test_data_page_uploads_tiles_reports_applies_and_undoes(env):
    import re

    from tests.conftest import authorize

    app = env["app"]
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024  # GEO_APP_MAX_CONTENT_LENGTH for DEM tiles
    editor = authorize(app, "editor")
    html = editor.get("/data").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
    assert '<option value="dem">' in html and '<option value="population">' in html
    before = snapshot(env["data"])
    with open(env["west"], "rb") as w, open(env["east"], "rb") as e:
        r = editor.post("/data/upload", headers={"X-CSRFToken": token}, content_type="multipart/form-data",
                        data={"layer": "dem", "source": "web tiles", "file": [(w, "west.tif"), (e, "east.tif")]})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["ok"] and "share of the county covered" in body["text"]
    assert [i["name"] for i in body["report"]["inputs"]] == ["west.tif", "east.tif"]
    assert snapshot(env["data"]) == before  # the report writes nothing in data/
    r = editor.post("/data/apply", headers={"X-CSRFToken": token}, json={"token": body["token"], "note": "web"})
    assert r.status_code == 200, r.get_json()
    assert sample_dem(env["data"] / "dem.tif", 125.62, 42.5)["source"] == "web tiles"
    assert "dem" in editor.get("/data").get_data(as_text=True).split('id="history-list"')[1]
    r = editor.post("/data/undo", headers={"X-CSRFToken": token}, json={"layer": "dem"})
    assert r.status_code == 200, r.get_json()
    assert not (env["data"] / "dem.tif").exists()
    fake = env["tmp"] / "fake.tif"
    fake.write_text("<VRTDataset/>", encoding="utf-8")
    middle = snapshot(env["data"])
    with open(fake, "rb") as fh:
        r = editor.post("/data/upload", headers={"X-CSRFToken": token}, content_type="multipart/form-data",
                        data={"layer": "dem", "file": (fh, "fake.tif")})
    assert r.status_code == 415 and "not a GeoTIFF" in r.get_json()["error"]["message"]
    assert snapshot(env["data"]) == middle
    assert editor.post("/data/upload", headers={"X-CSRFToken": token}, content_type="multipart/form-data",
                       data={"layer": "dem"}).status_code == 400
