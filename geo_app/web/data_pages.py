"""Data import and drawing (/data): upload -> report -> apply, draw -> save, undo.

Every write needs the ``editor`` role and a CSRF token (form field ``csrf_token`` or the
``X-CSRFToken`` header). Uploads are read with the GeoJSON, GPKG or Shapefile drivers only
(zipped Shapefiles), are kept in the instance folder between the report and "apply", and
never touch the data folder until applied. Writes hold the data folder's lock
(:func:`geo_app.importer.write_lock`, shared with other server processes and the CLI) from
reading the current layer to writing it, are written atomically, and clear the layer cache so
the running app uses the new file at once.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from .. import importer, validate
from ..errors import GeometryError, NotFound, UnsupportedMediaType, ValidationError
from ..layers import LayerRegistry
from . import data_files, import_report
from .api import json_response
from .auth import actor, audit, audit_record, require_role, users
from .i18n import chosen_lang, current_lang
from .openapi import EXTRA_PATHS

bp = Blueprint("data_pages", __name__)
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_TTL_S = 3600
UPLOAD_KINDS = ("geojson", "gpkg", "zip")
DRAW_TYPES = {"polygon": ("Polygon", "MultiPolygon"), "point": ("Point",)}


def registry() -> LayerRegistry:
    """Return the app's layer registry."""
    return current_app.extensions["geo_app"]["layers"]


def _data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"])


def _write_lock() -> AbstractContextManager[None]:
    """The data folder's cross-process write lock (503 after ``DATA_LOCK_TIMEOUT_S``)."""
    return importer.write_lock(_data_dir(), timeout_s=float(current_app.config["DATA_LOCK_TIMEOUT_S"]))


def _uploads() -> Path:
    return Path(current_app.instance_path) / "uploads"


def _plan_sectors() -> list[str]:
    from ..analysis.siting import load_rules, sectors

    return sectors(load_rules())


def _layer(name: str | None) -> str:
    """Check that ``name`` is an importable layer."""
    names = importer.importable(registry())
    if name not in names:
        raise NotFound(key="err_choice", params={"field": "layer", "choices": list(names), "got": str(name)[:40]},
                       field="layer")
    return str(name)


def _layers_info(lang: str) -> dict[str, Any]:
    """Per importable layer: title, geometry kind, feature names and those without geometry."""
    reg = registry()
    out = {}
    for name in importer.importable(reg):
        spec = reg.spec(name)
        gdf = reg.frame(name)
        names = [str(n) for n in gdf.get("name_zh", []) if n is not None]
        missing = [str(n) for n, g in zip(gdf.get("name_zh", []), gdf.geometry, strict=False)
                   if n is not None and (g is None or g.is_empty)]
        out[name] = {"title": spec.title(lang), "geometry": spec.geometry, "names": names, "missing": missing,
                     "drawable": spec.geometry in DRAW_TYPES}
    return out


def _recent_history(limit: int = 12) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for name in [*importer.importable(registry()), *data_files.FILE_LAYERS]:
        entries += importer.read_history(_data_dir(), name)
    return sorted(entries, key=lambda e: e["time"], reverse=True)[:limit]


@bp.get("/data")
def data_page() -> str:
    """Upload a file for a report and apply it; draw features onto a layer; recent history."""
    import folium

    from . import maps
    from .pages import context_map, page_context

    lang = current_lang()
    reg = registry()
    m = context_map(reg, lang)
    for name in ("towns", "parks", "logistics"):
        maps.add_layer(m, reg.spec(name), reg.frame(name), lang, interactive=True)
    folium.LayerControl(collapsed=True).add_to(m)
    parts = maps.render_parts(m, reg.attributions())
    from flask_login import current_user

    return render_template("data.html", map=parts, layers=_layers_info(lang), sectors=_plan_sectors(),
                           history=_recent_history(), max_bytes=current_app.config.get("MAX_CONTENT_LENGTH"),
                           can_edit=current_user.is_authenticated and current_user.can("editor"),
                           undoable=_undoable(), **page_context(lang))


def _undoable() -> list[dict[str, Any]]:
    """The layers whose last import or drawing can be undone, with that change (newest first)."""
    out = []
    for name in [*importer.importable(registry()), "dem", "population"]:
        entries = importer.read_history(_data_dir(), name)
        undone = {e.get("reverts") for e in entries if e.get("action") == "undo"}
        todo = [e for e in entries if e.get("action") in ("import", "draw") and e.get("id") not in undone]
        if todo:
            out.append({"layer": name, **{k: todo[-1].get(k) for k in ("action", "time", "source", "author")}})
    return sorted(out, key=lambda e: str(e["time"]), reverse=True)


