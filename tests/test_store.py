"""ReviewStore: persistence, schema versioning, filters, exports, write failures and crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from geo_app.errors import StorageUnavailable, ValidationError
from geo_app.store import SCHEMA_VERSION, ReviewStore, clear_data_version, data_version

ROOT = Path(__file__).resolve().parents[1]


def review(i: int = 0, *, verdict: str = "suitable", sector: str | None = "医药健康",
           lon: float = 125.65, lat: float = 42.53) -> dict:
    return {
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "project": f"项目 {i}",
        "sector": sector,
        "verdict": verdict,
        "data_version": "sha256:0123456789abcdef",
        "report": {
            "verdict": verdict,
            "site": {"type": "Point", "lon": lon, "lat": lat},
            "findings": [{"key": "township", "value": "梅河口市", "status": "unavailable", "i": i}],
            "reasons": [{"key": "all", "zh": "所有判定项均满足规则", "en": "every judged finding meets the rules"}],
            "caveats": [],
            "payload": "x" * 2000,
        },
    }


@pytest.fixture()
def store(tmp_path):
    s = ReviewStore(tmp_path / "reviews.sqlite3")
    yield s
    s.close()


def test_round_trip_and_reopen_identical(tmp_path):
    path = tmp_path / "inst" / "reviews.sqlite3"
    s = ReviewStore(path)
    rid = s.add(review(1))
    before = s.get(rid)
    s.close()
    s2 = ReviewStore(path)
    after = s2.get(rid)
    assert after == before
    assert after["id"] == rid and isinstance(rid, str)
    assert after["report"] == review(1)["report"]
    assert after["geometry"] == review(1)["geometry"]
    assert after["project"] == "项目 1" and after["sector"] == "医药健康" and after["verdict"] == "suitable"
    assert after["data_version"] == "sha256:0123456789abcdef"
    assert after["author"] is None and after["deleted_at"] is None
    assert after["created_at"].endswith("Z")
    assert s2.count() == 1
    s2.close()


def test_pragmas_and_schema_version(store, tmp_path):
    conn = store._connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version() == SCHEMA_VERSION >= 1
    cols = {r[1] for r in conn.execute("PRAGMA table_info(reviews)")}
    assert {"id", "created_at", "project", "sector", "verdict", "geometry", "report", "data_version",
            "author", "deleted_at"} <= cols


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite3"
    ReviewStore(path).close()
    with sqlite3.connect(path) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageUnavailable, match="newer"):
        ReviewStore(path)


def test_not_a_database(tmp_path):
    path = tmp_path / "r.sqlite3"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StorageUnavailable):
        ReviewStore(path)


def test_list_filters_and_soft_delete(store):
    a = store.add(review(1, verdict="suitable", sector="医药健康", lon=125.65, lat=42.53))
    b = store.add(review(2, verdict="conditional", sector="商贸物流", lon=125.70, lat=42.50))
    c = store.add(review(3, verdict="unsuitable", sector="商贸物流", lon=125.0, lat=43.0))
    assert [r["id"] for r in store.list()] == [c, b, a]  # newest first
    assert [r["id"] for r in store.list(verdict="conditional")] == [b]
    assert {r["id"] for r in store.list(sector="商贸物流")} == {b, c}
    assert [r["id"] for r in store.list(bbox=(125.6, 42.4, 125.8, 42.6))] == [b, a]
    assert len(store.list(limit=1)) == 1
    assert store.count() == 3
    assert store.delete(b) is True and store.delete(b) is False
    assert store.get(b) is None and store.count() == 2
    assert store.get("no-such-id") is None


def test_exports(store):
    store.add(review(1))
    bad = review(2)
    bad["project"] = "=HYPERLINK(\"http://x\")"
    store.add(bad)
    rows = store.list()
    fc = store.to_geojson(rows)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 2
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and f["properties"]["verdict"] == "suitable"
    assert "crs" not in fc
    json.dumps(fc, allow_nan=False)
    text = store.to_csv(rows)
    lines = text.strip().split("\n")
    assert lines[0].startswith("id,created_at,project,sector,verdict")
    assert len(lines) == 3
    assert "'=HYPERLINK" in text  # formula injection neutralised
    assert "125.65" in text


def test_invalid_reviews_store_nothing(store):
    r = review(1)
    r["report"]["nan"] = float("nan")
    with pytest.raises(ValidationError):
        store.add(r)
    r = review(2, verdict="great")
    with pytest.raises(ValidationError):
        store.add(r)
    r = review(3)
    del r["data_version"]
    with pytest.raises(ValidationError):
        store.add(r)
    assert store.count() == 0


def test_readonly_database_raises_storage_unavailable(tmp_path):
    path = tmp_path / "r.sqlite3"
    with ReviewStore(path) as s:
        s.add(review(1))
    ro = ReviewStore(path, readonly=True)
    assert ro.count() == 1
    with pytest.raises(StorageUnavailable, match="nothing was stored"):
        ro.add(review(2))
    assert ro.count() == 1
    ro.close()
    with ReviewStore(path) as s:
        assert s.count() == 1


def test_locked_database_raises_storage_unavailable(tmp_path):
    path = tmp_path / "r.sqlite3"
    s = ReviewStore(path, timeout=0.2)
    s.add(review(1))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable, match="locked"):
            s.add(review(2))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert s.count() == 1
    s.add(review(3))  # the store still works afterwards
    assert s.count() == 2
    s.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_readonly_file_permissions(tmp_path):  # pragma: no cover - runs only as non-root
    path = tmp_path / "r.sqlite3"
    with ReviewStore(path) as s:
        s.add(review(1))
    path.chmod(0o444)
    try:
        try:
            s = ReviewStore(path)
        except StorageUnavailable:
            return
        with pytest.raises(StorageUnavailable):
            s.add(review(2))
        assert s.count() == 1
        s.close()
    finally:
        path.chmod(0o644)


def test_threads_share_one_store(store):
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                store.add(review(k * 100 + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count() == 80


def test_data_version_hashes_bytes(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    v1 = data_version(d)
    assert v1.startswith("sha256:") and len(v1) == len("sha256:") + 16
    (d / "a.geojson").write_text('{"type": "FeatureCollection", "features": [ ]}')
    assert data_version(d) == v1  # cached per process
    clear_data_version()
    assert data_version(d) != v1
    assert data_version(ROOT / "data") == data_version(ROOT / "data")


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from geo_app.store import ReviewStore
    store = ReviewStore(sys.argv[1])
    i = 0
    while True:
        rid = store.add({{
            "geometry": {{"type": "Point", "coordinates": [125.65, 42.53]}},
            "project": "p%d" % i, "sector": "医药健康", "verdict": "suitable",
            "data_version": "sha256:crash",
            "report": {{"verdict": "suitable", "i": i, "payload": "y" * 5000,
                        "findings": [{{"key": "k%d" % j}} for j in range(50)]}},
        }})
        sys.stdout.write("%s %d\\n" % (rid, i))
        sys.stdout.flush()
        i += 1
""")


