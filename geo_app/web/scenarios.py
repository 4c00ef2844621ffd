"""Scenario pages and API: /scenarios, /api/scenarios, /api/scenarios/<name>/compare.

Views validate the query, call :mod:`geo_app.analysis.scenarios` and serialise the result.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
from flask import Blueprint, Response, current_app, render_template, request
from rasterio.features import shapes
from shapely.geometry import shape

from .. import validate
from ..analysis import scenarios as sc
from ..analysis.accessibility import reach_inputs
from ..analysis.routing import resolve_place
from ..i18n import translate_value
from ..network.variants import with_params
from . import maps
from .api import feature_collection, json_response
from .assumptions import PARAM_NAMES, add_low_confidence, confidence_note, panel
from .i18n import current_lang, name_span, text
from .openapi import EXTRA_PATHS
from .page_cache import cached_page

bp = Blueprint("scenarios", __name__)
_LOCK = threading.Lock()

#: Diverging classes of minutes saved: (low, high, colour, zh, en); slower in red, faster in blue.
#: The labels are the catalogue's ``scen_class_*`` entries.
SAVED_CLASSES = tuple((lo, hi, color, text(key, "zh"), text(key, "en")) for lo, hi, color, key in (
    (-np.inf, -15.0, "#b2182b", "scen_class_slower_15"),
    (-15.0, -0.05, "#ef8a62", "scen_class_slower_0_15"),
    (-0.05, 0.05, "#f7f7f7", "scen_class_no_change"),
    (0.05, 5.0, "#d1e5f0", "scen_class_faster_0_5"),
    (5.0, 15.0, "#92c5de", "scen_class_faster_5_15"),
    (15.0, 30.0, "#4393c3", "scen_class_faster_15_30"),
    (30.0, np.inf, "#2166ac", "scen_class_faster_30"),
))


def scenarios_dir() -> Path:
    """``SCENARIOS_DIR`` from the config, else ``DATA_DIR/scenarios``."""
    cfg = current_app.config
    return Path(cfg.get("SCENARIOS_DIR") or Path(cfg["DATA_DIR"]) / "scenarios")


def runner() -> sc.ScenarioRunner:
    """The app's scenario runner (built once per process, on first use)."""
    ext = current_app.extensions["geo_app"]
    with _LOCK:
        if "scenario_runner" not in ext:
            cfg = current_app.config
            inputs = sc.load_inputs(Path(cfg["DATA_DIR"]), Path(cfg["REFERENCE_DATA"]),
                                    cache_dir=cfg.get("CACHE_DIR"), roads_graphml=cfg.get("ROADS_GRAPHML"),
                                    network=cfg.get("NETWORK"))
            ext["scenario_runner"] = sc.ScenarioRunner(
                inputs, ext["graph"](), scenarios_dir(), before_bytes=int(cfg["SCENARIO_CACHE_MB"]) * 2**20)
        return ext["scenario_runner"]


def compare_request(params: Any, scenario: sc.Scenario) -> dict[str, Any]:
    """Validate ``mode`` (default: the scenario's), ``minutes`` (1–240), ``cell`` (100–2000 m) and the assumptions."""
    from .api import assumption_params

    return {
        "mode": validate.parse_choice(params.get("mode") or scenario.mode, "mode", sc.MODES),
        "minutes": validate.parse_int(params.get("minutes", 120), "minutes", lo=1, hi=240),
        "cell": validate.parse_int(params.get("cell", 250), "cell", lo=100, hi=2000),
        "params": assumption_params(params),
    }


def run_compare(scenario: sc.Scenario, req: dict[str, Any]) -> sc.Comparison:
    """Compare a scenario with the base network for a validated request (reach to Changchun)."""
    reg = current_app.extensions["geo_app"]["layers"]
    return runner().compare(scenario, **reach_inputs(reg), to_lonlat=resolve_place("changchun", reg.frame("places")),
                            mode=req["mode"], minutes=req["minutes"], cell_m=req["cell"], params=req.get("params"))


def county_shape() -> Any:
    """The county polygon (WGS84)."""
    return current_app.extensions["geo_app"]["layers"].frame("boundary").to_crs("EPSG:4326").geometry.union_all()


