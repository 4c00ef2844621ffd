import json

import pytest


def test_layers_index(client):
    r = client.get("/api/layers")
    assert r.status_code == 200
    names = {x["name"] for x in r.get_json()["layers"]}
    assert {"boundary", "towns", "rail_lines", "stations", "roads", "parks", "logistics", "places"} <= names


def test_layer_is_rfc7946(client):
    r = client.get("/api/layers/boundary")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    fc = json.loads(r.data)
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert 125 < lon < 126.2 and 42 < lat < 43.2  # lon,lat order


def test_null_geometry_features_are_kept(client):
    fc = client.get("/api/layers/towns").get_json()
    assert len(fc["features"]) == 25
    assert all(f["geometry"] is None for f in fc["features"])
    assert "NaN" not in json.dumps(fc)


def test_bbox_filters_and_limit_clamps(client):
    fc = client.get("/api/layers/stations?bbox=125.5,42.4,125.8,42.6").get_json()
    assert 0 < fc["numberReturned"] < 251
    for f in fc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 125.5 <= lon <= 125.8 and 42.4 <= lat <= 42.6
    capped = client.get("/api/layers/stations?limit=3").get_json()
    assert capped["numberReturned"] == 3
    huge = client.get("/api/layers/stations?limit=999999").get_json()
    assert huge["numberReturned"] == 251  # clamped to LAYER_LIMIT_MAX, not refused


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "125,43,124,42", "nan,42,126,43", "1e400,42,126,43",
                                  "125,42,190,43"])
def test_bad_bbox_is_400_naming_the_field(client, bbox):
    r = client.get(f"/api/layers/stations?bbox={bbox}")
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["field"] == "bbox" and err["message"]


def test_unknown_layer_is_json_404(client):
    r = client.get("/api/layers/nope")
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"


def test_unknown_api_route_is_json(client):
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and r.is_json
