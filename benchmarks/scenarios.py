"""Scenario comparison benchmark: two shipped scenarios compared on the county at 250 m.

Ours: a :class:`~geo_app.analysis.scenarios.ScenarioRunner` over the inputs and base graph the
app loads once per process. Timed twice: "first" (a fresh runner: both scenario graphs are
applied and assembled, the base "before" surface and table computed) and "warm" (the runner's
caches hit, as for a second request in the server). Baseline, in the same run: rebuild
everything from the files for every comparison (read model, roads, rail, boundary, towns;
build the base graph and the scenario graph; two reach tables). The LAST line printed is
``ratio_vs_rebuild=<float>`` (baseline p50 / our first-compare p50); target: both scenarios < 2 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
from _timing import p50  # benchmarks/ is on sys.path when run as a script

from geo_app.analysis import scenarios as sc
from geo_app.network.graph import build_graph

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
CHANGCHUN = (125.32278, 43.88)
MEIHEKOU = (125.67876, 42.52869)
NAMES = ("trunk_roads_first_class", "fast_rail_changchun")





def layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return (gpd.read_file(DATA / "towns.geojson"), gpd.read_file(DATA / "boundary.geojson"),
            gpd.read_file(DATA / "town_points.geojson"))


def kwargs(points: gpd.GeoDataFrame, mode: str) -> dict:
    return {"to_lonlat": CHANGCHUN, "mode": mode, "minutes": 120, "cell_m": 250, "town_points": points,
            "county_seat": MEIHEKOU}


def ours_first(inputs: sc.NetworkInputs, base, frames) -> list[sc.Comparison]:
    """A fresh runner: applies both scenarios and computes the base once."""
    towns, boundary, points = frames
    run = sc.ScenarioRunner(inputs, base, DATA / "scenarios")
    return [run.compare(s, towns, boundary, **kwargs(points, s.mode)) for s in map(run.scenario, NAMES)]


def rebuild_everything() -> list[sc.Comparison]:
    """Baseline: everything from the files, for each comparison."""
    out = []
    for name in NAMES:
        towns, boundary, points = layers()
        base = build_graph(DATA, REFERENCE)
        inputs = sc.load_inputs(DATA, REFERENCE)
        scen = sc.find_scenario(DATA / "scenarios", name)
        after = sc.apply_scenario(inputs, scen)
        out.append(sc.compare(base, after, towns, boundary, **kwargs(points, scen.mode)))
    return out


def main() -> None:
    t0 = time.perf_counter()
    frames = layers()
    inputs = sc.load_inputs(DATA, REFERENCE, cache_dir=ROOT / ".cache")
    base = build_graph(DATA, REFERENCE, cache_dir=ROOT / ".cache")
    print(f"startup (inputs + base graph, once per process): {time.perf_counter() - t0:.2f}s")
    check_ours = ours_first(inputs, base, frames)
    check_base = rebuild_everything()
    for a, b in zip(check_ours, check_base, strict=True):
        assert a.summary == b.summary, "runner and rebuild disagree"
    first = p50(lambda: ours_first(inputs, base, frames), 5)
    towns, boundary, points = frames
    run = sc.ScenarioRunner(inputs, base, DATA / "scenarios")
    scens = [run.scenario(n) for n in NAMES]

    def warm() -> None:
        for s in scens:
            run.compare(s, towns, boundary, **kwargs(points, s.mode))

    warm()
    warm_t = p50(warm, 5)
    baseline = p50(rebuild_everything, 3)
    cells = check_ours[0].before.minutes.size
    print(f"two scenarios, county at 250 m ({cells} cells per surface):")
    print(f"  ours, fresh runner p50 = {first:.3f}s   (target < 2 s)")
    print(f"  ours, warm runner  p50 = {warm_t:.3f}s")
    print(f"  baseline, rebuild everything from files p50 = {baseline:.3f}s")
    for s, c in zip(scens, check_ours, strict=True):
        print(f"  {s.name} ({s.mode}): improved {c.summary['improved_km2']} km², max saved "
              f"{c.summary['max_saved_min']} min")
    print(f"ratio_warm_vs_rebuild={baseline / warm_t:.2f}")
    print(f"ratio_vs_rebuild={baseline / first:.2f}")


if __name__ == "__main__":
    main()