def test_crash_safety_sigkill(tmp_path):
    path = tmp_path / "crash.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    printed: dict[str, int] = {}
    buf = b""
    deadline = time.monotonic() + 60
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while len(printed) < 40 and time.monotonic() < deadline:
            chunk = proc.stdout.read()
            if chunk:
                buf += chunk
                *done, buf = buf.split(b"\n")
                for line in done:
                    rid, i = line.decode().split()
                    printed[rid] = int(i)
            elif proc.poll() is not None:
                pytest.fail(f"writer died: {proc.stderr.read().decode()[-2000:]}")
            else:
                time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # Lines still in the pipe were printed before the kill: their commits returned too.
    os.set_blocking(proc.stdout.fileno(), True)
    buf += proc.stdout.read()
    for line in buf.split(b"\n")[:-1]:  # the last piece may be a partial line: ignored
        rid, i = line.decode().split()
        printed[rid] = int(i)
    assert len(printed) >= 40, "the writer did not get going"
    # Only ids whose line was printed completely count as "commit returned".
    s = ReviewStore(path)
    try:
        rows = s.list()
        by_id = {r["id"]: r for r in rows}
        for rid, i in printed.items():
            assert rid in by_id, f"committed review {i} lost"
            rep = by_id[rid]["report"]
            assert rep["i"] == i and rep["payload"] == "y" * 5000 and len(rep["findings"]) == 50
            assert by_id[rid]["project"] == f"p{i}"
        for r in rows:  # no partial row: every stored row is whole
            assert r["verdict"] == "suitable" and r["geometry"]["type"] == "Point"
            assert r["report"]["payload"] == "y" * 5000 and len(r["report"]["findings"]) == 50
        # at most the one review in flight at the kill may be stored without its id printed
        assert len(rows) - len(printed) in (0, 1)
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        s.close()
