"""HTML pages (blueprint). Views parse the request, call builders, render templates."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from ..layers import LayerRegistry
from . import maps
from .i18n import current_lang, translator

bp = Blueprint("pages", __name__)


def registry() -> LayerRegistry:
    """Return the app's layer registry."""
    return current_app.extensions["geo_app"]["layers"]


def page_context(lang: str) -> dict:
    """Common template context: language, translator, nav."""
    return {"lang": lang, "t": translator(lang), "path": request.path}


def _side_panel(reg: LayerRegistry, lang: str) -> dict:
    legend, notices, missing = [], [], []
    for spec in reg:
        summary = reg.summary(spec.name)
        legend.append({"spec": spec, "summary": summary})
        if spec.notice(lang):
            notices.append({"title": spec.title(lang), "quality": spec.quality, "text": spec.notice(lang)})
        gone = reg.missing_geometry(spec.name)
        if len(gone):
            names = [str(v) for v in gone.get(spec.label_field, gone.get("name_zh", []))]
            missing.append({"name": spec.name, "title": spec.title(lang), "names": names,
                            "why": spec.notice(lang)})
    return {"legend": legend, "notices": notices, "missing": missing}


@bp.get("/")
def overview():  # type: ignore[no-untyped-def]
    """Overview map: every layer, legend, notices, features without geometry, attributions."""
    lang = current_lang()
    reg = registry()
    m = maps.overview_map(reg, lang=lang, tiles_url=current_app.config.get("TILES_URL"),
                          tiles_attr=current_app.config.get("TILES_ATTRIBUTION"))
    parts = maps.render_parts(m, reg.attributions())
    resp = current_app.make_response(render_template(
        "overview.html", map=parts, attributions=reg.attributions(),
        tiles_on=bool(current_app.config.get("TILES_URL")), **_side_panel(reg, lang), **page_context(lang)))
    if request.args.get("lang") in ("zh", "en"):
        resp.set_cookie("lang", lang, samesite="Lax", httponly=True, max_age=365 * 86400)
    return resp
