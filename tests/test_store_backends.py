"""The review-store suite, run against both backends: SQLite (default) and PostGIS.

The PostGIS parameters use ``GEO_APP_TEST_DATABASE_URL`` (``make test`` starts a throwaway
cluster with ``scripts/pg_test_server.sh`` and exports it). Each test gets its own schema
(``options=-csearch_path=<schema>,public``), dropped afterwards. Without the variable the
PostGIS parameters skip locally and FAIL when ``CI=true``, so CI always exercises PostGIS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from geo_app.errors import StorageUnavailable, ValidationError
from geo_app.storage import SCHEMA_VERSION
from geo_app.storage.sqlite import SQLiteReviewStore as ReviewStore

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "GEO_APP_TEST_DATABASE_URL"


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


def pg_url_or_skip() -> str:
    """The test database URL; skip locally, fail in CI when it is missing."""
    url = os.environ.get(PG_ENV, "").strip()
    if url:
        return url
    msg = (f"{PG_ENV} is not set: start a throwaway PostGIS with `export {PG_ENV}=$(scripts/pg_test_server.sh)` "
           "(make test does this)")
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true but {msg}", pytrace=False)
    pytest.skip(msg)


def with_query(url: str, **params: str) -> str:
    """Set query parameters of a libpq URL (``postgresql:///db?host=...`` keeps its empty host)."""
    base, _, query = url.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query) if k not in params] + list(params.items())
    return f"{base}?{urlencode(pairs)}"


def with_search_path(url: str, schema: str) -> str:
    """Add ``options=-csearch_path=<schema>,public`` to a libpq URL."""
    return with_query(url, options=f"-csearch_path={schema},public")


class Backend:
    """One store location of one backend; ``open()`` re-opens the same store."""

    name: str
    spec: str  # what a subprocess passes to open_spec()

    def open(self, **kw: Any) -> Any:
        raise NotImplementedError

    def bump_schema(self, version: int) -> None:
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.spec = str(path)

    def open(self, **kw: Any) -> ReviewStore:
        return ReviewStore(self.path, **kw)

    def bump_schema(self, version: int) -> None:
        import sqlite3

        with sqlite3.connect(self.path) as c:
            c.execute(f"PRAGMA user_version = {version}")


class PostGISBackend(Backend):
    name = "postgis"

    def __init__(self, base_url: str, schema: str) -> None:
        import psycopg

        self.base_url = base_url
        self.schema = schema
        self.spec = with_search_path(base_url, schema)
        with psycopg.connect(base_url, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.spec, autocommit=True)

    def open(self, **kw: Any) -> Any:
        from geo_app.storage.postgis import PostGISReviewStore

        return PostGISReviewStore(self.spec, **kw)

    def bump_schema(self, version: int) -> None:
        with self.admin() as c:
            c.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.base_url, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgis"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        yield SQLiteBackend(tmp_path / "inst" / "reviews.sqlite3")
        return
    b = PostGISBackend(pg_url_or_skip(), f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield b
    finally:
        b.drop()


@pytest.fixture()
def store(backend):
    s = backend.open()
    yield s
    s.close()


# -- the shared suite ---------------------------------------------------------------------
def test_round_trip_and_reopen_identical(backend):
    s = backend.open()
    rid = s.add(review(1))
    before = s.get(rid)
    s.close()
    s2 = backend.open()
    after = s2.get(rid)
    assert after == before
    assert after["id"] == rid and isinstance(rid, str)
    assert after["report"] == review(1)["report"]
    assert list(after["report"]) == list(review(1)["report"])  # key order kept
    assert after["geometry"] == review(1)["geometry"]
    assert after["project"] == "项目 1" and after["sector"] == "医药健康" and after["verdict"] == "suitable"
    assert after["data_version"] == "sha256:0123456789abcdef"
    assert after["author"] is None and after["deleted_at"] is None
    assert after["created_at"].endswith("Z")
    assert s2.count() == 1
    assert s2.schema_version() == SCHEMA_VERSION >= 1
    s2.close()


def test_newer_schema_is_refused(backend):
    backend.open().close()
    backend.bump_schema(SCHEMA_VERSION + 1)
    with pytest.raises(StorageUnavailable, match="newer"):
        backend.open()


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


def test_bbox_filter_polygons_and_combined_filters(store):
    poly = {"type": "Polygon", "coordinates": [[[125.5, 42.4], [125.9, 42.4], [125.9, 42.7], [125.5, 42.7],
                                               [125.5, 42.4]]]}
    p = dict(review(1), geometry=poly)
    pid = store.add(p)
    far = store.add(review(2, lon=126.5, lat=43.5, verdict="conditional"))
    assert [r["id"] for r in store.list(bbox=(125.85, 42.65, 126.0, 42.8))] == [pid]  # box overlaps the polygon
    assert [r["id"] for r in store.list(bbox=(125.9, 42.7, 126.0, 42.8))] == [pid]  # touching counts
    assert store.list(bbox=(125.91, 42.71, 126.0, 42.8)) == []
    assert [r["id"] for r in store.list(bbox=(120, 40, 130, 45), verdict="conditional")] == [far]
    assert store.get(pid)["geometry"] == poly


def test_postgis_geometry_column_and_gist_index(backend):
    if backend.name != "postgis":
        pytest.skip("PostGIS only")
    s = backend.open()
    s.add(review(1))
    with backend.admin() as c:
        typ = c.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = 'reviews'::regclass AND attname = 'geometry'").fetchone()[0]
        assert typ == "geometry(Geometry,4326)"
        idx = c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'reviews'",
                        (backend.schema,)).fetchall()
        assert any("USING gist (geometry)" in r[0] for r in idx)
        assert c.execute("SELECT ST_AsText(geometry), ST_SRID(geometry) FROM reviews").fetchone() == \
            ("POINT(125.65 42.53)", 4326)
        assert [r[0] for r in c.execute("SELECT version FROM schema_version")] == list(range(1, SCHEMA_VERSION + 1))
        # The bbox filter runs in SQL against the spatial index.
        c.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in c.execute(
            "EXPLAIN SELECT id FROM reviews WHERE deleted_at IS NULL AND "
            "geometry && ST_MakeEnvelope(125, 42, 126, 43, 4326)"))
        assert "reviews_geometry_gist" in plan
    s.close()


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


