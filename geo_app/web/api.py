"""JSON / GeoJSON API (blueprint). Views validate, call pure functions, serialise."""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
from flask import Blueprint, Response, current_app, request
from shapely import box

from .. import validate
from ..layers import LayerRegistry

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
    """Serialise strictly: a NaN or Infinity that slipped through becomes null, never invalid JSON."""
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
    gdf = reg.frame(name)
    matched = len(gdf)
    if bbox is not None:
        has = gdf.geometry.notna()
        gdf = gdf[has]
        gdf = gdf[gdf.geometry.intersects(box(*bbox))]
        matched = len(gdf)
    out = gdf.iloc[:limit]
    fc = feature_collection(out, name=spec.name, title_zh=spec.title_zh, title_en=spec.title_en,
                            quality=spec.quality, attribution=spec.attribution,
                            numberMatched=matched, numberReturned=len(out))
    return json_response(fc, mimetype="application/geo+json")
