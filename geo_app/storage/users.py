"""Users, roles and API tokens, in one SQLite file in the instance folder (with the audit log).

Passwords are hashed with ``werkzeug.security`` (scrypt); API tokens are random and only
their SHA-256 is stored. The audit log (:mod:`geo_app.storage.audit`) and the login lock-out
(:mod:`geo_app.storage.lockout`) live in the same file, which is created 0600 in a 0700 folder.
Every request reads its user's row (the session's ``session_version`` must still match, the user
must not be disabled or deleted, a token must not be revoked), so disabling, deleting a user or
changing a password takes effect at once in every server process. Nothing here imports Flask's
request machinery.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import NotFound, StorageUnavailable, ValidationError
from .audit import AUDIT_TABLE, AuditLog
from .base import utc_now
from .lockout import LOCKOUT_TABLE, LoginLockout
from .sqlite_files import log, secure_file, secure_folder, transaction

ROLES = ("viewer", "planner", "editor", "admin")
MIN_PASSWORD = 10
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

MIGRATIONS = [
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        must_change INTEGER NOT NULL DEFAULT 0,
        session_version INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id),
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """ + AUDIT_TABLE,
    LOCKOUT_TABLE,
]


def role_at_least(role: str, needed: str) -> bool:
    """True when ``role`` has the rights of ``needed`` (viewer < planner < editor < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)


def token_digest(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    """A user as the app sees it (never carries the password hash)."""

    id: int
    name: str
    role: str
    must_change: bool
    session_version: int
    disabled: bool = False

    def can(self, needed: str) -> bool:
        """True when the user's role reaches ``needed``."""
        return role_at_least(self.role, needed)


