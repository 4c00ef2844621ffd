"""ReviewStore (SQLite) specifics: pragmas, foreign files, locks, file permissions and data versions.

The backend-independent suite (round trip, filters, exports, read-only, threads, crash safety,
8-process concurrency) lives in tests/test_store_backends.py and runs on SQLite and PostGIS.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from geo_app.errors import StorageUnavailable
from geo_app.storage import SCHEMA_VERSION, clear_data_version, data_version
from geo_app.storage.sqlite import SQLiteReviewStore as ReviewStore
from tests.test_store_backends import review

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def store(tmp_path):
    s = ReviewStore(tmp_path / "reviews.sqlite3")
    yield s
    s.close()


def test_pragmas_and_schema_version(store, tmp_path):
    conn = store._connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version() == SCHEMA_VERSION >= 1
    cols = {r[1] for r in conn.execute("PRAGMA table_info(reviews)")}
    assert {"id", "created_at", "project", "sector", "verdict", "geometry", "report", "data_version",
            "author", "deleted_at"} <= cols


def test_not_a_database(tmp_path):
    path = tmp_path / "r.sqlite3"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StorageUnavailable):
        ReviewStore(path)


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


def test_data_version_hashes_bytes(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    v1 = data_version(d)
    assert v1.startswith("sha256:") and len(v1) == len("sha256:") + 16
    original = (d / "a.geojson").read_bytes()
    (d / "a.geojson").write_text('{"type": "FeatureCollection", "features": [ ]}')
    v2 = data_version(d)
    assert v2 != v1  # a changed file is seen without clearing anything (any process may change it)
    (d / "a.bak.20261129T000000000000Z.geojson").write_bytes(original)  # backups and history are
    (d / "history").mkdir()                                               # not model data
    (d / "history" / "a.jsonl").write_text("{}\n")
    assert data_version(d) == v2
    (d / "a.geojson").write_bytes(original)  # undo: the same bytes give the same version again
    assert data_version(d) == v1
    clear_data_version()
    assert data_version(d) == v1
    assert data_version(ROOT / "data") == data_version(ROOT / "data")
