"""Siting review pages (form, report, list) and the reviews API.

Views parse the request, hand it to :class:`geo_app.reviews.ReviewService`, and render
or serialise the result. Nothing is stored unless the whole review succeeded.
"""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from .. import validate
from ..analysis.isochrones import isochrones
from ..analysis.routing import resolve_place, route
from ..errors import Forbidden, GeoAppError, NotFound, UnsupportedMediaType, ValidationError, status_for
from ..reviews import ReviewService, geojson_upload
from . import maps
from .api import compute_reach, json_response
from .auth import actor, audit, require_role
from .i18n import current_lang
from .pages import context_map, page_context, registry

bp = Blueprint("reviews", __name__)
api_bp = Blueprint("reviews_api", __name__, url_prefix="/api")

_ID = re.compile(r"^[0-9a-f]{32}$")
VERDICT_CLASS = {"suitable": "ok", "conditional": "conditional", "unsuitable": "fail"}


def service() -> ReviewService:
    """The app's review service."""
    return current_app.extensions["geo_app"]["reviews"]


def _review_or_404(rid: str) -> dict[str, Any]:
    if not _ID.match(rid):
        raise NotFound(f"no review with id {rid[:40]!r}", field="id")
    row = service().store.get(rid)
    if row is None:
        raise NotFound(f"no review with id {rid!r}", field="id")
    return row


def _filters(args: Any) -> dict[str, Any]:
    svc = service()
    verdict = args.get("verdict") or None
    sector = args.get("sector") or None
    if verdict is not None:
        validate.parse_choice(verdict, "verdict", ("suitable", "conditional", "unsuitable"))
    if sector is not None:
        validate.parse_choice(sector, "sector", svc.sectors)
    return {"verdict": verdict, "sector": sector, "bbox": validate.parse_bbox(args.get("bbox"))}


# --- API ----------------------------------------------------------------------------------

@api_bp.post("/reviews")
@require_role("planner")
def api_create() -> Response:
    """Review a site and store it: 201 with ``{id, ...report}`` and a Location header."""
    if not request.is_json:
        raise UnsupportedMediaType("body must be application/json: {geometry, project?, sector?}",
                                   field="body")
    payload = request.get_json(silent=True)
    if payload is None:
        raise ValidationError("body is not valid JSON", field="body")
    rid, report = service().submit(payload, author=actor())
    audit("review_create", rid, verdict=report["verdict"], via="api")
    resp = json_response({"id": rid, **report}, status=201)
    resp.headers["Location"] = url_for("reviews_api.api_get", rid=rid)
    return resp


@api_bp.get("/reviews/<rid>")
def api_get(rid: str) -> Response:
    """One stored review: input geometry, report, time and model-data version."""
    return json_response(_review_or_404(rid))


def delete_review(rid: str) -> None:
    """Soft-delete a review: planners their own, admins any; audited."""
    row = _review_or_404(rid)
    from flask_login import current_user

    if not (current_user.can("admin") or row.get("author") == current_user.name):
        raise Forbidden("planners may delete only their own reviews", field="id")
    service().store.delete(rid)
    audit("review_delete", rid)


@api_bp.delete("/reviews/<rid>")
@require_role("planner")
def api_delete(rid: str) -> Response:
    """Soft-delete a stored review (204)."""
    delete_review(rid)
    return Response(status=204)


@api_bp.get("/reviews")
def api_list() -> Response:
    """Stored reviews as JSON, GeoJSON (FeatureCollection) or CSV; filters verdict, sector, bbox."""
    fmt = validate.parse_choice(request.args.get("format", "json"), "format", ("json", "geojson", "csv"))
    store = service().store
    rows = store.list(**_filters(request.args))
    if fmt == "geojson":
        return json_response(store.to_geojson(rows), mimetype="application/geo+json")
    if fmt == "csv":
        resp = Response(store.to_csv(rows), mimetype="text/csv")
        resp.headers["Content-Disposition"] = "attachment; filename=reviews.csv"
        return resp
    return json_response({"reviews": rows, "count": len(rows)})


# --- pages --------------------------------------------------------------------------------

def _form_payload(form: Any, files: Any) -> dict[str, Any]:
    """Turn the HTML form into an API payload (geometry from an upload, or lon/lat)."""
    upload = files.get("geometry_file")
    if upload is not None and upload.filename:
        if not upload.filename.lower().endswith((".geojson", ".json")):
            raise UnsupportedMediaType("geometry_file must be a .geojson file", field="geometry_file")
        geometry = geojson_upload(upload.read())
    else:
        for key in ("lon", "lat"):
            if not form.get(key):
                raise ValidationError(f"{key} is required: click the map, type lon/lat or upload GeoJSON",
                                      field=key)
        lon = validate.parse_float(form["lon"], "lon")
        lat = validate.parse_float(form["lat"], "lat")
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    project = (form.get("project_name") or "").strip() or (form.get("project_pick") or "").strip() or None
    return {"geometry": geometry, "project": project, "sector": form.get("sector") or None}


