"""Writing a plan: the data folder's lock, atomic writes, backups, the history, the README record and undo.

Every change goes through :func:`geo_app.importer.journal.commit`, so the layer, its backup, its
history line and the caller's audit entry are written together or not at all, even when the process
is killed; :func:`recover_data` finishes or undoes an interrupted change at the next start.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from ..errors import GeometryError, NotFound, StorageUnavailable
from . import journal
from .matching import _clean
from .plan import IMPORTED, ImportPlan, _now, _spec, _stamp


def _geometry_json(geom: Any) -> Any:
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        geom = shapely.orient_polygons(geom)  # RFC 7946 right-hand rule
    rounded = shapely.transform(geom, lambda c: np.round(c, 7))
    return shapely.geometry.mapping(rounded if rounded.is_valid else geom)


def to_geojson(frame: gpd.GeoDataFrame) -> str:
    """Serialise a WGS84 frame as RFC 7946 GeoJSON (null geometries kept, no ``crs``)."""
    feats = []
    for row in frame.to_dict("records"):
        geom = row.pop("geometry", None)
        props = {k: _clean(v) for k, v in row.items()}
        feats.append({"type": "Feature", "properties": props, "geometry": _geometry_json(geom)})
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, allow_nan=False)


#: Name of the lock file in the data folder (git-ignored; empty; only its flock matters).
LOCK_FILE = ".write.lock"


@contextmanager
def write_lock(data_dir: Path, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the data folder's write lock, across threads and processes.

    An exclusive ``flock`` on ``DATA_DIR/.write.lock``. Each call opens the file anew, so two
    threads of one process exclude each other as two processes do; the kernel drops the lock
    when the holder exits, even on SIGKILL, so a crash never leaves the folder locked.

    Parameters
    ----------
    data_dir
        The data folder.
    timeout_s
        How long to wait for another writer before giving up.

    Raises
    ------
    StorageUnavailable
        When the lock is still held after ``timeout_s`` (HTTP 503); nothing has been written.
    """
    path = Path(data_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageUnavailable(key="err_lock_open", field="data",
                                 params={"path": f"{Path(data_dir).name}/{LOCK_FILE}",  # no server path
                                         "why": str(exc.strerror or exc)}) from exc
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageUnavailable(key="err_lock_busy", field="data",
                                             params={"path": f"{Path(data_dir).name}/{LOCK_FILE}",
                                                     "s": f"{timeout_s:g}"}) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the only descriptor of this open releases the lock


def _atomic_write(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry itself is flushed)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(path: Path) -> Path | None:
    """Copy ``data/X.geojson`` to ``data/X.bak.<UTC stamp>.geojson`` (git-ignored); None when absent.

    A copy that fails half-way (disk full) is removed before the error goes on.
    """
    if not path.exists():
        return None
    dest = path.with_name(f"{path.stem}.bak.{_stamp()}{path.suffix}")
    try:
        shutil.copy2(path, dest)
    except OSError:
        dest.unlink(missing_ok=True)
        raise
    return dest


def history_path(data_dir: Path, layer: str) -> Path:
    """``DATA_DIR/history/LAYER.jsonl``."""
    return Path(data_dir) / "history" / f"{layer}.jsonl"


def read_history(data_dir: Path, layer: str) -> list[dict[str, Any]]:
    """Return a layer's history entries, oldest first."""
    path = history_path(data_dir, layer)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _append_history(data_dir: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line; on failure cut the file back, so no half line is left behind."""
    path = history_path(data_dir, entry["layer"])
    path.parent.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        if path.exists():
            os.truncate(path, size)
        raise


def _remove_history(data_dir: Path, layer: str, entry_id: str) -> None:
    """Remove the history line of change ``entry_id`` (an undone change), if it is there."""
    path = history_path(data_dir, layer)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [ln for ln in lines if not ln.strip() or json.loads(ln).get("id") != entry_id]
    if len(keep) != len(lines):
        _atomic_write(path, "".join(keep))


def _has_history(data_dir: Path, layer: str, entry_id: str) -> bool:
    return any(e.get("id") == entry_id for e in read_history(data_dir, layer))


def _readme_once(data_dir: Path, line: str) -> None:
    readme = Path(data_dir) / "README.md"
    if not readme.exists() or line not in readme.read_text(encoding="utf-8").splitlines():
        record_readme(data_dir, line)


def history_hooks() -> journal.History:
    """The history functions of this module for :mod:`.journal` (looked up at call time, so tests can patch them)."""
    return journal.History(append=lambda d, e: _append_history(d, e), remove=_remove_history,
                           has=_has_history, readme=lambda d, line: _readme_once(d, line))


def recover_data(data_dir: Path) -> list[dict[str, Any]]:
    """At start-up: finish or undo interrupted changes and remove leftover temporaries (:func:`.journal.recover`).

    Does nothing (and takes no lock) when nothing is pending; skips when another process holds the
    folder's lock (it is writing, so its temporaries are live).

    Returns
    -------
    list of dict
        What :func:`geo_app.importer.journal.recover` returns (empty when nothing was pending).
    """
    if not journal.pending(data_dir):
        return []
    try:
        with write_lock(Path(data_dir), timeout_s=0.0):
            return journal.recover(Path(data_dir), history_hooks())
    except StorageUnavailable:
        return []


def _commit(data_dir: Path, path: Path, text: str, entry: dict[str, Any],
            readme: Callable[[dict[str, Any]], str] | None = None,
            on_commit: Callable[[dict[str, Any]], None] | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Back up the layer, write it and log the change (and run ``on_commit``): all of it or none of it.

    The new text and a copy of the old file are staged, then :func:`.journal.commit` renames them into
    place and appends the history line; any failure (an OS error becomes :class:`StorageUnavailable`,
    503) leaves the layer, the backups and the history as they were, even after a kill. The README
    line is documentation: if only it fails, the change stands and the entry says ``readme: not updated``.
    """
    d = Path(data_dir)
    new_tmp = journal.hidden_tmp(d, path.name, entry["id"])
    bak_name = f"{path.stem}.bak.{_stamp()}{path.suffix}"
    bak_tmp = journal.hidden_tmp(d, bak_name, entry["id"])
    line = None
    try:
        journal.stage_text(new_tmp, text)
        backups = {}
        if path.exists():
            journal.stage_copy(path, bak_tmp)
            backups[path.name] = (bak_tmp, bak_name)
        entry["backup"] = bak_name if backups else None
        line = readme(entry) if readme is not None else None
        journal.commit(d, entry, new={path.name: new_tmp}, backups=backups, history=history_hooks(),
                       on_commit=on_commit, extra=extra, readme=line)
    except OSError as exc:
        raise StorageUnavailable(key="err_layer_write", field="data",
                                 params={"name": path.name, "why": str(exc.strerror or exc)}) from exc
    finally:
        new_tmp.unlink(missing_ok=True)
        bak_tmp.unlink(missing_ok=True)
    if line is not None:
        try:
            record_readme(data_dir, line)
        except OSError as exc:
            entry["readme"] = f"not updated: {exc.strerror or exc}"
    return entry


def record_readme(data_dir: Path, line: str) -> None:
    """Append ``line`` at the end of the ``## Imports`` section of ``DATA_DIR/README.md``."""
    path = Path(data_dir) / "README.md"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    try:
        start = next(i for i, t in enumerate(lines) if t.strip() == "## Imports")
    except StopIteration:
        lines += ["", "## Imports", ""]
        start = len(lines) - 2
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    if not lines[end - 1].startswith("- "):
        lines.insert(end, "")
        end += 1
    lines.insert(end, line)
    _atomic_write(path, "\n".join(lines) + "\n")


def _summary_line(plan: ImportPlan, entry: dict[str, Any]) -> str:
    r = plan.report
    crs_used = plan.extra.get("crs_used", "")
    cov = r.get("coverage")
    cov_s = f"; covers {cov['share_covered']:.1%} of the county" if cov else ""
    bak = f"; previous file kept as `{entry['backup']}`" if entry.get("backup") else ""
    note = f"; note: {plan.note}" if plan.note else ""
    return (f"- {entry['time'][:16].replace('T', ' ')} UTC — `{plan.layer}` ← `{plan.source}` "
            f"({r.get('driver', '')}, {crs_used} → WGS84): {r['features']} features, "
            f"{r.get('with_geometry', 0)} with geometry, geometry_quality \"{IMPORTED}\"{cov_s}{bak}{note}")


def apply_import(plan: ImportPlan, data_dir: Path, registry: Any, *, author: str = "",
                 on_commit: Callable[[dict[str, Any]], None] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the plan's layer (backup first), add a history entry and, for imports, a README line.

    Parameters
    ----------
    plan
        A plan with ``plan.ok``.
    data_dir
        The data folder.
    registry
        The layer registry (for the layer's path).
    author
        Who did it (free text, recorded in the history).
    on_commit, extra
        Run with the entry as the last step of the change (the web writes its audit entry), and what
        it records, kept for :func:`recover_data` (see :func:`geo_app.importer.journal.commit`).

    Returns
    -------
    dict
        The history entry.
    """
    if not plan.ok:
        raise GeometryError("the import has blocking errors: " + "; ".join(plan.report["errors"]), field="file")
    path = registry.path(plan.layer)
    text = to_geojson(plan.frame)
    entry = {"id": uuid.uuid4().hex[:12], "time": _now().isoformat(timespec="seconds"), "layer": plan.layer,
             "action": plan.action, "author": author, "note": plan.note, "source": plan.source,
             "backup": None, "features": len(plan.frame),
             "with_geometry": plan.report.get("with_geometry"), "crs": plan.extra.get("crs_used"),
             "warnings": plan.report.get("warnings", [])}
    readme = (lambda e: _summary_line(plan, e)) if plan.action == "import" else None
    return _commit(data_dir, path, text, entry, readme, on_commit, extra)


def undo(data_dir: Path, layer: str, registry: Any, *, author: str = "", note: str = "",
         on_commit: Callable[[dict[str, Any]], None] | None = None,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Revert the last import or edit of a layer that is not yet undone.

    The current file is itself kept as a backup, then the change's backup is restored.

    Parameters
    ----------
    data_dir
        The data folder.
    layer
        Layer name.
    registry
        The layer registry.
    author, note
        Recorded in the history.
    on_commit, extra
        As for :func:`apply_import`.

    Returns
    -------
    dict
        The ``undo`` history entry (``reverts`` names the change's id).
    """
    _spec(registry, layer)
    entries = read_history(data_dir, layer)
    undone = {e.get("reverts") for e in entries if e["action"] == "undo"}
    todo = [e for e in entries if e["action"] in ("import", "draw") and e["id"] not in undone]
    if not todo:
        raise NotFound(key="err_nothing_to_undo", field="layer",
                       params={"layer": layer, "path": f"history/{layer}.jsonl"})  # no server path
    target = todo[-1]
    src = Path(data_dir) / str(target.get("backup"))
    if not target.get("backup") or not src.exists():
        raise NotFound(key="err_backup_missing", field="layer",
                       params={"id": target["id"], "backup": target.get("backup"),
                               "time": str(target.get("time"))[:16].replace("T", " ")})
    path = registry.path(layer)
    entry = {"id": uuid.uuid4().hex[:12], "time": _now().isoformat(timespec="seconds"), "layer": layer,
             "action": "undo", "reverts": target["id"], "restored": src.name, "author": author, "note": note,
             "backup": None}
    readme = None
    if target["action"] == "import":
        def readme(e: dict[str, Any]) -> str:
            return (f"- {e['time'][:16].replace('T', ' ')} UTC — `{layer}`: import of "
                    f"`{target.get('source')}` undone (restored `{src.name}`)")
    return _commit(data_dir, path, src.read_text(encoding="utf-8"), entry, readme, on_commit, extra)
