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
from .downloads import attach, timezone
from .i18n import current_lang, text
from .pages import context_map, page_context, registry

bp = Blueprint("reviews", __name__)
api_bp = Blueprint("reviews_api", __name__, url_prefix="/api")

_ID = re.compile(r"^[0-9a-f]{32}$")
VERDICT_CLASS = {"suitable": "ok", "conditional": "conditional", "unsuitable": "fail", "incomplete": "unavailable"}


@bp.app_template_filter("localtime")
def localtime_filter(value: Any, seconds: bool = True) -> str:
    """A stored UTC time as local wall-clock time (``TIMEZONE``), without microseconds."""
    from ..reports.timefmt import display_time

    return display_time(value, timezone(), seconds=seconds)


@bp.app_template_filter("isotime")
def isotime_filter(value: Any) -> str:
    """A stored time as ISO 8601 in ``TIMEZONE`` with its offset (for ``<time datetime>``)."""
    from ..reports.timefmt import iso_time

    return iso_time(value, timezone()) or ""


def service() -> ReviewService:
    """The app's review service."""
    return current_app.extensions["geo_app"]["reviews"]


def _review_or_404(rid: str) -> dict[str, Any]:
    if not _ID.match(rid):
        raise NotFound(key="err_no_review", params={"id": rid[:40]}, field="id")
    row = service().store.get(rid)
    if row is None:
        raise NotFound(key="err_no_review", params={"id": rid}, field="id")
    return row


def _filters(args: Any) -> dict[str, Any]:
    svc = service()
    verdict = args.get("verdict") or None
    sector = args.get("sector") or None
    if verdict is not None:
        validate.parse_choice(verdict, "verdict", tuple(VERDICT_CLASS))
    if sector is not None:
        validate.parse_choice(sector, "sector", svc.sectors)
    return {"verdict": verdict, "sector": sector, "bbox": validate.parse_bbox(args.get("bbox"))}


# --- API ----------------------------------------------------------------------------------

@api_bp.post("/reviews")
@require_role("planner")
def api_create() -> Response:
    """Review a site and store it: 201 with ``{id, ...report}`` and a Location header."""
    if not request.is_json:
        raise UnsupportedMediaType(key="err_review_body_json", field="body")
    payload = request.get_json(silent=True)
    if payload is None:
        raise ValidationError(key="err_body_not_json", field="body")
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
        raise Forbidden(key="err_delete_own", field="id")
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
    """Stored reviews as JSON, GeoJSON (FeatureCollection) or CSV; filters verdict, sector, bbox; paged.

    ``limit`` (1–:data:`PAGE_MAX`, default :data:`PAGE_DEFAULT`) rows from ``offset`` on, newest first;
    ``next`` (and a ``Link: rel="next"`` header) is the relative URL of the next page, null on the last.
    """
    fmt = validate.parse_choice(request.args.get("format", "json"), "format", ("json", "geojson", "csv"))
    limit = validate.parse_int(request.args.get("limit", PAGE_DEFAULT), "limit", lo=1, hi=PAGE_MAX)
    offset = validate.parse_int(request.args.get("offset", 0), "offset", lo=0, hi=10**12)
    store = service().store
    rows = store.list(**_filters(request.args), limit=limit + 1, offset=offset)
    more, rows = len(rows) > limit, rows[:limit]
    nxt = _page_url(offset + limit) if more else None
    page = {"count": len(rows), "limit": limit, "offset": offset, "next": nxt}
    if fmt == "geojson":
        resp = json_response({**store.to_geojson(rows, tz=timezone()), **page}, mimetype="application/geo+json")
        resp = _attach_list(resp, "geojson")
    elif fmt == "csv":
        from ..reports.tables import BOM

        resp = _attach_list(Response(BOM + store.to_csv(rows, tz=timezone()), mimetype="text/csv"), "csv")
    else:
        resp = json_response({"reviews": rows, **page})
    if nxt is not None:
        resp.headers["Link"] = f'<{nxt}>; rel="next"'
    return resp


#: Default and largest page of ``GET /api/reviews``.
PAGE_DEFAULT, PAGE_MAX = 100, 1000


def _page_url(offset: int) -> str:
    """The relative URL of this request with ``offset`` replaced (no host: the Host header is the client's)."""
    from urllib.parse import urlencode

    args = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"] + [("offset", str(offset))]
    return f"{request.path}?{urlencode(args)}"