def _options(form: Any) -> dict[str, Any]:
    """The import options of an upload form."""
    def text(key: str) -> str | None:
        v = str(form.get(key) or "").strip()
        if len(v) > 80:
            raise ValidationError(key="err_text_long", params={"field": key, "n": 80}, field=key)
        return v or None

    crs = text("crs")
    return {"crs": None if crs == "auto" else crs, "name_field": text("name_field"),
            "code_field": text("code_field"), "force": str(form.get("force", "")).lower() in ("1", "true", "on"),
            "encoding": importer.parse_encoding(text("encoding")), "source_layer": text("source_layer")}


def _purge_old_uploads() -> None:
    root = _uploads()
    if not root.exists():
        return
    now = time.time()
    for d in root.iterdir():
        if d.is_dir() and now - d.stat().st_mtime > UPLOAD_TTL_S:
            shutil.rmtree(d, ignore_errors=True)


def _prepare(folder: Path, meta: dict[str, Any]) -> importer.ImportPlan:
    options = dict(meta["options"])
    read = {k: options.pop(k, None) for k in ("encoding", "source_layer")}
    src = importer.read_source(folder / "upload.bin", name=meta["name"], kinds=UPLOAD_KINDS, **read)
    return importer.prepare_import(src, meta["layer"], registry(), **options)


def _received(form: Any, files: Any) -> tuple[str, Path, str]:
    """The upload to read: a new file (saved under a new token) or, with ``token``, one kept for a layer choice."""
    pending = str(form.get("token") or "")
    if pending:
        folder = _uploads() / pending
        if not _TOKEN.match(pending) or not (folder / "pending.json").exists():
            raise NotFound("unknown or expired upload token; upload the file again", field="token")
        return pending, folder, json.loads((folder / "pending.json").read_text(encoding="utf-8"))["name"]
    f = files.get("file")
    if f is None or not f.filename:
        raise ValidationError(key="err_choose_file", field="file")
    _purge_old_uploads()
    token = uuid.uuid4().hex
    folder = _uploads() / token
    folder.mkdir(parents=True)
    try:
        f.save(folder / "upload.bin")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return token, folder, Path(f.filename).name[:100]


def _layer_choice(exc: importer.SourceLayerRequired, folder: Path, name: str, token: str) -> Response:
    """Keep the upload and answer 422 with its layers (name, geometry type, count) to choose from."""
    (folder / "pending.json").write_text(json.dumps({"name": name}, ensure_ascii=False), encoding="utf-8")
    return json_response({**exc.to_dict(), "token": token}, status=422)


@bp.post("/data/upload")
@require_role("editor")
def upload() -> Response:
    """Read an uploaded file and answer the validation report (writes nothing in the data folder).

    Form fields: ``file`` (GeoJSON, GPKG, or a zip of Shapefiles or of a FileGDB), ``layer``,
    ``crs`` (``auto``, ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:NNNN``), ``name_field``,
    ``code_field``, ``encoding``, ``source_layer``, ``force``. The answer holds a ``token`` for
    ``POST /data/apply`` when nothing blocks the import. A file with several layers and no
    ``source_layer`` is kept: the 422 answer lists its layers and a ``token`` to send back,
    instead of ``file``, with the chosen ``source_layer``. Layers ``dem`` (GeoTIFF tiles) and
    ``population`` (a GeoTIFF or CSV; ``year``, ``source``) go to :func:`.data_files.upload`.
    """
    if request.form.get("layer") in data_files.FILE_LAYERS:
        _purge_old_uploads()
        return data_files.upload(str(request.form["layer"]), request.form, request.files, _uploads())
    layer = _layer(request.form.get("layer"))
    options = _options(request.form)
    token, folder, name = _received(request.form, request.files)
    meta = {"layer": layer, "name": name, "options": options}
    try:
        plan = _prepare(folder, meta)
    except importer.SourceLayerRequired as exc:
        return _layer_choice(exc, folder, name, token)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if plan.ok:
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    lang = chosen_lang()
    report_text = importer.format_report(plan.report) if lang is None else import_report.format_report(
        plan.report, lang, layer_title=registry().spec(layer).title(lang))
    return json_response({"token": token if plan.ok else None, "ok": plan.ok, "report": plan.report,
                          "text": report_text, "preview": preview_features(plan.frame)})


#: At most this many features are sent back for the preview map of an upload.
PREVIEW_MAX = 2000


def preview_features(frame: Any) -> dict[str, Any]:
    """The features an import would write, simplified for a small preview map (WGS84 GeoJSON)."""
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        return {"type": "FeatureCollection", "features": []}
    shown = frame[frame.geometry.notna() & ~frame.geometry.is_empty].iloc[:PREVIEW_MAX]
    if shown.crs is not None:
        shown = shown.to_crs("EPSG:4326")
    names = shown["name_zh"] if "name_zh" in shown else [None] * len(shown)
    geoms = shown.geometry.simplify(0.0005, preserve_topology=True)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g.__geo_interface__, "properties": {"name": None if n is None else str(n)}}
        for g, n in zip(geoms, names, strict=True)]}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise ValidationError(key="err_body_object_the", field="body")
    return body


