"""The OpenAPI 3 document of the JSON/GeoJSON API, as data.

Every endpoint, parameter, limit, response and error shape is declared here; the fuzzing
tests (schemathesis) generate requests from it and check the responses against it. The few
values that depend on the running app (layer names, sectors, the layer limit) are left
empty here and filled by :func:`geo_app.web.openapi.spec`; :data:`FILLED` lists them.
"""

from __future__ import annotations

from typing import Any

from .. import validate
from ..network.params import schema_parameters
from ..storage import ROLES
from ..storage import VERDICTS as _VERDICTS

MODES = ["car", "rail", "best"]
DIRECTIONS = ["from", "to"]
VERDICTS = list(_VERDICTS)


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {
    "400": _err("invalid parameter (the message names the field and the rule)"),
    "401": _err("login or Bearer token required (writes; reads when public reading is off)"),
    "403": _err("role too low"),
    "404": _err("not found"),
    "413": _err("body or geometry too large"),
    "415": _err("unsupported media type"),
    "422": _err("well-formed but unacceptable (geometry, outside the service area, no road nearby)"),
    "429": _err("too many requests"),
    "503": _err("storage unavailable (nothing was stored)"),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {c: ERRORS[c] for c in codes}


def _q(name: str, schema: dict[str, Any], desc: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema}


def _json(ref: str, desc: str = "OK", media: str = "application/json") -> dict[str, Any]:
    return {"description": desc, "content": {media: {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


LON = {"type": "number", "minimum": -180, "maximum": 180}
LAT = {"type": "number", "minimum": -90, "maximum": 90}
MINUTES_LIST = {"type": "string", "pattern": r"^\d{1,3}(,\d{1,3}){0,5}$", "example": "30,60,90,120"}
CELL = {"type": "integer", "minimum": 100, "maximum": 2000, "default": 250}
NULLABLE_NUMBER = {"type": ["number", "null"]}
_POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
_GEO = "application/geo+json"
#: Description of ``getLayer``'s ``limit``; formatted with the app's ``LAYER_LIMIT_MAX``.
LIMIT_TEXT = "features to return; clamped to 1–{limit_max}"

INFO = {"title": "Meihekou planning map service API (梅河口市规划地图服务)", "version": "1",
        "description": "All coordinates are WGS84 lon,lat. Every error is "
                       "{\"error\": {\"code\", \"message\", \"field\"}}. Writes need a role "
                       f"({' < '.join(ROLES)}) through a session or `Authorization: Bearer TOKEN`."}
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer"}}

#: ``components.schemas``; ``LayerList`` layer names and ``ReviewInput`` sectors are filled per app.
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "field"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": ["string", "null"]}}}}},
    "Geometry": {"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string"}, "coordinates": {"type": "array"}}},
    "SiteGeometry": {"oneOf": [
        {"type": "object", "required": ["type", "coordinates"], "properties": {
            "type": {"const": "Point"}, "coordinates": _POSITION}},
        {"type": "object", "required": ["type", "coordinates"], "properties": {
            "type": {"const": "Polygon"},
            "coordinates": {"type": "array", "minItems": 1,
                            "items": {"type": "array", "minItems": 4, "items": _POSITION}}}}],
        "description": f"GeoJSON Point or Polygon, lon,lat order; at most {validate.MAX_VERTICES} vertices"},
    "Feature": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"const": "Feature"},
        "geometry": {"oneOf": [{"$ref": "#/components/schemas/Geometry"}, {"type": "null"}]},
        "properties": {"type": ["object", "null"]}}},
    "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}}}},
    "LayerList": {"type": "object", "required": ["layers"], "properties": {"layers": {
        "type": "array", "items": {"type": "object", "required": ["name", "features", "with_geometry", "quality"],
                                   "properties": {"name": {"type": "string", "enum": []},
                                                  "features": {"type": "integer"},
                                                  "with_geometry": {"type": "integer"},
                                                  "quality": {"type": "string"}}}}}},
    "Route": {"type": "object", "required": ["minutes", "km", "modes", "status", "geometry"], "properties": {
        "minutes": NULLABLE_NUMBER, "km": NULLABLE_NUMBER,
        "modes": {"type": "array", "items": {"type": "string", "enum": ["car", "rail"]}},
        "status": {"type": "string", "enum": ["ok", "unreachable"]},
        "geometry": {"oneOf": [{"$ref": "#/components/schemas/Geometry"}, {"type": "null"}]}}},
    "ReachRow": {"type": "object", "required": ["level", "code", "name_zh", "share_area_within", "status"],
                 "properties": {"level": {"type": "string", "enum": ["township", "county"]},
                                "code": {"type": ["string", "null"]}, "name_zh": {"type": "string"},
                                "share_area_within": NULLABLE_NUMBER, "min": NULLABLE_NUMBER,
                                "median": NULLABLE_NUMBER, "max": NULLABLE_NUMBER,
                                "seat_minutes": NULLABLE_NUMBER, "status": {"type": "string"},
                                "share_low_confidence": {**NULLABLE_NUMBER, "minimum": 0, "maximum": 1}}},
    "Reach": {"type": "object", "required": ["to", "mode", "minutes", "rows", "share_low_confidence"], "properties": {
        "to": {"type": "string"}, "mode": {"type": "string", "enum": MODES},
        "minutes": {"type": "integer"}, "cell_m": {"type": "integer"},
        "share_low_confidence": {**NULLABLE_NUMBER, "minimum": 0, "maximum": 1,
                                 "description": "share of the county's cells whose time is low confidence"},
        "params": {"type": "object", "additionalProperties": {"type": "number"},
                   "description": "the assumption parameters in use (absent: the model's values)"},
        "rows": {"type": "array", "items": {"$ref": "#/components/schemas/ReachRow"}}}},
    "Finding": {"type": "object", "required": ["key", "label_zh", "label_en", "value", "rule", "status"],
                "properties": {"key": {"type": "string"}, "label_zh": {"type": "string"},
                               "label_en": {"type": "string"}, "rule": {"type": "string"},
                               "status": {"type": "string",
                                          "enum": ["ok", "conditional", "fail", "unavailable", "info"]},
                               "unit": {"type": ["string", "null"]}}},
    "Report": {"type": "object", "required": ["verdict", "findings", "reasons", "caveats"], "properties": {
        "verdict": {"type": "string", "enum": VERDICTS},
        "project": {"type": ["string", "null"]}, "sector": {"type": ["string", "null"]},
        "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
        "reasons": {"type": "array"}, "caveats": {"type": "array"}}},
    "ReviewCreated": {"allOf": [{"$ref": "#/components/schemas/Report"}, {
        "type": "object", "required": ["id"], "properties": {"id": {"type": "string",
                                                                    "pattern": "^[0-9a-f]{32}$"}}}]},
    "StoredReview": {"type": "object", "required": ["id", "created_at", "verdict", "geometry", "report",
                                                    "data_version"],
                     "properties": {"id": {"type": "string"}, "created_at": {"type": "string"},
                                    "verdict": {"type": "string", "enum": VERDICTS},
                                    "geometry": {"$ref": "#/components/schemas/Geometry"},
                                    "report": {"$ref": "#/components/schemas/Report"},
                                    "data_version": {"type": "string"},
                                    "author": {"type": ["string", "null"]}}},
    "Paging": {"type": "object", "required": ["count", "limit", "offset", "next"], "properties": {
        "count": {"type": "integer", "description": "reviews in this page"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "next": {"type": ["string", "null"], "description": "relative URL of the next page; null on the last"}}},
    "ReviewPage": {"allOf": [{"$ref": "#/components/schemas/Paging"}, {
        "type": "object", "required": ["reviews"], "properties": {
            "reviews": {"type": "array", "items": {"$ref": "#/components/schemas/StoredReview"}}}}]},
    "ReviewInput": {"type": "object", "required": ["geometry"], "properties": {
        "geometry": {"$ref": "#/components/schemas/SiteGeometry"},
        "project": {"type": ["string", "null"], "maxLength": 200},
        "sector": {"type": ["string", "null"], "enum": []}}},
    "IsochroneInput": {"type": "object", "required": ["lon", "lat"], "properties": {
        "lon": LON, "lat": LAT,
        "minutes": {"type": "array", "minItems": 1, "maxItems": 6,
                    "items": {"type": "integer", "minimum": 1, "maximum": 240}},
        "mode": {"type": "string", "enum": MODES}, "direction": {"type": "string", "enum": DIRECTIONS},
        "cell": CELL, **{p["name"]: {"type": "number", "minimum": p["minimum"], "maximum": p["maximum"]}
                         for p in schema_parameters()}}},
}

