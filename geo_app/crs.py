"""Coordinate conversions: WGS84, CGCS2000 (EPSG:4490), GCJ-02 and BD-09.

GCJ-02 (国测局坐标, used by Amap and Tencent) and BD-09 (百度坐标) are not CRSs that
PROJ knows: they are WGS84 with an obfuscating, non-linear shift of 300–600 m. The
forward formulas are the widely published ones; the inverses are iterative (fixed-point
on the forward function) and converge to ~1e-9° (well under a millimetre).

CGCS2000 (EPSG:4490) and the Gauss–Krüger projections built on it differ from WGS84 by
centimetres; they go through pyproj. Every function here is pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Metric CRS used for areas and distances (UTM zone 51N, covers Meihekou).
METRIC_CRS = "EPSG:32651"
#: Geographic CRS of everything the service stores (RFC 7946 GeoJSON).
WGS84 = "EPSG:4326"
#: The shifted "datums" that PROJ does not know.
SHIFTED = ("gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOL = 1e-10  # degrees; stop the inverse iteration below this change
_MAX_ITER = 40

Array = np.ndarray


def out_of_china(lon: Any, lat: Any) -> Array:
    """Return True where a point lies outside the rough box in which GCJ-02 shifts apply.

    Parameters
    ----------
    lon, lat
        Degrees (scalars or arrays).

    Returns
    -------
    numpy.ndarray of bool
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _t_lat(x: Array, y: Array) -> Array:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _t_lon(x: Array, y: Array) -> Array:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Array, Array]:
    """Shift WGS84 coordinates to GCJ-02 (no shift outside China).

    Parameters
    ----------
    lon, lat
        WGS84 degrees (scalars or arrays of the same shape).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in GCJ-02.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lat = _t_lat(lon - 105.0, lat - 35.0)
    d_lon = _t_lon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Array, Array]:
    """Convert GCJ-02 to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in BD-09.
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward: Callable[[Array, Array], tuple[Array, Array]], lon: Any, lat: Any
            ) -> tuple[Array, Array]:
    """Invert a near-identity shift by fixed-point iteration: ``x <- x - (f(x) - target)``."""
    tx, ty = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = tx.copy(), ty.copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        dx, dy = fx - tx, fy - ty
        x, y = x - dx, y - dy
        if np.all(np.abs(dx) < _TOL) and np.all(np.abs(dy) < _TOL):
            break
    return x, y


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Array, Array]:
    """Convert GCJ-02 to WGS84 with the iterative inverse (error ≪ 1 mm).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in WGS84.
    """
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Array, Array]:
    """Convert BD-09 to GCJ-02 with the iterative inverse.

    Parameters
    ----------
    lon, lat
        BD-09 degrees.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in GCJ-02.
    """
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Array, Array]:
    """Convert WGS84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Array, Array]:
    """Convert BD-09 to WGS84 (through GCJ-02, both steps iterative)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


#: ``datum -> function (lon, lat) -> (lon, lat) in WGS84``.
TO_WGS84: dict[str, Callable[[Any, Any], tuple[Array, Array]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
#: ``datum -> function (lon, lat) in WGS84 -> (lon, lat)``.
FROM_WGS84: dict[str, Callable[[Any, Any], tuple[Array, Array]]] = {
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def shift_geometry(geom: Any, func: Callable[[Any, Any], tuple[Array, Array]]) -> Any:
    """Apply a coordinate function to every vertex of a shapely geometry.

    Parameters
    ----------
    geom
        shapely geometry (or None).
    func
        ``(lon, lat) -> (lon, lat)`` on arrays, e.g. :func:`gcj02_to_wgs84`.

    Returns
    -------
    shapely geometry or None
    """
    import shapely

    if geom is None:
        return None

    def _xy(coords: Array) -> Array:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, _xy)


def parse_crs(value: str | None) -> str | None:
    """Normalise a ``--crs`` option.

    Parameters
    ----------
    value
        ``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000`` or ``EPSG:NNNN`` (any case), or None.

    Returns
    -------
    str or None
        ``"gcj02"``, ``"bd09"`` or an ``"EPSG:NNNN"`` string PROJ knows; None when not given.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    from .errors import ValidationError

    if value is None or not str(value).strip():
        return None
    v = str(value).strip().lower().replace("-", "")
    aliases = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490", "gcj02": "gcj02", "bd09": "bd09"}
    if v in aliases:
        return aliases[v]
    if v.startswith("epsg:") and v[5:].isdigit():
        try:
            CRS.from_user_input(f"EPSG:{v[5:]}")
        except CRSError:
            raise ValidationError(f"crs: unknown EPSG code {value!r}", field="crs") from None
        return f"EPSG:{v[5:]}"
    raise ValidationError(f"crs must be EPSG:NNNN, wgs84, cgcs2000, gcj02 or bd09; got {str(value)[:40]!r}",
                          field="crs")
