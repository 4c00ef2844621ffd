"""The offline basemap: a local MBTiles tile set at ``/tiles/{z}/{x}/{y}`` and a DEM hillshade overlay.

``GEO_APP_BASEMAP=FILE.mbtiles`` (MBTiles 1.3: ``metadata`` and ``tiles`` tables) becomes the
default basemap. Raster tiles (PNG, JPEG, WebP) are what Leaflet draws; vector tiles (``pbf``)
are served with their content type for a client that has a renderer, and are not drawn here.
The file is opened read-only for each request; MBTiles stores rows in TMS order, so the row
read is ``2**z - 1 - y``.

A DEM (the imported ``data/dem.tif``, else ``GEO_APP_DEM``) is shaded once
(:func:`geo_app.analysis.hillshade.hillshade`) into a PNG in Web Mercator with its WGS84
bounds, cached in ``CACHE_DIR`` under the DEM file's signature, and drawn as an overlay.
Without either, maps are drawn as before (no basemap).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, send_file

from ..errors import NotFound, ValidationError
from .maps.basemap import Basemap, Overlay, TileSource

bp = Blueprint("tiles", __name__)
log = logging.getLogger(__name__)

#: Deepest zoom a tile request may ask for.
MAX_ZOOM = 24
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
                 "pbf": "application/x-protobuf", "mvt": "application/x-protobuf"}
RASTER_FORMATS = ("png", "jpg", "jpeg", "webp")
#: Longest side of the rendered hillshade image, in pixels.
HILLSHADE_MAX_PX = 2048
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TileSet:
    """The metadata of an MBTiles file that a map needs."""

    path: Path
    format: str
    name: str
    attribution: str
    minzoom: int
    maxzoom: int

    @property
    def raster(self) -> bool:
        """True for tiles Leaflet can draw as images."""
        return self.format in RASTER_FORMATS


def _connect(path: Path) -> sqlite3.Connection:
    """Open an MBTiles file read-only (never created, never written)."""
    if not path.is_file():
        raise sqlite3.OperationalError(f"no such file: {path}")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _sniff(data: bytes) -> str:
    """The format of a tile from its first bytes (``pbf`` for anything that is not an image)."""
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "pbf"


def read_tileset(path: str | Path) -> TileSet:
    """Read an MBTiles file's metadata (format, zoom range, name, attribution).

    The format comes from the ``format`` metadata row, else from the bytes of one tile.
    """
    path = Path(path)
    con = _connect(path)
    try:
        meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
        zooms = con.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        fmt = str(meta.get("format", "")).lower()
        if not fmt:
            row = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
            fmt = _sniff(bytes(row[0])) if row else "png"
    finally:
        con.close()
    lo = int(meta.get("minzoom", zooms[0] if zooms[0] is not None else 0))
    hi = int(meta.get("maxzoom", zooms[1] if zooms[1] is not None else 18))
    return TileSet(path=path, format=fmt, name=str(meta.get("name") or path.stem),
                   attribution=str(meta.get("attribution") or ""), minzoom=lo, maxzoom=hi)


def check_tile_address(z: int, x: int, y: int) -> None:
    """Refuse a tile address outside ``0 <= z <= MAX_ZOOM`` and ``0 <= x, y < 2**z`` (400)."""
    if not 0 <= z <= MAX_ZOOM:
        raise ValidationError(f"z must be an integer from 0 to {MAX_ZOOM}", field="z")
    for value, field in ((x, "x"), (y, "y")):
        if not 0 <= value < 2**z:
            raise ValidationError(f"{field} must be an integer from 0 to {2**z - 1} at zoom {z}", field=field)


def read_tile(path: str | Path, z: int, x: int, y: int) -> bytes | None:
    """The bytes of tile ``z/x/y`` (XYZ, row 0 at the north), or None when the file has none."""
    check_tile_address(z, x, y)
    con = _connect(Path(path))
    try:
        row = con.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                          (z, x, 2**z - 1 - y)).fetchone()
    finally:
        con.close()
    return None if row is None else bytes(row[0])


def configured_tileset(app: Flask) -> TileSet | None:
    """The ``BASEMAP`` tile set, or None when none is configured or it cannot be read (logged)."""
    path = app.config.get("BASEMAP")
    if not path:
        return None
    try:
        return read_tileset(path)
    except (sqlite3.Error, OSError, ValueError, TypeError) as exc:
        log.warning("basemap %s cannot be read: %s", path, exc)
        return None


@bp.get("/tiles/<int:z>/<int:x>/<int:y>")
def tile(z: int, x: int, y: int) -> Response:
    """One tile of the local basemap; 404 when there is no basemap or no such tile."""
    check_tile_address(z, x, y)
    tiles = configured_tileset(current_app)
    if tiles is None:
        raise NotFound("no local basemap is configured", field="tiles")
    data = read_tile(tiles.path, z, x, y)
    if data is None:
        raise NotFound(f"the basemap has no tile {z}/{x}/{y}", field="tiles")
    resp = Response(data, mimetype=CONTENT_TYPES.get(tiles.format, "application/octet-stream"))
    if not tiles.raster and data[:2] == b"\x1f\x8b":
        resp.headers["Content-Encoding"] = "gzip"  # vector tiles are stored gzipped in MBTiles
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


# --- hillshade ------------------------------------------------------------------------------

def _dem_path(app: Flask) -> Path | None:
    from ..raster import resolve_dem

    path = resolve_dem(app.config.get("DEM"), app.config.get("DATA_DIR"))
    return path if path is not None and path.is_file() else None


def _signature(path: Path) -> str:
    """A short key of the DEM file's (path, mtime, size, inode): a new file gives a new image."""
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}|{st.st_ino}|v1"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _mercator_elevation(dem: Path) -> tuple[Any, Any, list[list[float]]]:
    """The DEM reprojected to Web Mercator (NaN nodata), its transform and WGS84 bounds."""
    import numpy as np
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject, transform_bounds

    from ..raster import open_geotiff

    with open_geotiff(dem) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height,
                                                               *src.bounds)
        scale = max(width, height) / HILLSHADE_MAX_PX
        if scale > 1:
            width, height = max(int(width / scale), 2), max(int(height / scale), 2)
            transform, width, height = calculate_default_transform(
                src.crs, "EPSG:3857", src.width, src.height, *src.bounds, dst_width=width, dst_height=height)
        out = np.full((height, width), np.nan, dtype=np.float32)
        reproject(src.read(1, masked=True).astype(np.float32).filled(np.nan), out, src_transform=src.transform,
                  src_crs=src.crs, src_nodata=np.nan, dst_transform=transform, dst_crs="EPSG:3857",
                  dst_nodata=np.nan, resampling=Resampling.bilinear)
    left, top = transform.c, transform.f
    right, bottom = left + transform.a * width, top + transform.e * height
    w, s, e, n = transform_bounds("EPSG:3857", "EPSG:4326", left, bottom, right, top)
    return out, transform, [[s, w], [n, e]]