def _form_page(lang: str, *, error: GeoAppError | None = None, values: Any = None, status: int = 200):  # type: ignore[no-untyped-def]
    reg = registry()
    m = context_map(reg, lang)
    parts = maps.render_parts(m, reg.attributions())
    svc = service()
    body = render_template("review_new.html", map=parts, projects=svc.projects(), sectors=svc.sectors,
                           error=error, values=values or {}, **page_context(lang))
    return body, status


@bp.get("/reviews/new")
@require_role("planner")
def new_review():  # type: ignore[no-untyped-def]
    """The submission form: pick or name a project, place the site by click, lon/lat or upload."""
    return _form_page(current_lang())


@bp.post("/reviews")
@require_role("planner")
def create_review():  # type: ignore[no-untyped-def]
    """Store a review from the form and redirect to its report; on bad input re-show the form."""
    lang = current_lang()
    try:
        rid, report = service().submit(_form_payload(request.form, request.files), author=actor())
    except GeoAppError as exc:
        return _form_page(lang, error=exc, values=request.form, status=status_for(exc))
    audit("review_create", rid, verdict=report["verdict"], via="form")
    return redirect(url_for("reviews.show_review", rid=rid), code=303)


def _report_map(row: dict[str, Any], lang: str) -> dict[str, str]:
    """Map of the site with nearest station/hub/park, the 2-hour band and the route to Changchun."""
    import folium
    from shapely.geometry import shape

    reg = registry()
    site = shape(row["geometry"])
    b = site.buffer(0.25).bounds
    m = context_map(reg, lang, bounds=[[b[1], b[0]], [b[3], b[2]]])
    surface, _ = compute_reach({"to": resolve_place("changchun", reg.frame("places")), "mode": "best",
                                "minutes": 120, "cell": 250})
    band = isochrones(surface, [120])
    band["geometry"] = band.geometry.intersection(reg.frame("boundary").geometry.union_all())
    maps.add_bands(m, band, name="2小时通达范围（最优方式）" if lang == "zh" else "2-hour band (best mode)",
                   show=True)
    report = row["report"]
    lonlat = (report["site"]["lon"], report["site"]["lat"])
    path = route(current_app.extensions["geo_app"]["graph"](), lonlat,
                 resolve_place("changchun", reg.frame("places")), mode="best")
    if path.get("geometry") is not None:
        folium.PolyLine([(y, x) for x, y in path["geometry"].coords], color="#8e44ad", weight=4,
                        dash_array="6 6", tooltip="至长春路线" if lang == "zh" else "route to Changchun").add_to(m)
    _add_named_parks(m, report, lang)
    for f in report["findings"]:
        d = f.get("detail") or {}
        if f["key"] in ("station", "logistics_hub") and d.get("lon") is not None:
            folium.CircleMarker([d["lat"], d["lon"]], radius=8, color="#000", fill=True, fill_color="#f1c40f",
                                fill_opacity=1, tooltip=html.escape(str(f.get("value") or ""))).add_to(m)
    folium.GeoJson(row["geometry"], name="site", style_function=lambda _f: {
        "color": "#c0392b", "weight": 3, "fillOpacity": 0.2},
        marker=folium.CircleMarker(radius=9, color="#c0392b", fill=True, fill_color="#fff", fill_opacity=1)
    ).add_to(m)
    return maps.render_parts(m, reg.attributions())


def _add_named_parks(m: Any, report: dict[str, Any], lang: str) -> None:
    """Draw the parks the report names (the site's parks, or the nearest one) from the parks layer."""
    park = next((f for f in report["findings"] if f["key"] == "park"), None)
    detail = (park or {}).get("detail") or {}
    names = {p.get("name_zh") for p in detail.get("parks", [])} | {(detail.get("nearest") or {}).get("name_zh")}
    names.discard(None)
    if not names:
        return
    reg = registry()
    parks = reg.frame("parks")
    named = parks[parks["name_zh"].isin(names) & parks.geometry.notna()]
    if len(named):
        maps.add_layer(m, reg.spec("parks"), named, lang, interactive=False)


@bp.get("/reviews/<rid>")
def show_review(rid: str):  # type: ignore[no-untyped-def]
    """The printable report of one stored review."""
    lang = current_lang()
    row = _review_or_404(rid)
    return render_template("review_report.html", review=row, report=row["report"],
                           map=_report_map(row, lang), verdict_class=VERDICT_CLASS, **page_context(lang))


@bp.post("/reviews/<rid>/delete")
@require_role("planner")
def delete_review_form(rid: str):  # type: ignore[no-untyped-def]
    """Soft-delete from the report page, then back to the list."""
    delete_review(rid)
    return redirect(url_for("reviews.list_reviews"), code=303)


@bp.get("/reviews")
def list_reviews():  # type: ignore[no-untyped-def]
    """Stored reviews with filters by verdict and sector, and GeoJSON/CSV export."""
    lang = current_lang()
    filters = _filters(request.args)
    rows = service().store.list(**filters)
    return render_template("reviews_list.html", rows=rows, filters=filters, sectors=service().sectors,
                           verdict_class=VERDICT_CLASS, **page_context(lang))
