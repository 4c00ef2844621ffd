"""Data written by several processes: the data folder's write lock (web saves, other server
processes and the CLI never overwrite each other's changes; a writer that cannot get the lock
fails cleanly, 503 / exit 2), and a running server that sees another process's change at once.

Apps and processes run over a tmp copy of data/ (tests/test_importer.py: make_app).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd

from geo_app import importer
from tests.conftest import authorize
from tests.test_data_pages import csrf, post
from tests.test_importer import ROOT, make_app, snapshot, write_fixtures

HOLD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from geo_app.importer import write_lock
    with write_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()  # hold the lock until the test closes our stdin
""")

DRAW = textwrap.dedent("""
    import sys
    from pathlib import Path
    from shapely.geometry import Point
    from geo_app import importer
    from geo_app.layers import LayerRegistry
    root, data, tag, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    reg = LayerRegistry(root / "layers", data, root.parent / "shared" / "data")
    x0 = 125.60 if tag == "a" else 125.70
    for i in range(n):
        with importer.write_lock(data):
            plan = importer.prepare_feature("logistics", Point(x0 + i * 0.005, 42.55), {"name": f"{tag}-{i}"},
                                            reg, sectors=[])
            assert plan.ok, plan.report
            importer.apply_import(plan, data, reg, author=tag)
""")


class Holder:
    """Another process holding the data folder's lock until :meth:`release`."""

    def __init__(self, data: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


def test_web_save_waits_for_another_process_then_gives_503_and_writes_nothing(tmp_path):
    app = make_app(tmp_path, DATA_LOCK_TIMEOUT_S=0.5)
    data = tmp_path / "data"
    editor = authorize(app, "editor")
    editor.token = csrf(editor)
    body = {"geometry": {"type": "Point", "coordinates": [125.66, 42.55]}, "name": "锁测试物流点"}
    holder = Holder(data)
    try:
        before = snapshot(data)
        r = post(editor, "/api/data/logistics/features", json=body)
        assert r.status_code == 503, r.get_json()
        err = r.get_json()["error"]
        assert err["field"] == "data" and "lock" in err["message"] and "nothing was written" in err["message"]
        assert snapshot(data) == before
        r = post(editor, "/data/undo", json={"layer": "logistics"})
        assert r.status_code == 503 and snapshot(data) == before
    finally:
        holder.release()
    r = post(editor, "/api/data/logistics/features", json=body)  # the lock is free again
    assert r.status_code == 201, r.get_json()
    names = [f["properties"]["name_zh"] for f in editor.get("/api/layers/logistics").get_json()["features"]]
    assert "锁测试物流点" in names


def test_cli_import_refuses_while_the_folder_is_locked(tmp_path):
    app = make_app(tmp_path, DATA_LOCK_TIMEOUT_S=0.5)
    data = tmp_path / "data"
    files = write_fixtures(tmp_path / "fx")
    from geo_app.cli import main

    runner = app.test_cli_runner()
    holder = Holder(data)
    try:
        before = snapshot(data)
        result = runner.invoke(main, ["data", "import", "towns", str(files["gpkg"])])
        assert result.exit_code == 2, result.output
        assert "lock" in result.output and snapshot(data) == before
        dry = runner.invoke(main, ["data", "import", "towns", str(files["gpkg"]), "--dry-run"])
        assert dry.exit_code == 0, dry.output  # a dry run writes nothing, so it needs no lock
        assert snapshot(data) == before
    finally:
        holder.release()
    result = runner.invoke(main, ["data", "import", "towns", str(files["gpkg"])])
    assert result.exit_code == 0, result.output


def test_two_processes_drawing_at_once_lose_nothing(tmp_path):
    """Without the lock this loses drawings (each process re-reads and rewrites the whole layer)."""
    n = 6
    make_app(tmp_path)  # copies data/
    data = tmp_path / "data"
    before = len(gpd.read_file(data / "logistics.geojson"))
    procs = [subprocess.Popen([sys.executable, "-c", DRAW, str(ROOT), str(data), tag, str(n)], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    layer = gpd.read_file(data / "logistics.geojson")
    names = set(layer["name_zh"])
    assert {f"{t}-{i}" for t in "ab" for i in range(n)} <= names
    assert len(layer) == before + 2 * n
    history = importer.read_history(data, "logistics")
    assert sum(e["action"] == "draw" for e in history) == 2 * n
    # every change has its own backup, so each one can still be undone
    assert len({e["backup"] for e in history}) == 2 * n


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    data = tmp_path
    holder = Holder(data)
    holder.proc.kill()
    holder.proc.wait(timeout=30)
    with importer.write_lock(data, timeout_s=2):  # the kernel dropped the dead process's lock
        pass


def test_running_server_sees_another_process_change_without_restart(tmp_path):
    app = make_app(tmp_path)
    data = tmp_path / "data"
    planner = authorize(app, "planner")
    site = {"geometry": {"type": "Point", "coordinates": [125.66, 42.52]}, "project": "版本测试"}
    before = planner.get("/api/layers/logistics").get_json()  # now cached in this process
    first = planner.post("/api/reviews", json=site).get_json()
    draw = subprocess.run([sys.executable, "-c", DRAW, str(ROOT), str(data), "a", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert draw.returncode == 0, draw.stderr
    after = planner.get("/api/layers/logistics").get_json()
    assert len(after["features"]) == len(before["features"]) + 1
    assert "a-0" in {f["properties"]["name_zh"] for f in after["features"]}
    overview = planner.get("/").get_data(as_text=True)
    assert "a-0" in overview
    second = planner.post("/api/reviews", json=site).get_json()
    v1, v2 = (planner.get(f"/api/reviews/{r['id']}").get_json()["data_version"] for r in (first, second))
    assert v1 != v2  # each review records the data it was computed on
