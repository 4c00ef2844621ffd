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


def _fill(path: Path) -> None:
    """Write zeros into ``path`` until its filesystem is full to the last byte."""
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass


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

            from geo_app.storage.sqlite import SQLiteReviewStore as ReviewStore

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
        _fill(disk / "filler")
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
    from geo_app.cli.server import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"


# --- the data folder (imports, drawings, undo) --------------------------------------------------
POINT = {"geometry": {"type": "Point", "coordinates": [125.66, 42.55]}, "name": "故障测试物流点"}


def _data_app(tmp_path: Path, data: Path):
    """An editor client over a copy of data/ at ``data`` (instance on the normal disk)."""
    from tests.test_data_pages import csrf
    from tests.test_importer import make_app

    app = make_app(tmp_path, data=data)
    editor = authorize(app, "editor")
    editor.token = csrf(editor)
    return app, editor


def _draw(editor, body=POINT):
    return editor.post("/api/data/logistics/features", json=body, headers={"X-CSRFToken": editor.token})


def test_data_disk_full_mid_run(tmp_path):
    from tests.test_importer import snapshot

    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk):
        pytest.skip("needs root to mount a small tmpfs; the fault-injection tests below cover the rollback")
    try:
        _, editor = _data_app(tmp_path, disk / "data")
        assert _draw(editor).status_code == 201
        before = snapshot(disk / "data")
        _fill(disk / "filler")
        r = _draw(editor, {**POINT, "name": "磁盘满时的点"})
        assert r.status_code == 503, r.get_json()
        err = r.get_json()["error"]
        assert err["field"] == "data" and "unchanged" in err["message"]
        assert snapshot(disk / "data") == before  # no half backup, no half layer, no history line
        assert editor.get("/api/layers").status_code == 200  # the server stays up
        (disk / "filler").unlink()
        assert _draw(editor, {**POINT, "name": "磁盘空出后的点"}).status_code == 201
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_history_write_failure_puts_the_layer_back(tmp_path, monkeypatch):
    from geo_app.importer import write
    from tests.test_importer import snapshot

    data = tmp_path / "data"
    _, editor = _data_app(tmp_path, data)
    before = snapshot(data)

    def no_space(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write, "_append_history", no_space)
    r = _draw(editor)
    assert r.status_code == 503 and "nothing was recorded" in r.get_json()["error"]["message"]
    assert snapshot(data) == before  # the written layer was replaced by its backup, the backup is gone
    monkeypatch.undo()
    assert _draw(editor).status_code == 201


def test_history_line_is_never_left_half_written(tmp_path, monkeypatch):
    from geo_app.importer import write

    entry = {"id": "a", "layer": "parks", "action": "draw"}
    write._append_history(tmp_path, entry)
    path = write.history_path(tmp_path, "parks")
    good = path.read_bytes()

    def failing_fsync(_fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(write.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write._append_history(tmp_path, {**entry, "id": "b"})
    assert path.read_bytes() == good
    assert [e["id"] for e in write.read_history(tmp_path, "parks")] == ["a"]


def test_readme_failure_keeps_the_import_and_says_so(tmp_path, monkeypatch):
    from geo_app import importer
    from geo_app.importer import write
    from geo_app.layers import LayerRegistry
    from tests.test_importer import make_app, write_fixtures

    data = tmp_path / "data"
    make_app(tmp_path)  # copies data/
    reg = LayerRegistry(ROOT / "layers", data, ROOT.parent / "shared" / "data")
    files = write_fixtures(tmp_path / "fx")
    plan = importer.prepare_import(importer.read_source(files["gpkg"]), "towns", reg)
    readme = (data / "README.md").read_bytes()

    def read_only(*_a, **_k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(write, "record_readme", read_only)
    entry = importer.apply_import(plan, data, reg)
    assert entry["readme"] == "not updated: Read-only file system"
    assert (data / "README.md").read_bytes() == readme
    assert [e["id"] for e in importer.read_history(data, "towns")] == [entry["id"]]
    assert importer.read_layer_file(data / "towns.geojson").geometry.notna().sum() > 0
