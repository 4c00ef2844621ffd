"""DEM sampling and GeoTIFF writing on synthetic planes whose slope is known exactly.

The DEM fixtures are generated at run time into tmp_path (nothing binary is committed):
a plane in a metric CRS (EPSG:32651) and one in geographic degrees (EPSG:4326).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod, Transformer

from geo_app.raster import metres_per_degree, sample_dem, write_geotiff


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


TO_LONLAT = Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
X0, Y0, CELL, N = 300_000.0, 4_712_000.0, 10.0, 21  # UTM 51N, near Meihekou


def utm_plane(tmp_path, gx: float, gy: float, name: str = "plane_utm.tif", nodata_at=None):
    """z = 100 + gx * east + gy * north (metres), on a north-up 10 m grid."""
    cols = np.arange(N)
    rows = np.arange(N)
    east = (cols + 0.5) * CELL  # metres east of X0 at cell centres
    north = -(rows + 0.5) * CELL  # rows go south
    z = 100.0 + gx * east[np.newaxis, :] + gy * north[:, np.newaxis]
    z = z.astype("float32")
    if nodata_at is not None:
        z[nodata_at] = np.nan
    path = write_geotiff(z, from_origin(X0, Y0, CELL, CELL), "EPSG:32651", tmp_path / name)
    return path, z


def cell_lonlat(row: int, col: int) -> tuple[float, float]:
    x = X0 + (col + 0.5) * CELL
    y = Y0 - (row + 0.5) * CELL
    return TO_LONLAT.transform(x, y)


def test_metric_plane_slope_is_atan_01(tmp_path):
    path, z = utm_plane(tmp_path, 0.1, 0.0)
    lon, lat = cell_lonlat(10, 10)
    out = sample_dem(path, lon, lat)
    assert out["available"] is True and out["reason"] is None
    assert out["elevation_m"] == pytest.approx(float(z[10, 10]), abs=1e-3)
    assert out["elevation_m"] == pytest.approx(110.5, abs=1e-3)
    assert out["slope_deg"] == pytest.approx(math.degrees(math.atan(0.1)), abs=0.01)  # 5.71°
    assert out["slope_deg"] == pytest.approx(5.71, abs=0.01)
    assert out["slope_pct"] == pytest.approx(10.0, abs=0.01)
    assert out["cell_m"] == pytest.approx([10.0, 10.0])
    assert "32651" in out["crs"]


def test_metric_plane_both_axes(tmp_path):
    path, _ = utm_plane(tmp_path, 0.03, 0.04)  # gradient magnitude 0.05
    out = sample_dem(path, *cell_lonlat(7, 12))
    assert out["slope_pct"] == pytest.approx(5.0, abs=0.01)
    assert out["slope_deg"] == pytest.approx(math.degrees(math.atan(0.05)), abs=0.01)


def test_flat_plane_zero_slope(tmp_path):
    path, _ = utm_plane(tmp_path, 0.0, 0.0)
    out = sample_dem(path, *cell_lonlat(3, 3))
    assert out["slope_deg"] == pytest.approx(0.0, abs=1e-9)
    assert out["elevation_m"] == pytest.approx(100.0)


def test_geographic_plane_slope_in_metres(tmp_path):
    """A DEM in degrees: cell sizes are converted to metres at the latitude."""
    lon0, lat0, step, n = 125.64, 42.54, 0.0005, 21
    geod = Geod(ellps="WGS84")
    lat_c = lat0 - (n / 2) * step
    m_per_deg_lon = geod.inv(lon0, lat_c, lon0 + 0.01, lat_c)[2] / 0.01  # independent of the code under test
    lons = lon0 + (np.arange(n) + 0.5) * step
    z = 200.0 + 0.1 * (lons - lon0) * m_per_deg_lon  # rise 0.1 m per metre east → 10 %
    arr = np.repeat(z[np.newaxis, :], n, axis=0).astype("float64")
    path = write_geotiff(arr, from_origin(lon0, lat0, step, step), "EPSG:4326", tmp_path / "plane_4326.tif")
    lon_c = lon0 + 10.5 * step
    lat_cell = lat0 - 10.5 * step
    out = sample_dem(path, lon_c, lat_cell)
    assert out["available"]
    assert out["slope_deg"] == pytest.approx(5.7106, abs=0.02)
    assert out["slope_pct"] == pytest.approx(10.0, abs=0.03)
    assert out["elevation_m"] == pytest.approx(float(arr[10, 10]), abs=1e-6)
    # the cell height in metres is ~111 km/° × step, the width shrinks with cos(lat)
    assert out["cell_m"][1] == pytest.approx(step * 111_000, rel=0.01)
    assert out["cell_m"][0] == pytest.approx(step * m_per_deg_lon, rel=1e-4)


def test_metres_per_degree_against_geod():
    geod = Geod(ellps="WGS84")
    m_lon, m_lat = metres_per_degree(42.5)
    assert m_lon == pytest.approx(geod.inv(125.0, 42.5, 125.001, 42.5)[2] / 0.001, rel=1e-5)
    assert m_lat == pytest.approx(geod.inv(125.0, 42.4995, 125.0, 42.5005)[2] / 0.001, rel=1e-4)


def test_edge_cell_is_sampled(tmp_path):
    path, _ = utm_plane(tmp_path, 0.1, 0.0)
    out = sample_dem(path, *cell_lonlat(0, 0))
    assert out["available"]
    assert out["elevation_m"] == pytest.approx(100.5, abs=1e-3)
    assert math.isfinite(out["slope_deg"]) and out["slope_deg"] > 0


def test_nodata_centre_gives_nan_elevation(tmp_path):
    path, _ = utm_plane(tmp_path, 0.1, 0.0, nodata_at=(10, 10))
    out = sample_dem(path, *cell_lonlat(10, 10))
    assert math.isnan(out["elevation_m"]) and math.isnan(out["slope_deg"])
    assert out["reason"] == "no data at this point"


def test_nodata_neighbour_gives_nan_slope(tmp_path):
    path, _ = utm_plane(tmp_path, 0.1, 0.0, nodata_at=(9, 9))
    out = sample_dem(path, *cell_lonlat(10, 10))
    assert out["elevation_m"] == pytest.approx(110.5, abs=1e-3)
    assert math.isnan(out["slope_pct"])


def test_integer_dem_with_nodata_value(tmp_path):
    z = np.full((5, 5), 300, dtype="int16")
    z[2, 2] = -9999
    path = write_geotiff(z, from_origin(X0, Y0, CELL, CELL), "EPSG:32651", tmp_path / "int.tif", nodata=-9999)
    out = sample_dem(path, *cell_lonlat(2, 2))
    assert math.isnan(out["elevation_m"])
    out = sample_dem(path, *cell_lonlat(0, 0))
    assert out["elevation_m"] == 300.0 and out["slope_deg"] == 0.0


def test_unavailable_results_never_raise(tmp_path):
    none = sample_dem(None, 125.65, 42.53)
    assert none["available"] is False and none["reason"] == "no DEM configured"
    assert math.isnan(none["elevation_m"])
    missing = sample_dem(tmp_path / "nope.tif", 125.65, 42.53)
    assert not missing["available"] and "not found" in missing["reason"]
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00 this is not a tiff at all" * 10)
    corrupt = sample_dem(bad, 125.65, 42.53)
    assert not corrupt["available"] and "unreadable" in corrupt["reason"]
    path, _ = utm_plane(tmp_path, 0.1, 0.0)
    outside = sample_dem(path, 127.5, 44.0)
    assert not outside["available"] and "outside" in outside["reason"]


def test_write_geotiff_round_trip(tmp_path):
    arr = np.arange(12, dtype="float32").reshape(3, 4)
    arr[0, 0] = np.nan
    tr = from_origin(X0, Y0, 250, 250)
    path = write_geotiff(arr, tr, "EPSG:32651", tmp_path / "sub" / "s.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32651
        assert src.transform == tr
        assert math.isnan(src.nodata)
        back = src.read(1)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(arr))
    np.testing.assert_allclose(back[1:], arr[1:])
    with pytest.raises(ValueError):
        write_geotiff(np.zeros(3), tr, "EPSG:32651", tmp_path / "bad.tif")
