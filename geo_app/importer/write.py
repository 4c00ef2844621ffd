"""Writing a plan: the data folder's lock, atomic writes, backups, the history, the README record and undo."""

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
                                 params={"path": str(path), "why": str(exc.strerror or exc)}) from exc
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageUnavailable(key="err_lock_busy", field="data",
                                             params={"path": str(path), "s": f"{timeout_s:g}"}) from None
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
    except OSError:
        if path.exists():
            os.truncate(path, size)
        raise


def _commit(data_dir: Path, path: Path, text: str, entry: dict[str, Any],
            readme: Callable[[dict[str, Any]], str] | None = None) -> dict[str, Any]:
    """Back up the layer, write it and log the change: all of it or, on any OS error, none of it.

    On failure the new file is replaced by the backup (a rename, which needs no free space), the
    backup and any half-written history line are removed, and :class:`StorageUnavailable` (503)
    is raised. The README line is documentation: if only it fails, the change stands and the
    entry says ``readme: not updated``.
    """
    bak: Path | None = None
    written = False
    try:
        bak = backup(path)
        entry["backup"] = bak.name if bak else None
        _atomic_write(path, text)
        written = True
        _append_history(data_dir, entry)
    except OSError as exc:
        if written:
            if bak is not None:
                os.replace(bak, path)
            else:
                path.unlink(missing_ok=True)
        if bak is not None:
            bak.unlink(missing_ok=True)
        raise StorageUnavailable(key="err_layer_write", field="data",
                                 params={"name": path.name, "why": str(exc.strerror or exc)}) from exc
    if readme is not None:
        try:
            record_readme(data_dir, readme(entry))
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


def apply_import(plan: ImportPlan, data_dir: Path, registry: Any, *, author: str = "") -> dict[str, Any]:
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
    return _commit(data_dir, path, text, entry, readme)


def undo(data_dir: Path, layer: str, registry: Any, *, author: str = "", note: str = "") -> dict[str, Any]:
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
                       params={"layer": layer, "path": str(history_path(data_dir, layer))})
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
    return _commit(data_dir, path, src.read_text(encoding="utf-8"), entry, readme)
