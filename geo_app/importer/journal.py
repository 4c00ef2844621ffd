"""Crash-safe changes of the data folder: staged files, a journal, and recovery at the next start.

A change (an import, a drawing, an undo, a DEM or population import) replaces one or more files
of the data folder, keeps backups and appends one history line. It runs in three steps:

1. the new files and copies of the old ones are written to hidden temporaries (``.NAME.TAG.tmp``)
   and flushed to disk;
2. a journal (``.journal-ID.json``, written atomically) records the renames still to do, the inode
   of each new file, the history entry and whatever else the caller wants recorded (the audit entry);
3. the renames, the removals and the history line are done, the caller's ``on_commit`` runs (the
   audit log), and the journal is removed.

Any exception in step 3 undoes it (:func:`backward`: the backups are renamed back, the history line
is removed). After a kill at any moment, :func:`recover` (called at start-up under the folder's lock)
finishes each journal it finds forward when every new file is either still staged or already in
place (checked by inode), and backward otherwise; then it removes every leftover temporary and any
half-written last history line. So the folder always ends with the old layer, or with the new one and
its history line. Nothing here imports Flask.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("geo_app.importer")
JOURNAL_PREFIX = ".journal-"
TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class History:
    """How a change is recorded.

    ``append(data_dir, entry)``, ``remove(data_dir, layer, id)``, ``has(data_dir, layer, id)`` and
    ``readme(data_dir, line)`` (which adds the line once).
    """

    append: Callable[[Path, dict[str, Any]], None]
    remove: Callable[[Path, str, str], None]
    has: Callable[[Path, str, str], bool]
    readme: Callable[[Path, str], None]


def hidden_tmp(data_dir: Path, name: str, tag: str) -> Path:
    """The staged temporary of ``name`` for change ``tag`` (hidden, removed by :func:`recover` if left)."""
    return Path(data_dir) / f".{name}.{tag}{TMP_SUFFIX}"


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (the directory entry itself is flushed)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage_text(path: Path, text: str) -> None:
    """Write ``text`` to the temporary ``path`` and flush it to disk (removed again on failure)."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def stage_copy(src: Path, path: Path) -> None:
    """Copy ``src`` to the temporary ``path`` and flush it (removed again on failure, e.g. a full disk)."""
    try:
        shutil.copy2(src, path)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _ino(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def forward(data_dir: Path, j: Mapping[str, Any], history: History) -> None:
    """Do (or finish) a journal's renames, removals and history line; idempotent."""
    d = Path(data_dir)
    for _final, (tmp, bak) in j["backups"].items():
        if (d / tmp).exists():
            os.replace(d / tmp, d / bak)
    for final, (tmp, _ino_new) in j["new"].items():
        if (d / tmp).exists():
            os.replace(d / tmp, d / final)
    for name in j["removes"]:
        (d / name).unlink(missing_ok=True)
    fsync_dir(d)
    entry = j["entry"]
    if not history.has(d, entry["layer"], entry["id"]):
        history.append(d, entry)


def placed(data_dir: Path, j: Mapping[str, Any]) -> bool:
    """True when every new file is still staged or already in place (so the change can be finished)."""
    d = Path(data_dir)
    return all((d / tmp).exists() or _ino(d / final) == ino for final, (tmp, ino) in j["new"].items())


def backward(data_dir: Path, j: Mapping[str, Any], history: History) -> None:
    """Undo a journal's change (whatever part of it was done); idempotent."""
    d = Path(data_dir)
    for final in {*j["new"], *j["removes"]}:
        tmp_bak, bak = j["backups"].get(final, (None, None))
        changed = _ino(d / final) == j["new"][final][1] if final in j["new"] else not (d / final).exists()
        if changed and bak is not None and (d / bak).exists():
            os.replace(d / bak, d / final)
        elif changed and bak is None and final in j["new"]:
            (d / final).unlink(missing_ok=True)  # the file did not exist before the change
    for final, (tmp_bak, bak) in j["backups"].items():
        (d / tmp_bak).unlink(missing_ok=True)
        if (d / final).exists():
            (d / bak).unlink(missing_ok=True)
    for tmp, _ino_new in j["new"].values():
        (d / tmp).unlink(missing_ok=True)
    fsync_dir(d)
    history.remove(d, j["entry"]["layer"], j["entry"]["id"])


def _write_journal(path: Path, j: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    stage_text(tmp, json.dumps(j))  # ASCII JSON: any text of the entry can be written
    try:
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if path.exists():  # renamed but not known to be durable: undo it, the change has not begun
            path.unlink()
        raise


def commit(data_dir: Path, entry: dict[str, Any], *, new: Mapping[str, Path],
           backups: Mapping[str, tuple[Path, str]], removes: Iterable[str] = (), history: History,
           on_commit: Callable[[dict[str, Any]], None] | None = None, extra: dict[str, Any] | None = None,
           readme: str | None = None) -> dict[str, Any]:
    """Apply one change: journal, renames, history line and ``on_commit``, all of it or none of it.

    Parameters
    ----------
    data_dir
        The data folder (the caller holds its write lock).
    entry
        The history entry (``id``, ``layer``, ...).
    new
        Final file name -> its staged temporary (written and flushed).
    backups
        Final file name -> (its staged copy, the backup name to rename it to), for every file of the
        change that exists now.
    removes
        Files removed by the change (they have backups).
    history
        How the change is recorded.
    on_commit
        Runs after the history line, inside the change (e.g. the audit entry); if it fails, the change
        is undone.
    extra, readme
        Kept in the journal for :func:`recover`: what ``on_commit`` would have recorded, and the
        README line.

    Returns
    -------
    dict
        ``entry``.
    """
    d = Path(data_dir)
    j = {"entry": entry, "new": {k: [v.name, _ino(v)] for k, v in new.items()},
         "backups": {k: [t.name, b] for k, (t, b) in backups.items()}, "removes": list(removes),
         "extra": extra or {}, "readme": readme}
    path = d / f"{JOURNAL_PREFIX}{entry['id']}.json"
    _write_journal(path, j)
    try:
        forward(d, j, history)
        if on_commit is not None:
            on_commit(entry)
    except BaseException:
        try:
            backward(d, j, history)
        except BaseException:  # the journal stays; recover() finishes the change at the next start
            log.exception("could not undo change %s; it is finished at the next start", entry["id"])
            raise
        path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    fsync_dir(d)
    return entry


def pending(data_dir: Path) -> bool:
    """True when the folder holds a journal, a leftover temporary or a half-written history line."""
    d = Path(data_dir)
    if not d.is_dir():
        return False
    names = [p.name for p in d.iterdir()] + ([p.name for p in (d / "history").iterdir()]
                                              if (d / "history").is_dir() else [])
    if any(n.startswith(".") and (n.endswith(TMP_SUFFIX) or n.startswith(JOURNAL_PREFIX)) for n in names):
        return True
    return any(_half_line(p) for p in (d / "history").glob("*.jsonl"))


def _half_line(path: Path) -> bool:
    size = path.stat().st_size
    if not size:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) != b"\n"


def _trim(path: Path) -> None:
    """Cut a half-written last line (a writer killed mid-append) off a history file."""
    raw = path.read_bytes()
    os.truncate(path, raw.rfind(b"\n") + 1)
    log.warning("removed a half-written last line of %s", path.name)


def recover(data_dir: Path, history: History) -> list[dict[str, Any]]:
    """Finish or undo every interrupted change; remove leftover temporaries (the caller holds the lock).

    Returns
    -------
    list of dict
        Per journal: ``entry``, ``extra`` and ``done`` (True when finished forward, False when undone).
    """
    d = Path(data_dir)
    for p in (d / "history").glob("*.jsonl"):
        if _half_line(p):
            _trim(p)
    out = []
    for path in sorted(d.glob(f"{JOURNAL_PREFIX}*.json")):
        j = json.loads(path.read_text(encoding="utf-8"))
        done = placed(d, j)
        if done:
            forward(d, j, history)
            if j.get("readme"):
                history.readme(d, j["readme"])
        else:
            backward(d, j, history)
        path.unlink()
        log.warning("change %s of %s was interrupted; %s", j["entry"]["id"], j["entry"]["layer"],
                    "finished" if done else "undone")
        out.append({"entry": j["entry"], "extra": j.get("extra") or {}, "done": done})
    for folder in (d, d / "history"):
        for p in folder.glob(f".*{TMP_SUFFIX}") if folder.is_dir() else []:
            p.unlink(missing_ok=True)
    fsync_dir(d)
    return out