def _attach_list(resp: Response, ext: str) -> Response:
    """Name a review export after what it holds (filters) and when: ``选址评估_医药健康_20250501-1803.csv``."""
    from ..i18n import translate_value

    lang = current_lang()
    verdict, sector = request.args.get("verdict") or None, request.args.get("sector") or None
    parts = [text("nav_reviews", lang), verdict and translate_value(verdict, lang),
             sector and translate_value(sector, lang)]
    return attach(resp, parts, ext, fallback=["siting-reviews", verdict])


@bp.get("/reviews/<rid>.pdf")
def review_pdf(rid: str) -> Response:
    """The review as an A4 PDF (static map, findings, verdict, data and rules versions), as a download."""
    from ..reports.review import review_report_pdf

    lang = current_lang()
    row = _review_or_404(rid)
    pdf = review_report_pdf(row, registry(), current_app.extensions["geo_app"]["graph"](), lang=lang,
                            tz=timezone())
    resp = Response(pdf, mimetype="application/pdf")
    project = row.get("project") or row["report"].get("project")
    return attach(resp, [text("report_siting_review", lang), project, rid[:8]], "pdf",
                  fallback=["siting-review", rid[:8]], when=row.get("created_at"))


# --- pages --------------------------------------------------------------------------------

def _form_payload(form: Any, files: Any) -> dict[str, Any]:
    """Turn the HTML form into an API payload (geometry from an upload, or lon/lat)."""
    upload = files.get("geometry_file")
    if upload is not None and upload.filename:
        if not upload.filename.lower().endswith((".geojson", ".json")):
            raise UnsupportedMediaType(key="err_geometry_file_ext", field="geometry_file")
        geometry = geojson_upload(upload.read())
    else:
        for key in ("lon", "lat"):
            if not form.get(key):
                raise ValidationError(key="err_site_required", params={"key": key},
                                      field=key)
        lon = validate.parse_float(form["lon"], "lon")
        lat = validate.parse_float(form["lat"], "lat")
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    project = (form.get("project_name") or "").strip() or (form.get("project_pick") or "").strip() or None
    return {"geometry": geometry, "project": project, "sector": form.get("sector") or None}


def _form_page(lang: str, *, error: GeoAppError | None = None, values: Any = None, status: int = 200,  # type: ignore[no-untyped-def]
               can_submit: bool = True):
    reg = registry()
    m = context_map(reg, lang)
    parts = maps.render_parts(m, reg.attributions())
    svc = service()
    body = render_template("review_new.html", map=parts, projects=svc.projects(), sectors=svc.sectors,
                           error=error, values=values or {}, can_submit=can_submit, **page_context(lang))
    return body, status


@require_role("planner")
def _new_review_form():  # type: ignore[no-untyped-def]
    return _form_page(current_lang())


@bp.get("/reviews/new")
def new_review():  # type: ignore[no-untyped-def]
    """The submission form: pick or name a project, place the site by click, lon/lat or upload.

    An anonymous visitor, or a user whose role cannot submit, sees a login prompt instead of a
    form that would fail on submit (a pending password change still answers 403).
    """
    from flask_login import current_user

    pending = current_user.is_authenticated and current_user.user.must_change
    if not pending and not (current_user.is_authenticated and current_user.can("planner")):
        return _form_page(current_lang(), can_submit=False)
    return _new_review_form()


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
    maps.add_bands(m, band, name=text("report_layer_band", lang),
                   show=True)
    report = row["report"]
    lonlat = (report["site"]["lon"], report["site"]["lat"])
    path = route(current_app.extensions["geo_app"]["graph"](), lonlat,
                 resolve_place("changchun", reg.frame("places")), mode="best")
    if path.get("geometry") is not None:
        folium.PolyLine([(y, x) for x, y in path["geometry"].coords], color="#8e44ad", weight=4,
                        dash_array="6 6", tooltip=text("report_route", lang)).add_to(m)
    _add_named_parks(m, report, lang)
    for f in report["findings"]:
        d = f.get("detail") or {}
        if f["key"] in ("station", "logistics_hub") and d.get("lon") is not None:
            folium.CircleMarker([d["lat"], d["lon"]], radius=8, color="#000", fill=True, fill_color="#f1c40f",
                                fill_opacity=1, tooltip=html.escape(str(f.get("value") or ""))).add_to(m)
    folium.GeoJson(row["geometry"], name=text("report_layer_site", lang), style_function=lambda _f: {
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
                           verdicts=tuple(VERDICT_CLASS),
                           verdict_class=VERDICT_CLASS, **page_context(lang))