def render_hillshade(dem: Path, out: Path) -> list[list[float]]:
    """Shade a DEM into a grey PNG with alpha (transparent at nodata); return its WGS84 bounds."""
    import math
    import warnings

    import numpy as np
    import rasterio
    from rasterio.io import MemoryFile

    from ..analysis.hillshade import hillshade

    z, transform, bounds = _mercator_elevation(dem)
    lat = math.radians((bounds[0][0] + bounds[1][0]) / 2)
    shade = hillshade(z, res=(abs(transform.a), abs(transform.e)), z_factor=1 / math.cos(lat))
    valid = np.isfinite(shade)
    gray = np.where(valid, shade, 0).astype(np.uint8)
    alpha = np.where(valid, 255, 0).astype(np.uint8)
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(driver="PNG", width=gray.shape[1], height=gray.shape[0], count=2, dtype="uint8") as dst:
                dst.write(np.stack([gray, alpha]))
            data = mem.read()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return bounds


def hillshade_image(app: Flask) -> tuple[Path, list[list[float]], str] | None:
    """The cached hillshade PNG of the current DEM, its bounds and signature (rendered when missing)."""
    dem = _dem_path(app)
    if dem is None:
        return None
    sig = _signature(dem)
    cache = Path(app.config.get("CACHE_DIR") or Path(app.instance_path) / "cache")
    png, meta = cache / f"hillshade-{sig}.png", cache / f"hillshade-{sig}.json"
    with _LOCK:
        if not (png.is_file() and meta.is_file()):
            try:
                bounds = render_hillshade(dem, png)
            except Exception as exc:  # noqa: BLE001 - a bad DEM must not break every map page
                log.warning("hillshade of %s cannot be drawn: %s", dem, exc)
                return None
            meta.write_text(json.dumps({"bounds": bounds, "dem": str(dem)}), encoding="utf-8")
    return png, json.loads(meta.read_text(encoding="utf-8"))["bounds"], sig


@bp.get("/tiles/hillshade.png")
def hillshade_png() -> Response:
    """The hillshade of the DEM as a PNG overlay (404 without a DEM)."""
    image = hillshade_image(current_app)
    if image is None:
        raise NotFound("no DEM is configured or imported", field="dem")
    resp = send_file(image[0], mimetype="image/png", max_age=86400)
    return resp


def current_basemap(lang: str) -> Basemap:
    """What the app's maps draw under the data: the local tiles and the hillshade, when configured."""
    from ..i18n import text

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    tiles: tuple[TileSource, ...] = ()
    ts = configured_tileset(app)
    if ts is not None and ts.raster:
        tiles = (TileSource(url="/tiles/{z}/{x}/{y}", attribution=ts.attribution or ts.name,
                            name=text("map_basemap_local", lang), min_zoom=0, max_native_zoom=ts.maxzoom),)
    online = app.config.get("TILES_URL")
    if online:
        tiles = (*tiles, TileSource(url=online, attribution=app.config.get("TILES_ATTRIBUTION") or online,
                                    name=text("map_basemap_online", lang)))
    overlays: tuple[Overlay, ...] = ()
    image = hillshade_image(app)
    if image is not None:
        overlays = (Overlay(url=f"/tiles/hillshade.png?v={image[2]}", bounds=image[1],
                            name=text("map_hillshade", lang)),)
    return Basemap(tiles=tiles, overlays=overlays)


def basemap_on(app: Flask) -> bool:
    """True when the maps have a basemap (local raster tiles or an online tile URL)."""
    ts = configured_tileset(app)
    return bool(app.config.get("TILES_URL")) or (ts is not None and ts.raster)
