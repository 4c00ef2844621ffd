"""The OpenAPI 3 description of the JSON/GeoJSON API, served at ``/api/openapi.json``.

The document itself is data (:mod:`geo_app.web.openapi_spec`); this module fills in the
running app's layer names, sectors and layer limit, adds the path items of the feature
blueprints (:data:`EXTRA_PATHS`) and serves it. The fuzzing tests (schemathesis) generate
requests from it and check the responses against it.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app

from . import openapi_spec as doc

bp = Blueprint("openapi", __name__, url_prefix="/api")

#: Extra path items contributed by feature blueprints (scenarios, data): ``{path: item}``.
EXTRA_PATHS: dict[str, dict[str, Any]] = {}


def _filled(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the declared paths and schemas with the app's values at :data:`~.openapi_spec.FILLED`."""
    out = copy.deepcopy({"paths": doc.PATHS, "components": {"schemas": doc.SCHEMAS}})
    for (*keys, last), name in doc.FILLED:
        functools.reduce(operator.getitem, keys, out)[last] = copy.copy(values[name])
    return out


def spec() -> dict[str, Any]:
    """Build the OpenAPI document for the running app (layer names and sectors are enumerated)."""
    ext = current_app.extensions["geo_app"]
    sectors = list(ext["reviews"].sectors)
    filled = _filled({"layers": list(ext["layers"].specs), "sectors": sectors, "sectors_or_null": [*sectors, None],
                      "limit_text": doc.LIMIT_TEXT.format(limit_max=current_app.config["LAYER_LIMIT_MAX"])})
    return {
        "openapi": "3.1.0",
        "info": doc.INFO,
        "paths": {**filled["paths"], **EXTRA_PATHS},
        "components": {**filled["components"], "securitySchemes": doc.SECURITY_SCHEMES},
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """Serve the OpenAPI document."""
    from .api import json_response

    return json_response(spec())
