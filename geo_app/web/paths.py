"""Error messages name no server path: the safety net of the one place errors become HTTP answers.

Raise sites name files by their names (``reviews.sqlite3``, ``history/parks.jsonl``); in case one
does not, :func:`public_error` removes every server folder (the configured ones, the code's, the
temporary and home folders) from a JSON error's message before it leaves (:mod:`geo_app.errors`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import current_app

#: Configured folders whose location an error message must never show.
_FOLDER_KEYS = ("INSTANCE", "DATA_DIR", "REFERENCE_DATA", "CACHE_DIR", "LAYERS_DIR", "DEM", "BASEMAP")


def _server_folders() -> list[str]:
    """The folders of this server (configured, the code's, the temporary and home folders), longest first."""
    from .. import config

    cfg = current_app.config
    raw = [cfg.get(k) for k in _FOLDER_KEYS] + [current_app.instance_path, config.ROOT, tempfile.gettempdir(),
                                                Path.home()]
    out = set()
    for item in raw:
        if item:
            path = Path(item)
            out |= {str(path), str(path.resolve())}
    return sorted((f for f in out if len(f) > 1), key=len, reverse=True)


def scrub_paths(text: str) -> str:
    """``text`` with every server folder removed (a file keeps its name relative to the folder)."""
    for folder in _server_folders():
        text = text.replace(folder + "/", "").replace(folder, Path(folder).name)
    return text


def public_error(body: dict[str, Any]) -> dict[str, Any]:
    """An error body as a client may see it: its message names no server path (:func:`scrub_paths`)."""
    err = body.get("error") or {}
    if isinstance(err.get("message"), str):
        err["message"] = scrub_paths(err["message"])
    return body