def saved_polygons(comparison: sc.Comparison, county: Any) -> gpd.GeoDataFrame:
    """Minutes saved as polygons of the diverging classes, clipped to the county (WGS84)."""
    saved = comparison.saved
    cls = np.zeros(saved.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        for i, (lo, hi, *_rest) in enumerate(SAVED_CLASSES, start=1):
            cls[(saved > lo) & (saved <= hi)] = i
    geoms, classes = [], []
    for geom, val in shapes(cls, mask=cls > 0, transform=comparison.before.transform):
        geoms.append(shape(geom))
        classes.append(int(val))
    frame = gpd.GeoDataFrame({"cls": classes}, geometry=gpd.GeoSeries(geoms, crs=comparison.before.crs))
    frame = frame.dissolve("cls", as_index=False).to_crs("EPSG:4326")
    frame["geometry"] = frame.geometry.intersection(county)
    return frame[~frame.geometry.is_empty]


def payload(scenario: sc.Scenario, req: dict[str, Any], comparison: sc.Comparison) -> dict[str, Any]:
    """The JSON answer of a comparison: summary, table and both boundaries as GeoJSON."""
    bounds = sc.boundaries(comparison, req["minutes"], county_shape())
    return {"scenario": scenario.summary(), "to": "changchun", **req, "summary": comparison.summary,
            "rows": sc.table_rows(comparison),
            "boundaries": feature_collection(bounds[["state", "minutes", "mode", "area_km2", "geometry"]])}


@bp.get("/api/scenarios")
def scenarios_index() -> Response:
    """Every scenario file: titles, descriptions, edits and assumptions (or its error)."""
    out = []
    for item in sc.list_scenarios(scenarios_dir()):
        if isinstance(item, sc.ScenarioError):
            out.append({"name": Path(item.path).stem, "error": item.to_dict()["error"]})
        else:
            out.append(item.summary())
    return json_response({"scenarios": out})


@bp.get("/api/scenarios/<name>/compare")
def scenario_compare(name: str) -> Response:
    """Before/after reach to Changchun: summary, township table and the two boundaries."""
    scenario = sc.find_scenario(scenarios_dir(), name)
    req = compare_request(request.args, scenario)
    return json_response(payload(scenario, req, run_compare(scenario, req)))


@bp.get("/api/scenarios/<name>/saved.tif")
def scenario_saved_tif(name: str) -> Response:
    """The minutes-saved surface as a GeoTIFF (EPSG:32651, nodata NaN)."""
    import tempfile

    scenario = sc.find_scenario(scenarios_dir(), name)
    req = compare_request(request.args, scenario)
    comparison = run_compare(scenario, req)
    with tempfile.TemporaryDirectory() as tmp:
        data = sc.to_geotiff(comparison, f"{tmp}/saved.tif").read_bytes()
    resp = Response(data, mimetype="image/tiff")
    return _attach(resp, scenario, req, "minutes-saved", "tif")


def _attach(resp: Response, scenario: sc.Scenario, req: dict[str, Any], what: str, ext: str) -> Response:
    """``fast_rail_changchun_table_rail_120min_20250501-1803.csv``: scenario, what, mode, threshold, when."""
    from .downloads import attach

    return attach(resp, [scenario.name, what, req["mode"], f"{req['minutes']}min"], ext)


@bp.get("/api/scenarios/<name>/compare.csv")
def scenario_compare_csv(name: str) -> Response:
    """The before/after township table as CSV (UTF-8 with a BOM, for Excel)."""
    from ..reports.tables import csv_text

    scenario = sc.find_scenario(scenarios_dir(), name)
    req = compare_request(request.args, scenario)
    comparison = run_compare(scenario, req)
    return _attach(Response(csv_text(comparison.table), mimetype="text/csv"), scenario, req, "table", "csv")


def _add_saved(m: folium.Map, frame: gpd.GeoDataFrame, lang: str) -> None:
    group = folium.FeatureGroup(name=text("scen_layer_saved", lang))
    for _, row in frame.iterrows():
        lo, hi, color, zh, en = SAVED_CLASSES[int(row["cls"]) - 1]
        folium.GeoJson({"type": "Feature", "geometry": row.geometry.__geo_interface__,
                        "properties": {"label": zh if lang == "zh" else en}},
                       style_function=lambda _f, c=color: {"color": c, "weight": 0, "fillColor": c,
                                                           "fillOpacity": 0.7},
                       tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
                       className="saved").add_to(group)
    group.add_to(m)


def _add_edits(m: folium.Map, lines: gpd.GeoDataFrame, lang: str) -> None:
    """Draw the scenario's edits (schematic lines between their real end points)."""
    group = folium.FeatureGroup(name=text("scen_layer_edits", lang))
    for _, row in lines.iterrows():
        folium.GeoJson({"type": "Feature", "geometry": row.geometry.__geo_interface__,
                        "properties": {"label": f"{html.escape(translate_value(str(row['edit']), lang))}: "
                                                f"{name_span(row['label'])}"}},
                       style_function=lambda _f: {"color": "#8e44ad", "weight": 5, "opacity": 0.8,
                                                  "dashArray": "2 8"},
                       tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
                       className="scenario-edit").add_to(group)
    group.add_to(m)


def _add_boundaries(m: folium.Map, bounds: gpd.GeoDataFrame, minutes: int, lang: str) -> list[dict[str, Any]]:
    """Draw the before (dashed) and after (solid) contours; return legend entries."""
    styles = {"before": ("#555555", "6 4", "scen_before"), "after": ("#000000", None, "scen_after")}
    legend = []
    for _, row in bounds.iterrows():
        color, dash, key = styles[row["state"]]
        name = f"{minutes}′ {text(key, lang)}"
        legend.append({"state": row["state"], "label": name, "color": color, "dash": dash,
                       "area_km2": row["area_km2"], "drawn": row.geometry is not None and not row.geometry.is_empty})
        group = folium.FeatureGroup(name=name)
        if legend[-1]["drawn"]:
            folium.GeoJson({"type": "Feature", "geometry": row.geometry.__geo_interface__,
                            "properties": {"label": name}},
                           style_function=lambda _f, c=color, d=dash: {"color": c, "weight": 3, "dashArray": d,
                                                                       "fill": False},
                           tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
                           className=f"boundary-{row['state']}").add_to(group)
        group.add_to(m)
    return legend


def no_change_note(scenario: sc.Scenario, comparison: sc.Comparison, mode: str, lang: str) -> str | None:
    """Why the scenario saves no minute anywhere, in ``lang`` (None when it changes something)."""
    from ..analysis.scenarios.explain import no_change_reason
    from ..i18n import text, translate_value

    inputs = runner().inputs
    why = no_change_reason(inputs, scenario, comparison, mode=mode)
    if why is None:
        return None
    roads = text("scen_join", lang).join(
        inputs.corridors.get(c, {}).get("road_en" if lang == "en" else "road_zh") or c for c in why["corridors"])
    faster = text("scen_join", lang).join(translate_value(c, lang) for c in why.get("faster", []))
    if why["reason"] == "paralleled" and roads and faster:
        return text("scen_no_change_paralleled", lang, roads=roads, faster=faster)
    if why["reason"] == "mode":
        return text("scen_no_change_mode", lang)
    return text("scen_no_change_unused", lang, mode=text(f"val_mode_{mode}", lang))


@bp.get("/scenarios")
@cached_page("name", "mode", "minutes", "cell", *PARAM_NAMES)
def scenarios_page():  # type: ignore[no-untyped-def]
    """Map of minutes saved, before/after boundaries, township table and chart for one scenario."""
    from .pages import context_map, page_context, registry

    lang = current_lang()
    items = sc.list_scenarios(scenarios_dir())
    good = [s for s in items if isinstance(s, sc.Scenario)]
    broken = [e for e in items if isinstance(e, sc.ScenarioError)]
    if not good:
        return render_template("scenarios.html", scenario=None, scenarios=[], broken=broken,
                               **page_context(lang))
    name = request.args.get("name") or good[0].name
    scenario = sc.find_scenario(scenarios_dir(), name)
    req = compare_request(request.args, scenario)
    comparison = run_compare(scenario, req)
    reg = registry()
    m = context_map(reg, lang)
    county = county_shape()
    _add_saved(m, saved_polygons(comparison, county), lang)
    _add_edits(m, sc.edit_lines(runner().inputs, scenario), lang)
    add_low_confidence(m, comparison.after, county, lang)
    legend = _add_boundaries(m, sc.boundaries(comparison, req["minutes"], county), req["minutes"], lang)
    for entry in legend:  # the same figure as the summary table, counted on the same cells
        entry["area_km2"] = comparison.summary.get(f"within_{entry['state']}_km2", entry["area_km2"])
    folium.LayerControl(collapsed=True).add_to(m)
    parts = maps.render_parts(m, reg.attributions())
    rows = sc.table_rows(comparison)
    rows = [r for r in rows if r["level"] == "county"] + [r for r in rows if r["level"] != "county"]
    return render_template(
        "scenarios.html", map=parts, scenario=scenario, scenarios=good, broken=broken, req=req,
        summary=comparison.summary, rows=rows, classes=SAVED_CLASSES, boundary_legend=legend,
        no_change=no_change_note(scenario, comparison, req["mode"], lang),
        assumptions=scenario.assumptions(), panel=panel(runner().base, req["params"], request.args, lang),
        confidence=confidence_note(comparison.after, with_params(runner().base, req["params"]),
                                   comparison.summary.get("share_low_confidence_after"), lang), **page_context(lang))


def _openapi_items() -> dict[str, dict[str, Any]]:
    """OpenAPI path items of the scenario endpoints."""
    from .openapi_spec import ASSUMPTION_PARAMS

    err = {"description": "error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    name = {"name": "name", "in": "path", "required": True, "description": "scenario file stem in data/scenarios",
            "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,80}$"}}
    params = [name,
              {"name": "mode", "in": "query", "required": False, "description": "default: the scenario's mode",
               "schema": {"type": "string", "enum": list(sc.MODES)}},
              {"name": "minutes", "in": "query", "required": False, "description": "threshold (1-240)",
               "schema": {"type": "integer", "minimum": 1, "maximum": 240, "default": 120}},
              {"name": "cell", "in": "query", "required": False, "description": "cell size in metres",
               "schema": {"type": "integer", "minimum": 100, "maximum": 2000, "default": 250}},
              *ASSUMPTION_PARAMS]  # applied to the base and the scenario graph alike
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    tif = {"description": "minutes saved, float32 GeoTIFF (EPSG:32651, nodata NaN)",
           "content": {"image/tiff": {"schema": {"type": "string", "format": "binary"}}}}
    errors = {"400": err, "404": err}
    return {
        "/api/scenarios": {"get": {"summary": "List scenarios (titles, edits, assumptions; or a file's error)",
                                   "operationId": "listScenarios", "responses": {"200": ok}}},
        "/api/scenarios/{name}/compare": {"get": {
            "summary": "Reach to Changchun before and after a scenario: summary, township table, boundaries",
            "operationId": "compareScenario", "parameters": params, "responses": {"200": ok, **errors}}},
        "/api/scenarios/{name}/saved.tif": {"get": {
            "summary": "Minutes saved by a scenario as a GeoTIFF", "operationId": "scenarioSavedTif",
            "parameters": params, "responses": {"200": tif, **errors}}},
    }


EXTRA_PATHS.update(_openapi_items())


def _csv_item() -> dict[str, Any]:
    """The OpenAPI path item of the CSV table: the compare item's parameters, a text/csv answer."""
    compare_get = EXTRA_PATHS["/api/scenarios/{name}/compare"]["get"]
    csv = {"description": "CSV, UTF-8 with a byte-order mark", "content": {"text/csv": {"schema": {"type": "string"}}}}
    return {"get": {**compare_get, "summary": "A scenario's before/after township table as CSV",
                    "operationId": "compareScenarioCsv", "responses": {**compare_get["responses"], "200": csv}}}


EXTRA_PATHS["/api/scenarios/{name}/compare.csv"] = _csv_item()
