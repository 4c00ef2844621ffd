"""JSON / GeoJSON API (blueprint). Views validate, call pure functions, serialise."""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
from flask import Blueprint, Response, current_app, request
from shapely import box

from .. import validate
from ..analysis.accessibility import reach_inputs, reach_table
from ..analysis.extent import reach_extent
from ..analysis.isochrones import isochrones, low_confidence_area
from ..analysis.routing import resolve_place, route
from ..analysis.surface import to_geotiff, travel_time_surface
from ..errors import OutsideServiceArea, ValidationError
from ..layers import LayerRegistry
from ..network.params import parse_params
from ..network.variants import with_params

bp = Blueprint("api", __name__, url_prefix="/api")


def registry() -> LayerRegistry:
    """Return the app's layer registry."""
    return current_app.extensions["geo_app"]["layers"]


def _finite(obj: Any) -> Any:
    """Replace NaN and infinities by None, recursively (JSON has no Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def json_response(obj: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    """Serialise strictly: a NaN or Infinity that slipped through becomes null, never invalid JSON.

    The fast path serialises as is; only a body that holds a non-finite number is walked.
    """
    try:
        body = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:
        body = json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False)
    return Response(body, status=status, mimetype=mimetype)


def feature_collection(gdf: gpd.GeoDataFrame, **members: Any) -> dict[str, Any]:
    """Return an RFC 7946 FeatureCollection (null geometry allowed, no ``crs`` member)."""
    fc = gdf.to_geo_dict(na="null", drop_id=True) if len(gdf) else {"type": "FeatureCollection",
                                                                     "features": []}
    fc.update(members)
    return fc


@bp.get("/layers")
def layers_index() -> Response:
    """List the layers with counts, quality flags and attributions."""
    reg = registry()
    return json_response({"layers": [reg.summary(s.name) for s in reg]})


@bp.get("/layers/<name>")
def layer(name: str) -> Response:
    """Return one layer as GeoJSON, optionally filtered by ``bbox`` and capped by ``limit``."""
    reg = registry()
    spec = reg.spec(name)
    bbox = validate.parse_bbox(request.args.get("bbox"))
    cfg = current_app.config
    limit = validate.parse_int(request.args.get("limit", cfg["LAYER_LIMIT_DEFAULT"]), "limit",
                               lo=1, hi=cfg["LAYER_LIMIT_MAX"], clamp=True)

    def body() -> bytes:
        gdf = reg.frame(name)
        matched = len(gdf)
        if bbox is not None:
            gdf = gdf[gdf.geometry.notna()]
            gdf = gdf[gdf.geometry.intersects(box(*bbox))]
            matched = len(gdf)
        out = gdf.iloc[:limit]
        fc = feature_collection(out, name=spec.name, title_zh=spec.title_zh, title_en=spec.title_en,
                                quality=spec.quality, attribution=spec.attribution,
                                numberMatched=matched, numberReturned=len(out))
        return json.dumps(_finite(fc), ensure_ascii=False, allow_nan=False).encode("utf-8")

    data = body() if bbox is not None else reg.cached_body(name, limit, body)
    return Response(data, mimetype="application/geo+json")


def population():  # type: ignore[no-untyped-def]
    """The data folder's imported population (None when there is none); re-read when its file changes."""
    from ..population import load_population

    return load_population(registry().data_dir)


# --- travel times -------------------------------------------------------------------------

MODES = ("car", "rail", "best")
DIRECTIONS = ("from", "to")


def graph():  # type: ignore[no-untyped-def]
    """Return the process-wide travel graph (built on first use, never mutated)."""
    return current_app.extensions["geo_app"]["graph"]()


def request_params() -> dict[str, Any]:
    """Query parameters, overlaid by a JSON object body on POST."""
    params: dict[str, Any] = dict(request.args)
    if request.method == "POST":
        body = request.get_json(silent=True)
        if body is None and request.data:
            raise ValidationError(key="err_body_object", field="body")
        if body is not None and not isinstance(body, dict):
            raise ValidationError(key="err_body_object", field="body")
        params.update(body or {})
    return params


