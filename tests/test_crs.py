"""GCJ-02 / BD-09 conversions against published test points, and round trips (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_app import crs
from geo_app.errors import ValidationError

# googollee/eviltransform (MIT), python/test.py: (wgs_lat, wgs_lng, gcj_lat, gcj_lng).
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# wandergis/coordtransform (MIT), test/app.js: input (116.404, 39.915) in each direction.
COORDTRANSFORM_IN = (116.404, 39.915)
GCJ_TO_BD = (116.41036949371029, 39.92133699351021)
WGS_TO_GCJ = (116.41024449916938, 39.91640428150164)
BD_TO_GCJ_APPROX = (116.39762729119315, 39.90865673957631)  # the one-step approximate inverse
GCJ_TO_WGS_APPROX = (116.39775550083061, 39.91359571849836)  # the one-step approximate inverse


def metres(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Haversine distance in metres."""
    r = 6371008.8
    p0, p1 = math.radians(lat0), math.radians(lat1)
    dp, dl = p1 - p0, math.radians(lon1 - lon0)
    a = math.sin(dp / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_wgs_to_gcj_published_points(wlat, wlng, glat, glng):
    lon, lat = crs.wgs84_to_gcj02(wlng, wlat)
    assert float(lon) == pytest.approx(glng, abs=1e-9)
    assert float(lat) == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_gcj_to_wgs_iterative_inverse_is_exact(wlat, wlng, glat, glng):
    lon, lat = crs.gcj02_to_wgs84(glng, glat)
    assert metres(float(lon), float(lat), wlng, wlat) < 0.01  # published WGS84 point, to 1 cm


def test_coordtransform_published_points():
    lon, lat = crs.gcj02_to_bd09(*COORDTRANSFORM_IN)
    assert (float(lon), float(lat)) == pytest.approx(GCJ_TO_BD, abs=1e-9)
    lon, lat = crs.wgs84_to_gcj02(*COORDTRANSFORM_IN)
    assert (float(lon), float(lat)) == pytest.approx(WGS_TO_GCJ, abs=1e-9)
    # The published inverses are one-step approximations: ours (iterative) agree within 0.2 m …
    lon, lat = crs.bd09_to_gcj02(*COORDTRANSFORM_IN)
    assert metres(float(lon), float(lat), *BD_TO_GCJ_APPROX) < 0.2
    lon, lat = crs.gcj02_to_wgs84(*COORDTRANSFORM_IN)
    assert metres(float(lon), float(lat), *GCJ_TO_WGS_APPROX) < 0.2
    # … and, unlike them, go back exactly.
    assert metres(*map(float, crs.gcj02_to_bd09(*crs.bd09_to_gcj02(*COORDTRANSFORM_IN))), *COORDTRANSFORM_IN) < 1e-4


def test_shift_size_in_meihekou():
    """Web-map data are shifted by a few hundred metres around Meihekou."""
    lon, lat = 125.68, 42.53
    assert 200 < metres(lon, lat, *map(float, crs.wgs84_to_gcj02(lon, lat))) < 700
    assert 600 < metres(lon, lat, *map(float, crs.wgs84_to_bd09(lon, lat))) < 1500


def test_outside_china_is_not_shifted():
    lon, lat = crs.wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)


def test_vectorised():
    lons, lats = np.array([125.3, 125.7, 126.0]), np.array([42.2, 42.5, 42.9])
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lons, lats))
    assert np.allclose(back[0], lons, atol=1e-9) and np.allclose(back[1], lats, atol=1e-9)


china = dict(lon=st.floats(min_value=73.7, max_value=134.7), lat=st.floats(min_value=18.2, max_value=53.5))


@settings(max_examples=300, deadline=None)
@given(**china)
def test_gcj_round_trip(lon, lat):
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert metres(float(back[0]), float(back[1]), lon, lat) < 0.01


@settings(max_examples=300, deadline=None)
@given(**china)
def test_bd_round_trip(lon, lat):
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert metres(float(back[0]), float(back[1]), lon, lat) < 0.01


@settings(max_examples=200, deadline=None)
@given(**china)
def test_inverse_then_forward(lon, lat):
    """Starting from GCJ-02 (what a web map gives): inverse then forward lands back."""
    fwd = crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(lon, lat))
    assert metres(float(fwd[0]), float(fwd[1]), lon, lat) < 0.01


def test_shift_geometry_moves_every_vertex():
    from shapely.geometry import Polygon

    poly = Polygon([(125.6, 42.5), (125.7, 42.5), (125.7, 42.6), (125.6, 42.5)])
    shifted = crs.shift_geometry(poly, crs.wgs84_to_gcj02)
    back = crs.shift_geometry(shifted, crs.gcj02_to_wgs84)
    assert shifted.hausdorff_distance(poly) > 0.002
    assert back.hausdorff_distance(poly) < 1e-9
    assert crs.shift_geometry(None, crs.wgs84_to_gcj02) is None


@pytest.mark.parametrize(("given_", "expected"), [
    ("wgs84", "EPSG:4326"), ("WGS-84", "EPSG:4326"), ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("bd09", "bd09"),
    ("cgcs2000", "EPSG:4490"), ("EPSG:4490", "EPSG:4490"), ("epsg:4530", "EPSG:4530"), (None, None), ("", None),
])
def test_parse_crs(given_, expected):
    assert crs.parse_crs(given_) == expected


@pytest.mark.parametrize("bad", ["EPSG:999999", "mars", "4490", "EPSG:abc"])
def test_parse_crs_refuses(bad):
    with pytest.raises(ValidationError):
        crs.parse_crs(bad)
