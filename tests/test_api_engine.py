"""Travel-time endpoints: isochrones, route, reach; validation per DESIGN §6."""

import json

import pytest
from shapely.geometry import Point, shape

CENTRE = "125.67876,42.52869"  # GeoNames Meihekou (county-level city centre)


def test_isochrones_from_centre(client):
    r = client.get("/api/isochrones?lon=125.67876&lat=42.52869&minutes=30,60,90,120&mode=car")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    fc = json.loads(r.data)
    assert [f["properties"]["minutes"] for f in fc["features"]] == [30, 60, 90, 120]
    shapes = [shape(f["geometry"]) for f in fc["features"]]
    areas = [f["properties"]["area_km2"] for f in fc["features"]]
    assert areas == sorted(areas) and areas[0] > 0
    for inner, outer in zip(shapes, shapes[1:], strict=False):
        assert inner.difference(outer).area < 1e-9
    assert shapes[0].contains(Point(125.67876, 42.52869))
    assert {f["properties"]["mode"] for f in fc["features"]} == {"car"}


def test_isochrones_post_json(client):
    body = {"lon": 125.67876, "lat": 42.52869, "minutes": [45, 90], "mode": "best", "direction": "to"}
    r = client.post("/api/isochrones", json=body)
    assert r.status_code == 200
    fc = r.get_json()
    assert [f["properties"]["direction"] for f in fc["features"]] == ["to", "to"]


@pytest.mark.parametrize("query,field", [
    ("lon=42.52&lat=125.67", "lon,lat"),                 # swapped
    ("lon=200&lat=42", "lon,lat"),                       # out of range
    ("lon=nan&lat=42.5", "lon"),
    ("lon=Infinity&lat=42.5", "lon"),
    ("lon=1e400&lat=42.5", "lon"),
    ("lat=42.5", "lon"),                                 # missing
    ("lon=125.6&lat=42.5&minutes=60,30", "minutes"),      # not increasing
    ("lon=125.6&lat=42.5&minutes=0,30", "minutes"),
    ("lon=125.6&lat=42.5&minutes=10,20,30,40,50,60,70", "minutes"),
    ("lon=125.6&lat=42.5&minutes=300", "minutes"),
    ("lon=125.6&lat=42.5&mode=plane", "mode"),
    ("lon=125.6&lat=42.5&direction=sideways", "direction"),
])
def test_isochrone_bad_input_is_400_naming_the_field(client, query, field):
    r = client.get(f"/api/isochrones?{query}")
    assert r.status_code == 400, r.data
    err = r.get_json()["error"]
    assert err["field"] == field and err["message"]


def test_point_outside_service_area_is_422_and_mentions_order(client):
    r = client.get("/api/isochrones?lon=116.4&lat=39.9")  # Beijing
    assert r.status_code == 422
    assert "lon,lat" in r.get_json()["error"]["message"]


def test_post_body_must_be_an_object(client):
    r = client.post("/api/isochrones", data="[1,2]", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "body"


def test_route_to_changchun_by_car_is_calibrated(client):
    r = client.get(f"/api/route?from={CENTRE}&to=changchun&mode=car")
    assert r.status_code == 200
    body = r.get_json()
    assert 105 <= body["minutes"] <= 150
    assert 150 <= body["km"] <= 260
    assert body["modes"] == ["car"] and body["geometry"]["type"] == "LineString"


def test_rail_never_beats_best(client):
    times = {m: client.get(f"/api/route?from={CENTRE}&to=changchun&mode={m}").get_json()["minutes"]
             for m in ("car", "rail", "best")}
    assert times["best"] <= times["rail"] and times["best"] <= times["car"]


def test_route_validation(client):
    assert client.get("/api/route?to=changchun").get_json()["error"]["field"] == "from"
    r = client.get(f"/api/route?from={CENTRE}&to=nowhere")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "to"


def test_reach_lists_every_unit_and_the_county(client):
    r = client.get("/api/reach?to=changchun&mode=best&minutes=120")
    assert r.status_code == 200
    body = r.get_json()
    rows = body["rows"]
    towns = [x for x in rows if x["level"] == "township"]
    assert len(towns) == 25
    assert all(x["status"] == "no boundary" and x["share_area_within"] is None for x in towns)
    county = next(x for x in rows if x["level"] == "county")
    assert county["code"] == "220581" and 0 <= county["share_area_within"] <= 1
    assert county["seat_minutes"] is not None
    assert "NaN" not in r.get_data(as_text=True) and "Infinity" not in r.get_data(as_text=True)


def test_reach_tif(client):
    r = client.get("/api/reach.tif?mode=car")
    assert r.status_code == 200 and r.mimetype == "image/tiff"
    assert r.data[:4] in (b"II*\x00", b"MM\x00*")


def test_pages_render(client):
    for path in ("/isochrones", "/accessibility", "/accessibility?mode=rail&lang=en"):
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.get_data(as_text=True)
        assert 'src="http' not in html and 'href="http' not in html.replace('href="https://www.geonames', "")
        assert 'id="assumptions"' in html


def test_origin_with_no_network_nearby_is_422(client):
    r = client.get("/api/isochrones?lon=123.1&lat=45.4")  # inside the service box, > 30 km from any node
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "no_network_nearby" and "no road within" in r.get_json()["error"]["message"]


def test_unreachable_destination_is_a_result_not_an_error(client):
    # 双阳 lies on no corridor of the schematic network (see data/routes): unreachable by car
    r = client.get(f"/api/route?from={CENTRE}&to=125.65948,43.52259&mode=car")
    assert r.status_code == 200
    body = r.get_json()
    assert body["minutes"] is None and body["status"] == "unreachable" and body["geometry"] is None
    assert "Infinity" not in r.get_data(as_text=True) and "NaN" not in r.get_data(as_text=True)