def parse_point(params: dict[str, Any], lon_key: str = "lon", lat_key: str = "lat") -> tuple[float, float]:
    """Read and check a lon/lat pair from two fields; refuse points outside the service area."""
    for key in (lon_key, lat_key):
        if key not in params:
            raise ValidationError(key="err_required", params={"key": key}, field=key)
    lon = validate.parse_float(params[lon_key], lon_key)
    lat = validate.parse_float(params[lat_key], lat_key)
    validate.check_lonlat(lon, lat, f"{lon_key},{lat_key}")
    return require_service_area(lon, lat, f"{lon_key},{lat_key}")


def require_service_area(lon: float, lat: float, field: str) -> tuple[float, float]:
    """Refuse a point outside the modelled area with a 422 that mentions lon,lat order."""
    if not validate.in_service_area(lon, lat):
        x0, y0, x1, y1 = validate.SERVICE_BBOX
        raise OutsideServiceArea(key="err_outside_area", field=field, params={
            "field": field, "lon": lon, "lat": lat, "x0": x0, "x1": x1, "y0": y0, "y1": y1})
    return lon, lat


def parse_place(value: Any, field: str) -> tuple[float, float]:
    """``changchun`` (or another place name in the places layer) or ``LON,LAT``."""
    if isinstance(value, str) and value.strip().lower() == "changchun":
        return resolve_place("changchun", registry().frame("places"))
    lon, lat = validate.parse_lonlat(value, field)
    return require_service_area(lon, lat, field)


def assumption_params(params: Any) -> dict[str, float]:
    """The request's assumption parameters, each checked against its bounds.

    ``access_kmh``, ``circuity``, ``station_entry_min``, ``wait_min`` and ``speed_<class>``
    (:func:`geo_app.network.params.parse_params`).
    """
    return parse_params(params, graph().params)


def confidence_member(surface: Any, share: float | None) -> dict[str, Any]:
    """The ``low_confidence`` member of an answer: the rule and the share of cells it marks."""
    most, part = surface.confidence
    return {"share": share, "offnet_max_min": most, "offnet_max_share": part}


