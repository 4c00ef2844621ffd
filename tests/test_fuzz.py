"""Property-based fuzzing of the whole API from its OpenAPI description (schemathesis), plus
hypothesis strategies for hostile GeoJSON. Asserts: no 5xx, responses match the schema,
no NaN or Infinity in any JSON, nothing stored by a refused request."""

import json
import math
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geo_app import create_app
from tests.conftest import authorize

APP = create_app({"TESTING": True, "INSTANCE": tempfile.mkdtemp(prefix="geo-app-fuzz-")})
CLIENT = authorize(APP, "planner", "fuzzer")
TOKEN = CLIENT.environ_base["HTTP_AUTHORIZATION"]
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP)
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def _assert_finite_json(response) -> None:
    ctype = response.headers.get("Content-Type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if "json" in ctype and response.content:
        def refuse(token: str) -> float:
            raise AssertionError(f"non-finite number {token} in JSON")
        json.loads(response.content, parse_constant=refuse)


@schema.parametrize()
@FUZZ
def test_api_from_openapi(case):
    response = case.call(headers={"Authorization": TOKEN})
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                             content_type_conformance, response_schema_conformance])
    _assert_finite_json(response)


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate

    doc = APP.test_client().get("/api/openapi.json").get_json()
    validate(doc)
    rules = {rule.rule for rule in APP.url_map.iter_rules() if rule.rule.startswith("/api/")}
    for rule in rules:
        path = rule.replace("<", "{").replace(">", "}").replace("{path:", "{")
        assert path in doc["paths"], f"{rule} is not in the OpenAPI document"


# --- hostile GeoJSON ---------------------------------------------------------------------------

finite = st.floats(min_value=125.3, max_value=126.0)
weird = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e-320, 0.0, 181.0, -91.0])
coord = st.one_of(finite, weird, st.integers(-10**20, 10**20), st.text(max_size=3), st.none(), st.booleans())
position = st.lists(coord, min_size=0, max_size=4)
ring = st.lists(position, min_size=0, max_size=12)


def _geometry(children):
    return st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["Point", "point", "Polygon", "LineString", "Nope"]),
                               "coordinates": st.one_of(position, ring, st.lists(ring, max_size=3))}),
        st.fixed_dictionaries({"type": st.just("GeometryCollection"), "geometries": st.lists(children, max_size=3)}),
        st.fixed_dictionaries({"type": st.just("Feature"), "geometry": children, "properties": st.none()}),
    )


geometries = st.recursive(st.none() | st.integers() | st.text(max_size=5), _geometry, max_leaves=8)
unclosed = st.lists(st.tuples(finite, st.floats(42.3, 42.7)), min_size=3, max_size=8).map(
    lambda pts: {"type": "Polygon", "coordinates": [[list(p) for p in pts]]})
huge = st.integers(10_001, 12_000).map(
    lambda n: {"type": "Polygon", "coordinates": [[[125.6 + 1e-6 * i, 42.5] for i in range(n)]]})


def _post(body):
    text = json.dumps(body, allow_nan=True)  # send NaN/Infinity literals on purpose
    return CLIENT.post("/api/reviews", data=text, content_type="application/json")


@given(geom=st.one_of(geometries, unclosed), project=st.one_of(st.none(), st.text(max_size=300)),
       sector=st.one_of(st.none(), st.text(max_size=5)))
@FUZZ
def test_hostile_review_geometries(geom, project, sector):
    store = APP.extensions["geo_app"]["store"]
    before = store.count()
    r = _post({"geometry": geom, "project": project, "sector": sector})
    assert r.status_code < 500, r.data[:300]
    json.loads(r.data, parse_constant=lambda t: pytest.fail(f"non-finite {t}"))
    if r.status_code != 201:
        assert store.count() == before
        assert r.get_json()["error"]["message"]


@given(geom=huge)
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_huge_coordinate_lists_are_refused(geom):
    store = APP.extensions["geo_app"]["store"]
    before = store.count()
    r = _post({"geometry": geom})
    assert r.status_code in (413, 422) and store.count() == before


@given(lon=st.one_of(coord, finite), lat=st.one_of(coord, st.floats(42.0, 43.2)),
       minutes=st.one_of(st.lists(st.one_of(st.integers(-5, 300), weird), max_size=8), st.text(max_size=12)))
@FUZZ
def test_hostile_isochrone_bodies(lon, lat, minutes):
    r = CLIENT.post("/api/isochrones", data=json.dumps({"lon": lon, "lat": lat, "minutes": minutes}, allow_nan=True),
                    content_type="application/json")
    assert r.status_code < 500, r.data[:300]
    json.loads(r.data, parse_constant=lambda t: pytest.fail(f"non-finite {t}"))
