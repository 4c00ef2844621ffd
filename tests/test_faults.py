"""Fault tests: read-only review store, missing or corrupt DEM, corrupt data at start-up."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from geo_app import create_app
from tests.conftest import authorize

ROOT = Path(__file__).resolve().parents[1]
SITE = {"geometry": {"type": "Point", "coordinates": [125.66, 42.52]}, "sector": "食品加工"}


def _mount_tmpfs(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_store_disk_goes_read_only_mid_run(tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    real = _mount_tmpfs(disk)
    try:
        app = create_app({"TESTING": True, "INSTANCE": disk})
        client = authorize(app, "planner")
        store = app.extensions["geo_app"]["store"]
        assert client.post("/api/reviews", json=SITE).status_code == 201
        # The real thing where the kernel allows it: remount the filesystem read-only. Linux
        # refuses while the database is open for writing ("busy"); then every connection is
        # reopened read-only (SQLite's mode=ro), which fails writes the same way.
        remounted = real and subprocess.run(["mount", "-o", "remount,ro", str(disk)],
                                            capture_output=True).returncode == 0
        if not remounted:
            import sqlite3

            from geo_app.store import ReviewStore

            def ro_connect(self):
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                return conn

            monkeypatch.setattr(ReviewStore, "_connect", ro_connect)
        r = client.post("/api/reviews", json=SITE)
        assert r.status_code == 503, r.data
        err = r.get_json()["error"]
        assert err["code"] == "storage_unavailable" and "nothing was stored" in err["message"]
        assert store.count() == 1  # no partial review
        assert client.get("/api/layers").status_code == 200  # the server stays up
    finally:
        if real:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)



def test_store_disk_full_mid_run(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk):
        pytest.skip("needs root to mount a small tmpfs; the read-only test covers the 503 path")
    try:
        app = create_app({"TESTING": True, "INSTANCE": disk})
        client = authorize(app, "planner")
        store = app.extensions["geo_app"]["store"]
        assert client.post("/api/reviews", json=SITE).status_code == 201
        with open(disk / "filler", "wb") as fh:  # fill the disk to the last byte
            try:
                while True:
                    fh.write(b"\0" * 65536)
            except OSError:
                pass
        codes = [client.post("/api/reviews", json=SITE).status_code for _ in range(3)]
        assert 503 in codes and all(c in (201, 503) for c in codes)
        assert store.count() == 1 + codes.count(201)
        (disk / "filler").unlink()
        assert client.post("/api/reviews", json=SITE).status_code == 201
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.parametrize("dem", ["missing.tif", "corrupt.tif"])
def test_reviews_work_without_a_usable_dem(tmp_path, dem):
    path = tmp_path / dem
    if dem == "corrupt.tif":
        path.write_bytes(b"II*\x00" + os.urandom(512))
    app = create_app({"TESTING": True, "INSTANCE": tmp_path / "i", "DEM": path})
    r = authorize(app, "planner").post("/api/reviews", json=SITE)
    assert r.status_code == 201
    slope = next(f for f in r.get_json()["findings"] if f["key"] == "slope")
    assert slope["status"] == "unavailable" and slope["value"] is None


def _serve(env: dict, port: int) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "geo-app"
    return subprocess.run([str(exe), "serve", "--port", str(port)], capture_output=True, text=True,
                          env={**env, "PATH": "/usr/bin:/bin"}, timeout=120)


def test_corrupt_data_file_stops_start_up_naming_it(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    text = (data / "towns.geojson").read_text(encoding="utf-8")
    (data / "towns.geojson").write_text(text[: len(text) // 2], encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = _serve({"GEO_APP_DATA_DIR": str(data), "GEO_APP_INSTANCE": str(tmp_path / "i")}, port)
    assert out.returncode == 3
    assert "towns.geojson" in out.stderr and "serving on" not in out.stdout


def test_serve_binds_loopback_by_default():
    from geo_app.cli import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"
