"""Where the service keeps what it is given: siting reviews, users, tokens and the audit log.

Modules
-------
base
    The review-store interface (:class:`ReviewStore`), the stored columns, :func:`check_review`
    and the schema version both backends share.
sqlite
    The default review store: one SQLite file (WAL, ``synchronous=FULL``).
postgis
    The review store on PostgreSQL + PostGIS, for a service shared by several hosts
    (imported only when ``DATABASE_URL`` asks for it, so psycopg is loaded only then).
export
    Stored reviews as GeoJSON and CSV.
users, audit
    Users, roles, API tokens and the audit log (one SQLite file in the instance folder).
data_hash
    :func:`data_version`, the hash of ``data/`` every review records.

Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import StorageUnavailable
from .base import COLUMNS, SCHEMA_VERSION, VERDICTS, PerThreadConnections, ReviewStore, check_review
from .data_hash import clear_data_version, data_version
from .sqlite import SQLiteReviewStore
from .users import MIN_PASSWORD, ROLES, User, UserStore, one_time_password, role_at_least, token_digest

__all__ = [
    "COLUMNS",
    "MIN_PASSWORD",
    "ROLES",
    "SCHEMA_VERSION",
    "VERDICTS",
    "PerThreadConnections",
    "ReviewStore",
    "SQLiteReviewStore",
    "User",
    "UserStore",
    "check_review",
    "clear_data_version",
    "data_version",
    "one_time_password",
    "open_store",
    "role_at_least",
    "token_digest",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(config: Mapping[str, Any]) -> ReviewStore:
    """Open the review store the configuration asks for.

    ``DATABASE_URL`` (``GEO_APP_DATABASE_URL``) starting with ``postgresql://`` selects the
    PostGIS backend; otherwise SQLite in the instance folder (``GEO_APP_INSTANCE``).

    Parameters
    ----------
    config
        The app configuration (``DATABASE_URL``, ``INSTANCE``; ``STORE_TIMEOUT_S``, default 5 s, is how
        long a write waits for a lock another connection holds).

    Returns
    -------
    ReviewStore
        A :class:`~geo_app.storage.sqlite.SQLiteReviewStore` or a
        :class:`~geo_app.storage.postgis.PostGISReviewStore`.

    Raises
    ------
    StorageUnavailable
        ``DATABASE_URL`` is set but is not a PostgreSQL URL, or the store cannot be opened.
    """
    url = config.get("DATABASE_URL")
    timeout = float(config.get("STORE_TIMEOUT_S") or 5.0)
    if url:
        if not str(url).startswith(_POSTGRES_SCHEMES):
            raise StorageUnavailable("GEO_APP_DATABASE_URL must be a postgresql:// URL")
        from .postgis import PostGISReviewStore

        return PostGISReviewStore(str(url), timeout=timeout)
    return SQLiteReviewStore(Path(config["INSTANCE"]) / "reviews.sqlite3", timeout=timeout)
