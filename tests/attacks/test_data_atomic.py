"""One bad request never affects another, part 3: data changes are whole or absent, even after kill -9.

A drawn feature is saved completely (layer, history line, audit entry) or not at all, whichever
step fails (the step's failure is injected, or real: the users database locked by another
connection). Every kind of import (a layer import, a drawing, an undo, a file-layer import) is
killed with SIGKILL before each of its file-system steps in turn; the next start (``create_app``)
leaves either the old layer with no new history line, or the new layer with its history line (and,
for a drawing, its audit entry), and no temporary, journal or orphan backup. A last test kills a
process drawing in a loop at random moments.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from geo_app.importer import journal, write
from tests.attacks.net import ROOT, editor_client, make_app
from tests.test_importer import snapshot

POINT = {"geometry": {"type": "Point", "coordinates": [125.66, 42.55]}, "name": "原子性测试物流点"}  # synthetic


def _draw(editor, body=POINT):
    return editor.post("/api/data/logistics/features", json=body, headers={"X-CSRFToken": editor.token},
                       buffered=True)


def _draw_audits(app) -> list[dict]:
    return [e for e in app.extensions["geo_app"]["users"].audit_log(10_000) if e["action"] == "data.draw"]


def _oserror(*_a, **_k):
    raise OSError(28, "No space left on device")


def _nth_call_fails(real, n: int):
    calls = [0]

    def once(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise OSError(5, "Input/output error")
        return real(*args, **kwargs)

    return once


def _inject(step: str, app, monkeypatch):
    """Make ``step`` of the next save fail; returns a callable that ends a real fault (the lock)."""
    if step == "stage":
        monkeypatch.setattr(journal, "stage_text", _oserror)
    elif step == "backup":
        monkeypatch.setattr(journal, "stage_copy", _oserror)
    elif step == "journal":
        monkeypatch.setattr(journal, "_write_journal", _oserror)
    elif step == "rename":
        monkeypatch.setattr(journal.os, "replace", _nth_call_fails(journal.os.replace, 3))  # the layer's rename
    elif step == "history":
        monkeypatch.setattr(write, "_append_history", _oserror)
    elif step == "audit-error":
        users = type(app.extensions["geo_app"]["users"])
        monkeypatch.setattr(users, "audit_change", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("x")))
    elif step == "audit-locked":  # real: another connection holds the users database's write lock
        holder = sqlite3.connect(Path(app.instance_path) / "users.sqlite3", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        return lambda: holder.close()
    return lambda: None


@pytest.mark.parametrize("step", ["stage", "backup", "journal", "rename", "history", "audit-error",
                                  "audit-locked"])
def test_a_drawn_feature_is_saved_whole_or_not_at_all(tmp_path, monkeypatch, step):
    app = make_app(tmp_path, STORE_TIMEOUT_S=0.3)
    editor = editor_client(app)
    data = Path(app.config["DATA_DIR"])
    assert _draw(editor, {**POINT, "name": "先画一个"}).status_code == 201  # a history file and a backup exist
    before, audits = snapshot(data), _draw_audits(app)
    release = _inject(step, app, monkeypatch)
    try:
        r = _draw(editor)
    finally:
        release()
    assert r.status_code in (500, 503), (step, r.status_code, r.data[:200])
    assert snapshot(data) == before, step  # layer, backups, history: as they were; no temporary, no journal
    assert _draw_audits(app) == audits
    monkeypatch.undo()
    r = _draw(editor)
    assert r.status_code == 201, r.data[:300]
    hid = r.get_json()["entry"]["id"]
    assert [e for e in write.read_history(data, "logistics") if e["id"] == hid]
    assert [a for a in _draw_audits(app) if json.loads(a["detail"]).get("history") == hid]


DRIVER = textwrap.dedent('''
    import json, os, shutil, signal, sys
    from pathlib import Path
    from shapely.geometry import Point
    from geo_app import create_app, importer
    from geo_app.importer import files, write
    from geo_app.layers import LayerRegistry
    from geo_app.storage import UserStore

    root, work, kind = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    pristine, data, inst = work / "pristine", work / "data", work / "instance"
    LAYER = {"draw": "logistics", "import": "towns", "undo": "logistics", "file": "population"}[kind]
    RECORD = {"actor": "driver", "action": "data.draw", "target": LAYER, "remote_addr": "127.0.0.1", "detail": {}}

    def registry(d):
        return LayerRegistry(root / "layers", d, root.parent / "shared" / "data")

    def operate(d):
        reg = registry(d)
        if kind == "draw":
            plan = importer.prepare_feature(LAYER, Point(125.66, 42.55), {"name": "被杀的点"}, reg, sectors=[])
            users = UserStore(inst / "users.sqlite3")
            importer.apply_import(plan, d, reg, author="driver", extra={"audit": RECORD},
                                  on_commit=lambda e: users.audit_change(RECORD, e["id"]))
        elif kind == "import":
            plan = importer.prepare_import(importer.read_source(Path(sys.argv[4])), LAYER, reg)
            importer.apply_import(plan, d, reg, author="driver")
        elif kind == "undo":
            importer.undo(d, LAYER, reg, author="driver")
        else:
            with files.staged(d, "population.csv") as tmp:
                tmp.write_text("code,population\\n220581,600000\\n", encoding="utf-8")
                files.fsync_file(tmp)
                entry = files.new_entry(LAYER, "import", author="driver", note="", source="p.csv")
                files.commit_files(d, LAYER, {"population.csv": tmp}, entry)

    def steps_then_kill(kill_at):
        count = [0]
        def wrap(fn):
            def step(*a, **k):
                count[0] += 1
                if count[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return fn(*a, **k)
            return step
        for name in ("replace", "fsync", "unlink", "truncate"):
            setattr(os, name, wrap(getattr(os, name)))
        UserStore.audit_change = wrap(UserStore.audit_change)
        operate(data)
        return count[0]

    def reset():
        for d in (data, inst):
            shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(pristine / "data", data)
        shutil.copytree(pristine / "instance", inst)

    shutil.copytree(root / "data", pristine / "data", ignore=shutil.ignore_patterns("*.bak.*", "history"))
    UserStore(pristine / "instance" / "users.sqlite3")
    if kind == "undo":
        reg = registry(pristine / "data")
        plan = importer.prepare_feature(LAYER, Point(125.7, 42.6), {"name": "要撤销的点"}, reg, sectors=[])
        importer.apply_import(plan, pristine / "data", reg, author="setup")
    reset()
    pid = os.fork()
    if pid == 0:
        n = steps_then_kill(10 ** 9)
        (work / "steps").write_text(str(n))
        os._exit(0)
    os.waitpid(pid, 0)
    total = int((work / "steps").read_text())
    for k in range(1, total + 2):
        reset()
        pid = os.fork()
        if pid == 0:
            steps_then_kill(k)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        app = create_app({"TESTING": True, "DATA_DIR": data, "INSTANCE": inst, "LAYERS_DIR": root / "layers"})
        before = {e["id"] for e in importer.read_history(pristine / "data", LAYER)}
        new = [e for e in importer.read_history(data, LAYER) if e["id"] not in before]
        layer_file = [n for n in os.listdir(data) if n.startswith(LAYER + ".") and ".bak." not in n]
        old_files = {n for n in os.listdir(pristine / "data") if n.startswith(LAYER + ".") and ".bak." not in n}
        same = old_files == set(layer_file) and all(
            (data / n).read_bytes() == (pristine / "data" / n).read_bytes() for n in layer_file)
        audits = [a for a in app.extensions["geo_app"]["users"].audit_log(1000) if a["action"] == "data.draw"]
        hidden = sorted(n for d in (data, data / "history") if d.exists() for n in os.listdir(d)
                        if n.startswith(".") and n != ".write.lock")
        refs = {str(b) for e in importer.read_history(data, LAYER)
                for b in [e.get("backup"), e.get("restored"), *(e.get("backups") or {}).values()] if b}
        orphans = sorted(n for n in os.listdir(data) if ".bak." in n and n not in refs)
        for n in layer_file:
            if n.endswith(".geojson"):
                json.loads((data / n).read_text(encoding="utf-8"))
        print(json.dumps({"k": k, "killed": killed, "new": [e["id"] for e in new], "same": same,
                          "audits": [json.loads(a["detail"]).get("history") for a in audits],
                          "hidden": hidden, "orphans": orphans}), flush=True)
''')


@pytest.mark.parametrize("kind", ["draw", "import", "undo", "file"])
def test_kill_9_at_every_step_leaves_the_old_layer_or_the_new_one_with_its_history(tmp_path, kind):
    from tests.test_importer import write_fixtures

    fixture = write_fixtures(tmp_path / "fx")["gpkg"] if kind == "import" else ""
    out = subprocess.run([sys.executable, "-c", DRIVER, str(ROOT), str(tmp_path / "work"), kind, str(fixture)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(results) >= 6, out.stdout  # the change has at least five file-system steps
    states = set()
    for r in results:
        assert r["hidden"] == [] and r["orphans"] == [], r  # temporaries and journals cleaned up at start
        if r["new"]:
            assert len(r["new"]) == 1 and not r["same"], r  # the new layer, with its one history line
            if kind == "draw":
                assert r["audits"] == r["new"], r  # ... and its audit entry
            states.add("new")
        else:
            assert r["same"] and r["audits"] == [], r  # the old layer, nothing recorded
            states.add("old")
    assert results[0]["killed"] and not results[-1]["killed"] and results[-1]["new"]
    assert states == {"old", "new"}


LOOP = textwrap.dedent('''
    import sys
    from pathlib import Path
    from shapely.geometry import Point
    from geo_app import importer
    from geo_app.layers import LayerRegistry
    from geo_app.storage import UserStore
    root, data, inst = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    reg = LayerRegistry(root / "layers", data, root.parent / "shared" / "data")
    users = UserStore(inst / "users.sqlite3")
    i = int(sys.argv[4])
    print("ready", flush=True)
    while True:
        i += 1
        rec = {"actor": "loop", "action": "data.draw", "target": "logistics", "remote_addr": None, "detail": {}}
        with importer.write_lock(data):
            plan = importer.prepare_feature("logistics", Point(125.5 + (i % 50) * 0.01, 42.4 + (i // 50) * 0.01),
                                            {"name": f"循环点{i}"}, reg, sectors=[])
            assert plan.ok, plan.report
            importer.apply_import(plan, data, reg, author="loop", extra={"audit": rec},
                                  on_commit=lambda e, r=rec: users.audit_change(r, e["id"]))
''')


def test_a_process_killed_at_random_moments_never_leaves_a_half_change(tmp_path):
    app = make_app(tmp_path)
    data, inst = Path(app.config["DATA_DIR"]), Path(app.instance_path)
    base = len(json.loads((data / "logistics.geojson").read_text(encoding="utf-8"))["features"])
    rng = random.Random(14)
    drawn = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(ROOT), str(data), str(inst), str(drawn * 1000)],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.2, 1.5))
        proc.kill()
        proc.wait(30)
        drawn += 1
        app = make_app(tmp_path)  # the next start recovers
        feats = json.loads((data / "logistics.geojson").read_text(encoding="utf-8"))["features"]
        draws = [e["id"] for e in write.read_history(data, "logistics") if e["action"] == "draw"]
        assert len(feats) == base + len(draws)  # every history line has its feature, and no feature lacks one
        audits = sorted(json.loads(a["detail"])["history"] for a in _draw_audits(app))
        assert audits == sorted(draws)
        assert not [p.name for p in data.rglob(".*") if p.name != ".write.lock"]
