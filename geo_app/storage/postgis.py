"""Review store on PostgreSQL + PostGIS (psycopg 3), for a service shared by several hosts.

Same interface (:class:`geo_app.storage.base.ReviewStore`) and semantics as the SQLite default
(:class:`geo_app.storage.sqlite.SQLiteReviewStore`):
``add/get/list/count/delete/to_geojson/to_csv/schema_version/close``, one transaction per
review, soft delete, newest first, and :class:`~geo_app.errors.StorageUnavailable` (HTTP 503)
when the server is unreachable, the database or session is read-only, a lock cannot be taken
in time or the role may not write. Nothing is stored when a write fails.

Schema
    ``reviews.geometry`` is ``geometry(Geometry, 4326)`` with a GiST index; the review's
    GeoJSON text is kept as well (``geometry_json``) so a review reads back exactly as it
    was posted. The schema is created and migrated by the app: :data:`MIGRATIONS` is an
    append-only list and the ``schema_version`` table records each applied step. Migrations
    run under a transaction-level advisory lock, so many processes may open the store at once.

bbox filter
    ``list(bbox=...)`` filters in SQL with ``geometry && ST_MakeEnvelope(...)`` (GiST-indexed):
    the geometry's bounds intersect the box, the same rule as the SQLite backend.

Threads
    Each thread gets its own connection (autocommit; explicit transactions), opened lazily
    and re-opened when the server dropped it.

Tables are created unqualified, i.e. in the first schema of the connection's ``search_path``
(``public`` by default; the tests pass ``options=-csearch_path=...`` in the URL).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
import shapely
import shapely.geometry

from ..errors import StorageUnavailable, ValidationError
from . import base
from .base import COLUMNS, SCHEMA_VERSION, PerThreadConnections, ReviewStore, check_review, utc_now

#: Append-only list of migrations; ``max(schema_version.version)`` is the number applied.
MIGRATIONS: list[str] = [
    # 1: the reviews table with a PostGIS geometry and its GiST index.
    """
    CREATE TABLE reviews (
        seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id            text        NOT NULL UNIQUE,
        created_at    timestamptz NOT NULL,
        project       text,
        sector        text,
        verdict       text        NOT NULL CHECK (verdict IN ('suitable', 'conditional', 'unsuitable')),
        geometry      geometry(Geometry, 4326) NOT NULL,
        geometry_json json        NOT NULL,
        report        json        NOT NULL,
        data_version  text        NOT NULL,
        author        text,
        deleted_at    timestamptz
    );
    CREATE INDEX reviews_geometry_gist ON reviews USING gist (geometry);
    CREATE INDEX reviews_verdict ON reviews (verdict);
    CREATE INDEX reviews_sector ON reviews (sector);
    CREATE INDEX reviews_created ON reviews (created_at);
    """,
    # 2: the verdict "incomplete" (a deciding finding's data is missing); old rows keep their verdicts.
    """
    ALTER TABLE reviews DROP CONSTRAINT IF EXISTS reviews_verdict_check;
    ALTER TABLE reviews ADD CONSTRAINT reviews_verdict_check
        CHECK (verdict IN ('suitable', 'conditional', 'unsuitable', 'incomplete'));
    """,
]
base.check_migrations(MIGRATIONS, "PostGIS review store")
#: Advisory lock key held while migrating (any 64-bit number unique to this app).
_MIGRATION_LOCK = 0x6765_6F61_7070_0001
_SELECT = ("id, created_at, project, sector, verdict, geometry_json, report, data_version, author, deleted_at")


def _redact(url: str) -> str:
    """The URL without its password (for messages)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", re.sub(r"(password=)[^&\s]*", r"\1***", url))


def _iso(value: datetime | None) -> str | None:
    """A timestamp as the SQLite backend writes it: UTC, microseconds, ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _prepare(review: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a review (:func:`geo_app.storage.base.check_review`) and return its PostGIS columns.

    Raises
    ------
    ValidationError
        Missing or non-JSON-safe report, unknown verdict, bad geometry or no ``data_version``.
    """
    checked = check_review(review)
    gj = checked["geojson"]
    try:
        wkb = shapely.to_wkb(shapely.geometry.shape(gj), hex=False, include_srid=False)
    except Exception as exc:  # noqa: BLE001 - shapely raises several types for bad GeoJSON
        raise ValidationError(f"review geometry is not valid GeoJSON: {exc}", field="geometry") from exc
    return {"id": uuid.uuid4().hex, "created_at": datetime.fromisoformat(utc_now().replace("Z", "+00:00")),
            "project": review.get("project"), "sector": review.get("sector"), "verdict": checked["verdict"],
            "wkb": wkb, "geometry_json": checked["geometry_json"], "report": checked["report"],
            "data_version": checked["data_version"],
            "author": review.get("author")}


