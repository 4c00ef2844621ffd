"""One bad request never affects another, part 2: no failed write leaves a transaction or a lock behind.

Every store write runs in :func:`geo_app.storage.sqlite_files.transaction` (SQLite) or
``conn.transaction()`` (PostGIS), which roll back on *any* exception. The stores' busy/lock timeout
is set to 0.3 s here, so a transaction left open by the failing request would make the next write
fail (503) or wait; the next review must be stored (201) within a second, from the same thread (the
same connection) and from another one. Both backends (PostGIS when ``GEO_APP_TEST_DATABASE_URL`` is set).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from geo_app import create_app
from geo_app.storage import UserStore
from tests.conftest import authorize
from tests.test_store_backends import PostGISBackend, pg_url_or_skip, review

SITE = {"geometry": {"type": "Point", "coordinates": [125.66, 42.52]}, "sector": "医药健康"}
TIMEOUT_S = 0.3
#: Exceptions raised inside the transaction, after BEGIN and the first statement's start.
FAILURES = [RuntimeError("injected"), KeyboardInterrupt(), MemoryError(), UnicodeEncodeError("utf-8", "x", 0, 1, "x")]


class _FailingConnection:
    """A connection proxy whose next INSERT raises ``exc`` (the transaction is open at that moment)."""

    def __init__(self, conn, exc: BaseException) -> None:
        self._conn, self._exc = conn, exc

    def execute(self, sql, *args, **kwargs):
        if self._exc is not None and str(sql).lstrip().upper().startswith("INSERT"):
            exc, self._exc = self._exc, None
            raise exc
        return self._conn.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _fail_next_insert(store, monkeypatch, exc: BaseException) -> None:
    real = type(store)._connect
    box = {"exc": exc}

    def connect(self):
        conn = real(self)
        if box["exc"] is not None:
            conn, box["exc"] = _FailingConnection(conn, box["exc"]), None
        return conn

    monkeypatch.setattr(type(store), "_connect", connect)


@pytest.fixture(params=["sqlite", "postgis"])
def app(request, tmp_path):
    config = {"TESTING": True, "INSTANCE": tmp_path / "instance", "STORE_TIMEOUT_S": TIMEOUT_S}
    if request.param == "sqlite":
        yield create_app(config)
        return
    backend = PostGISBackend(pg_url_or_skip(), f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield create_app({**config, "DATABASE_URL": backend.spec})
    finally:
        backend.drop()


def _post_in_thread(client) -> tuple[int, float]:
    out = {}

    def run() -> None:
        started = time.monotonic()
        out["status"] = client.post("/api/reviews", json=SITE).status_code
        out["s"] = time.monotonic() - started

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    return out["status"], out["s"]


@pytest.mark.parametrize("exc", FAILURES[:2], ids=["RuntimeError", "KeyboardInterrupt"])
def test_a_review_failing_inside_its_transaction_then_a_good_one_is_201_within_a_second(app, monkeypatch, exc):
    client = authorize(app, "planner")
    store = app.extensions["geo_app"]["store"]
    assert client.post("/api/reviews", json=SITE).status_code == 201  # the graph is built; the store works
    _fail_next_insert(store, monkeypatch, exc)
    store.close()  # the next request opens the failing connection
    if isinstance(exc, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            client.post("/api/reviews", json=SITE)
    else:
        assert client.post("/api/reviews", json=SITE).status_code == 500
    started = time.monotonic()
    r = client.post("/api/reviews", json=SITE)  # same thread, same connection
    assert r.status_code == 201, r.data[:300]
    assert time.monotonic() - started < 1.0
    status, seconds = _post_in_thread(authorize(app, "planner", "other"))  # another connection
    assert status == 201 and seconds < 1.0
    assert store.count() == 3


@pytest.fixture(params=["sqlite", "postgis"])
def two_stores(request, tmp_path):
    """Two stores (two connections, as two processes have) on one database, with short lock timeouts."""
    backend = None
    if request.param == "sqlite":
        from geo_app.storage import SQLiteReviewStore

        stores = [SQLiteReviewStore(tmp_path / "r.sqlite3", timeout=TIMEOUT_S) for _ in range(2)]
    else:
        backend = PostGISBackend(pg_url_or_skip(), f"t_{uuid.uuid4().hex[:12]}")
        stores = [backend.open(timeout=TIMEOUT_S) for _ in range(2)]
    try:
        yield stores
    finally:
        for s in stores:
            s.close()
        if backend is not None:
            backend.drop()


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_any_exception_inside_a_store_write_rolls_back(two_stores, monkeypatch, exc):
    first, second = two_stores
    first.add(review(0))
    first.close()
    _fail_next_insert(first, monkeypatch, exc)
    with pytest.raises(type(exc)):
        first.add(review(1))
    started = time.monotonic()
    second.add(review(2))  # another connection: no lock was left behind
    first.add(review(3))  # the same connection: no transaction was left open
    assert time.monotonic() - started < 1.0
    assert first.count() == second.count() == 3


def test_a_failed_account_change_leaves_the_user_store_writable(tmp_path, monkeypatch):
    path = tmp_path / "users.sqlite3"
    a, b = UserStore(path, timeout=TIMEOUT_S), UserStore(path, timeout=TIMEOUT_S)
    a.add("root", "admin", "0123456789ab")
    a.add("wang", "planner", "0123456789ab")
    a.create_token("wang", "ci")

    def boom(*_args, **_kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(UserStore, "_revoke_all", staticmethod(boom))  # fails after the UPDATE, inside the transaction
    for change in (lambda: a.set_disabled("wang"), lambda: a.set_password("wang", "another long one")):
        with pytest.raises(RuntimeError):
            change()
        started = time.monotonic()
        b.audit(None, "probe")  # another connection writes at once
        assert time.monotonic() - started < 1.0
    monkeypatch.undo()
    assert not a.get("wang").disabled and a.authenticate("wang", "0123456789ab")  # both changes rolled back
    assert a.set_disabled("wang").disabled
