"""File layers: the DEM and the population, replaced as a set of files with backups, history and undo.

A file layer is one or more files in the data folder (``dem.tif``; ``population.tif`` or
``population.csv``). An import writes the new file(s) to hidden temporaries in the data folder
(:func:`staged`), then :func:`commit_files` backs up every file of the set, renames the new ones
into place, removes the set's other files and appends the history line through the journal
(:mod:`.journal`): all of it or none of it, even when the process is killed. :func:`undo_files`
restores the set as it was before the last import.
Callers hold :func:`~geo_app.importer.write.write_lock` around the commit, as for GeoJSON layers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFound, StorageUnavailable, ValidationError
from . import journal
from .plan import _now, _stamp
from .write import history_hooks, history_path, read_history, record_readme

#: Layer name -> the files it consists of (only one of the population files exists at a time).
FILE_LAYERS: dict[str, tuple[str, ...]] = {"dem": ("dem.tif",), "population": ("population.tif", "population.csv")}


@contextmanager
def staged(data_dir: Path, name: str) -> Iterator[Path]:
    """A hidden temporary file beside ``DATA_DIR/name`` to write the new file into; removed unless committed."""
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    """Flush a written file to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_entry(layer: str, action: str, *, author: str, note: str, source: str, **extra: Any) -> dict[str, Any]:
    """A history entry of a file layer (``id``, ``time``, ``layer``, ``action``, ...)."""
    return {"id": uuid.uuid4().hex[:12], "time": _now().isoformat(timespec="seconds"), "layer": layer,
            "action": action, "author": author, "note": note, "source": source, **extra}


def commit_files(data_dir: Path, layer: str, files: dict[str, Path], entry: dict[str, Any],
                 readme: str | None = None) -> dict[str, Any]:
    """Replace a file layer's set with ``files``, keeping backups, and log the change.

    Parameters
    ----------
    data_dir
        The data folder.
    layer
        A key of :data:`FILE_LAYERS`.
    files
        Final name (one of the layer's files) -> a written, flushed temporary in ``data_dir``.
        The layer's other files are removed (they are backed up first).
    entry
        The history entry; ``backups`` (name -> backup file or None) and ``files`` are added.
    readme
        A line for ``DATA_DIR/README.md`` (documentation: if only it fails, the change stands).

    Returns
    -------
    dict
        The entry as written.

    Raises
    ------
    StorageUnavailable
        On any OS error (disk full, read-only): the set is left as it was and nothing is recorded.
    """
    data_dir = Path(data_dir)
    names = FILE_LAYERS[layer]
    backups: dict[str, tuple[Path, str]] = {}
    try:
        for name in names:  # copies of the current files, staged (the journal renames them into place)
            if (data_dir / name).exists():
                stem, dot, suffix = name.rpartition(".")
                bak = f"{stem}.bak.{_stamp()}{dot}{suffix}"
                backups[name] = (journal.hidden_tmp(data_dir, bak, entry["id"]), bak)
                journal.stage_copy(data_dir / name, backups[name][0])
        entry.update(backups={n: (backups[n][1] if n in backups else None) for n in names}, files=sorted(files))
        journal.commit(data_dir, entry, new=files, backups=backups, removes=[n for n in names if n not in files],
                       history=history_hooks(), readme=readme)
    except OSError as exc:
        raise StorageUnavailable(f"cannot write the {layer} files in the data folder ({exc.strerror or exc}); "
                                 "nothing was changed or recorded", field="data") from exc
    finally:
        for tmp, _bak in backups.values():
            tmp.unlink(missing_ok=True)
    if readme is not None:
        try:
            record_readme(data_dir, readme)
        except OSError as exc:
            entry["readme"] = f"not updated: {exc.strerror or exc}"
    return entry


