"""Review store on SQLite (stdlib ``sqlite3``) in WAL mode with ``synchronous=FULL``, the default backend.

One transaction per review: a review is either stored whole or not at all. Any
``sqlite3.OperationalError`` on a write (read-only file or disk, locked database,
disk full) becomes :class:`~geo_app.errors.StorageUnavailable` (HTTP 503) after the
transaction is rolled back. The schema is created on open and versioned with
``PRAGMA user_version`` and an append-only migration list. Each thread gets its own
connection, so the store can be shared by a multi-threaded WSGI server.

The store location is the caller's choice (the app passes its instance folder, which
``GEO_APP_INSTANCE`` overrides).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import StorageUnavailable
from . import base
from .base import COLUMNS, SCHEMA_VERSION, PerThreadConnections, ReviewStore, check_review, utc_now
from .sqlite_files import log, secure_file, secure_folder, transaction

#: Append-only list of migrations; ``PRAGMA user_version`` is the number applied.
MIGRATIONS: list[str] = [
    # 1: the reviews table.
    """
    CREATE TABLE reviews (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT    NOT NULL UNIQUE,
        created_at   TEXT    NOT NULL,
        project      TEXT,
        sector       TEXT,
        verdict      TEXT    NOT NULL,
        geometry     TEXT    NOT NULL,
        report       TEXT    NOT NULL,
        data_version TEXT    NOT NULL,
        author       TEXT,
        deleted_at   TEXT,
        minx REAL, miny REAL, maxx REAL, maxy REAL
    );
    CREATE INDEX reviews_verdict ON reviews(verdict);
    CREATE INDEX reviews_sector ON reviews(sector);
    CREATE INDEX reviews_created ON reviews(created_at);
    """,
    # 2: the verdict "incomplete"; the verdict column has no CHECK here, so nothing changes but the version.
    "CREATE INDEX IF NOT EXISTS reviews_verdict ON reviews(verdict)",
]
base.check_migrations(MIGRATIONS, "SQLite review store")


class SQLiteReviewStore(PerThreadConnections, ReviewStore):
    """Siting reviews in one SQLite file.

    Parameters
    ----------
    path
        Database file; its folder is created.
    readonly
        Open with ``mode=ro``: reads work, every write raises ``StorageUnavailable``.
    timeout
        Seconds to wait for a lock held by another process before giving up.
    """

    _close_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.timeout = float(timeout)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if not readonly:
            try:
                secure_folder(self.path.parent)
                secure_file(self.path)
            except OSError as exc:
                log.error("review store %s cannot be created: %s", self.path, exc)
                raise StorageUnavailable(f"review store {self.path.name} cannot be created: {exc.strerror}") from exc
        self._migrate()

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            if self.readonly:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if not self.readonly:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode={mode})")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            log.error("review store %s cannot be opened: %s", self.path, exc)
            raise StorageUnavailable(f"review store {self.path.name} cannot be opened: {exc}") from exc
        self._remember(conn)
        return conn

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StorageUnavailable(f"review store {self.path.name} is not a readable database: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise StorageUnavailable(
                f"review store {self.path.name} has schema version {version}, newer than this code "
                f"({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        with transaction(conn, lambda exc: StorageUnavailable(
                f"review store {self.path.name}: schema cannot be created: {exc}")):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        """Return the applied schema version (``PRAGMA user_version``)."""
        return int(self._connect().execute("PRAGMA user_version").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------
    def add(self, review: Mapping[str, Any]) -> str:
        """See :meth:`geo_app.storage.base.ReviewStore.add`."""
        checked = check_review(review)
        rid = uuid.uuid4().hex
        row = (rid, utc_now(), review.get("project"), review.get("sector"), checked["verdict"],
               checked["geometry_json"], checked["report"], checked["data_version"], review.get("author"), None,
               *checked["bounds"])
        with transaction(self._connect(), lambda exc: StorageUnavailable(
                f"review store {self.path.name} cannot be written ({exc}); nothing was stored")) as conn:
            conn.execute(
                "INSERT INTO reviews (id, created_at, project, sector, verdict, geometry, report, "
                "data_version, author, deleted_at, minx, miny, maxx, maxy) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return rid

    def delete(self, rid: str) -> bool:
        """Soft-delete a review (sets ``deleted_at``); return True when one was found."""
        with transaction(self._connect(), lambda exc: StorageUnavailable(
                f"review store {self.path.name} cannot be written ({exc}); nothing was changed")) as conn:
            cur = conn.execute("UPDATE reviews SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                               (utc_now(), rid))
        return cur.rowcount > 0

    # -- reads ----------------------------------------------------------------------------
    @staticmethod
    def _row(r: sqlite3.Row) -> dict[str, Any]:
        out = {k: r[k] for k in COLUMNS}
        out["geometry"] = json.loads(out["geometry"])
        out["report"] = json.loads(out["report"])
        return out

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._connect().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"review store {self.path.name} cannot be read ({exc})") from exc

    def get(self, rid: str) -> dict[str, Any] | None:
        """Return one review (not soft-deleted) or None."""
        if not isinstance(rid, str):
            return None
        rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM reviews WHERE id = ? AND deleted_at IS NULL",
                          (rid,))
        return self._row(rows[0]) if rows else None

    def list(self, verdict: str | None = None, sector: str | None = None,
             bbox: tuple[float, float, float, float] | None = None,
             limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """See :meth:`geo_app.storage.base.ReviewStore.list`."""
        box = None if bbox is None else (bbox[0], bbox[2], bbox[1], bbox[3])  # x0, x1, y0, y1
        where, params = base.list_filters(verdict, sector, "maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
                                     box, "?")
        sql = f"SELECT {', '.join(COLUMNS)} FROM reviews WHERE {where} ORDER BY seq DESC"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else int(limit), int(offset)]
        return [self._row(r) for r in self._read(sql, params)]

    def count(self) -> int:
        """Return the number of stored (not soft-deleted) reviews."""
        return int(self._read("SELECT COUNT(*) FROM reviews WHERE deleted_at IS NULL")[0][0])
