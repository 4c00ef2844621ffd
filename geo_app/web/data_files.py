"""/data for the file layers (``dem``: GeoTIFF tiles; ``population``: a GeoTIFF or a township CSV).

The views of :mod:`.data_pages` hand these layers over here: an upload is kept in the instance
folder and answered with the report (nothing is written in the data folder), ``apply`` re-checks
it and writes it under the data folder's lock (:func:`~geo_app.importer.files.apply_file_plan`),
``undo`` restores the files as they were before the last import. Uploads are limited by
``MAX_CONTENT_LENGTH`` like every request (``GEO_APP_MAX_CONTENT_LENGTH``; larger DEM tiles go
through ``geo-app data import dem``).
"""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from flask import Response, current_app

from ..errors import ValidationError
from ..importer.file_layers import FILE_LAYERS, prepare_file_layer
from ..importer.files import FilePlan, apply_file_plan, format_file_report, undo_files
from .api import json_response
from .auth import audit

__all__ = ["FILE_LAYERS", "apply", "undo", "upload"]
MAX_FILES = 64


def _options(form: Any) -> dict[str, Any]:
    """``year``, ``source`` (200 characters), ``name_field``, ``code_field`` and ``force`` of the form."""
    def text(key: str, limit: int = 80) -> str | None:
        v = str(form.get(key) or "").strip()
        if len(v) > limit:
            raise ValidationError(key="err_text_long", params={"field": key, "n": limit}, field=key)
        return v or None

    return {"year": text("year"), "source": text("source", 200), "name_field": text("name_field"),
            "code_field": text("code_field"), "force": str(form.get("force", "")).lower() in ("1", "true", "on")}


def _prepare(folder: Path, meta: dict[str, Any]) -> FilePlan:
    paths = [folder / f"upload{i}.bin" for i in range(len(meta["names"]))]
    return prepare_file_layer(meta["layer"], paths, current_app.extensions["geo_app"]["layers"], names=meta["names"],
                              **meta["options"])


def upload(layer: str, form: Any, files: Any, uploads: Path) -> Response:
    """Keep the uploaded file(s) and answer the report, with a ``token`` for ``/data/apply`` when it is OK."""
    received = [f for f in files.getlist("file") if f and f.filename]
    if not received:
        raise ValidationError(key="err_choose_file", field="file")
    if len(received) > MAX_FILES:
        raise ValidationError(f"file: at most {MAX_FILES} files at once", field="file")
    options = _options(form)
    token = uuid.uuid4().hex
    folder = uploads / token
    folder.mkdir(parents=True)
    meta = {"layer": layer, "names": [Path(f.filename).name[:100] for f in received], "options": options}
    try:
        for i, f in enumerate(received):
            f.save(folder / f"upload{i}.bin")
        plan = _prepare(folder, meta)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if plan.ok:
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return json_response({"token": token if plan.ok else None, "ok": plan.ok, "report": plan.report,
                          "text": format_file_report(plan.report)})


def apply(folder: Path, meta: dict[str, Any], *, note: str, data_dir: Path, lock: AbstractContextManager[None],
          author: str) -> Response:
    """Re-check a kept upload and write it (backups, history, README record) under the lock."""
    plan = _prepare(folder, meta)
    plan.note = note
    if not plan.ok:
        raise ValidationError("the import has blocking errors: " + "; ".join(plan.report["errors"]), field="file")
    with lock:
        entry = apply_file_plan(plan, data_dir, author=author)
    shutil.rmtree(folder, ignore_errors=True)
    audit("data.import", meta["layer"], source=", ".join(meta["names"]), history=entry["id"])
    return json_response({"entry": entry, "report": plan.report})


def undo(layer: str, *, note: str, data_dir: Path, lock: AbstractContextManager[None], author: str) -> Response:
    """Restore a file layer as it was before its last import (as ``geo-app data undo LAYER``)."""
    with lock:
        entry = undo_files(data_dir, layer, author=author, note=note)
    audit("data.undo", layer, history=entry["id"])
    return json_response({"entry": entry})