#: What each assumption parameter changes (DESIGN.md §2 "Sensitivity"); absent = the model's value.
_ASSUMPTION_TEXT = {
    "access_kmh": "off-network (access and egress) speed, km/h; model.toml access.speed_kmh",
    "circuity": "off-network circuity (road length / straight line); model.toml access.circuity",
    "station_entry_min": "station entry (security, ticket check), minutes; model.toml rail.station_entry_min",
    "wait_min": "a fixed boarding wait in minutes for every line, instead of the share of the headway",
}
#: The assumption parameters, each with its bounds (a value outside them is a 400 naming the bound).
ASSUMPTION_PARAMS = [
    _q(p["name"], {"type": "number", "minimum": p["minimum"], "maximum": p["maximum"]},
       _ASSUMPTION_TEXT.get(p["name"], f"speed of road class {p['name'].removeprefix('speed_')}, km/h "
                                        "(edges timed at their class speed; no effect when the network has none)"))
    for p in schema_parameters()
]

ISOCHRONE_PARAMS = [
    _q("lon", LON, "origin longitude (WGS84)", required=True),
    _q("lat", LAT, "origin latitude (WGS84)", required=True),
    _q("minutes", MINUTES_LIST, "strictly increasing contour minutes, 1–6 values, each 1–240"),
    _q("mode", {"type": "string", "enum": MODES, "default": "best"}, "travel mode"),
    _q("direction", {"type": "string", "enum": DIRECTIONS, "default": "from"}, "from or to the point"),
    _q("cell", CELL, "grid cell in metres (grown automatically for large extents)"),
    *ASSUMPTION_PARAMS,
]
REACH_PARAMS = [
    _q("to", {"type": "string", "default": "changchun"}, "'changchun' or 'LON,LAT'"),
    _q("mode", {"type": "string", "enum": MODES, "default": "best"}, "travel mode"),
    _q("minutes", {"type": "integer", "minimum": 1, "maximum": 240, "default": 120}, "threshold"),
    _q("cell", CELL, "grid cell in metres"),
    *ASSUMPTION_PARAMS,
]
_REVIEW_FILTERS = [
    _q("verdict", {"type": "string", "enum": VERDICTS}, "filter by verdict"),
    _q("sector", {"type": "string", "enum": []}, "filter by sector"),
    _q("bbox", {"type": "string"}, "minlon,minlat,maxlon,maxlat"),
]
#: Paging of ``listReviews`` (after the filters, so the filled indexes of :data:`FILLED` stay put).
_PAGING = [
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "reviews per page"),
    _q("offset", {"type": "integer", "minimum": 0, "default": 0}, "reviews to skip (the `next` link sets it)"),
]
_RID = {"name": "rid", "in": "path", "required": True, "schema": {"type": "string"}}

