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
        replaced = summary["quality"] != spec.quality  # the bureau's data replaced the shipped file
        if replaced:
            notices.append({"title": spec.title(lang), "quality": summary["quality"],
                            "text": "已导入本单位数据，替换了数据包中的版本。" if lang == "zh"
                            else "The bureau's own data replaced the data pack's version."})
        elif spec.notice(lang):
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


# --- travel-time pages --------------------------------------------------------------------

CONTEXT_LAYERS = ("boundary", "roads", "rail_lines", "stations", "places")


def context_map(reg: LayerRegistry, lang: str, *, bounds: list[list[float]] | None = None):  # type: ignore[no-untyped-def]
    """A base map with the county, roads, rail, stations and places for orientation."""
    if bounds is None:
        b = reg.frame("boundary").total_bounds
        bounds = [[b[1] - 0.1, b[0] - 0.1], [b[3] + 0.1, b[2] + 0.1]]
    m = maps.base_map(tiles_url=current_app.config.get("TILES_URL"),
                      tiles_attr=current_app.config.get("TILES_ATTRIBUTION"), bounds=bounds)
    for name in CONTEXT_LAYERS:
        spec = reg.spec(name)
        maps.add_layer(m, spec, reg.frame(name), lang, interactive=spec.geometry == "point")
    return m


def assumptions() -> list[dict]:
    """The engine's assumptions (speeds, circuity, waits, data-quality flags)."""
    return current_app.extensions["geo_app"]["graph"]().assumptions()


@bp.get("/isochrones")
def isochrones_page():  # type: ignore[no-untyped-def]
    """Click the map to compute isochrones; contour, mode and direction controls; GeoJSON download."""
    lang = current_lang()
    reg = registry()
    m = context_map(reg, lang)
    import folium

    folium.LayerControl(collapsed=True).add_to(m)
    parts = maps.render_parts(m, reg.attributions())
    return render_template("isochrones.html", map=parts, assumptions=assumptions(), **page_context(lang))


@bp.get("/accessibility")
def accessibility_page():  # type: ignore[no-untyped-def]
    """2-hour reach to Changchun: bands by mode, township choropleth, table and bar chart."""
    from ..analysis.isochrones import isochrones
    from .api import compute_reach, reach_request

    lang = current_lang()
    reg = registry()
    req = reach_request(request.args)
    m = context_map(reg, lang)
    county = reg.frame("boundary").geometry.union_all()
    tables = {}
    for mode in ("best", "car", "rail"):
        surface, table = compute_reach({**req, "mode": mode})
        tables[mode] = table
        bands = isochrones(surface, BANDS)
        bands["geometry"] = bands.geometry.intersection(county)  # the surface grid is the county's bbox
        bands["area_km2"] = bands.geometry.to_crs("EPSG:32651").area.fillna(0) / 1e6
        maps.add_bands(m, bands, name=f"{mode_label(mode, lang)} · {band_title(lang)}", show=mode == req["mode"])
    maps.add_choropleth(m, reg.frame("towns"), tables[req["mode"]], lang=lang,
                        name="乡镇中位时间" if lang == "zh" else "Township median minutes")
    import folium

    folium.LayerControl(collapsed=False).add_to(m)
    parts = maps.render_parts(m, reg.attributions())
    rows = tables[req["mode"]].to_dict(orient="records")
    rows = [r for r in rows if r["level"] == "county"] + [r for r in rows if r["level"] != "county"]
    return render_template("accessibility.html", map=parts, rows=rows, req=req, bands=BANDS,
                           band_colors=maps.BAND_COLORS, assumptions=assumptions(),
                           compare={k: v.to_dict(orient="records") for k, v in tables.items()},
                           **page_context(lang))


BANDS = [60, 90, 120, 150, 180]


def mode_label(mode: str, lang: str) -> str:
    """Human name of a mode."""
    zh = {"car": "驾车", "rail": "铁路", "best": "最优方式"}
    en = {"car": "Car", "rail": "Rail", "best": "Best of car and rail"}
    return (en if lang == "en" else zh)[mode]


def band_title(lang: str) -> str:
    """Title of the time bands layer."""
    return "到长春时间带" if lang == "zh" else "time bands to Changchun"
