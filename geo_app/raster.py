"""GeoTIFF helpers: writing rasters and sampling a DEM for elevation and slope.

``sample_dem`` never raises into a request: a missing, unreadable or corrupt DEM, or a
point outside its extent, gives an *unavailable* result that carries the reason.
Slope is computed in metric units: when the DEM is in a geographic CRS (degrees), the
cell sizes are converted to metres at the point's latitude on the WGS84 ellipsoid.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

#: Keys of every :func:`sample_dem` result.
DEM_KEYS = ("available", "reason", "elevation_m", "slope_deg", "slope_pct", "crs", "cell_m")


def _unavailable(reason: str) -> dict[str, Any]:
    return {
        "available": False,
        "reason": reason,
        "elevation_m": math.nan,
        "slope_deg": math.nan,
        "slope_pct": math.nan,
        "crs": None,
        "cell_m": None,
    }


@lru_cache(maxsize=16)
def _to_raster_crs(crs_wkt: str):  # type: ignore[no-untyped-def]
    from pyproj import CRS, Transformer

    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(crs_wkt), always_xy=True)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Return metres per degree of longitude and of latitude at ``lat`` (WGS84 ellipsoid).

    Parameters
    ----------
    lat
        Latitude in degrees.

    Returns
    -------
    tuple of float
        ``(m_per_deg_lon, m_per_deg_lat)``.
    """
    a = 6378137.0
    e2 = 6.69437999014e-3
    phi = math.radians(lat)
    s2 = math.sin(phi) ** 2
    n = a / math.sqrt(1 - e2 * s2)  # prime vertical radius
    m = a * (1 - e2) / (1 - e2 * s2) ** 1.5  # meridional radius
    return math.radians(1) * n * math.cos(phi), math.radians(1) * m


def horn_slope(window: np.ndarray, dx_m: float, dy_m: float) -> float:
    """Slope (as a gradient magnitude, rise/run) of the centre of a 3×3 window (Horn 1981).

    Parameters
    ----------
    window
        3×3 elevations in metres, row 0 to the north when the raster is north-up
        (the sign convention does not affect the magnitude).
    dx_m, dy_m
        Cell width and height in metres.

    Returns
    -------
    float
        ``sqrt((dz/dx)^2 + (dz/dy)^2)``; NaN when any window value is NaN.
    """
    z = np.asarray(window, dtype="float64")
    if z.shape != (3, 3) or not np.all(np.isfinite(z)):
        return math.nan
    dzdx = ((z[0, 2] + 2 * z[1, 2] + z[2, 2]) - (z[0, 0] + 2 * z[1, 0] + z[2, 0])) / (8 * dx_m)
    dzdy = ((z[2, 0] + 2 * z[2, 1] + z[2, 2]) - (z[0, 0] + 2 * z[0, 1] + z[0, 2])) / (8 * dy_m)
    return float(math.hypot(dzdx, dzdy))


def sample_dem(path: str | Path | None, lon: float, lat: float) -> dict[str, Any]:
    """Sample elevation and slope of a DEM at a WGS84 point.

    Parameters
    ----------
    path
        GeoTIFF (any CRS rasterio can read). None means no DEM is configured.
    lon, lat
        The point in WGS84 degrees.

    Returns
    -------
    dict
        ``available`` (bool), ``reason`` (None or why unavailable), ``elevation_m``,
        ``slope_deg``, ``slope_pct`` (floats; NaN for nodata or when unavailable),
        ``crs`` (the DEM's CRS string) and ``cell_m`` ([dx, dy] in metres). At a raster
        edge the missing neighbours are filled by edge replication, so the slope
        there is a one-sided estimate. Never raises.
    """
    if path is None:
        return _unavailable("no DEM configured")
    path = Path(path)
    if not path.is_file():
        return _unavailable(f"DEM file not found: {path.name}")
    try:
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(path) as src:
            if src.crs is None:
                return _unavailable("DEM has no CRS")
            x, y = _to_raster_crs(src.crs.to_wkt()).transform(lon, lat)
            if not (math.isfinite(x) and math.isfinite(y)):
                return _unavailable("point cannot be projected to the DEM CRS")
            row, col = src.index(x, y)
            if not (0 <= row < src.height and 0 <= col < src.width):
                return _unavailable("point lies outside the DEM extent")
            r0, c0 = max(row - 1, 0), max(col - 1, 0)
            r1, c1 = min(row + 2, src.height), min(col + 2, src.width)
            data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
            arr = np.ma.filled(data.astype("float64"), np.nan)
            if src.nodata is not None and not math.isnan(src.nodata):
                arr[arr == src.nodata] = np.nan
            # Pad to a full 3×3 at raster edges (edge replication).
            top = 1 if row - 1 < 0 else 0
            bottom = 1 if row + 2 > src.height else 0
            left = 1 if col - 1 < 0 else 0
            right = 1 if col + 2 > src.width else 0
            win = np.pad(arr, ((top, bottom), (left, right)), mode="edge")
            dx, dy = abs(src.transform.a), abs(src.transform.e)
            crs_str = src.crs.to_string()
            geographic = bool(src.crs.is_geographic)
            if not geographic:
                factor = src.crs.linear_units_factor[1] if src.crs.linear_units_factor else 1.0
                dx_m, dy_m = dx * factor, dy * factor
    except Exception as exc:  # corrupt or unreadable file: never raise into the request
        return _unavailable(f"DEM unreadable: {type(exc).__name__}: {str(exc)[:120]}")
    if geographic:
        m_lon, m_lat = metres_per_degree(lat)
        dx_m, dy_m = dx * m_lon, dy * m_lat
    elevation = float(win[1, 1])
    grad = horn_slope(win, dx_m, dy_m)
    return {
        "available": True,
        "reason": None if math.isfinite(elevation) else "no data at this point",
        "elevation_m": elevation,
        "slope_deg": math.degrees(math.atan(grad)) if math.isfinite(grad) else math.nan,
        "slope_pct": 100.0 * grad if math.isfinite(grad) else math.nan,
        "crs": crs_str,
        "cell_m": [dx_m, dy_m],
    }


def write_geotiff(array: np.ndarray, transform: Any, crs: Any, path: str | Path,
                  nodata: float | None = np.nan) -> Path:
    """Write a 2-D (one band) or 3-D (bands, rows, cols) array as a GeoTIFF.

    Parameters
    ----------
    array
        Raster values; float arrays keep NaN as nodata.
    transform
        ``affine.Affine`` of the upper-left corner.
    crs
        Anything rasterio accepts (``"EPSG:32651"``, a ``CRS``).
    path
        Output file; its folder is created.
    nodata
        Nodata value; NaN (default) is dropped for integer arrays.

    Returns
    -------
    Path
        The written file.
    """
    import rasterio

    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[np.newaxis, ...]
    if arr.ndim != 3:
        raise ValueError("array must be 2-D or 3-D (bands, rows, cols)")
    if nodata is not None and np.issubdtype(arr.dtype, np.integer) and math.isnan(nodata):
        nodata = None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": crs,
        "transform": transform,
        "compress": "deflate",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    return path
