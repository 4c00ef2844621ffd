"""The version of the model data: a hash of the files under ``data/``.

Every stored review records the version it was made against (``data_version``). The hash is
cached per folder with each file's (mtime, size, inode), so a repeated call only stats files.
"""

from __future__ import annotations

import hashlib
import stat
import threading
from pathlib import Path

_DATA_VERSIONS: dict[str, tuple[tuple, str]] = {}
_DV_LOCK = threading.Lock()


def _model_files(root: Path) -> list[tuple[str, Path, tuple[int, int, int]]]:
    """The model files under ``root``, sorted, with (mtime, size, inode).

    Hidden files (locks, half-written temporaries), backups and the change history are left
    out; so is a file that disappears while the folder is listed.
    """
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if "__pycache__" in rel or rel.startswith(".") or ".bak." in p.name or rel.startswith("history/"):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((rel, p, (st.st_mtime_ns, st.st_size, st.st_ino)))
    return out


def data_version(data_dir: str | Path) -> str:
    """Hash the bytes (and relative names) of the model files under ``data_dir``.

    Backups (``*.bak.*``), the change history and hidden files are not model data and are left
    out, so undoing a change gives the version from before it again. The hash is cached per
    folder together with every file's (mtime, size, inode): a later call only stats the files,
    and hashes again when any of them changed, whichever process changed it.

    Parameters
    ----------
    data_dir
        The model data folder.

    Returns
    -------
    str
        ``"sha256:"`` followed by the first 16 hex digits of the digest.
    """
    key = str(Path(data_dir).resolve())
    with _DV_LOCK:
        files = _model_files(Path(key))
        stats = tuple((rel, sig) for rel, _, sig in files)
        cached = _DATA_VERSIONS.get(key)
        if cached is not None and cached[0] == stats:
            return cached[1]
        h = hashlib.sha256()
        for rel, p, _ in files:
            h.update(rel.encode("utf-8") + b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
        out = "sha256:" + h.hexdigest()[:16]
        _DATA_VERSIONS[key] = (stats, out)
        return out


def clear_data_version() -> None:
    """Forget cached data versions (only needed when a file changed within the stat resolution)."""
    with _DV_LOCK:
        _DATA_VERSIONS.clear()