#: ``paths``; the ``getLayer`` layer names and limit and the ``listReviews`` sectors are filled per app.
PATHS: dict[str, Any] = {
    "/api/layers": {"get": {"summary": "List layers", "operationId": "listLayers",
                            "responses": {"200": _json("LayerList"), **_errors("401")}}},
    "/api/layers/{name}": {"get": {
        "summary": "One layer as RFC 7946 GeoJSON", "operationId": "getLayer",
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": []}},
            _q("bbox", {"type": "string"}, "minlon,minlat,maxlon,maxlat (WGS84)"),
            _q("limit", {"type": "integer"}, LIMIT_TEXT)],
        "responses": {"200": _json("FeatureCollection", media=_GEO), **_errors("400", "401", "404")}}},
    "/api/isochrones": {
        "get": {"summary": "Isochrones from or to a point", "operationId": "getIsochrones",
                "parameters": ISOCHRONE_PARAMS,
                "responses": {"200": _json("FeatureCollection", media=_GEO),
                              **_errors("400", "401", "422")}},
        "post": {"summary": "Isochrones (JSON body)", "operationId": "postIsochrones",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/IsochroneInput"}}}},
                 "responses": {"200": _json("FeatureCollection", media=_GEO),
                               **_errors("400", "401", "413", "422")}}},
    "/api/route": {"get": {
        "summary": "Fastest route", "operationId": "getRoute",
        "parameters": [_q("from", {"type": "string", "example": "125.67876,42.52869"}, "LON,LAT",
                          required=True),
                       _q("to", {"type": "string", "example": "changchun"}, "'changchun' or LON,LAT",
                          required=True),
                       _q("mode", {"type": "string", "enum": MODES, "default": "best"}, "travel mode")],
        "responses": {"200": _json("Route"), **_errors("400", "401", "422")}}},
    "/api/reach": {"get": {"summary": "Per-township reach table", "operationId": "getReach",
                           "parameters": REACH_PARAMS,
                           "responses": {"200": _json("Reach"), **_errors("400", "401", "422")}}},
    "/api/reach.tif": {"get": {
        "summary": "Reach surface as GeoTIFF (EPSG:32651, nodata NaN): band 1 minutes, band 2 minutes off the network",
        "operationId": "getReachTif",
        "parameters": REACH_PARAMS,
        "responses": {"200": {"description": "GeoTIFF", "content": {"image/tiff": {
            "schema": {"type": "string", "format": "binary"}}}}, **_errors("400", "401", "422")}}},
    "/api/reach.csv": {"get": {
        "summary": "Per-township reach table as CSV (UTF-8 with a BOM): minutes by car, rail and best, then the table",
        "operationId": "getReachCsv", "parameters": REACH_PARAMS,
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                      **_errors("400", "401", "422")}}},
    "/api/reviews": {
        "post": {"summary": "Review a site and store it (planner)", "operationId": "createReview",
                 "security": [{"bearer": []}],
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/ReviewInput"}}}},
                 "responses": {"201": _json("ReviewCreated", "stored"),
                               **_errors("400", "401", "403", "413", "415", "422", "503")}},
        "get": {"summary": "Stored reviews", "operationId": "listReviews",
                "description": "Newest first, one page at a time: `limit` rows from `offset` on. `next` (and a "
                               "`Link: <...>; rel=\"next\"` header) is the relative URL of the next page, "
                               "null on the last one.",
                "parameters": [_q("format", {"type": "string", "enum": ["json", "geojson", "csv"]},
                                  "output format"), *_REVIEW_FILTERS, *_PAGING],
                "responses": {"200": {"description": "one page of reviews", "headers": {"Link": {
                    "description": "`<next page URL>; rel=\"next\"` when there is a next page",
                    "schema": {"type": "string"}}}, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ReviewPage"}},
                    _GEO: {"schema": {"allOf": [{"$ref": "#/components/schemas/FeatureCollection"},
                                                {"$ref": "#/components/schemas/Paging"}]}},
                    "text/csv": {"schema": {"type": "string"}}}}, **_errors("400", "401", "503")}}},
    "/api/reviews/{rid}": {
        "get": {"summary": "One stored review", "operationId": "getReview", "parameters": [_RID],
                "responses": {"200": _json("StoredReview"), **_errors("401", "404", "503")}},
        "delete": {"summary": "Soft-delete a review (own: planner; any: admin)", "operationId": "deleteReview",
                   "security": [{"bearer": []}], "parameters": [_RID],
                   "responses": {"204": {"description": "deleted"},
                                 **_errors("401", "403", "404", "503")}}},
    "/api/openapi.json": {"get": {"summary": "This document", "operationId": "getOpenAPI",
                                  "responses": {"200": {"description": "OpenAPI 3.1", "content": {
                                      "application/json": {"schema": {"type": "object"}}}}}}},
}

#: Where the running app's values go: (keys and list indexes from the document root, name of the value).
#: The values (:func:`geo_app.web.openapi.spec`): ``layers`` (layer names), ``sectors``,
#: ``sectors_or_null`` (the sectors and null) and ``limit_text`` (:data:`LIMIT_TEXT` formatted).
FILLED: list[tuple[tuple[str | int, ...], str]] = [
    (("paths", "/api/layers/{name}", "get", "parameters", 0, "schema", "enum"), "layers"),
    (("paths", "/api/layers/{name}", "get", "parameters", 2, "description"), "limit_text"),
    (("paths", "/api/reviews", "get", "parameters", 2, "schema", "enum"), "sectors"),
    (("components", "schemas", "LayerList", "properties", "layers", "items", "properties", "name", "enum"), "layers"),
    (("components", "schemas", "ReviewInput", "properties", "sector", "enum"), "sectors_or_null"),
]
