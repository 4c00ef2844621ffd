"""Scenarios: parsing and validation (file + line), applying without mutating the base graph,
properties of the comparison, the shipped scenarios, the API, the CLI and the /scenarios page."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_app import create_app
from geo_app.analysis import scenarios as sc
from geo_app.analysis.surface import travel_time_surface

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "scenarios"
CHANGCHUN = (125.32278, 43.88)
HEADER = 'title_zh = "测试"\ntitle_en = "test"\n'


@pytest.fixture(scope="module")
def base(app):
    return app.extensions["geo_app"]["graph"]()


@pytest.fixture(scope="module")
def inputs(app):
    cfg = app.config
    return sc.load_inputs(cfg["DATA_DIR"], cfg["REFERENCE_DATA"], cache_dir=cfg["CACHE_DIR"])


@pytest.fixture(scope="module")
def county(app):
    reg = app.extensions["geo_app"]["layers"]
    return reg.frame("towns"), reg.frame("boundary")


def write(tmp_path: Path, body: str, name: str = "s") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def graph_bytes(graph) -> dict[str, bytes]:
    """Every array of a TravelGraph, as bytes."""
    out = {"node_lonlat": graph.node_lonlat.tobytes(), "node_xy": graph.node_xy.tobytes(),
           "platform_lonlat": graph.platform_lonlat.tobytes()}
    for mode, mg in graph.modes.items():
        for name in ("fwd", "rev"):
            m = getattr(mg, name)
            for part in ("data", "indices", "indptr"):
                out[f"{mode}.{name}.{part}"] = getattr(m, part).tobytes()
        for name in ("fwd_len", "rev_len", "fwd_kind", "rev_kind"):
            out[f"{mode}.{name}"] = getattr(mg, name).tobytes()
    return out


# --- parsing and validation ------------------------------------------------------------------------


def test_shipped_scenarios_parse_with_titles_and_assumptions():
    items = sc.list_scenarios(SHIPPED)
    assert len(items) >= 2
    for s in items:
        assert isinstance(s, sc.Scenario), s
        for key in ("title_zh", "title_en", "description_zh", "description_en"):
            assert s.meta.get(key), (s.name, key)
        assert s.assumptions(), f"{s.name} marks no assumption"


@pytest.mark.parametrize(("body", "line", "words"), [
    ('[[road_link]]\nfrom = "梅河口"\nto = "梅何口"\nclass = "national"\n', 5, "unknown place"),
    ('[[road_link]]\nfrom = "梅河口"\nto = "辉南"\nspeed_kmh = -80\n', 6, "must be > 0"),
    ('\n[[corridor]]\nid = "g303"\n\nspeed_kmh = -1\n', 7, "must be > 0"),
    ('[[road_link]]\nfrom = "梅河口"\nto = [150.0, 10.0]\nspeed_kmh = 60\n', 5, "link into nowhere"),
    ('[[road_link]]\nfrom = [125.5, 42.4]\nto = [125.6, 42.45]\nspeed_kmh = 60\n', 4, "link into nowhere"),
    ('[[road_link]]\nfrom = "梅河口"\nto = "梅河口市"\nspeed_kmh = 60\n', 5, "link into nowhere"),
    ('[[corridor]]\nid = "g999"\nspeed_kmh = 90\n', 4, "unknown corridor"),
    ('[[rail_service]]\nline = "x"\nstops = [\n  "梅河口",\n  "不存在站",\n]\nspeed_kmh = 200\n'
     'headway_min = 30\n', 7, "unknown station"),
    ('[[remove_link]]\nfrom = "梅河口"\nto = "长春"\n', 4, "no road link"),
    ('[[road_link]]\nfrom = "梅河口"\nto = "辉南"\nspeed = 60\n', 6, "unknown key"),
    ('[[road_link]]\nfrom = "梅河口"\nto = "辉南"\nspeed_kmh = \n', 6, "not valid TOML"),
])
def test_errors_name_the_file_and_the_line(tmp_path, inputs, body, line, words):
    path = write(tmp_path, body)
    with pytest.raises(sc.ScenarioError) as info:
        sc.apply_scenario(inputs, sc.load_scenario(path))
    assert info.value.message.startswith(f"{path}:{line}:"), info.value.message
    assert words in info.value.message
    assert info.value.line == line


def test_unknown_scenario_is_not_found():
    from geo_app.errors import NotFound

    with pytest.raises(NotFound):
        sc.find_scenario(SHIPPED, "no_such_scenario")
    with pytest.raises(NotFound):
        sc.find_scenario(SHIPPED, "../routes/model")


# --- applying ------------------------------------------------------------------------------------


def test_apply_leaves_base_graph_and_inputs_byte_identical(tmp_path, base, inputs):
    before = graph_bytes(base)
    road_before = {k: getattr(inputs.road, k).tobytes() for k in ("lonlat", "u", "v", "length_m", "time_s")}
    rail_before = {k: getattr(inputs.rail, k).tobytes() for k in ("station_lonlat", "board_s", "u", "v", "time_s")}
    for path in [*sorted(SHIPPED.glob("*.toml")), write(tmp_path, EVERYTHING)]:
        new = sc.apply_scenario(inputs, sc.load_scenario(path))
        assert new is not base
    assert graph_bytes(base) == before
    assert {k: getattr(inputs.road, k).tobytes() for k in road_before} == road_before
    assert {k: getattr(inputs.rail, k).tobytes() for k in rail_before} == rail_before


EVERYTHING = """
[[road_link]]
from = "梅河口"
to = "辉南县"
class = "provincial"
[[road_link]]
from = "辉南"
to = [126.2, 42.8]
speed_kmh = 50
[[corridor]]
id = "g202"
class = "expressway"
[[station]]
name = "用户站"
lon = 125.9
lat = 42.7
[[rail_service]]
line = "测试线"
stops = ["梅河口", "用户站", "吉林"]
minutes = [20, 60]
headway_min = 30
[[remove_link]]
from = "柳河"
to = "通化"
corridor = "g303"
"""


def test_every_edit_kind_changes_the_graph(tmp_path, base, inputs):
    new = sc.apply_scenario(inputs, sc.load_scenario(write(tmp_path, EVERYTHING)))
    assert new.n_road == base.n_road + 2  # the user's road end point and the user's station
    assert len(new.platform_lonlat) == len(base.platform_lonlat) + 3
    assert "测试线" in new.platform_line
    assert any(a["key"] == "services.测试线.headway_min" for a in new.assumptions())
    assert new.modes["car"].fwd.nnz > base.modes["car"].fwd.nnz


def test_corridor_speed_changes_only_that_corridor(tmp_path, inputs):
    scen = sc.load_scenario(write(tmp_path, '[[corridor]]\nid = "g303"\nspeed_kmh = 35\n'))
    road = sc._edit_road(inputs, scen)
    sel = inputs.edge_corridor == "g303"
    assert np.allclose(road.time_s[sel], inputs.road.time_s[sel] * 2)
    assert np.array_equal(road.time_s[~sel], inputs.road.time_s[~sel])


# --- properties ----------------------------------------------------------------------------------


def _surface(graph, mode):
    return travel_time_surface(graph, CHANGCHUN, mode=mode, direction="to", cell_m=1000, max_minutes=300)


def test_empty_scenario_gives_zero_difference_everywhere(tmp_path, app, base, inputs, county):
    empty = sc.load_scenario(write(tmp_path, ""))
    towns, boundary = county
    for mode in sc.MODES:
        comp = sc.compare(base, sc.apply_scenario(inputs, empty), towns, boundary, to_lonlat=CHANGCHUN, mode=mode)
        assert np.array_equal(np.isnan(comp.before.minutes), np.isnan(comp.after.minutes))
        finite = np.isfinite(comp.saved)
        assert finite.any()
        assert np.all(comp.saved[finite] == 0)
        assert comp.summary["improved_km2"] == 0 and comp.summary["slower_km2"] == 0
        assert all(r["change"] in (None, 0) for r in sc.table_rows(comp))


_BEFORE: dict[str, np.ndarray] = {}


@st.composite
def additive_scenarios(draw, names, corridors, stations):
    """Scenarios that only add links, raise speeds or add services between existing points."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
        speed = draw(st.integers(20, 140))
        parts.append(f'[[road_link]]\nfrom = "{a}"\nto = "{b}"\nspeed_kmh = {speed}\n')
    for cid in draw(st.lists(st.sampled_from(corridors), max_size=2, unique=True)):
        parts.append(f'[[corridor]]\nid = "{cid}"\nspeed_kmh = {draw(st.integers(101, 160))}\n')
    if draw(st.booleans()):
        stops = draw(st.lists(st.sampled_from(stations), min_size=2, max_size=4, unique=True))
        parts.append(f"[[rail_service]]\nline = \"p\"\nstops = {json.dumps(stops, ensure_ascii=False)}\n"
                     f"speed_kmh = {draw(st.integers(30, 300))}\nheadway_min = {draw(st.integers(5, 240))}\n")
    return "".join(parts)


