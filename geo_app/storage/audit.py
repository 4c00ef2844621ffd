"""The audit log: who did what, when and from where, kept beside the users in their SQLite file.

:class:`AuditLog` is a mixin for :class:`geo_app.storage.users.UserStore`, which owns the
connection and creates the ``audit`` table (:data:`AUDIT_TABLE`) with its own migrations.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from .base import utc_now

#: The ``audit`` table (part of the user store's first migration).
AUDIT_TABLE = """
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT,
        action TEXT NOT NULL,
        target TEXT,
        remote_addr TEXT,
        detail TEXT
    );
    """


class AuditLog:
    """Audit-log methods for a store that provides ``_conn()`` and ``_write(sql, params)``."""

    _conn: Callable[[], sqlite3.Connection]
    _write: Callable[..., sqlite3.Cursor]

    def audit(self, actor: str | None, action: str, target: str | None = None, *, remote_addr: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Record who did what, when and from where.

        Parameters
        ----------
        actor
            User name, or None for the command line and anonymous requests.
        action
            What was done, e.g. ``"review_create"``.
        target
            What it was done to (a user name, a review id, a layer).
        remote_addr
            The client address of the request.
        detail
            Extra facts, stored as JSON.
        """
        self._write("INSERT INTO audit (at, actor, action, target, remote_addr, detail) VALUES (?,?,?,?,?,?)",
                    (utc_now("seconds"), actor, action, target, remote_addr,
                     json.dumps(detail or {}, ensure_ascii=False, default=str)))

    def audit_change(self, record: dict[str, Any], history_id: str) -> None:
        """Record the audit entry of a data change once (again after a crash it is not duplicated).

        Parameters
        ----------
        record
            ``actor``, ``action``, ``target``, ``remote_addr`` and ``detail`` (as :meth:`audit` takes them).
        history_id
            The id of the change's history entry, stored as ``detail.history``.
        """
        seen = self._conn().execute("SELECT 1 FROM audit WHERE action = ? AND json_extract(detail, '$.history') = ?",
                                    (record["action"], history_id)).fetchone()
        if seen is None:
            self.audit(record.get("actor"), record["action"], record.get("target"),
                       remote_addr=record.get("remote_addr"), detail={**(record.get("detail") or {}),
                                                                      "history": history_id})

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """Newest audit entries first."""
        rows = self._conn().execute("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (int(limit),)).fetchall()
        return [dict(r) for r in rows]
