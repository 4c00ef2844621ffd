"""Imports open only what they claim to be, and GDAL never reaches the network (issue #14 §1).

Every attack targets a local TCP listener on 127.0.0.1 that records any connection; a second
"black hole" listener accepts and never answers, to prove no import waits on a socket. No test
touches the internet. The Shapefile fixture is SYNTHETIC (four points in the county).
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo_app import importer
from geo_app.errors import GeoAppError, status_for
from geo_app.importer import gdal_env
from tests.conftest import authorize
from tests.test_data_pages import csrf, post
from tests.test_importer import make_app, snapshot

JOIN_S = 60  # the bounded wait for an import that must return


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection; ``answer=False`` never replies."""

    def __init__(self, *, answer: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.connections: list[bytes] = []
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(b"connected")
            if self.answer:
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                conn.close()
            else:
                self.held.append(conn)  # accept and never answer

    def url(self, path: str = "x") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture()
def listener():
    lst = Listener(answer=True)
    yield lst
    lst.close()


@pytest.fixture()
def black_hole():
    lst = Listener(answer=False)
    yield lst
    lst.close()


def bounded(fn, *args, **kwargs) -> BaseException | object:
    """Run ``fn`` in a thread, wait at most :data:`JOIN_S`, assert it returned; give its result or error."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # the refusal is the expected outcome
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(JOIN_S)
    assert not t.is_alive(), "the import did not return: a thread is held"
    return box.get("error", box.get("value"))


def assert_refused(outcome: object, member: str, statuses: tuple[int, ...] = (415, 422)) -> GeoAppError:
    assert isinstance(outcome, GeoAppError), outcome
    assert status_for(outcome) in statuses, (status_for(outcome), outcome.message)
    assert member in outcome.message, outcome.message
    assert "/tmp/" not in outcome.message and "geo-app-import-" not in outcome.message
    return outcome


def read(path: Path, **kw) -> object:
    return bounded(importer.read_source, path, **kw)


def shapefile_parts(tmp: Path) -> dict[str, bytes]:
    """A real (SYNTHETIC) point Shapefile written by GDAL: {ext: bytes}."""
    pts = gpd.GeoDataFrame({"name_zh": ["甲", "乙", "丙", "丁"]},
                           geometry=[shapely.Point(125.6 + i * 0.02, 42.5) for i in range(4)], crs="EPSG:4326")
    path = tmp / "real" / "towns.shp"
    path.parent.mkdir(exist_ok=True)
    pts.to_file(path, encoding="UTF-8")
    return {p.suffix: p.read_bytes() for p in path.parent.iterdir()}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def vrt(source: str) -> bytes:
    return (f'<OGRVRTDataSource><OGRVRTLayer name="towns"><SrcDataSource>{source}</SrcDataSource>'
            "</OGRVRTLayer></OGRVRTDataSource>").encode()


def kml(href: str) -> bytes:
    return (f'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><NetworkLink><Link><href>{href}'
            "</href></Link></NetworkLink></kml>").encode()


def geojson_with_crs(crs: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "crs": crs, "features": [
        {"type": "Feature", "properties": {"name_zh": "甲"},
         "geometry": {"type": "Point", "coordinates": [125.6, 42.5]}}]}).encode()


def sqlite_bytes(tmp: Path) -> bytes:
    import sqlite3

    db = tmp / "plain.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (a)")
    return db.read_bytes()


# --------------------------------------------------------------------------------------
# GDAL itself, hardened: /vsicurl/ refuses every URL before connecting
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["/vsicurl/", "/vsicurl_streaming/"])
def test_hardened_gdal_opens_no_url(listener, prefix):
    import pyogrio

    gdal_env.harden()
    for path in (listener.url("towns.geojson"), listener.url("towns.shp")):
        outcome = bounded(pyogrio.read_info, prefix + path)
        assert isinstance(outcome, Exception)
    assert listener.connections == []


# --------------------------------------------------------------------------------------
# GeoJSON crs links and URLs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_crs", [
    lambda url: {"type": "link", "properties": {"href": url, "type": "proj4"}},
    lambda url: {"type": "name", "properties": {"name": url}},
    lambda url: {"type": "link", "properties": {"href": url}, "name": "EPSG:4326"},
])
def test_geojson_crs_link_is_refused_unfetched(tmp_path, listener, black_hole, make_crs):
    for target in (listener, black_hole):
        path = tmp_path / "towns.geojson"
        path.write_bytes(geojson_with_crs(make_crs(target.url("crs"))))
        err = assert_refused(read(path), "crs")
        assert err.field == "crs"
    assert listener.connections == [] and black_hole.connections == []


@pytest.mark.parametrize(("name", "epsg"), [("urn:ogc:def:crs:EPSG::4490", "EPSG:4490"), ("EPSG:4326", "EPSG:4326"),
                                            ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326")])
def test_geojson_crs_name_is_parsed_here(tmp_path, name, epsg):
    path = tmp_path / "towns.geojson"
    path.write_bytes(geojson_with_crs({"type": "name", "properties": {"name": name}}))
    assert importer.read_source(path).declared_crs == epsg


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"type": "FeatureCollection", "features": [' + b"[" * 40
                                  + b"]" * 40 + b"]}", b'{"type": "Point", "coordinates": [NaN, 42]}'])
def test_geojson_depth_and_constants_are_refused(tmp_path, body):
    path = tmp_path / "deep.geojson"
    path.write_bytes(body)
    assert_refused(read(path), "deep.geojson")


# --------------------------------------------------------------------------------------
# files that claim one format and are another
# --------------------------------------------------------------------------------------
def _disguised(tmp: Path, listener: Listener) -> dict[str, bytes]:
    return {"vrt_vsicurl": vrt(f"/vsicurl/{listener.url('towns.shp')}"),
            "vrt_streaming": vrt(f"/vsicurl_streaming/{listener.url('towns.geojson')}"),
            "vrt_passwd": vrt("/etc/passwd"),
            "geojson": geojson_with_crs({"type": "name", "properties": {"name": "EPSG:4326"}}),
            "kml": kml(listener.url("net.kml")),
            "csv": b"WKT,name\n\"POINT (125.6 42.5)\",x\n",
            "sqlite": sqlite_bytes(tmp)}


@pytest.mark.parametrize("kind", ["vrt_vsicurl", "vrt_streaming", "vrt_passwd", "geojson", "kml", "csv", "sqlite"])
def test_a_shp_that_is_something_else_is_refused(tmp_path, listener, kind):
    parts = shapefile_parts(tmp_path)
    fake = _disguised(tmp_path, listener)[kind]
    # as a bare .shp (command line) with its real .shx and .dbf beside it
    folder = tmp_path / "bare"
    folder.mkdir()
    for ext, data in parts.items():
        (folder / f"towns{ext}").write_bytes(fake if ext == ".shp" else data)
    assert_refused(read(folder / "towns.shp"), "towns.shp", (415,))
    # and as a member of a zipped Shapefile
    z = write_zip(tmp_path / "towns.zip", {f"towns{ext}": (fake if ext == ".shp" else data)
                                           for ext, data in parts.items()})
    assert_refused(read(z), "towns.shp", (415,))
    assert listener.connections == []


@pytest.mark.parametrize(("ext", "fake"), [
    (".dbf", b"name,code\n\xe6\xb5\xb7,1\n" * 20), (".dbf", vrt("/etc/passwd")),
    (".shx", b"\x00" * 100), (".shx", json.dumps({"type": "Point"}).encode()),
    (".prj", b"http://127.0.0.1:9/crs.wkt"), (".prj", vrt("/etc/passwd")),
    (".cpg", b"UTF-8" * 40), (".cpg", b"<OGRVRTDataSource/>"),
])
def test_every_shapefile_part_is_checked(tmp_path, ext, fake):
    parts = shapefile_parts(tmp_path)
    parts[ext] = fake
    z = write_zip(tmp_path / "towns.zip", {f"towns{e}": d for e, d in parts.items()})
    assert_refused(read(z), f"towns{ext}", (415,))


def test_zip_with_a_vrt_member_is_refused(tmp_path, listener):
    parts = shapefile_parts(tmp_path)
    for name, data in (("passwd.vrt", vrt("/etc/passwd")), ("readme.txt", vrt(f"/vsicurl/{listener.url()}"))):
        z = write_zip(tmp_path / "towns.zip", {**{f"towns{e}": d for e, d in parts.items()}, name: data})
        assert_refused(read(z), name, (415,))
    assert listener.connections == []


@pytest.mark.parametrize("path", ["/vsizip//etc/passwd.zip/x.shp", "/vsicurl/http://127.0.0.1:9/x.geojson",
                                  "/vsigzip//etc/passwd", "GPKG:/etc/passwd", "http://127.0.0.1:9/x.geojson"])
def test_vsi_paths_and_prefixes_are_refused(path):
    err = assert_refused(read(Path(path)) if "://" not in path else bounded(importer.read_source, path), "",
                         (415,))
    assert "/vsi" in err.message or "virtual file" in err.message


def test_vsi_path_on_the_command_line_is_refused(tmp_path):
    from geo_app.cli import main

    app = make_app(tmp_path)
    before = snapshot(tmp_path / "data")
    res = app.test_cli_runner().invoke(main, ["data", "import", "towns", "/vsizip//etc/passwd.zip/x.shp"])
    assert res.exit_code == 2
    assert snapshot(tmp_path / "data") == before


# --------------------------------------------------------------------------------------
# black hole: nothing waits on a socket
# --------------------------------------------------------------------------------------
def test_black_hole_targets_hold_no_thread(tmp_path, black_hole):
    parts = shapefile_parts(tmp_path)
    payloads = {
        "crs.geojson": geojson_with_crs({"type": "link", "properties": {"href": black_hole.url("crs")}}),
        "vrt.zip": None,
        "kml.zip": None,
    }
    payloads["vrt.zip"] = write_zip(tmp_path / "vrt.zip", {**{f"towns{e}": d for e, d in parts.items()},
                                                           "towns.shp": vrt(f"/vsicurl/{black_hole.url('a.shp')}")})
    payloads["kml.zip"] = write_zip(tmp_path / "kml.zip", {**{f"towns{e}": d for e, d in parts.items()},
                                                           "towns.shp": kml(black_hole.url("n.kml"))})
    (tmp_path / "crs.geojson").write_bytes(payloads["crs.geojson"])
    for name in payloads:
        assert_refused(read(tmp_path / name), "crs" if name.endswith("geojson") else "towns.shp")
    outcome = bounded(importer.read_source, f"/vsicurl/{black_hole.url('towns.geojson')}")
    assert_refused(outcome, "", (415,))
    assert black_hole.connections == []


# --------------------------------------------------------------------------------------
# zips that lie
# --------------------------------------------------------------------------------------
def _patch(data: bytes, member: str, *, local: dict[int, int], central: dict[int, int]) -> bytes:
    """Overwrite 32-bit fields (offset -> value) of one member's local header and central entry."""
    buf = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    for off, value in local.items():
        struct.pack_into("<I", buf, info.header_offset + off, value)
    pos = buf.find(b"PK\x01\x02")
    while pos >= 0:
        nlen = struct.unpack_from("<H", buf, pos + 28)[0]
        if bytes(buf[pos + 46:pos + 46 + nlen]) == member.encode():
            for off, value in central.items():
                struct.pack_into("<I", buf, pos + off, value)
        pos = buf.find(b"PK\x01\x02", pos + 4)
    return bytes(buf)


def _lying(tmp: Path, how: str) -> Path:
    parts = shapefile_parts(tmp)
    parts[".dbf"] = parts[".dbf"] + b" " * (8 << 20)  # 8 MiB of padding: compresses to a few KB
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for ext, data in parts.items():
            zf.writestr(f"towns{ext}", data)
    data = buf.getvalue()
    if how == "small_size":  # both directories say 200 bytes; the member inflates to 8 MiB
        data = _patch(data, "towns.dbf", local={22: 200}, central={24: 200})
    elif how == "header_mismatch":  # the local header disagrees with the central directory
        data = _patch(data, "towns.dbf", local={22: 200}, central={})
    elif how == "crc":
        data = _patch(data, "towns.dbf", local={14: 0x1234}, central={16: 0x1234})
    elif how == "truncated":
        data = data[: len(data) // 2]
    path = tmp / f"{how}.zip"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("how", ["small_size", "header_mismatch", "crc", "truncated"])
def test_lying_zip_sizes_are_415(tmp_path, how):
    outcome = read(_lying(tmp_path, how))
    assert_refused(outcome, f"{how}.zip", (415,))


@pytest.mark.parametrize("member", ["/etc/towns.shp", "../towns.shp", "a/../../towns.shp", "C:/towns.shp"])
def test_unsafe_member_names_are_refused(tmp_path, member):
    parts = shapefile_parts(tmp_path)
    z = tmp_path / "names.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for ext, data in parts.items():
            zf.writestr(zipfile.ZipInfo(member[:-4] + ext), data)
    assert_refused(read(z), member[:-4], (415,))


def test_symlink_members_are_refused(tmp_path):
    parts = shapefile_parts(tmp_path)
    for target in ("/etc/passwd", "../../secret.dbf"):
        z = tmp_path / "link.zip"
        with zipfile.ZipFile(z, "w") as zf:
            for ext, data in parts.items():
                if ext == ".dbf":
                    link = zipfile.ZipInfo("towns.dbf")
                    link.external_attr = 0o120777 << 16
                    zf.writestr(link, target)
                else:
                    zf.writestr(f"towns{ext}", data)
        err = assert_refused(read(z), "towns.dbf", (415,))
        assert "link" in err.message


# --------------------------------------------------------------------------------------
# the same through the web upload
# --------------------------------------------------------------------------------------
@pytest.fixture()
def web(tmp_path):
    app = make_app(tmp_path)
    client = authorize(app, "editor")
    client.token = csrf(client)
    return app, client


def _upload(client, name: str, data: bytes):
    return post(client, "/data/upload", data={"layer": "towns", "file": (io.BytesIO(data), name)},
                content_type="multipart/form-data")


def test_web_upload_refuses_each_class(web, tmp_path, listener):
    app, client = web
    data = Path(app.config["DATA_DIR"])
    before = snapshot(data)
    parts = shapefile_parts(tmp_path)
    zipped = {f"towns{e}": d for e, d in parts.items()}
    cases = [
        ("crs.geojson", geojson_with_crs({"type": "link", "properties": {"href": listener.url()}}), "crs"),
        ("crs2.geojson", geojson_with_crs({"type": "name", "properties": {"name": listener.url()}}), "crs"),
        ("vrt.zip", write_zip(tmp_path / "v.zip", {**zipped, "towns.shp": vrt(f"/vsicurl/{listener.url()}")})
         .read_bytes(), "towns.shp"),
        ("passwd.zip", write_zip(tmp_path / "p.zip", {**zipped, "x.vrt": vrt("/etc/passwd")}).read_bytes(), "x.vrt"),
        ("kml.zip", write_zip(tmp_path / "k.zip", {**zipped, "towns.shp": kml(listener.url())}).read_bytes(),
         "towns.shp"),
        ("lying.zip", _lying(tmp_path, "small_size").read_bytes(), "towns.dbf"),
        ("mismatch.zip", _lying(tmp_path, "header_mismatch").read_bytes(), "towns.dbf"),
        ("evil.geojson", vrt("/etc/passwd"), "evil.geojson"),
    ]
    for name, payload, member in cases:
        r = _upload(client, name, payload)
        assert r.status_code in (415, 422), (name, r.get_json())
        msg = r.get_json()["error"]["message"]
        assert member in msg or r.get_json()["error"]["field"] == member, (name, msg)
        assert str(tmp_path) not in msg and "upload.bin" not in msg
    assert listener.connections == []
    assert snapshot(data) == before
    assert not any((Path(app.instance_path) / "uploads").glob("*/upload.bin"))


@pytest.mark.parametrize("tail", [b"", b"\x00" * 4096])
def test_damaged_containers_name_no_server_path(tmp_path, tail):
    head = bytearray(b"SQLite format 3\x00" + b"\x00" * 84)
    head[68:72] = b"GPKG"
    gpkg = tmp_path / "broken.gpkg"
    gpkg.write_bytes(bytes(head) + tail)
    assert_refused(read(gpkg), "broken.gpkg", (415, 422))
    gdb = tmp_path / "broken.gdb"
    gdb.mkdir()
    (gdb / "a00000001.gdbtable").write_bytes(b"\x03\x00\x00\x00" + b"\x00" * 60 + tail)
    assert_refused(read(gdb), "broken.gdb", (415, 422))