def _note(body: dict[str, Any]) -> str:
    note = str(body.get("note") or "").strip()
    if len(note) > 500:
        raise ValidationError(key="err_text_long", params={"field": "note", "n": 500}, field="note")
    return note


def _author() -> str:
    return actor() or "anonymous"


@bp.post("/data/apply")
@require_role("editor")
def apply() -> Response:
    """Apply a reported upload (``token``, ``note``): backup, write, history, README; clear the cache."""
    body = _body()
    token = str(body.get("token") or "")
    folder = _uploads() / token
    if not _TOKEN.match(token) or not (folder / "meta.json").exists():
        raise NotFound(key="err_upload_expired", field="token")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    note = _note(body)
    if meta["layer"] in data_files.FILE_LAYERS:
        return data_files.apply(folder, meta, note=note, data_dir=_data_dir(), lock=_write_lock(), author=_author())
    with _write_lock():
        plan = _prepare(folder, meta)  # re-checked against the data as they are now
        plan.note = note
        if not plan.ok:
            raise GeometryError(key="err_import_blocked", params={"errors": list(plan.report["errors"])}, field="file")
        entry = importer.apply_import(plan, _data_dir(), registry(), author=_author())
        registry().clear()
    shutil.rmtree(folder, ignore_errors=True)
    audit("data.import", meta["layer"], source=meta["name"], history=entry["id"])
    return json_response({"entry": entry, "report": plan.report})


@bp.post("/api/data/<layer>/features")
@require_role("editor")
def save_feature(layer: str) -> Response:
    """Save a drawn feature: ``{geometry, name, name_en?, sectors?, note?}``; 201 with the history entry.

    A name that matches a listed feature (e.g. a plan park without geometry) fills in
    its geometry instead of adding a duplicate.
    """
    if not request.is_json:
        raise UnsupportedMediaType(key="err_feature_body_json", field="body")
    layer = _layer(layer)
    kind = registry().spec(layer).geometry
    if kind not in DRAW_TYPES:
        raise ValidationError(key="err_not_drawable", params={"layer": layer, "kind": kind}, field="layer")
    body = _body()
    geom = validate.geometry(body.get("geometry"), allowed=DRAW_TYPES[kind])
    props = {k: body.get(k) for k in ("name", "name_en", "sectors")}
    note = _note(body)
    record = audit_record("data.draw", layer, name=props["name"])
    with _write_lock():
        plan = importer.prepare_feature(layer, geom, props, registry(), sectors=_plan_sectors(), note=note)
        if not plan.ok:
            raise GeometryError(key="err_feature_blocked", params={"errors": list(plan.report["errors"])},
                                field="geometry")
        try:  # layer, history line and audit entry: all of them or none (geo_app.importer.journal)
            entry = importer.apply_import(plan, _data_dir(), registry(), author=_author(), extra={"audit": record},
                                          on_commit=lambda e: users().audit_change(record, e["id"]))
        finally:
            registry().clear()
    return json_response({"layer": layer, "name": str(props["name"]).strip(), "filled": plan.report.get("filled"),
                          "entry": entry, "report": plan.report}, status=201)


@bp.post("/data/undo")
@require_role("editor")
def undo() -> Response:
    """Revert the last import or drawing of ``layer`` (as ``geo-app data undo LAYER``)."""
    body = _body()
    if body.get("layer") in data_files.FILE_LAYERS:
        return data_files.undo(str(body["layer"]), note=_note(body), data_dir=_data_dir(), lock=_write_lock(),
                               author=_author())
    layer = _layer(body.get("layer"))
    note = _note(body)
    with _write_lock():
        entry = importer.undo(_data_dir(), layer, registry(), author=_author(), note=note)
        registry().clear()
    audit("data.undo", layer, history=entry["id"])
    return json_response({"entry": entry})


def _openapi_item() -> dict[str, Any]:
    """The OpenAPI path item of ``POST /api/data/{layer}/features``."""
    err = {"description": "error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    body = {"type": "object", "required": ["geometry", "name"], "properties": {
        "geometry": {"type": "object", "description": "GeoJSON Polygon (polygon layers) or Point (point layers)"},
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "name_en": {"type": "string"}, "note": {"type": "string", "maxLength": 500},
        "sectors": {"type": "array", "items": {"type": "string"}, "description": "parks: designated sectors"}}}
    return {"post": {
        "summary": "Save a drawn feature into a layer (editor; CSRF header X-CSRFToken)",
        "operationId": "saveDrawnFeature", "security": [{"bearer": []}],
        "parameters": [{"name": "layer", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"201": {"description": "saved; the history entry and the validation report",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      **{c: err for c in ("400", "401", "403", "404", "413", "415", "422", "503")}}}}


EXTRA_PATHS["/api/data/{layer}/features"] = _openapi_item()
