"""What both SQLite stores share: private files and folders, and one transaction that always ends.

The review store, the users and the audit log are SQLite files in the instance folder. They hold
password hashes, token digests and the bureau's reviews, so :func:`secure_file` creates each file
0600 before SQLite opens it (SQLite gives its ``-wal`` and ``-shm`` files the same mode) and
:func:`secure_folder` creates its folder 0700. A file or folder that already exists with looser
modes is tightened when it is opened, with a log line. :func:`transaction` is the only way a write
runs: it rolls back on *any* exception, so no failed request leaves a transaction (and its lock)
behind for the next one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("geo_app.storage")
#: Suffixes of the files SQLite keeps beside a database.
SIDE_FILES = ("-wal", "-shm", "-journal")


def _tighten(path: Path, allowed: int, what: str) -> None:
    """Drop the mode bits of ``path`` outside ``allowed`` (logged); leave others' and shared folders alone."""
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if not mode & ~allowed:
        return
    if st.st_uid != os.geteuid() or mode & stat.S_ISVTX:
        log.warning("%s %s has mode %o and is not ours to change (owner %d); keep it private", what, path.name,
                    mode, st.st_uid)
        return
    os.chmod(path, mode & allowed)
    log.warning("tightened %s %s from mode %o to %o", what, path, mode, mode & allowed)


def secure_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) with mode 0700, or tighten an existing looser one.

    Parameters
    ----------
    folder
        The folder of a store's SQLite file (the instance folder).
    """
    folder = Path(folder)
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is reduced by the umask; set it exactly
        return
    _tighten(folder, 0o700, "folder")


def secure_file(path: Path) -> None:
    """Create an SQLite file with mode 0600 before SQLite opens it; tighten an existing one and its side files.

    Parameters
    ----------
    path
        The database file (its folder exists).
    """
    path = Path(path)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # an empty file is an empty database
    except FileExistsError:
        pass
    for p in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        if p.exists():
            _tighten(p, 0o600, "database file")


@contextmanager
def transaction(conn: sqlite3.Connection,
                on_error: Callable[[sqlite3.Error], BaseException]) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception.

    Parameters
    ----------
    conn
        A connection in autocommit mode (``isolation_level=None``).
    on_error
        Turns a driver error into the error to raise (e.g. a 503); any other exception is re-raised
        as it is, after the rollback.

    Yields
    ------
    sqlite3.Connection
        ``conn``, inside the transaction.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise on_error(exc) from exc
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the connection's open transaction, if any (best effort: the error at hand goes on)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:  # pragma: no cover - a failed rollback leaves SQLite to undo it on close
        log.exception("rollback failed")