class PostGISReviewStore(PerThreadConnections, ReviewStore):
    """Siting reviews in a PostgreSQL + PostGIS database.

    Parameters
    ----------
    url
        libpq URL, e.g. ``postgresql://user@host/db`` or
        ``postgresql:///geoapp?host=/tmp/geoapp-pg/socket``.
    readonly
        Open every session read-only: reads work, every write raises ``StorageUnavailable``.
    timeout
        Seconds to wait for the server (connect) and for a row or table lock held by another
        session before giving up.
    """

    _close_errors = (psycopg.Error,)

    def __init__(self, url: str, *, readonly: bool = False, timeout: float = 5.0) -> None:
        self.url = str(url)
        self.readonly = readonly
        self.timeout = float(timeout)
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    def __repr__(self) -> str:
        return f"PostGISReviewStore({_redact(self.url)!r})"

    @property
    def name(self) -> str:
        """The database URL without its password (used in messages)."""
        return _redact(self.url)

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        conn: psycopg.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self.timeout)))
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute(f"SET lock_timeout = {int(self.timeout * 1000)}")
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            raise StorageUnavailable(f"review store {self.name} cannot be opened: {exc}".strip()) from exc
        self._remember(conn)
        return conn

    # -- schema ---------------------------------------------------------------------------
    @staticmethod
    def _version(conn: psycopg.Connection) -> int:
        """Applied schema version in the current schema; 0 when it has no ``schema_version`` table.

        The lookup is pinned to ``current_schema()`` (where the migrations create their tables), so
        a ``schema_version`` table further down the search path (e.g. in ``public``) is never read.
        """
        exists = conn.execute("SELECT to_regclass(format('%I.schema_version', current_schema()))").fetchone()[0]
        if exists is None:
            return 0
        return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            version = self._version(conn)
        except psycopg.Error as exc:
            raise StorageUnavailable(f"review store {self.name} cannot be read: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise StorageUnavailable(
                f"review store {self.name} has schema version {version}, newer than this code ({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        try:
            with conn.transaction():
                # Serialise concurrent openers; re-read the version inside the lock.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                             "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                version = self._version(conn)
                for i in range(version, SCHEMA_VERSION):
                    conn.execute(MIGRATIONS[i])
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (i + 1,))
        except psycopg.Error as exc:
            raise StorageUnavailable(f"review store {self.name}: schema cannot be created: {exc}") from exc

    def schema_version(self) -> int:
        """Return the applied schema version (``max(schema_version.version)``)."""
        try:
            return self._version(self._connect())
        except psycopg.Error as exc:
            raise StorageUnavailable(f"review store {self.name} cannot be read ({exc})") from exc

    # -- writes ---------------------------------------------------------------------------
    def add(self, review: Mapping[str, Any]) -> str:
        """See :meth:`geo_app.storage.base.ReviewStore.add`."""
        row = _prepare(review)
        conn = self._connect()
        try:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO reviews (id, created_at, project, sector, verdict, geometry, geometry_json, "
                    "report, data_version, author) VALUES (%(id)s, %(created_at)s, %(project)s, %(sector)s, "
                    "%(verdict)s, ST_SetSRID(ST_GeomFromWKB(%(wkb)s), 4326), %(geometry_json)s::json, "
                    "%(report)s::json, %(data_version)s, %(author)s)", row)
        except psycopg.Error as exc:
            raise StorageUnavailable(
                f"review store {self.name} cannot be written ({_msg(exc)}); nothing was stored") from exc
        return row["id"]

    def delete(self, rid: str) -> bool:
        """Soft-delete a review (sets ``deleted_at``); return True when one was found."""
        conn = self._connect()
        try:
            with conn.transaction():
                cur = conn.execute("UPDATE reviews SET deleted_at = %s WHERE id = %s AND deleted_at IS NULL",
                                   (datetime.now(UTC), rid))
        except psycopg.Error as exc:
            raise StorageUnavailable(f"review store {self.name} cannot be written ({_msg(exc)})") from exc
        return cur.rowcount > 0

    # -- reads ----------------------------------------------------------------------------
    @staticmethod
    def _row(r: tuple[Any, ...]) -> dict[str, Any]:
        out = dict(zip(COLUMNS, r, strict=True))
        out["created_at"] = _iso(out["created_at"])
        out["deleted_at"] = _iso(out["deleted_at"])
        return out

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connect().execute(sql, tuple(params)).fetchall()
        except psycopg.Error as exc:
            raise StorageUnavailable(f"review store {self.name} cannot be read ({_msg(exc)})") from exc

    def get(self, rid: str) -> dict[str, Any] | None:
        """Return one review (not soft-deleted) or None."""
        if not isinstance(rid, str):
            return None
        rows = self._read(f"SELECT {_SELECT} FROM reviews WHERE id = %s AND deleted_at IS NULL", (rid,))
        return self._row(rows[0]) if rows else None

    def list(self, verdict: str | None = None, sector: str | None = None,
             bbox: tuple[float, float, float, float] | None = None,
             limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """See :meth:`geo_app.storage.base.ReviewStore.list`. The bbox test is answered from the GiST index."""
        box = None if bbox is None else tuple(float(v) for v in bbox)
        where, params = base.list_filters(verdict, sector, "geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
                                     box, "%s")  # type: ignore[arg-type]
        sql = f"SELECT {_SELECT} FROM reviews WHERE {where} ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(int(limit))
        if offset:
            sql += " OFFSET %s"
            params.append(int(offset))
        return [self._row(r) for r in self._read(sql, params)]

    def count(self) -> int:
        """Return the number of stored (not soft-deleted) reviews."""
        return int(self._read("SELECT count(*) FROM reviews WHERE deleted_at IS NULL")[0][0])


def _msg(exc: psycopg.Error) -> str:
    """First line of a driver error, with its SQLSTATE name when there is one."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text}"