def test_adding_links_or_raising_speeds_never_slows_a_cell(tmp_path_factory, base, inputs):
    names = list(inputs.road.names)
    corridors = list(inputs.corridors)
    stations = sorted({n for n in inputs.rail.station_names if n and inputs.rail.station_names.count(n) == 1})
    folder = tmp_path_factory.mktemp("prop")
    for mode in sc.MODES:
        _BEFORE[mode] = _surface(base, mode).minutes

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=additive_scenarios(names, corridors, stations), mode=st.sampled_from(sc.MODES))
    def check(body, mode):
        after = _surface(sc.apply_scenario(inputs, sc.load_scenario(write(folder, body))), mode).minutes
        before = _BEFORE[mode]
        assert not (np.isnan(after) & ~np.isnan(before)).any(), "a reachable cell became unreachable"
        ok = np.isfinite(before)
        assert np.all(after[ok] <= before[ok] + 1e-3), body

    check()


# --- the shipped scenarios -----------------------------------------------------------------------


def test_fast_rail_scenario_saves_time_in_the_county(app, base, inputs, county):
    scen = sc.find_scenario(SHIPPED, "fast_rail_changchun")
    towns, boundary = county
    comp = sc.compare(base, sc.apply_scenario(inputs, scen), towns, boundary, to_lonlat=CHANGCHUN, mode=scen.mode)
    assert comp.summary["improved_km2"] > 100
    assert comp.summary["max_saved_min"] > 10
    assert comp.summary["slower_km2"] == 0
    county_row = sc.table_rows(comp)[-1]
    assert county_row["level"] == "county" and county_row["change"] < 0


