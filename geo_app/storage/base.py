"""What every review store shares: the interface, the stored columns, validation and timestamps.

Both backends (:mod:`geo_app.storage.sqlite`, :mod:`geo_app.storage.postgis`) import this
module and nothing from each other. A store keeps siting reviews with one transaction per
review, soft delete and newest-first listing; a failed write raises
:class:`~geo_app.errors.StorageUnavailable` (HTTP 503) and stores nothing.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import ValidationError
from ..validate import check_text
from . import export

#: Number of schema migrations every backend applies (each backend's ``MIGRATIONS`` has this many).
SCHEMA_VERSION = 2
#: Verdicts a stored review may carry; ``incomplete`` (待补充数据, rules version 2) is new in schema 2.
VERDICTS = ("suitable", "conditional", "unsuitable", "incomplete")
#: The columns a stored review reads back with, in this order, on every backend.
COLUMNS = ("id", "created_at", "project", "sector", "verdict", "geometry", "report", "data_version",
           "author", "deleted_at")


def utc_now(timespec: str = "microseconds") -> str:
    """Return the current UTC time as ISO 8601 text ending in ``Z``.

    Parameters
    ----------
    timespec
        Precision, as for :meth:`datetime.datetime.isoformat`.
    """
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def check_migrations(migrations: list[str], backend: str) -> None:
    """Refuse a backend whose migration list does not reach :data:`SCHEMA_VERSION`.

    Raises
    ------
    RuntimeError
        The list is longer or shorter than :data:`SCHEMA_VERSION`.
    """
    if len(migrations) != SCHEMA_VERSION:
        raise RuntimeError(f"{backend}: {len(migrations)} migrations, schema version is {SCHEMA_VERSION}")


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
    for field in ("project", "sector", "author"):
        if isinstance(review.get(field), str):
            check_text(review[field], field)
    check_text(report_text, "report")  # e.g. a lone surrogate from a data file, which no driver can store
    return {"verdict": verdict, "geojson": gj, "geometry_json": geom_text, "report": report_text,
            "data_version": dv, "bounds": bounds}


def list_filters(verdict: str | None, sector: str | None, bbox_clause: str | None,
                 bbox: tuple[float, float, float, float] | None, ph: str) -> tuple[str, list[Any]]:
    """The WHERE clause and parameters of :meth:`ReviewStore.list`, shared by both backends.

    Parameters
    ----------
    verdict, sector
        Exact-match filters (skipped when empty).
    bbox_clause, bbox
        The backend's bounding-box test (four placeholders) and its parameters in that order.
    ph
        The driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg).
    """
    where = ["deleted_at IS NULL"]
    params: list[Any] = []
    for column, value in (("verdict", verdict), ("sector", sector)):
        if value:
            where.append(f"{column} = {ph}")
            params.append(value)
    if bbox_clause is not None and bbox is not None:
        where.append(bbox_clause)
        params += list(bbox)
    return " AND ".join(where), params


class ReviewStore(abc.ABC):
    """The review-store interface every backend implements.

    ``add`` validates with :func:`check_review` and writes in one transaction; ``get`` and
    ``list`` return dicts with :data:`COLUMNS` (``geometry`` and ``report`` decoded, timestamps
    as UTC ISO text ending in ``Z``) and never soft-deleted rows. Stores support ``with``.
    """

    #: GeoJSON FeatureCollection of stored reviews (:func:`geo_app.storage.export.to_geojson`).
    to_geojson = staticmethod(export.to_geojson)
    #: CSV text of stored reviews (:func:`geo_app.storage.export.to_csv`).
    to_csv = staticmethod(export.to_csv)

    @abc.abstractmethod
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

    @abc.abstractmethod
    def delete(self, rid: str) -> bool:
        """Soft-delete a review (sets ``deleted_at``); return True when one was found."""

    @abc.abstractmethod
    def get(self, rid: str) -> dict[str, Any] | None:
        """Return one review (not soft-deleted) or None."""

    @abc.abstractmethod
    def list(self, verdict: str | None = None, sector: str | None = None,
             bbox: tuple[float, float, float, float] | None = None,
             limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Return stored reviews, newest first.

        Parameters
        ----------
        verdict, sector
            Exact-match filters.
        bbox
            ``(minlon, minlat, maxlon, maxlat)``: reviews whose geometry's bounds intersect it.
        limit
            Largest number of rows.
        offset
            Rows to skip first (paging: ``limit`` rows from ``offset`` on).
        """

    @abc.abstractmethod
    def count(self) -> int:
        """Return the number of stored (not soft-deleted) reviews."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """Return the applied schema version."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's connections."""

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PerThreadConnections:
    """Closing for stores that keep one connection per thread.

    Subclasses set ``_lock``, ``_all`` (every connection opened), ``_local`` (the
    thread-local slot) and ``_close_errors`` (their driver's error class).
    """

    _close_errors: tuple[type[BaseException], ...] = (Exception,)
    _lock: threading.Lock
    _all: list[Any]
    _local: threading.local

    def _remember(self, conn: Any) -> None:
        """Make ``conn`` this thread's connection and remember it for :meth:`close`."""
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)

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

