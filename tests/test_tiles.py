"""The offline basemap: a small generated MBTiles file (MBTiles 1.3) served at /tiles/{z}/{x}/{y},
and a hillshade overlay drawn once from a DEM and cached under the DEM's signature."""

from __future__ import annotations

import gzip
import os
import re
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from geo_app import create_app
from geo_app.raster import write_geotiff
from geo_app.web.tiles import read_tile, read_tileset

ROOT = Path(__file__).resolve().parents[1]


def png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A solid-colour RGB PNG written with numpy and zlib (PNG spec: IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixels = np.tile(np.array(rgb, dtype=np.uint8), (size, size, 1))
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], **meta: str) -> Path:
    """An MBTiles 1.3 file: ``metadata(name, value)`` and ``tiles`` keyed by (z, x, TMS row)."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
    base = {"name": "test basemap", "format": "png", "minzoom": "0", "maxzoom": "1",
            "bounds": "123.3,40.8,127.9,45.3", "attribution": "© test tiles", "type": "baselayer",
            "version": "1.0"}
    con.executemany("INSERT INTO metadata VALUES (?, ?)", {**base, **meta}.items())
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", [(z, x, r, data) for (z, x, r), data in tiles.items()])
    con.commit()
    con.close()
    return path


RED, BLUE, GREEN = png((255, 0, 0)), png((0, 0, 255)), png((0, 160, 0))
#: TMS rows: at zoom 1, row 1 is the northern half (XYZ y = 0).
TILES = {(0, 0, 0): GREEN, (1, 1, 1): RED, (1, 1, 0): BLUE}


@pytest.fixture()
def mbtiles(tmp_path: Path) -> Path:
    return make_mbtiles(tmp_path / "base.mbtiles", TILES)


def make_app(tmp_path: Path, **config):  # type: ignore[no-untyped-def]
    return create_app({"TESTING": True, "INSTANCE": tmp_path / "instance", "CACHE_DIR": tmp_path / "cache",
                       **config})


def test_tiles_are_read_in_tms_row_order(mbtiles: Path) -> None:
    assert read_tile(mbtiles, 1, 1, 0) == RED  # XYZ y=0 is TMS row 2**1 - 1 - 0 = 1
    assert read_tile(mbtiles, 1, 1, 1) == BLUE
    assert read_tile(mbtiles, 1, 0, 0) is None
    meta = read_tileset(mbtiles)
    assert (meta.format, meta.minzoom, meta.maxzoom, meta.raster) == ("png", 0, 1, True)


def test_tile_endpoint_serves_the_basemap(tmp_path: Path, mbtiles: Path) -> None:
    client = make_app(tmp_path, BASEMAP=mbtiles).test_client()
    r = client.get("/tiles/1/1/0")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == RED
    assert client.get("/tiles/0/0/0").data == GREEN
    assert client.get("/tiles/1/0/0").status_code == 404


@pytest.mark.parametrize("url", ["/tiles/25/0/0", "/tiles/1/2/0", "/tiles/1/0/2", "/tiles/3/8/1",
                                 "/tiles/1/99999999999999999999999/0"])
def test_tile_addresses_are_bounded(tmp_path: Path, mbtiles: Path, url: str) -> None:
    r = make_app(tmp_path, BASEMAP=mbtiles).test_client().get(url)
    assert r.status_code == 400 and r.get_json()["error"]["field"] in ("z", "x", "y")


@pytest.mark.parametrize("url", ["/tiles/-1/0/0", "/tiles/a/0/0", "/tiles/1/0/0.5", "/tiles/1/0/../0"])
def test_tile_addresses_must_be_integers(tmp_path: Path, mbtiles: Path, url: str) -> None:
    assert make_app(tmp_path, BASEMAP=mbtiles).test_client().get(url).status_code == 404


def test_the_file_is_opened_read_only(tmp_path: Path, mbtiles: Path) -> None:
    before = mbtiles.stat().st_mtime_ns
    mbtiles.chmod(0o444)
    try:
        client = make_app(tmp_path, BASEMAP=mbtiles).test_client()
        assert client.get("/tiles/1/1/0").status_code == 200
        assert "/tiles/{z}/{x}/{y}" in client.get("/").get_data(as_text=True)
    finally:
        mbtiles.chmod(0o644)
    assert mbtiles.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("base")) == ["base.mbtiles"]


def test_without_a_basemap_there_are_no_tiles(tmp_path: Path) -> None:
    client = make_app(tmp_path).test_client()
    assert client.get("/tiles/0/0/0").status_code == 404
    html = client.get("/").get_data(as_text=True)
    assert "/tiles/" not in html and "L.tileLayer" not in html and "L.imageOverlay" not in html


def test_a_broken_basemap_file_leaves_the_map_as_before(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mbtiles"
    bad.write_bytes(b"not a database")
    client = make_app(tmp_path, BASEMAP=bad).test_client()
    assert client.get("/").status_code == 200 and "L.tileLayer" not in client.get("/").get_data(as_text=True)
    assert client.get("/tiles/0/0/0").status_code == 404


def test_the_local_basemap_is_the_default_layer(tmp_path: Path, mbtiles: Path) -> None:
    from geo_app.i18n import text

    client = make_app(tmp_path, BASEMAP=mbtiles).test_client()
    html = client.get("/?lang=en").get_data(as_text=True)
    layer = re.search(r'L\.tileLayer\(\s*"/tiles/\{z\}/\{x\}/\{y\}",\s*(\{.*?\})\s*\)', html, re.S)
    assert layer and '"maxNativeZoom": 1' in layer.group(1) and "test tiles" in layer.group(1)
    assert text("basemap_off", "en") not in html
    assert text("basemap_off", "en") in make_app(tmp_path).test_client().get("/?lang=en").get_data(as_text=True)


def test_vector_tiles_get_their_content_type(tmp_path: Path) -> None:
    pbf = gzip.compress(b"\x1a\x00fake-mvt")
    path = make_mbtiles(tmp_path / "vector.mbtiles", {(0, 0, 0): pbf}, format="pbf")
    client = make_app(tmp_path, BASEMAP=path).test_client()
    r = client.get("/tiles/0/0/0")
    assert r.mimetype == "application/x-protobuf" and r.headers["Content-Encoding"] == "gzip"
    assert r.data == pbf
    assert "/tiles/{z}/{x}/{y}" not in client.get("/").get_data(as_text=True)  # Leaflet cannot draw them


# --- hillshade ------------------------------------------------------------------------------

def dem_hill(path: Path) -> Path:
    """A small synthetic DEM in EPSG:32651: a round hill near Meihekou (SYNTHETIC, not data)."""
    x0, y0 = 720_000.0, 4_720_000.0
    yy, xx = np.mgrid[0:60, 0:80]
    z = 300.0 + 400.0 * np.exp(-(((xx - 40) / 15.0) ** 2 + ((yy - 30) / 12.0) ** 2))
    z[:3, :3] = -9999.0
    return write_geotiff(z.astype("float32"), Affine(100.0, 0, x0, 0, -100.0, y0), "EPSG:32651", path)


def test_hillshade_is_drawn_once_and_cached_by_the_dem_signature(tmp_path: Path) -> None:
    dem = dem_hill(tmp_path / "dem.tif")
    app = make_app(tmp_path, DEM=dem)
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    overlay = re.search(r'L\.imageOverlay\(\s*"(/tiles/hillshade\.png\?v=\w+)",\s*(\[\[.*?\]\])', html, re.S)
    assert overlay, "no hillshade overlay"
    (s, w), (n, e) = [[float(v) for v in pair] for pair in re.findall(r"\[([\d.\-]+),\s*([\d.\-]+)\]",
                                                                       overlay.group(2))]
    assert 42.0 < s < n < 42.7 and 125.3 < w < e < 126.5
    r = client.get(overlay.group(1))
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data.startswith(b"\x89PNG")
    cached = sorted((tmp_path / "cache").glob("hillshade-*.png"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    client.get("/isochrones")
    assert cached[0].stat().st_mtime_ns == stamp  # not drawn again
    os.utime(dem, ns=(stamp + 10**9, stamp + 10**9))  # a new DEM file signature: a new image
    html2 = client.get("/").get_data(as_text=True)
    assert len(list((tmp_path / "cache").glob("hillshade-*.png"))) == 2
    assert overlay.group(1) not in html2


def test_hillshade_image_has_transparent_nodata(tmp_path: Path) -> None:
    import rasterio

    dem = dem_hill(tmp_path / "dem.tif")
    client = make_app(tmp_path, DEM=dem).test_client()
    client.get("/")
    png_path = next((tmp_path / "cache").glob("hillshade-*.png"))
    with rasterio.open(png_path) as src:
        gray, alpha = src.read(1), src.read(2)
    assert alpha[0, 0] == 0 and alpha[src.height // 2, src.width // 2] == 255
    assert gray[alpha == 255].std() > 5  # the hill is shaded, not flat


def test_without_a_dem_there_is_no_hillshade(tmp_path: Path) -> None:
    client = make_app(tmp_path).test_client()
    assert client.get("/tiles/hillshade.png").status_code == 404
