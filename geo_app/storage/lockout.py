"""Login lock-out per account and address, kept beside the users so every server process sees it.

A failed login (or a wrong old password on the password page) is one row of ``login_failures``.
An account is locked for an address after :attr:`LockoutPolicy.pair_failures` failures from that
address within :attr:`LockoutPolicy.window_s`, and for every address after
:attr:`LockoutPolicy.account_failures` failures from any address (so guessing one password from many
addresses is slowed down too). :meth:`LoginLockout.locked_for` says how many seconds remain, which
the web answers as ``Retry-After``. A successful login clears that account's failures from its address.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

#: The ``login_failures`` table (the user store's second migration).
LOCKOUT_TABLE = """
    CREATE TABLE login_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX login_failures_name ON login_failures(name, at);
    """


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failures lock an account, and for how long.

    Attributes
    ----------
    pair_failures
        Failures of one account from one address that lock it for that address.
    account_failures
        Failures of one account from all addresses together that lock it everywhere.
    window_s
        The sliding window the failures are counted in; a lock ends when enough of them leave it.
    """

    pair_failures: int = 5
    account_failures: int = 20
    window_s: float = 900.0


def _key(name: str, address: str | None) -> tuple[str, str]:
    return str(name)[:40], str(address or "")[:64]


class LoginLockout:
    """Lock-out methods for a store that provides ``_conn()`` and ``_write(sql, params)``."""

    _conn: Callable[[], sqlite3.Connection]
    _write: Callable[..., sqlite3.Cursor]

    def locked_for(self, name: str, address: str | None, policy: LockoutPolicy, *,
                   now: float | None = None) -> float:
        """Seconds until ``name`` may try again from ``address`` (0.0 when it is not locked).

        Parameters
        ----------
        name, address
            The account name as typed and the client address.
        policy
            The thresholds.
        now
            The current time (``time.time()``).
        """
        now = time.time() if now is None else now
        name, address = _key(name, address)
        rows = self._conn().execute("SELECT address, at FROM login_failures WHERE name = ? AND at > ? "
                                    "ORDER BY at DESC", (name, now - policy.window_s)).fetchall()
        pair = [r["at"] for r in rows if r["address"] == address]
        waits = [0.0]
        if len(pair) >= policy.pair_failures:
            waits.append(pair[policy.pair_failures - 1] + policy.window_s - now)
        if len(rows) >= policy.account_failures:
            waits.append(rows[policy.account_failures - 1]["at"] + policy.window_s - now)
        return max(waits)

    def login_failed(self, name: str, address: str | None, policy: LockoutPolicy, *,
                     now: float | None = None) -> None:
        """Record a failure (and forget every failure older than the window)."""
        now = time.time() if now is None else now
        name, address = _key(name, address)
        self._write("DELETE FROM login_failures WHERE at <= ?", (now - policy.window_s,))
        self._write("INSERT INTO login_failures (name, address, at) VALUES (?, ?, ?)", (name, address, now))

    def login_succeeded(self, name: str, address: str | None) -> None:
        """Forget the account's failures from this address."""
        name, address = _key(name, address)
        self._write("DELETE FROM login_failures WHERE name = ? AND address = ?", (name, address))