def test_trunk_road_upgrade_is_applied(inputs):
    """G202 and G303 get 80 km/h. In the schematic trunk network each of their links is paralleled,
    stop for stop, by a faster expressway (营东梅, 通梅, 集双高速, 吉草), so the fastest paths — and
    therefore the reach to Changchun — do not change; the README says so."""
    scen = sc.find_scenario(SHIPPED, "trunk_roads_first_class")
    road = sc._edit_road(inputs, scen)
    for cid in ("g202", "g303"):
        sel = inputs.edge_corridor == cid
        assert sel.any()
        speed_kmh = road.length_m[sel] / road.time_s[sel] * 3.6
        assert np.allclose(speed_kmh, 80)
        assert np.all(road.time_s[sel] < inputs.road.time_s[sel])


# --- API -------------------------------------------------------------------------------------------


def _strict(text: str):
    def bad(c):
        raise AssertionError(f"{c} in JSON")
    return json.loads(text, parse_constant=bad)


def test_api_lists_scenarios(client):
    body = _strict(client.get("/api/scenarios").get_data(as_text=True))
    names = {s["name"] for s in body["scenarios"]}
    assert {"trunk_roads_first_class", "fast_rail_changchun"} <= names
    assert all(s["title_zh"] and s["title_en"] for s in body["scenarios"])


def test_api_compare(client):
    resp = client.get("/api/scenarios/fast_rail_changchun/compare?mode=rail&minutes=200")
    assert resp.status_code == 200
    body = _strict(resp.get_data(as_text=True))
    assert body["mode"] == "rail" and body["minutes"] == 200
    assert body["summary"]["improved_km2"] > 0
    assert body["rows"][-1]["level"] == "county"
    states = [f["properties"]["state"] for f in body["boundaries"]["features"]]
    assert states == ["before", "after"]
    assert "crs" not in body["boundaries"]


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/api/scenarios/nope/compare", 404, "name"),
    ("/api/scenarios/fast_rail_changchun/compare?mode=bus", 400, "mode"),
    ("/api/scenarios/fast_rail_changchun/compare?minutes=0", 400, "minutes"),
    ("/api/scenarios/fast_rail_changchun/compare?minutes=1e400", 400, "minutes"),
])
def test_api_compare_errors(client, url, status, field):
    resp = client.get(url)
    assert resp.status_code == status
    assert resp.json["error"]["field"] == field