class UserStore(AuditLog, LoginLockout):
    """Users, tokens, the audit log (:class:`~geo_app.storage.audit.AuditLog`) and the login lock-out.

    Parameters
    ----------
    path
        SQLite file (created 0600 with its folder, 0700).
    timeout
        Seconds a write waits for a lock held by another connection.
    """

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        try:
            secure_folder(self.path.parent)
            secure_file(self.path)
        except OSError as exc:
            log.error("user store %s cannot be created: %s", self.path, exc)
            raise StorageUnavailable(f"user store {self.path.name} cannot be created: {exc.strerror}") from exc
        self._local = threading.local()
        conn = self._conn()
        if conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        with self._transaction():  # re-read inside the write lock: another process may have migrated
            for i in range(conn.execute("PRAGMA user_version").fetchone()[0], len(MIGRATIONS)):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {int(i + 1)}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, tuple(params))
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"user store cannot be written ({exc})") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back on any exception (driver errors become 503)."""
        with transaction(self._conn(), lambda exc: StorageUnavailable(
                f"user store cannot be written ({exc}); nothing was changed")) as conn:
            yield conn

    # -- users ---------------------------------------------------------------------------
    @staticmethod
    def check_name(name: str) -> str:
        """Validate a user name (letters, digits, ``_.-``; 2–40 characters)."""
        if not isinstance(name, str) or not 2 <= len(name) <= 40 or set(name) - _NAME_OK:
            raise ValidationError(key="err_user_name", field="name")
        return name

    @staticmethod
    def check_password(password: str) -> str:
        """Refuse passwords shorter than :data:`MIN_PASSWORD`."""
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise ValidationError(key="err_password_short", params={"n": MIN_PASSWORD}, field="password")
        return password

    def count(self) -> int:
        """Number of users."""
        return int(self._conn().execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def add(self, name: str, role: str, password: str, *, must_change: bool = False) -> User:
        """Create a user; the password is stored only as a hash."""
        self.check_name(name)
        if role not in ROLES:
            raise ValidationError(key="err_role_choice", params={"roles": list(ROLES)}, field="role")
        self.check_password(password)
        try:
            self._write("INSERT INTO users (name, role, password_hash, must_change, created_at) VALUES (?,?,?,?,?)",
                        (name, role, generate_password_hash(password), int(must_change), utc_now("seconds")))
        except sqlite3.IntegrityError:
            raise ValidationError(key="err_user_exists", params={"name": name}, field="name") from None
        return self.get(name)

    @staticmethod
    def _user(row: sqlite3.Row | None, *, disabled_too: bool = False) -> User | None:
        if row is None or (row["disabled"] and not disabled_too):
            return None
        return User(row["id"], row["name"], row["role"], bool(row["must_change"]), row["session_version"],
                    bool(row["disabled"]))

    def _row(self, name: str) -> sqlite3.Row:
        """A user's row, disabled or not; :class:`NotFound` when there is none."""
        row = self._conn().execute("SELECT * FROM users WHERE name = ?", (str(name),)).fetchone()
        if row is None:
            raise NotFound(key="err_no_user", params={"name": name}, field="name")
        return row

    def get(self, name: str) -> User:
        """Return a user by name or raise :class:`NotFound`."""
        user = self._user(self._conn().execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone())
        if user is None:
            raise NotFound(key="err_no_user", params={"name": name}, field="name")
        return user

    def by_id(self, uid: int) -> User | None:
        """Return a user by id (None when unknown or disabled)."""
        return self._user(self._conn().execute("SELECT * FROM users WHERE id = ?", (uid,)).fetchone())

    def list(self, *, disabled_too: bool = False) -> list[User]:
        """All active users (and the disabled ones with ``disabled_too``), by name."""
        rows = self._conn().execute("SELECT * FROM users ORDER BY name").fetchall()
        return [u for u in (self._user(r, disabled_too=disabled_too) for r in rows) if u]

    def authenticate(self, name: str, password: str) -> User | None:
        """Return the user when the password matches (constant-time hash check), else None."""
        row = self._conn().execute("SELECT * FROM users WHERE name = ?", (str(name)[:40],)).fetchone()
        if row is None or row["disabled"]:
            check_password_hash(generate_password_hash("x"), str(password))  # same cost either way
            return None
        return self._user(row) if check_password_hash(row["password_hash"], str(password)) else None

    def set_password(self, name: str, password: str, *, keep_tokens: Iterable[str] = ()) -> User:
        """Change a password, clear the first-login flag, end every session and revoke the user's tokens.

        Parameters
        ----------
        name, password
            The user and the new password.
        keep_tokens
            Labels of tokens to keep on purpose (every other live token of the user is revoked).
        """
        self.check_password(password)
        user = self.get(name)
        keep = {str(label) for label in keep_tokens}
        digest = generate_password_hash(password)
        with self._transaction() as conn:
            conn.execute("UPDATE users SET password_hash = ?, must_change = 0, session_version = session_version + 1 "
                         "WHERE id = ?", (digest, user.id))
            self._revoke_all(conn, user.id, keep)
        return self.get(name)

    @staticmethod
    def _revoke_all(conn: sqlite3.Connection, uid: int, keep: frozenset[str] | set[str] = frozenset()) -> None:
        """Revoke a user's live tokens whose label is not in ``keep`` (inside the caller's transaction)."""
        rows = conn.execute("SELECT id, label FROM tokens WHERE user_id = ? AND revoked_at IS NULL", (uid,)).fetchall()
        for r in rows:
            if (r["label"] or "") not in keep:
                conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (utc_now("seconds"), r["id"]))

    def set_role(self, name: str, role: str) -> User:
        """Change a user's role (the last active admin keeps theirs)."""
        if role not in ROLES:
            raise ValidationError(key="err_role_choice", params={"roles": list(ROLES)}, field="role")
        user = self.get(name)
        if role != "admin":
            self._not_last_admin(self._row(name))
        self._write("UPDATE users SET role = ?, session_version = session_version + 1 WHERE id = ?",
                    (role, user.id))
        return self.get(name)

    def _not_last_admin(self, row: sqlite3.Row) -> None:
        """Refuse to take away the last active admin (nobody could manage users any more)."""
        if row["role"] != "admin" or row["disabled"]:
            return
        admins = self._conn().execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0").fetchone()[0]
        if admins <= 1:
            raise ValidationError(key="err_last_admin", params={"name": row["name"]}, field="name")

    def set_disabled(self, name: str, disabled: bool = True) -> User:
        """Disable (or enable again) a user: sessions end and tokens are revoked at once, in every process.

        Returns
        -------
        User
            The user as stored now (``disabled`` set).
        """
        row = self._row(name)
        if disabled:
            self._not_last_admin(row)
        with self._transaction() as conn:
            conn.execute("UPDATE users SET disabled = ?, session_version = session_version + 1 WHERE id = ?",
                         (int(bool(disabled)), row["id"]))
            if disabled:
                self._revoke_all(conn, row["id"])
        return self._user(self._row(name), disabled_too=True)  # type: ignore[return-value]

    def delete(self, name: str) -> None:
        """Delete a user and their tokens (the audit log keeps their name); sessions end at once."""
        row = self._row(name)
        self._not_last_admin(row)
        with self._transaction() as conn:
            conn.execute("DELETE FROM tokens WHERE user_id = ?", (row["id"],))
            conn.execute("DELETE FROM users WHERE id = ?", (row["id"],))

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, name: str, label: str = "") -> str:
        """Create an API token for a user; return it once (only its hash is kept)."""
        user = self.get(name)
        token = "gat_" + secrets.token_urlsafe(32)
        self._write("INSERT INTO tokens (user_id, token_sha256, label, created_at) VALUES (?,?,?,?)",
                    (user.id, token_digest(token), str(label)[:80], utc_now("seconds")))
        return token

    def tokens(self, name: str) -> list[dict[str, Any]]:
        """A user's tokens (id, label, created, revoked), never the token itself."""
        user = self.get(name)
        rows = self._conn().execute("SELECT id, label, created_at, revoked_at FROM tokens WHERE user_id = ? "
                                    "ORDER BY id", (user.id,)).fetchall()
        return [dict(r) for r in rows]

    def revoke_token(self, name: str, token_id: int) -> bool:
        """Revoke one of a user's tokens; False when it is not theirs or already revoked."""
        user = self.get(name)
        cur = self._write("UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                          (utc_now("seconds"), int(token_id), user.id))
        return cur.rowcount == 1

    def user_for_token(self, token: str) -> User | None:
        """The user a live token belongs to, or None."""
        row = self._conn().execute(
            "SELECT u.* FROM tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_sha256 = ? AND t.revoked_at IS NULL", (token_digest(str(token)),)).fetchone()
        return self._user(row)


def one_time_password() -> str:
    """A random first-start password (printed once, must be changed at first login)."""
    return secrets.token_urlsafe(12)
