"""CLI tests for the engine commands (isochrone, reach, route, network build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo_app import create_app
from geo_app.cli.engine import COMMANDS, isochrone_cmd, network_group, reach_cmd, route_cmd

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine_app(tmp_path_factory: pytest.TempPathFactory):
    return create_app({"TESTING": True, "INSTANCE": tmp_path_factory.mktemp("instance"),
                       "CACHE_DIR": tmp_path_factory.mktemp("cache")})


@pytest.fixture()
def run(engine_app):
    runner = engine_app.test_cli_runner()

    def invoke(cmd, args):
        return runner.invoke(cmd, args)

    return invoke


def test_commands_listed():
    assert {c.name for c in COMMANDS} == {"isochrone", "reach", "route", "network"}


def test_route_car_to_changchun(run):
    res = run(route_cmd, ["--from", "125.67876,42.52869", "--to", "changchun", "--mode", "car"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert 105 <= body["minutes"] <= 150 and body["modes"] == ["car"]
    assert body["geometry"]["type"] == "LineString"


def test_route_swapped_lonlat_exits_2(run):
    res = run(route_cmd, ["--from", "42.52869,125.67876"])
    assert res.exit_code == 2 and "lon,lat" in res.output


def test_route_no_network_exits_2(run):
    res = run(route_cmd, ["--from", "128.0,42.0", "--to", "changchun"])
    assert res.exit_code == 2 and "no road within" in res.output


def test_isochrone_stdout_geojson(run):
    res = run(isochrone_cmd, ["--lon", "125.67876", "--lat", "42.52869", "--minutes", "30,60", "--mode", "car"])
    assert res.exit_code == 0, res.output
    fc = json.loads(res.output)
    assert [f["properties"]["minutes"] for f in fc["features"]] == [30, 60]
    assert "crs" not in fc


def test_isochrone_tif_and_bad_minutes(run, tmp_path):
    out = tmp_path / "s.tif"
    res = run(isochrone_cmd, ["--lon", "125.67876", "--lat", "42.52869", "-o", str(out)])
    assert res.exit_code == 0 and out.exists()
    res = run(isochrone_cmd, ["--lon", "125.67876", "--lat", "42.52869", "--minutes", "60,30"])
    assert res.exit_code == 2 and "increasing" in res.output
    res = run(isochrone_cmd, ["--lon", "125.67876", "--lat", "42.52869", "--mode", "plane"])
    assert res.exit_code == 2


def test_reach_json_lists_all_units(run):
    res = run(reach_cmd, ["--format", "json", "--mode", "car"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len([r for r in rows if r["level"] == "township"]) == 25
    assert rows[-1]["code"] == "220581"


def test_reach_csv_to_file(run, tmp_path):
    out = tmp_path / "reach.csv"
    res = run(reach_cmd, ["--format", "csv", "-o", str(out)])
    assert res.exit_code == 0 and out.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    assert out.read_text(encoding="utf-8-sig").startswith("level,code,name_zh")


def test_network_build(run, tmp_path):
    out = tmp_path / "roads.graphml"
    res = run(network_group, ["build", "--osm", str(ROOT / "tests" / "data" / "small.osm"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and "nodes" in res.output