def isochrone_request(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the isochrone parameters (DESIGN §6) and the assumption parameters."""
    lon, lat = parse_point(params)
    return {
        "lonlat": (lon, lat),
        "minutes": validate.parse_minutes(params.get("minutes", "30,60,90,120")),
        "mode": validate.parse_choice(params.get("mode", "best"), "mode", MODES),
        "direction": validate.parse_choice(params.get("direction", "from"), "direction", DIRECTIONS),
        "cell": validate.parse_int(params.get("cell", 250), "cell", lo=100, hi=2000),
        "params": assumption_params(params),
    }


@bp.route("/isochrones", methods=["GET", "POST"])
def isochrones_view() -> Response:
    """Isochrone contours from (or to) a point as a GeoJSON FeatureCollection."""
    req = isochrone_request(request_params())
    g = with_params(graph(), req["params"])
    bounds, cell = reach_extent(g, req["lonlat"], mode=req["mode"], direction=req["direction"],
                                max_minutes=req["minutes"][-1], cell_m=req["cell"])
    surf = travel_time_surface(g, req["lonlat"], mode=req["mode"], direction=req["direction"], cell_m=cell,
                               bounds=bounds, max_minutes=req["minutes"][-1])
    reg = registry()
    pop = population()
    gdf = isochrones(surf, req["minutes"], population=pop, county=reg.frame("boundary").geometry.union_all(),
                     towns=reg.frame("towns"))
    low = low_confidence_area(surf, req["minutes"][-1])
    shares = gdf["share_low_confidence"].tolist()
    low_feature = {"type": "Feature", "geometry": None if low is None else low.__geo_interface__,
                   "properties": confidence_member(surf, shares[-1] if shares else None)}
    fc = feature_collection(gdf, origin=list(req["lonlat"]), mode=req["mode"], direction=req["direction"],
                            cell_m=cell, population=None if pop is None else pop.meta(), params=req["params"],
                            low_confidence=low_feature)
    resp = json_response(fc, mimetype="application/geo+json")
    if request.args.get("download"):
        _attach_isochrones(resp, req)
    return resp


def _attach_isochrones(resp: Response, req: dict[str, Any]) -> Response:
    """``等时圈_驾车_125.6788_42.5287_30-60-90-120_20250501-1803.geojson`` (mode, origin, minutes, when)."""
    from ..i18n import text
    from .downloads import attach
    from .i18n import current_lang

    lon, lat = req["lonlat"]
    where = [f"{lon:.4f}_{lat:.4f}", req["direction"], "-".join(str(m) for m in req["minutes"])]
    lang = current_lang()
    return attach(resp, [text("nav_isochrones", lang), text(f"val_mode_{req['mode']}", lang), *where], "geojson",
                  fallback=["isochrones", req["mode"], *where])


def route_payload(result: dict[str, Any]) -> dict[str, Any]:
    """Serialise a route result; ``minutes`` is null and ``status`` says unreachable when it is."""
    geom = result.get("geometry")
    return {
        "minutes": result.get("minutes"),
        "km": result.get("km"),
        "modes": result.get("modes", []),
        "status": "ok" if result.get("minutes") is not None else "unreachable",
        "geometry": geom.__geo_interface__ if geom is not None else None,
    }


@bp.get("/route")
def route_view() -> Response:
    """Fastest route between two points: minutes, km, modes used, path."""
    params = request.args
    for key in ("from", "to"):
        if key not in params:
            raise ValidationError(key="err_route_required", params={"key": key}, field=key)
    origin = parse_place(params["from"], "from")
    dest = parse_place(params["to"], "to")
    mode = validate.parse_choice(params.get("mode", "best"), "mode", MODES)
    return json_response(route_payload(route(graph(), origin, dest, mode=mode)))


def reach_request(params: Any) -> dict[str, Any]:
    """Validate the reach parameters and the assumption parameters."""
    return {
        "to": parse_place(params.get("to", "changchun"), "to"),
        "to_name": params.get("to", "changchun"),
        "mode": validate.parse_choice(params.get("mode", "best"), "mode", MODES),
        "minutes": validate.parse_int(params.get("minutes", 120), "minutes", lo=1, hi=240),
        "cell": validate.parse_int(params.get("cell", 250), "cell", lo=100, hi=2000),
        "params": assumption_params(params),
    }


def compute_reach(req: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Run the 2-hour reach analysis for a validated request (surface, table), with its assumption values."""
    return reach_table(with_params(graph(), req.get("params", {})), **reach_inputs(registry()), to_lonlat=req["to"],
                       mode=req["mode"], minutes=req["minutes"], cell_m=req["cell"])


@bp.get("/reach")
def reach_view() -> Response:
    """Per-township table of travel time to Changchun (or another place) and the share within N minutes."""
    req = reach_request(request.args)
    surface, table = compute_reach(req)
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    pop = population()
    county = rows[-1]
    return json_response({"to": req["to_name"], "to_lonlat": list(req["to"]), "mode": req["mode"],
                          "minutes": req["minutes"], "cell_m": req["cell"], "params": req["params"],
                          "share_low_confidence": county["share_low_confidence"],
                          "low_confidence": confidence_member(surface, county["share_low_confidence"]), "rows": rows,
                          "population": None if pop is None else pop.meta()})


@bp.get("/reach.tif")
def reach_tif_view() -> Response:
    """The reach surface (minutes, EPSG:32651, nodata NaN) as a GeoTIFF download."""
    import tempfile

    req = reach_request(request.args)
    surface, _table = compute_reach(req)
    with tempfile.TemporaryDirectory() as tmp:
        path = to_geotiff(surface, f"{tmp}/reach.tif")
        data = path.read_bytes()
    resp = Response(data, mimetype="image/tiff")
    return _attach_reach(resp, req, "tif")


def _attach_reach(resp: Response, req: dict[str, Any], ext: str) -> Response:
    """``reach_changchun_best_120min_20250501-1803.csv``: what, to where, mode, threshold and when."""
    from .downloads import attach

    parts = ["reach", str(req["to_name"]).replace(",", "_"), req["mode"], f"{req['minutes']}min"]
    return attach(resp, parts, ext)


@bp.get("/reach.csv")
def reach_csv_view() -> Response:
    """The reach table as CSV (UTF-8 with a BOM): minutes by car, rail and best, within, then the table."""
    from ..reports.exports import reach_export
    from ..reports.tables import csv_text

    req = reach_request(request.args)
    _surface, table = reach_export(with_params(graph(), req["params"]), registry(), to_lonlat=req["to"],
                                   mode=req["mode"], minutes=req["minutes"], cell_m=req["cell"])
    return _attach_reach(Response(csv_text(table), mimetype="text/csv"), req, "csv")
