"""GeoTIFF helpers: checking and opening GeoTIFFs, writing rasters, sampling a DEM for elevation and slope.

``sample_dem`` never raises into a request: a missing, unreadable or corrupt DEM, or a
point outside its extent, gives an *unavailable* result that carries the reason.
Slope is computed in metric units: when the DEM is in a geographic CRS (degrees), the
cell sizes are converted to metres at the latitude of the cell's row on the WGS84 ellipsoid.
Every GeoTIFF that comes from outside is checked by its bytes to be a TIFF and opened with
the GTiff driver only (:func:`open_geotiff`): never a VRT, never a ``/vsi`` path.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnsupportedMediaType

#: Keys of every :func:`sample_dem` result.
DEM_KEYS = ("available", "reason", "elevation_m", "slope_deg", "slope_pct", "crs", "cell_m", "source",
            "resolution_m")
#: The DEM an import writes into the data folder (git-ignored; ``geo-app data import dem``).
DEM_FILE = "dem.tif"
#: The first four bytes of a classic TIFF (little, big endian) and of a BigTIFF (little, big endian).
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _unavailable(reason: str) -> dict[str, Any]:
    return {
        "available": False,
        "reason": reason,
        "elevation_m": math.nan,
        "slope_deg": math.nan,
        "slope_pct": math.nan,
        "crs": None,
        "cell_m": None,
        "source": None,
        "resolution_m": None,
    }


def is_tiff(path: str | Path) -> bool:
    """True when the file starts with a TIFF or BigTIFF signature (see :data:`TIFF_MAGIC`)."""
    with open(path, "rb") as fh:
        return fh.read(4) in TIFF_MAGIC


def open_geotiff(path: str | Path, name: str | None = None) -> Any:
    """Open a local GeoTIFF for reading with the GTiff driver only, after checking its bytes.

    Parameters
    ----------
    path
        A regular local file (no ``/vsi`` path, no URL).
    name
        The name to use in messages (an upload's original name).

    Returns
    -------
    rasterio.io.DatasetReader
        Use it as a context manager.

    Raises
    ------
    UnsupportedMediaType
        When the path is a GDAL virtual path or URL, is not a regular file, does not start with
        a TIFF signature, or GDAL cannot read it as a GeoTIFF.
    """
    import rasterio

    label = name or Path(path).name
    text = str(path)
    if text.startswith("/vsi") or "://" in text or not Path(path).is_file():
        raise UnsupportedMediaType(f"{label}: not a local file (no /vsi paths or URLs)", field="file")
    if not is_tiff(path):
        raise UnsupportedMediaType(f"{label}: not a GeoTIFF (the file does not start with a TIFF signature "
                                   "II*\\0, MM\\0* or BigTIFF)", field="file")
    try:
        return rasterio.open(Path(path), driver="GTiff")
    except rasterio.errors.RasterioError as exc:
        raise UnsupportedMediaType(f"{label}: GDAL cannot read it as a GeoTIFF ({str(exc)[:160]})",
                                   field="file") from exc


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


def cell_size_m(crs: Any, dx: float, dy: float, lat: float) -> tuple[float, float]:
    """A cell's width and height in metres at latitude ``lat``.

    Parameters
    ----------
    crs
        The raster's ``rasterio.crs.CRS``.
    dx, dy
        Cell width and height in the CRS's units (absolute values).
    lat
        Latitude of the cell (only used when the CRS is geographic).

    Returns
    -------
    tuple of float
        ``(dx_m, dy_m)``.
    """
    if crs.is_geographic:
        m_lon, m_lat = metres_per_degree(lat)
        return dx * m_lon, dy * m_lat
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return dx * factor, dy * factor


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


def slope_grid(z: np.ndarray, transform: Any, crs: Any) -> np.ndarray:
    """Horn (1981) slope of every cell of a north-up grid, as a gradient magnitude (rise/run), in metres.

    Parameters
    ----------
    z
        (H, W) elevations in metres; NaN is nodata.
    transform
        The grid's ``affine.Affine`` (north-up: no rotation).
    crs
        The grid's ``rasterio.crs.CRS``. For a geographic CRS the cell width and height are
        converted to metres at the latitude of each row (WGS84 ellipsoid).

    Returns
    -------
    numpy.ndarray
        (H, W) float64; NaN on the outer ring of cells and wherever the 3×3 window holds nodata.
    """
    z = np.asarray(z, dtype="float64")
    h, w = z.shape
    out = np.full((h, w), np.nan)
    if h < 3 or w < 3:
        return out
    lats = transform.f + (np.arange(1, h - 1) + 0.5) * transform.e
    sizes = np.array([cell_size_m(crs, abs(transform.a), abs(transform.e), float(lat)) for lat in lats])
    dx, dy = sizes[:, :1], sizes[:, 1:]
    east = z[:-2, 2:] + 2 * z[1:-1, 2:] + z[2:, 2:]
    west = z[:-2, :-2] + 2 * z[1:-1, :-2] + z[2:, :-2]
    south = z[2:, :-2] + 2 * z[2:, 1:-1] + z[2:, 2:]
    north = z[:-2, :-2] + 2 * z[:-2, 1:-1] + z[:-2, 2:]
    out[1:-1, 1:-1] = np.hypot((east - west) / (8 * dx), (south - north) / (8 * dy))
    return out


def resolve_dem(configured: str | Path | None, data_dir: str | Path | None) -> Path | None:
    """The DEM the siting review reads: the imported ``DATA_DIR/dem.tif`` when there is one, else ``GEO_APP_DEM``.

    Parameters
    ----------
    configured
        ``GEO_APP_DEM`` (or None).
    data_dir
        The data folder (or None).

    Returns
    -------
    Path or None
        None when neither exists or is configured.
    """
    if data_dir is not None and (Path(data_dir) / DEM_FILE).is_file():
        return Path(data_dir) / DEM_FILE
    return None if configured is None else Path(configured)


def _window_3x3(src: Any, row: int, col: int) -> np.ndarray:
    """The 3×3 elevations around (row, col) as float64 with NaN for nodata, edge-replicated at the border."""
    from rasterio.windows import Window

    r0, c0 = max(row - 1, 0), max(col - 1, 0)
    r1, c1 = min(row + 2, src.height), min(col + 2, src.width)
    data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
    arr = np.ma.filled(data.astype("float64"), np.nan)
    if src.nodata is not None and not math.isnan(src.nodata):
        arr[arr == src.nodata] = np.nan
    pad = ((1 if row - 1 < 0 else 0, 1 if row + 2 > src.height else 0),
           (1 if col - 1 < 0 else 0, 1 if col + 2 > src.width else 0))
    return np.pad(arr, pad, mode="edge")


def _describe(src: Any, lat: float) -> dict[str, Any]:
    """CRS, cell size in metres at ``lat``, source and resolution (from the GeoTIFF's tags) of an open DEM."""
    dx_m, dy_m = cell_size_m(src.crs, abs(src.transform.a), abs(src.transform.e), lat)
    tags = src.tags()
    res = tags.get("RESOLUTION_M")
    return {"crs": src.crs.to_string(), "cell_m": [dx_m, dy_m],
            "source": tags.get("SOURCE") or Path(src.name).name,
            "resolution_m": float(res) if res else round(max(dx_m, dy_m), 2)}


def sample_dem(path: str | Path | None, lon: float, lat: float) -> dict[str, Any]:
    """Sample elevation and slope of a DEM at a WGS84 point.

    Parameters
    ----------
    path
        GeoTIFF (any CRS). None means no DEM is configured.
    lon, lat
        The point in WGS84 degrees.

    Returns
    -------
    dict
        ``available`` (bool), ``reason`` (None or why unavailable), ``elevation_m``,
        ``slope_deg``, ``slope_pct`` (floats; NaN for nodata or when unavailable),
        ``crs`` (the DEM's CRS string), ``cell_m`` ([dx, dy] in metres at the cell's row),
        ``source`` (the ``SOURCE`` tag an import wrote, else the file name) and
        ``resolution_m``. At a raster edge the missing neighbours are filled by edge
        replication, so the slope there is a one-sided estimate. Never raises.
    """
    if path is None:
        return _unavailable("no DEM configured")
    path = Path(path)
    if not path.is_file():
        return _unavailable(f"DEM file not found: {path.name}")
    try:
        with open_geotiff(path) as src:
            if src.crs is None:
                return _unavailable("DEM has no CRS")
            x, y = _to_raster_crs(src.crs.to_wkt()).transform(lon, lat)
            if not (math.isfinite(x) and math.isfinite(y)):
                return _unavailable("point cannot be projected to the DEM CRS")
            row, col = src.index(x, y)
            if not (0 <= row < src.height and 0 <= col < src.width):
                return _unavailable("point lies outside the DEM extent")
            win = _window_3x3(src, row, col)
            row_lat = lat
            if src.crs.is_geographic:  # the latitude of the cell's row centre
                row_lat = float((src.transform @ (col + 0.5, row + 0.5))[1])
            info = _describe(src, row_lat)
    except Exception as exc:  # corrupt or unreadable file: never raise into the request
        return _unavailable(f"DEM unreadable: {type(exc).__name__}: {str(exc)[:120]}")
    elevation = float(win[1, 1])
    grad = horn_slope(win, *info["cell_m"])
    return {
        "available": True,
        "reason": None if math.isfinite(elevation) else "no data at this point",
        "elevation_m": elevation,
        "slope_deg": math.degrees(math.atan(grad)) if math.isfinite(grad) else math.nan,
        "slope_pct": 100.0 * grad if math.isfinite(grad) else math.nan,
        **info,
    }


def write_geotiff(array: np.ndarray, transform: Any, crs: Any, path: str | Path,
                  nodata: float | None = np.nan, *, tags: dict[str, str] | None = None,
                  tiled: bool = False) -> Path:
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
    tags
        GeoTIFF metadata tags (e.g. ``SOURCE``, ``RESOLUTION_M``).
    tiled
        Write 256×256 tiles (with a floating-point or horizontal predictor) instead of strips.

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
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256, bigtiff="IF_SAFER",
                       predictor=3 if np.issubdtype(arr.dtype, np.floating) else 2)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
        if tags:
            dst.update_tags(**tags)
    return path