def test_readonly_store_raises_storage_unavailable(backend):
    with backend.open() as s:
        s.add(review(1))
    ro = backend.open(readonly=True)
    assert ro.count() == 1
    with pytest.raises(StorageUnavailable, match="nothing was stored"):
        ro.add(review(2))
    assert ro.count() == 1
    ro.close()
    with backend.open() as s:
        assert s.count() == 1


def test_postgis_role_without_write_privilege(backend):
    """A role that may only read: the INSERT fails with a privilege error -> StorageUnavailable."""
    if backend.name != "postgis":
        pytest.skip("PostGIS only (SQLite: tests/test_store.py::test_readonly_file_permissions)")
    with backend.open() as s:
        s.add(review(1))
    role = f"ro_{uuid.uuid4().hex[:10]}"
    with backend.admin() as c:
        c.execute(f'CREATE ROLE "{role}" LOGIN')
        c.execute(f'GRANT USAGE ON SCHEMA "{backend.schema}" TO "{role}"')
        c.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{backend.schema}" TO "{role}"')
    try:
        from geo_app.storage.postgis import PostGISReviewStore

        ro = PostGISReviewStore(with_query(backend.spec, user=role))
        assert ro.count() == 1
        with pytest.raises(StorageUnavailable, match="nothing was stored"):
            ro.add(review(2))
        with pytest.raises(StorageUnavailable):
            ro.delete(ro.list()[0]["id"])
        ro.close()
    finally:
        with backend.admin() as c:
            c.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{backend.schema}" FROM "{role}"')
            c.execute(f'REVOKE ALL ON SCHEMA "{backend.schema}" FROM "{role}"')
            c.execute(f'DROP ROLE "{role}"')
    with backend.open() as s:
        assert s.count() == 1 and s.list()[0]["deleted_at"] is None


def test_postgis_lock_timeout_raises_storage_unavailable(backend):
    """Counterpart of the SQLite locked-database test: another session holds the table."""
    if backend.name != "postgis":
        pytest.skip("PostGIS only (SQLite: tests/test_store.py::test_locked_database_raises_storage_unavailable)")
    s = backend.open(timeout=0.3)
    s.add(review(1))
    with backend.admin() as other:
        with other.transaction():
            other.execute("LOCK TABLE reviews IN EXCLUSIVE MODE")
            with pytest.raises(StorageUnavailable, match="lock"):
                s.add(review(2))
    assert s.count() == 1
    s.add(review(3))  # the store still works afterwards
    assert s.count() == 2
    s.close()


def test_unreachable_server_raises_storage_unavailable(tmp_path):
    """No server behind the socket: opening fails with StorageUnavailable (PostGIS)."""
    pytest.importorskip("psycopg")
    from geo_app.storage.postgis import PostGISReviewStore

    with pytest.raises(StorageUnavailable, match="cannot be opened"):
        PostGISReviewStore(f"postgresql:///nodb?host={tmp_path}&user=nobody", timeout=1)


def test_server_gone_midway_raises_storage_unavailable(backend):
    """The server drops the session: the write fails whole, and the store reconnects afterwards."""
    if backend.name != "postgis":
        pytest.skip("PostGIS only")
    s = backend.open()
    s.add(review(1))
    pid = s._connect().info.backend_pid
    with backend.admin() as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StorageUnavailable):
        s.add(review(2))
    assert s.count() == 1  # a fresh connection; nothing half-stored
    s.close()


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


