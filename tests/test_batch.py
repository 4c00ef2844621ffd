"""Batch accessibility on Dask: equals the single-process surface, chunking-invariant, CLI output readable."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from geo_app.analysis import batch
from geo_app.analysis.surface import travel_time_surface

CELL = 250.0
BOUNDS = (125.56, 42.46, 125.76, 42.60)  # ~16 x 15 km around the Meihekou seat (direct trips included)


@pytest.fixture(scope="module")
def graph(app):
    return app.extensions["geo_app"]["graph"]()


@pytest.fixture(scope="module")
def data_dir(app):
    return app.config["DATA_DIR"]


@pytest.fixture(scope="module")
def dask():
    with batch.dask_client(None, 2, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def dests(data_dir):
    seats = {d.key: d for d in batch.load_destinations("seats", data_dir)}
    # The Meihekou seat (a network node inside the box), Huinan's seat, Changchun, and a site inside the
    # box away from every node (cells around it are faster by the direct off-network trip).
    site = batch.Destination("site", "test site", (125.60, 42.49))
    return [seats["220581"], seats["220523"], *batch.load_destinations("changchun", data_dir), site]


@pytest.fixture(scope="module")
def box(graph, dests):
    """The surface grid of BOUNDS as a lattice-aligned extent polygon (EPSG:32651)."""
    s = travel_time_surface(graph, dests[0].lonlat, mode="car", direction="to", cell_m=CELL, bounds=BOUNDS)
    t = s.transform
    h, w = s.minutes.shape
    return shapely.box(t.c, t.f - h * CELL, t.c + w * CELL, t.f), s


def _run(graph, extent, dests, modes, out, dask, **kw):
    return batch.batch_reach({"base": graph}, extent, dests, modes, out, client=dask, cell_m=CELL,
                             progress=False, **kw)


def test_batch_equals_surface_cell_for_cell(graph, dests, box, dask, tmp_path):
    extent, s0 = box
    modes = ["car", "best", "rail"]
    res = _run(graph, extent, dests, modes, tmp_path / "r.parquet", dask, chunk_cells=2_000)
    assert res.chunks > 1 and res.cells == s0.minutes.size
    df = gpd.read_parquet(res.out)
    assert len(df) == s0.minutes.size and df["cell_id"].is_unique
    t = s0.transform
    col = df["gx"].to_numpy() - round(t.c / CELL)
    row = round(t.f / CELL) - 1 - df["gy"].to_numpy()
    assert np.array_equal(df["cell_id"].to_numpy(), row * s0.minutes.shape[1] + col)
    # Centroids are the surface's cell centres.
    cx, cy = t @ (col + 0.5, row + 0.5)
    assert np.allclose(df.geometry.x, cx) and np.allclose(df.geometry.y, cy)
    assert df.crs.to_epsg() == 32651
    checked_direct = False
    for d in dests:
        for mode in modes:
            s = travel_time_surface(graph, d.lonlat, mode=mode, direction="to", cell_m=CELL, bounds=BOUNDS)
            want = s.minutes[row, col]
            got = df[f"min_{d.key}_{mode}_base"].to_numpy()
            assert got.dtype == np.float32
            assert np.array_equal(np.isnan(want), np.isnan(got)), (d.key, mode)
            ok = ~np.isnan(want)
            assert ok.any()
            assert np.max(np.abs(want[ok] - got[ok])) * 60 <= 1.0, (d.key, mode)  # within 1 s
            if d.key == "site" and mode == "car":
                # The direct off-network trip is what makes cells near the seat fast.
                node = graph.one_to_all(d.lonlat, mode="car", direction="to", limit_s=240 * 60)
                idx, acc = graph.snap_xy(np.column_stack([cx, cy]), int(graph.params["access"]["k"]["value"]))
                via_nodes = (node[idx] + acc).min(axis=1) / 60
                checked_direct = bool((got < via_nodes - 0.01).any())
    assert checked_direct, "no cell used the direct off-network trip"


def test_chunking_gives_identical_results(graph, dests, box, dask, tmp_path, data_dir):
    extent, _ = box
    counties, towns = batch.load_units(data_dir)
    kw = {"counties": counties, "townships": towns}
    many = _run(graph, extent, dests, ["car", "best"], tmp_path / "many.parquet", dask, chunk_cells=500, **kw)
    one = _run(graph, extent, dests, ["car", "best"], tmp_path / "one.parquet", dask, chunk_cells=10_000_000, **kw)
    assert one.chunks == 1 and many.chunks > 5
    a = gpd.read_parquet(many.out).sort_values("cell_id").reset_index(drop=True)
    b = gpd.read_parquet(one.out).sort_values("cell_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert a.geometry.equals(b.geometry)
    assert len(list(many.out.glob("part-*.parquet"))) == many.chunks
    for x, y in ((many.counties_csv, one.counties_csv), (many.townships_csv, one.townships_csv)):
        pd.testing.assert_frame_equal(pd.read_csv(x), pd.read_csv(y))


def test_summary_shares_match_the_cells(graph, dests, box, dask, tmp_path, data_dir):
    extent, _ = box
    counties, towns = batch.load_units(data_dir)
    res = _run(graph, extent, dests, ["best"], tmp_path / "s.parquet", dask, counties=counties, townships=towns)
    df = gpd.read_parquet(res.out)
    summary = pd.read_csv(res.counties_csv, dtype={"code": str})
    mhk = next(u for u in counties if u.code == "220581")
    inside = shapely.contains_xy(mhk.geometry, df.geometry.x.to_numpy(), df.geometry.y.to_numpy())
    assert inside.sum() > 100
    for d in dests:
        row = summary[(summary.code == "220581") & (summary.destination == d.key)].iloc[0]
        assert row.status == "ok" and row.cells == inside.sum()
        vals = df.loc[inside, f"min_{d.key}_best_base"].to_numpy()
        for th in batch.THRESHOLDS:
            assert row[f"share_within_{th}"] == pytest.approx(np.sum(vals <= th) / len(vals), abs=1e-4)
    outside = summary[summary.code == "220102"].iloc[0]
    assert outside.status == "outside extent" and outside.cells == 0
    townships = pd.read_csv(res.townships_csv)
    assert len(townships) == len(towns) * len(dests)
    assert set(townships.status) <= {"ok", "no boundary", "outside extent"}


def test_destination_without_network_keeps_direct_trip_only(graph, dask, tmp_path, data_dir):
    seats = {d.key: d for d in batch.load_destinations("seats", data_dir)}
    far = seats["220182"]  # Yushu: no node of the trunk network within the access limit
    try:
        graph.one_to_all(far.lonlat, mode="car", direction="to", limit_s=240 * 60)
        pytest.skip("this road network reaches Yushu")
    except Exception:  # noqa: BLE001 - NoNetworkNearby expected
        pass
    x, y = batch.to_metric(np.array([far.lonlat]))[0]
    extent = shapely.box(x - 40_000, y - 5_000, x + 40_000, y + 5_000)
    res = batch.batch_reach({"base": graph}, extent, [far], ["car"], tmp_path / "far.parquet", client=dask,
                            cell_m=1000, progress=False)
    df = gpd.read_parquet(res.out)
    vals = df[f"min_{far.key}_car_base"].to_numpy()
    d = np.hypot(df.geometry.x - x, df.geometry.y - y).to_numpy()
    assert np.all(np.isnan(vals[d > graph.access_limit_m]))
    assert np.all(np.isfinite(vals[d < graph.access_limit_m - 1]))
    meta = json.loads(pq.read_schema(next(res.out.glob("part-*.parquet"))).metadata[b"geo_app"])
    assert meta["columns"][0]["no_network_nearby"] is True


def test_cli_writes_readable_geoparquet(invoke, tmp_path, dask):
    box = gpd.GeoDataFrame(geometry=[shapely.box(*BOUNDS)], crs="EPSG:4326")
    extent_file = tmp_path / "box.geojson"
    box.to_file(extent_file, driver="GeoJSON")
    out = tmp_path / "cli.parquet"
    address = dask.scheduler.address  # an in-process cluster: exercises --scheduler
    result = invoke(["batch", "reach", "--extent", str(extent_file), "--cell", "500", "--to", "changchun",
                     "--modes", "car,best", "--scheduler", address, "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    df = gpd.read_parquet(out)
    assert list(df.columns[:4]) == ["cell_id", "gx", "gy", "geometry"]
    assert set(df.columns[4:]) == {"min_220100_car_base", "min_220100_best_base"}
    assert len(df) > 100 and df.geometry.geom_type.eq("Point").all() and df.crs.to_epsg() == 32651
    assert df["min_220100_best_base"].dtype == np.float32
    assert (out.parent / "cli.counties.csv").exists() and (out.parent / "cli.townships.csv").exists()
    # cells are inside the extent polygon
    poly = box.to_crs(32651).geometry.iloc[0]
    assert shapely.contains_xy(poly, df.geometry.x.to_numpy(), df.geometry.y.to_numpy()).all()


def test_cli_rejects_bad_arguments(invoke, tmp_path):
    bad = invoke(["batch", "reach", "--extent", "nowhere.geojson", "-o", str(tmp_path / "x.parquet")])
    assert bad.exit_code == 2 and "extent" in bad.output
    bad = invoke(["batch", "reach", "--extent", "county", "--modes", "plane", "-o", str(tmp_path / "x.parquet")])
    assert bad.exit_code == 2 and "modes" in bad.output


def test_scenario_columns_equal_the_scenario_surface(app, graph, box, dask, tmp_path, data_dir):
    """--scenario NAME: the scenario graph comes from the app's scenario runner (analysis.scenarios)."""
    from geo_app.web.scenarios import runner

    with app.app_context():
        run = runner()
        names = [p.stem for p in sorted((data_dir / "scenarios").glob("*.toml"))]
        if not names:
            pytest.skip("no scenario files")
        sgraph = run.graph(run.scenario(names[0]))
    extent, s0 = box
    cc = batch.load_destinations("changchun", data_dir)
    res = batch.batch_reach({"base": graph, names[0]: sgraph}, extent, cc, ["best"], tmp_path / "sc.parquet",
                            client=dask, cell_m=CELL, progress=False)
    df = gpd.read_parquet(res.out)
    t = s0.transform
    col = df["gx"].to_numpy() - round(t.c / CELL)
    row = round(t.f / CELL) - 1 - df["gy"].to_numpy()
    for name, g in (("base", graph), (names[0], sgraph)):
        want = travel_time_surface(g, cc[0].lonlat, mode="best", direction="to", cell_m=CELL,
                                   bounds=BOUNDS).minutes[row, col]
        got = df[f"min_220100_best_{name}"].to_numpy()
        assert np.array_equal(np.isnan(want), np.isnan(got))
        ok = ~np.isnan(want)
        assert np.max(np.abs(want[ok] - got[ok])) * 60 <= 1.0


def test_cli_scenario_option(invoke, tmp_path, dask, data_dir):
    names = [p.stem for p in sorted((data_dir / "scenarios").glob("*.toml"))]
    if not names:
        pytest.skip("no scenario files")
    out = tmp_path / "scen.parquet"
    result = invoke(["batch", "reach", "--extent", "county", "--cell", "2000", "--to", "changchun", "--modes", "best",
                     "--scenario", names[0], "--scheduler", dask.scheduler.address, "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    df = gpd.read_parquet(out)
    assert {"min_220100_best_base", f"min_220100_best_{names[0]}"} <= set(df.columns)
    bad = invoke(["batch", "reach", "--extent", "county", "--cell", "2000", "--to", "changchun",
                  "--scenario", "no_such_scenario", "--scheduler", dask.scheduler.address, "-o", str(out)])
    assert bad.exit_code == 2 and "no_such_scenario" in bad.output
