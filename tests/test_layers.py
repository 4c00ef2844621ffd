import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from geo_app.errors import DataFileError, NotFound
from geo_app.layers import LayerRegistry, read_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "layers").glob("*.toml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_each_layer_file_loads(app, path):
    spec = read_spec(path)
    assert spec.name == path.stem
    assert spec.title_zh and spec.title_en and spec.attribution
    reg = app.extensions["geo_app"]["layers"]
    gdf = reg.frame(spec.name)
    assert len(gdf) > 0
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    for f in spec.popup.get("fields", []):
        assert f in gdf.columns, f"{spec.name}: popup field {f} missing"


def test_at_least_nine_layers(app):
    assert len(app.extensions["geo_app"]["layers"]) >= 9


def test_towns_are_the_plan_units_and_the_streets(app):
    towns = app.extensions["geo_app"]["layers"].frame("towns")
    plan = towns[towns.in_plan]
    assert len(plan) == 20
    assert set(plan.kind) == {"镇", "乡", "开发区"}
    streets = towns[towns.kind == "街道"]
    assert len(streets) == 5
    gaoxin = towns[towns.name_zh == "梅河口高新区"].iloc[0]
    assert pd.isna(gaoxin.code)
    assert towns[towns.kind != "开发区"].code.str.match(r"^220581\d{3}$").all()
    # no invented shapes: the pack has no township boundaries
    assert towns.geometry.isna().all()
    assert set(towns.geometry_quality) == {"missing"}


def test_rail_lines_carry_the_three_plan_lines(app):
    lines = app.extensions["geo_app"]["layers"].frame("rail_lines")
    names = " ".join(lines.line_zh)
    for line in ("沈吉", "四梅", "梅集"):
        assert line in names
    # routed on the VMAP0 tracks where possible (issue #17 §4); the high-speed lines stay schematic
    assert set(lines.quality) == {"surveyed (VMAP0 1:1M)", "schematic"}
    assert set(lines[lines.kind == "high_speed"].quality) == {"schematic"}
    assert set(lines[lines.line_zh == "四梅铁路"].quality) == {"surveyed (VMAP0 1:1M)"}


def test_rail_is_read_in_place_not_copied(app):
    reg = app.extensions["geo_app"]["layers"]
    assert reg.spec("rail_lines").use_in_place and reg.spec("stations").use_in_place
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "lines.geojson" not in tracked and "stations.geojson" not in tracked


def test_changchun_is_a_place(app):
    places = app.extensions["geo_app"]["layers"].frame("places")
    cc = places[places.destination == "changchun"]
    assert len(cc) == 1
    assert cc.geometry.iloc[0].distance(__import__("shapely").Point(125.32278, 43.88)) < 1e-6


def test_projects_cover_boxes_1_to_10(app):
    proj = app.extensions["geo_app"]["layers"].frame("projects")
    assert set(proj.box.astype(int)) == set(range(1, 11))
    assert {"box", "sector", "name_zh"} <= set(proj.columns)
    assert not proj.duplicated(["box", "name_zh"]).any()


def test_unknown_layer_raises(app):
    with pytest.raises(NotFound):
        app.extensions["geo_app"]["layers"].spec("nope")


def test_corrupt_data_file_names_the_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "boundary.geojson").write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    layers = tmp_path / "layers"
    layers.mkdir()
    (layers / "boundary.toml").write_text((ROOT / "layers/boundary.toml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    reg = LayerRegistry(layers, data, tmp_path)
    with pytest.raises(DataFileError, match="boundary.geojson"):
        reg.load_all()


def test_bad_spec_is_refused(tmp_path):
    (tmp_path / "x.toml").write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="missing keys"):
        read_spec(tmp_path / "x.toml")


def test_layers_command(invoke):
    result = invoke(["layers"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) - 1 >= 9
    towns = next(line for line in lines if line.startswith("towns"))
    assert " 25 " in towns and "missing" in towns


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "geo-app"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for cmd in ("serve", "layers"):
        assert cmd in out.stdout


def test_data_readme_lists_every_data_file():
    readme = (ROOT / "data/README.md").read_text(encoding="utf-8")
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True).stdout
    files = [Path(f).name for f in tracked.split() if not f.endswith("README.md")]
    for f in files or [p.name for p in (ROOT / "data").rglob("*.*") if p.name != "README.md"]:
        assert f in readme, f"{f} has no provenance entry in data/README.md"


def test_no_invented_coordinates_in_derived_points():
    """Every point we ship comes from the pack: compare with the pack's own sources."""
    pack = ROOT.parent / "shared/data"
    if not pack.exists():
        pytest.skip("data pack not beside the repository")
    seats = json.loads((pack / "places/county_seats.geojson").read_text(encoding="utf-8"))
    ours = json.loads((ROOT / "data/places.geojson").read_text(encoding="utf-8"))
    assert [f["geometry"] for f in seats["features"]] == [f["geometry"] for f in ours["features"]]