# -- processes ----------------------------------------------------------------------------
# Subprocesses import only the store modules (not the Flask app behind geo_app/__init__), so
# eight of them start in well under a second each.
OPEN_SPEC = textwrap.dedent("""
    import sys, types
    sys.path.insert(0, {root!r})
    _pkg = types.ModuleType("geo_app")
    _pkg.__path__ = [{root!r} + "/geo_app"]
    sys.modules["geo_app"] = _pkg

    def open_spec(spec, timeout=30.0):
        if spec.startswith(("postgresql://", "postgres://")):
            from geo_app.storage.postgis import PostGISReviewStore
            return PostGISReviewStore(spec, timeout=timeout)
        from geo_app.storage.sqlite import SQLiteReviewStore as ReviewStore
        return ReviewStore(spec, timeout=timeout)
""")

WRITER = OPEN_SPEC + textwrap.dedent("""
    store = open_spec(sys.argv[1])
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


def test_crash_safety_sigkill(backend, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    backend.open().close()  # schema in place before the writer starts
    proc = subprocess.Popen([sys.executable, str(script), backend.spec], stdout=subprocess.PIPE,
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
    if backend.name == "postgis":
        time.sleep(0.2)  # let the server notice the dead client and roll its transaction back
    s = backend.open()
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
        if backend.name == "sqlite":
            import sqlite3

            assert sqlite3.connect(backend.path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        s.close()


POSTER = OPEN_SPEC + textwrap.dedent("""
    import json, os, time
    spec, proc_no, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    store = open_spec(spec)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.002)
    ids, errors = [], []
    for i in range(n):
        try:
            ids.append(store.add({{
                "geometry": {{"type": "Point", "coordinates": [125.6 + proc_no / 100, 42.5 + i / 1000]}},
                "project": "p%d-%d" % (proc_no, i), "sector": "医药健康", "verdict": "suitable",
                "data_version": "sha256:concurrent",
                "report": {{"verdict": "suitable", "proc": proc_no, "i": i, "payload": "z" * 1000}},
            }}))
        except Exception as exc:
            errors.append(repr(exc))
    store.close()
    print(json.dumps({{"ids": ids, "errors": errors}}), flush=True)
""")


def test_concurrent_processes_post_400_reviews(backend, tmp_path):
    """8 processes, each with its own store, post 50 reviews each at once: 400 stored, 0 errors, 0 duplicates.

    The processes open the store at the same moment too (the schema is created by whichever wins).
    """
    n_proc, n_each = 8, 50
    script = tmp_path / "poster.py"
    script.write_text(POSTER.format(root=str(ROOT)))
    go = tmp_path / "go"
    if backend.name == "sqlite":
        backend.path.parent.mkdir(parents=True, exist_ok=True)
    procs = [subprocess.Popen([sys.executable, str(script), backend.spec, str(k), str(n_each), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(n_proc)]
    try:
        for p in procs:  # barrier: every process has opened its store
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read()[-2000:]
        go.touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = []
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    errors = [e for r in results for e in r["errors"]]
    ids = [i for r in results for i in r["ids"]]
    assert errors == []
    assert len(ids) == n_proc * n_each and len(set(ids)) == len(ids)
    with backend.open() as s:
        rows = s.list()
        assert s.count() == len(rows) == n_proc * n_each
        assert {r["id"] for r in rows} == set(ids)
        keys = [(r["report"]["proc"], r["report"]["i"]) for r in rows]
        assert len(set(keys)) == len(keys) == n_proc * n_each  # 0 duplicates
        assert set(keys) == {(k, i) for k in range(n_proc) for i in range(n_each)}
        assert all(r["report"]["payload"] == "z" * 1000 for r in rows)


def test_postgis_schema_version_is_read_from_its_own_schema(tmp_path):
    """A store in a fresh schema migrates even when another schema on the search path (here
    ``public``-like: a second test schema listed after it) already holds a newer schema_version."""
    import psycopg

    base = pg_url_or_skip()
    other = PostGISBackend(base, f"t_{uuid.uuid4().hex[:12]}")
    mine = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(other.spec, autocommit=True) as c:
            c.execute("CREATE TABLE schema_version (version integer)")
            c.execute("INSERT INTO schema_version VALUES (99)")
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{mine}"')
        from geo_app.storage.postgis import PostGISReviewStore

        spec = with_query(base, options=f"-csearch_path={mine},{other.schema},public")
        store = PostGISReviewStore(spec)
        assert store.schema_version() == SCHEMA_VERSION and store.count() == 0
        store.close()
    finally:
        other.drop()
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{mine}" CASCADE')
