"""Review store: SQLite (stdlib ``sqlite3``) in WAL mode with ``synchronous=FULL``.

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

import csv
import hashlib
import io
import json
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import StorageUnavailable, ValidationError

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
]
SCHEMA_VERSION = len(MIGRATIONS)
VERDICTS = ("suitable", "conditional", "unsuitable")
_COLUMNS = ("id", "created_at", "project", "sector", "verdict", "geometry", "report", "data_version",
            "author", "deleted_at")

_DATA_VERSIONS: dict[str, tuple[tuple, str]] = {}
_DV_LOCK = threading.Lock()


def _model_files(root: Path) -> list[tuple[str, Path, tuple[int, int, int]]]:
    """The model files under ``root``, sorted, with (mtime, size, inode).

    Hidden files (locks, half-written temporaries), backups and the change history are left
    out; so is a file that disappears while the folder is listed.
    """
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if "__pycache__" in rel or rel.startswith(".") or ".bak." in p.name or rel.startswith("history/"):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((rel, p, (st.st_mtime_ns, st.st_size, st.st_ino)))
    return out


def data_version(data_dir: str | Path) -> str:
    """Hash the bytes (and relative names) of the model files under ``data_dir``.

    Backups (``*.bak.*``), the change history and hidden files are not model data and are left
    out, so undoing a change gives the version from before it again. The hash is cached per
    folder together with every file's (mtime, size, inode): a later call only stats the files,
    and hashes again when any of them changed, whichever process changed it.

    Parameters
    ----------
    data_dir
        The model data folder.

    Returns
    -------
    str
        ``"sha256:"`` followed by the first 16 hex digits of the digest.
    """
    key = str(Path(data_dir).resolve())
    with _DV_LOCK:
        files = _model_files(Path(key))
        stats = tuple((rel, sig) for rel, _, sig in files)
        cached = _DATA_VERSIONS.get(key)
        if cached is not None and cached[0] == stats:
            return cached[1]
        h = hashlib.sha256()
        for rel, p, _ in files:
            h.update(rel.encode("utf-8") + b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
        out = "sha256:" + h.hexdigest()[:16]
        _DATA_VERSIONS[key] = (stats, out)
        return out


def clear_data_version() -> None:
    """Forget cached data versions (only needed when a file changed within the stat resolution)."""
    with _DV_LOCK:
        _DATA_VERSIONS.clear()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _geojson(geom: Any) -> dict[str, Any]:
    if isinstance(geom, Mapping):
        return dict(geom)
    if hasattr(geom, "__geo_interface__"):
        import shapely.geometry

        return json.loads(json.dumps(shapely.geometry.mapping(geom)))
    raise ValidationError("review geometry must be GeoJSON or a shapely geometry", field="geometry")


def _bounds(gj: Mapping[str, Any]) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if isinstance(c, list | tuple) and c and isinstance(c[0], int | float):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        elif isinstance(c, list | tuple):
            for item in c:
                walk(item)

    walk(gj.get("coordinates"))
    if not xs:
        raise ValidationError("review geometry has no coordinates", field="geometry")
    return min(xs), min(ys), max(xs), max(ys)


class PerThreadConnections:
    """Closing and ``with`` support for stores that keep one connection per thread.

    Subclasses set ``_lock``, ``_all`` (every connection opened), ``_local`` (the
    thread-local slot) and ``_close_errors`` (their driver's error class).
    """

    _close_errors: tuple[type[BaseException], ...] = (Exception,)
    _lock: threading.Lock
    _all: list[Any]
    _local: threading.local

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except self._close_errors:  # pragma: no cover - closing is best effort
                pass
        self._local = threading.local()

    def __enter__(self) -> PerThreadConnections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReviewStore(PerThreadConnections):
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
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageUnavailable(f"review store folder {self.path.parent} cannot be created: "
                                         f"{exc.strerror}") from exc
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
            raise StorageUnavailable(f"review store {self.path} cannot be opened: {exc}") from exc
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StorageUnavailable(f"review store {self.path} is not a readable database: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise StorageUnavailable(
                f"review store {self.path} has schema version {version}, newer than this code "
                f"({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise StorageUnavailable(f"review store {self.path}: schema cannot be created: {exc}") from exc

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover
            pass

    def schema_version(self) -> int:
        """Return the applied schema version (``PRAGMA user_version``)."""
        return int(self._connect().execute("PRAGMA user_version").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------
    def add(self, review: Mapping[str, Any]) -> str:
        """Store one review in one transaction and return its id.

        Parameters
        ----------
        review
            ``geometry`` (GeoJSON dict or shapely), ``report`` (dict; JSON-safe, no NaN),
            ``data_version`` (str), and optional ``project``, ``sector``, ``author`` and
            ``verdict`` (taken from ``report["verdict"]`` when absent).

        Returns
        -------
        str
            The review id (a UUID4 hex string), stable across re-opens.
        """
        checked = check_review(review)
        rid = uuid.uuid4().hex
        row = (rid, _now(), review.get("project"), review.get("sector"), checked["verdict"],
               checked["geometry_json"], checked["report"], checked["data_version"], review.get("author"), None,
               *checked["bounds"])
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO reviews (id, created_at, project, sector, verdict, geometry, report, "
                "data_version, author, deleted_at, minx, miny, maxx, maxy) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise StorageUnavailable(
                f"review store {self.path.name} cannot be written ({exc}); nothing was stored") from exc
        return rid

    def delete(self, rid: str) -> bool:
        """Soft-delete a review (sets ``deleted_at``); return True when one was found."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute("UPDATE reviews SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                               (_now(), rid))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise StorageUnavailable(f"review store {self.path.name} cannot be written ({exc})") from exc
        return cur.rowcount > 0

    # -- reads ----------------------------------------------------------------------------
    @staticmethod
    def _row(r: sqlite3.Row) -> dict[str, Any]:
        out = {k: r[k] for k in _COLUMNS}
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
        rows = self._read(f"SELECT {', '.join(_COLUMNS)} FROM reviews WHERE id = ? AND deleted_at IS NULL",
                          (rid,))
        return self._row(rows[0]) if rows else None

    def list(self, verdict: str | None = None, sector: str | None = None,
             bbox: tuple[float, float, float, float] | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        """Return stored reviews, newest first.

        Parameters
        ----------
        verdict, sector
            Exact-match filters.
        bbox
            ``(minlon, minlat, maxlon, maxlat)``: reviews whose geometry's bounds intersect it.
        limit
            Largest number of rows.
        """
        where = ["deleted_at IS NULL"]
        params: list[Any] = []
        if verdict:
            where.append("verdict = ?")
            params.append(verdict)
        if sector:
            where.append("sector = ?")
            params.append(sector)
        if bbox is not None:
            x0, y0, x1, y1 = bbox
            where.append("maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?")
            params += [x0, x1, y0, y1]
        sql = f"SELECT {', '.join(_COLUMNS)} FROM reviews WHERE {' AND '.join(where)} ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._row(r) for r in self._read(sql, params)]

    def count(self) -> int:
        """Return the number of stored (not soft-deleted) reviews."""
        return int(self._read("SELECT COUNT(*) FROM reviews WHERE deleted_at IS NULL")[0][0])

    # -- exports --------------------------------------------------------------------------
    @staticmethod
    def to_geojson(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Return reviews as a GeoJSON FeatureCollection (RFC 7946, WGS84, no ``crs``)."""
        feats = []
        for r in rows:
            report = r.get("report") or {}
            props = {k: r.get(k) for k in ("id", "created_at", "project", "sector", "verdict",
                                           "data_version", "author")}
            props["reasons_zh"] = "; ".join(x.get("zh", "") for x in report.get("reasons", []))
            props["reasons_en"] = "; ".join(x.get("en", "") for x in report.get("reasons", []))
            feats.append({"type": "Feature", "id": r.get("id"), "geometry": r.get("geometry"),
                          "properties": props})
        return {"type": "FeatureCollection", "features": feats}

    @staticmethod
    def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
        """Return reviews as CSV text (one row per review; lon/lat of the site's basis point).

        Text cells that a spreadsheet would run as a formula (starting with ``= + - @``)
        are prefixed with ``'``.
        """
        cols = ["id", "created_at", "project", "sector", "verdict", "geometry_type", "lon", "lat",
                "data_version", "author", "reasons_zh", "reasons_en"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)

        def safe(v: Any) -> Any:
            if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
                return "'" + v
            return v

        for r in rows:
            report = r.get("report") or {}
            site = report.get("site") or {}
            geom = r.get("geometry") or {}
            lon, lat = site.get("lon"), site.get("lat")
            if lon is None and geom.get("type") == "Point":
                lon, lat = geom["coordinates"][:2]
            reasons = report.get("reasons", [])
            vals = [r.get("id"), r.get("created_at"), r.get("project"), r.get("sector"), r.get("verdict"),
                    geom.get("type"), lon, lat, r.get("data_version"), r.get("author"),
                    "; ".join(x.get("zh", "") for x in reasons), "; ".join(x.get("en", "") for x in reasons)]
            w.writerow([safe(v) if i not in (6, 7) else v for i, v in enumerate(vals)])
        return buf.getvalue()


def check_review(review: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a review for storage; shared by every backend so they accept the same input.

    Returns
    -------
    dict
        ``verdict``, ``geojson`` (dict), ``geometry_json`` and ``report`` (JSON text),
        ``data_version`` and ``bounds``.

    Raises
    ------
    ValidationError
        Missing or non-JSON-safe report, unknown verdict, bad geometry or no ``data_version``.
    """
    report = review.get("report")
    if not isinstance(report, Mapping):
        raise ValidationError("review report must be an object", field="report")
    verdict = review.get("verdict") or report.get("verdict")
    if verdict not in VERDICTS:
        raise ValidationError(f"verdict must be one of {', '.join(VERDICTS)}", field="verdict")
    gj = _geojson(review.get("geometry"))
    bounds = _bounds(gj)
    try:
        report_text = json.dumps(report, ensure_ascii=False, allow_nan=False, sort_keys=False)
        geom_text = json.dumps(gj, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"review is not JSON-safe: {exc}", field="report") from exc
    dv = review.get("data_version")
    if not isinstance(dv, str) or not dv:
        raise ValidationError("data_version (a hash of data/) is required", field="data_version")
    return {"verdict": verdict, "geojson": gj, "geometry_json": geom_text, "report": report_text,
            "data_version": dv, "bounds": bounds}


def open_store(config: Mapping[str, Any]) -> Any:
    """Open the review store the configuration asks for.

    ``DATABASE_URL`` (``GEO_APP_DATABASE_URL``) starting with ``postgresql://`` selects the
    PostGIS backend; otherwise SQLite in the instance folder (``GEO_APP_INSTANCE``).

    Parameters
    ----------
    config
        The app configuration.

    Returns
    -------
    ReviewStore or geo_app.store_postgis.PostGISReviewStore
    """
    url = config.get("DATABASE_URL")
    if url:
        if not str(url).startswith(("postgresql://", "postgres://")):
            raise StorageUnavailable("GEO_APP_DATABASE_URL must be a postgresql:// URL")
        from .store_postgis import PostGISReviewStore

        return PostGISReviewStore(str(url))
    return ReviewStore(Path(config["INSTANCE"]) / "reviews.sqlite3")