def undo_files(data_dir: Path, layer: str, *, author: str = "", note: str = "") -> dict[str, Any]:
    """Restore a file layer as it was before its last import that is not undone yet.

    The current files are themselves backed up, so an undo is recorded and reversible like an import.

    Parameters
    ----------
    data_dir
        The data folder.
    layer
        A key of :data:`FILE_LAYERS`.
    author, note
        Recorded in the history.

    Returns
    -------
    dict
        The ``undo`` history entry (``reverts`` names the import's id).
    """
    data_dir = Path(data_dir)
    entries = read_history(data_dir, layer)
    undone = {e.get("reverts") for e in entries if e["action"] == "undo"}
    todo = [e for e in entries if e["action"] == "import" and e["id"] not in undone]
    if not todo:
        raise NotFound(f"nothing to undo for {layer}: no import in {history_path(data_dir, layer)}", field="layer")
    target = todo[-1]
    restore = {n: b for n, b in (target.get("backups") or {}).items() if b}
    lost = [b for b in restore.values() if not (data_dir / b).exists()]
    if lost:
        raise NotFound(f"the backup of change {target['id']} is missing: {', '.join(lost)}", field="layer")
    entry = new_entry(layer, "undo", author=author, note=note, source=target.get("source", ""),
                      reverts=target["id"], restored=sorted(restore.values()))
    line = (f"- {entry['time'][:16].replace('T', ' ')} UTC — `{layer}`: import of `{target.get('source')}` undone"
            + (f" (restored {', '.join(f'`{b}`' for b in sorted(restore.values()))})" if restore else
               " (there was no file before it)"))
    with _copies(data_dir, restore) as files:
        return commit_files(data_dir, layer, files, entry, line)


@contextmanager
def _copies(data_dir: Path, restore: dict[str, str]) -> Iterator[dict[str, Path]]:
    """Staged copies of the backups to restore (the backups themselves are kept)."""
    with ExitStack() as stack:
        files = {}
        for name, bak in restore.items():
            tmp = stack.enter_context(staged(data_dir, name))
            try:
                shutil.copy2(data_dir / bak, tmp)
                fsync_file(tmp)
            except OSError as exc:
                raise StorageUnavailable(f"cannot copy the backup {bak} ({exc.strerror or exc}); nothing was "
                                         "changed", field="data") from exc
            files[name] = tmp
        yield files



@dataclass
class FilePlan:
    """What a file-layer import would write, and its report (nothing is written until :func:`apply_file_plan`).

    Attributes
    ----------
    layer
        A key of :data:`FILE_LAYERS`.
    report
        ``errors``, ``warnings``, ``lines`` (the text report) and the figures of the import.
    writers
        Final file name -> a function that writes that file at the path it is given.
    source
        What was imported (file names), for the history and the README.
    summary
        One line for the README record.
    """

    layer: str
    report: dict[str, Any]
    writers: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    source: str = ""
    summary: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing blocks the write."""
        return not self.report["errors"]


def apply_file_plan(plan: FilePlan, data_dir: Path, *, author: str = "") -> dict[str, Any]:
    """Write a plan's files to staged temporaries, then :func:`commit_files` them (the caller holds the lock).

    Parameters
    ----------
    plan
        A plan with ``plan.ok``.
    data_dir
        The data folder.
    author
        Who did it (recorded in the history).

    Returns
    -------
    dict
        The history entry.
    """
    import rasterio.errors

    if not plan.ok:
        raise ValidationError("the import has blocking errors: " + "; ".join(plan.report["errors"]), field="file")
    data_dir = Path(data_dir)
    entry = new_entry(plan.layer, "import", author=author, note=plan.note, source=plan.source,
                      summary=plan.summary, warnings=plan.report.get("warnings", []))
    with ExitStack() as stack:
        files = {}
        for name, write in plan.writers.items():
            tmp = stack.enter_context(staged(data_dir, name))
            try:
                write(tmp)
                fsync_file(tmp)
            except (OSError, rasterio.errors.RasterioError) as exc:
                raise StorageUnavailable(f"cannot write {name} in the data folder ({exc}); nothing was changed",
                                         field="data") from exc
            files[name] = tmp
        line = f"- {entry['time'][:16].replace('T', ' ')} UTC — `{plan.layer}` ← `{plan.source}`: {plan.summary}"
        return commit_files(data_dir, plan.layer, files, entry, line)


def format_file_report(report: dict[str, Any]) -> str:
    """The text report of a file-layer import: its lines, then warnings and blocking errors."""
    out = list(report.get("lines", []))
    out += [f"warning: {w}" for w in report.get("warnings", [])]
    out += [f"error: {e}" for e in report.get("errors", [])]
    return "\n".join(out)