def test_broken_scenario_file_is_reported_with_its_line(tmp_path, instance_dir):
    write(tmp_path, '[[road_link]]\nfrom = "梅河口"\nto = "梅何口"\nspeed_kmh = 60\n', name="broken")
    write(tmp_path, '[[road_link]]\nfrom = "梅河口"\nto = "辉南"\nspeed_kmh = -5\n', name="negative")
    app = create_app({"TESTING": True, "INSTANCE": instance_dir, "SCENARIOS_DIR": tmp_path})
    client = app.test_client()
    listed = {s["name"]: s for s in client.get("/api/scenarios").json["scenarios"]}
    assert "negative.toml:6:" in listed["negative"]["error"]["message"]
    resp = client.get("/api/scenarios/broken/compare")
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalid_scenario"
    assert "broken.toml:5: unknown place '梅何口'" in resp.json["error"]["message"]


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_list_and_compare(invoke, tmp_path):
    res = invoke(["scenario", "list"])
    assert res.exit_code == 0, res.output
    assert "fast_rail_changchun" in res.output and "trunk_roads_first_class" in res.output
    res = invoke(["scenario", "compare", "fast_rail_changchun"])
    assert res.exit_code == 0, res.output
    assert "improved_km2" in res.output and "梅河口市" in res.output
    csv_path, tif_path = tmp_path / "table.csv", tmp_path / "diff.tif"
    assert invoke(["scenario", "compare", "fast_rail_changchun", "-o", str(csv_path)]).exit_code == 0
    import pandas as pd

    table = pd.read_csv(csv_path)
    assert {"before", "after", "change", "newly_within"} <= set(table.columns)
    res = invoke(["scenario", "compare", "fast_rail_changchun", "--mode", "rail", "-o", str(tif_path)])
    assert res.exit_code == 0, res.output
    import rasterio

    with rasterio.open(tif_path) as src:
        saved = src.read(1)
        assert src.crs.to_epsg() == 32651
    assert np.nanmax(saved) > 10


def test_cli_errors_exit_2(invoke):
    res = invoke(["scenario", "compare", "nope"])
    assert res.exit_code == 2
    assert "no scenario named 'nope'" in res.output
    assert invoke(["scenario", "compare", "fast_rail_changchun", "--minutes", "999"]).exit_code == 2


# --- page ------------------------------------------------------------------------------------------


def test_page_renders_table_and_chart(client):
    resp = client.get("/scenarios?name=fast_rail_changchun&mode=rail&minutes=200")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    for marker in ('id="scenario-table"', 'id="chart"', 'id="saved-legend"', "boundary-before", "boundary-after"):
        assert marker in text
    assert 'href="/scenarios"' in text
    assert client.get("/scenarios?name=nope").status_code == 404


@pytest.mark.browser
def test_scenarios_page_in_chromium(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/scenarios?name=fast_rail_changchun&mode=rail&minutes=200")
    page.wait_for_selector("#scenario-table")
    page.wait_for_selector("path.boundary-before", state="attached", timeout=15000)
    assert page.locator("path.boundary-before").count() >= 1
    assert page.locator("path.boundary-after").count() >= 1
    assert page.locator("path.saved").count() >= 2
    assert page.locator("path.scenario-edit").count() == 1
    assert page.locator("#scenario-table tr").count() == 1 + 25 + 1
    assert page.locator("#chart .b.after").count() >= 2
    recording_page.screenshot("scenarios")
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_no_nan_in_summary_numbers(app, base, inputs, county):
    towns, boundary = county
    scen = sc.find_scenario(SHIPPED, "trunk_roads_first_class")
    comp = sc.compare(base, sc.apply_scenario(inputs, scen), towns, boundary, to_lonlat=CHANGCHUN)
    flat = json.dumps(comp.summary)
    assert "NaN" not in flat and "Infinity" not in flat
    assert all(v is None or math.isfinite(v) for v in (comp.summary["max_saved_min"], comp.summary["mean_saved_min"]))
    assert isinstance(boundary, gpd.GeoDataFrame)


def test_edit_lines_join_real_points(inputs):
    lines = sc.edit_lines(inputs, sc.find_scenario(SHIPPED, "trunk_roads_first_class"))
    assert list(lines["label"]) == ["g202", "g303"]
    coords = {tuple(c) for g in lines.geometry for c in g.coords}
    assert coords <= {tuple(p) for p in inputs.road.lonlat.tolist()}
