"""HTML pages (blueprint). Views parse the request, call builders, render templates."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from ..layers import LayerRegistry
from . import maps, tiles
from .assumptions import PARAM_NAMES, add_low_confidence, confidence_note, panel
from .i18n import current_lang, remember_lang, text
from .i18n import page_context as _page_context
from .page_cache import cached_page

bp = Blueprint("pages", __name__)
bp.after_app_request(remember_lang)


def registry() -> LayerRegistry:
    """Return the app's layer registry."""
    return current_app.extensions["geo_app"]["layers"]


def page_context(lang: str) -> dict:
    """Common template context: language, translator, nav, language links (:func:`.i18n.page_context`)."""
    return _page_context(lang)


def _side_panel(reg: LayerRegistry, lang: str) -> dict:
    legend, notices, missing = [], [], []
    for spec in reg:
        summary = reg.summary(spec.name)
        legend.append({"spec": spec, "summary": summary})
        replaced = summary["quality"] != spec.quality  # the bureau's data replaced the shipped file
        if replaced:
            notices.append({"title": spec.title(lang), "quality": summary["quality"],
                            "text": text("overview_replaced", lang)})
        elif spec.notice(lang):
            notices.append({"title": spec.title(lang), "quality": spec.quality, "text": spec.notice(lang)})
        gone = reg.missing_geometry(spec.name)
        if len(gone):
            names = [str(v) for v in gone.get(spec.label_field, gone.get("name_zh", []))]
            missing.append({"name": spec.name, "title": spec.title(lang), "names": names,
                            "why": spec.notice(lang)})
    return {"legend": legend, "notices": notices, "missing": missing}


@bp.get("/")
@cached_page()
def overview():  # type: ignore[no-untyped-def]
    """Overview map: every layer, legend, notices, features without geometry, attributions."""
    lang = current_lang()
    reg = registry()
    m = maps.overview_map(reg, lang=lang, tiles_url=current_app.config.get("TILES_URL"),
                          tiles_attr=current_app.config.get("TILES_ATTRIBUTION"))
    parts = maps.render_parts(m, reg.attributions())
    return render_template(
        "overview.html", map=parts, attributions=reg.attributions(),
        tiles_on=tiles.basemap_on(current_app), **_side_panel(reg, lang), **page_context(lang))


# --- travel-time pages --------------------------------------------------------------------

CONTEXT_LAYERS = maps.CONTEXT_LAYERS


def context_map(reg: LayerRegistry, lang: str, *, bounds: list[list[float]] | None = None):  # type: ignore[no-untyped-def]
    """A base map with the county, roads, rail, stations, places and township points (:func:`maps.context_map`)."""
    return maps.context_map(reg, lang, bounds=bounds, tiles_url=current_app.config.get("TILES_URL"),
                            tiles_attr=current_app.config.get("TILES_ATTRIBUTION"))


def assumptions(overrides: dict[str, float] | None = None) -> list[dict]:
    """The engine's assumptions (speeds, circuity, waits, data-quality flags), with the request's values."""
    from ..network.variants import with_params

    return with_params(current_app.extensions["geo_app"]["graph"](), overrides or {}).assumptions()


@bp.get("/isochrones")
@cached_page(*PARAM_NAMES)
def isochrones_page():  # type: ignore[no-untyped-def]
    """Click the map to compute isochrones; contour, mode and direction controls; GeoJSON download."""
    from ..analysis.surface import confidence_rule
    from .api import assumption_params, graph

    lang = current_lang()
    reg = registry()
    over = assumption_params(request.args)
    m = context_map(reg, lang)
    import folium

    folium.LayerControl(collapsed=True).add_to(m)
    parts = maps.render_parts(m, reg.attributions())
    most = confidence_rule(graph().params)[0]
    return render_template("isochrones.html", map=parts, assumptions=assumptions(over),
                           panel=panel(graph(), over, request.args, lang, live=True),
                           confidence={"legend": text("conf_legend", lang, minutes=f"{most:g}")}, **page_context(lang))


@bp.get("/accessibility")
@cached_page("to", "mode", "minutes", "cell", *PARAM_NAMES)
def accessibility_page():  # type: ignore[no-untyped-def]
    """2-hour reach to Changchun: bands by mode, township choropleth, table and bar chart."""
    from ..analysis.isochrones import isochrones
    from ..analysis.sensitivity import sensitivity_table
    from ..network.variants import with_params
    from .api import compute_reach, graph, population, reach_request

    lang = current_lang()
    reg = registry()
    req = reach_request(request.args)
    m = context_map(reg, lang)
    county = reg.frame("boundary").geometry.union_all()
    tables, surfaces = {}, {}
    for mode in ("best", "car", "rail"):
        surface, table = compute_reach({**req, "mode": mode})
        tables[mode], surfaces[mode] = table, surface
        bands = isochrones(surface, BANDS)
        bands["geometry"] = bands.geometry.intersection(county)  # the surface grid is the county's bbox
        bands["area_km2"] = bands.geometry.to_crs("EPSG:32651").area.fillna(0) / 1e6
        maps.add_bands(m, bands, name=f"{mode_label(mode, lang)} · {band_title(lang)}", show=mode == req["mode"],
                       beyond=county)
    add_low_confidence(m, surfaces[req["mode"]], county, lang)
    maps.add_choropleth(m, reg.frame("towns"), tables[req["mode"]], lang=lang,
                        name=text("acc_layer_median", lang))
    import folium

    folium.LayerControl(collapsed=False).add_to(m)
    parts = maps.render_parts(m, reg.attributions())
    rows = tables[req["mode"]].to_dict(orient="records")
    rows = [r for r in rows if r["level"] == "county"] + [r for r in rows if r["level"] != "county"]
    sens = sensitivity_table(graph(), reg.frame("boundary"), to_lonlat=req["to"], mode=req["mode"],
                             minutes=req["minutes"], cell_m=req["cell"], population=population())
    conf = confidence_note(surfaces[req["mode"]], with_params(graph(), req["params"]), rows[0]["share_low_confidence"],
                           lang)
    return render_template("accessibility.html", map=parts, rows=rows, req=req, bands=BANDS,
                           band_colors=maps.BAND_COLORS, band_classes=maps.band_classes(BANDS),
                           assumptions=assumptions(req["params"]), confidence=conf, sensitivity=sens,
                           panel=panel(graph(), req["params"], request.args, lang),
                           compare={k: v.to_dict(orient="records") for k, v in tables.items()},
                           population=None if (pop := population()) is None else pop.meta(), **page_context(lang))


BANDS = [60, 90, 120, 150, 180]


def mode_label(mode: str, lang: str) -> str:
    """Human name of a mode."""
    return text("mode_best_long" if mode == "best" else f"val_mode_{mode}", lang)


def band_title(lang: str) -> str:
    """Title of the time bands layer."""
    return text("acc_layer_bands", lang)
