"""The engine on a built OSM network: isochrones, a county reach table and a scenario compare (DESIGN §5).

Used by ``benchmarks/osm_province.py`` (not run in CI). Every figure comes with a baseline from the
same run: networkx ``single_source_dijkstra_path_length`` on the same road graph for the searches
(the osmnx path cannot load the province, so only its search is comparable), and rebuilding from
the files for the scenario compare.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
from _timing import p50

from geo_app.analysis import scenarios as sc
from geo_app.analysis.accessibility import reach_table
from geo_app.analysis.extent import reach_extent
from geo_app.analysis.isochrones import isochrones
from geo_app.analysis.surface import travel_time_surface
from geo_app.network.graph import TravelGraph, build_graph
from geo_app.network.osm import load_osm_network

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
CHANGCHUN = (125.32278, 43.88)
MEIHEKOU = (125.67876, 42.52869)
MINUTES = [30, 60, 90, 120]


def isochrone(graph: TravelGraph, point: tuple[float, float], mode: str) -> gpd.GeoDataFrame:
    """One isochrone request as the API answers it: extent, surface, 4 contours."""
    bounds, cell = reach_extent(graph, point, mode=mode, direction="from", max_minutes=120, cell_m=250)
    surface = travel_time_surface(graph, point, mode=mode, direction="from", cell_m=cell, bounds=bounds,
                                  max_minutes=120)
    return isochrones(surface, MINUTES)


def networkx_search(graph: TravelGraph, points: list[tuple[float, float]], reverse: bool = False) -> float:
    """p50 seconds of networkx one-to-all (cutoff 120 min) from each point's nearest car node."""
    fwd = (graph.modes["car"].rev if reverse else graph.modes["car"].fwd).tocoo()
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(fwd.row.tolist(), fwd.col.tolist(), fwd.data.tolist(), strict=True))
    times = []
    for p in points:
        node = int(graph.snap(np.array([p]), k=1)[0][0, 0])
        t0 = time.perf_counter()
        nx.single_source_dijkstra_path_length(g, node, cutoff=7200.0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def section_isochrones(graph: TravelGraph) -> None:
    rng = np.random.default_rng(3)
    b = graph.county_bounds or (125.25, 42.14, 126.06, 43.02)
    points = [(float(rng.uniform(b[0], b[2])), float(rng.uniform(b[1], b[3]))) for _ in range(15)]
    p50s = {}
    for mode in ("car", "best"):
        times = []
        for p in points:
            t0 = time.perf_counter()
            isochrone(graph, p, mode)
            times.append(time.perf_counter() - t0)
        p50s[mode] = statistics.median(times)
        print(f"isochrone 4 contours 120 min, mode {mode}, {len(points)} origins in the county: "
              f"p50 {p50s[mode] * 1000:.0f} ms, p95 {np.percentile(times, 95) * 1000:.0f} ms (target p50 < 300 ms)")
    nodes = [int(graph.snap(np.array([p]), k=1)[0][0, 0]) for p in points[:5]]
    search = statistics.median(p50(lambda n=n: graph.from_nodes(np.array([n]), np.zeros(1), mode="car",
                                                                  direction="from", limit_s=7200.0), 1)
                               for n in nodes)
    base = networkx_search(graph, points[:5])
    print(f"  one-to-all search alone, car, cutoff 120 min: ours (scipy) p50 {search * 1000:.0f} ms, networkx "
          f"{base * 1000:.0f} ms → ratio {base / search:.1f}x; networkx's search alone vs our whole car request "
          f"{base / p50s['car']:.2f}x")


def section_reach(graph: TravelGraph, frames: tuple) -> None:
    towns, boundary, points = frames
    kw = {"to_lonlat": CHANGCHUN, "mode": "best", "minutes": 120, "cell_m": 250, "town_points": points,
          "county_seat": MEIHEKOU}
    t0 = time.perf_counter()
    _, table = reach_table(graph, towns, boundary, **kw)
    first = time.perf_counter() - t0
    warm = p50(lambda: reach_table(graph, towns, boundary, **kw), 3)
    county = table.iloc[-1]
    print(f"county reach table to Changchun, best, 250 m: first {first:.2f} s, p50 {warm:.2f} s (target < 1 s); "
          f"county share within 120 min {county['share_area_within']}, median {county['median']} min")
    base = networkx_search(graph, [CHANGCHUN], reverse=True)
    print(f"  networkx one-to-all to Changchun alone (reversed car graph): {base:.2f} s → ratio {base / first:.1f}x")


def _scenario_file(net_path: Path, folder: Path) -> tuple[Path, str]:
    """A scenario naming the trunk road nearest Meihekou by its ref (the synthetic data's refs)."""
    net = load_osm_network(net_path)
    trunk = np.flatnonzero(np.isin(net.edge_class, [net.classes.index("trunk")]) & (net.edge_ref > 0))
    mid = (net.lonlat[net.u[trunk]] + net.lonlat[net.v[trunk]]) / 2
    ref = net.strings[int(net.edge_ref[trunk[np.argmin(np.hypot(*(mid - MEIHEKOU).T))]])]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "upgrade_trunk.toml"
    path.write_text(f'title_zh = "{ref} 提速"\ntitle_en = "{ref} faster"\nmode = "car"\n\n[[corridor]]\n'
                    f'id = "{ref}"\nspeed_kmh = 100\n', encoding="utf-8")
    return path, ref


def section_scenario(net_path: Path, graph: TravelGraph, frames: tuple, folder: Path) -> None:
    towns, boundary, points = frames
    path, ref = _scenario_file(net_path, folder / "scenarios")
    kw = {"to_lonlat": CHANGCHUN, "mode": "car", "minutes": 120, "cell_m": 250, "town_points": points,
          "county_seat": MEIHEKOU}
    t0 = time.perf_counter()
    inputs = sc.load_inputs(DATA, REFERENCE, cache_dir=ROOT / ".cache", network=net_path)
    runner = sc.ScenarioRunner(inputs, graph, path.parent)
    comp = runner.compare(runner.scenario(path.stem), towns, boundary, **kw)
    first = time.perf_counter() - t0
    warm = p50(lambda: runner.compare(runner.scenario(path.stem), towns, boundary, **kw), 3)
    t0 = time.perf_counter()
    base = build_graph(DATA, REFERENCE, cache_dir=ROOT / ".cache", network=net_path)
    after = sc.apply_scenario(sc.load_inputs(DATA, REFERENCE, cache_dir=ROOT / ".cache", network=net_path),
                              sc.load_scenario(path))
    sc.compare(base, after, towns, boundary, **kw)
    rebuild = time.perf_counter() - t0
    saved = {k: v for k, v in comp.summary.items() if "saved" in k or "faster" in k}
    print(f"scenario compare ({ref} at 100 km/h, car, county 250 m): first {first:.2f} s including loading the "
          f"inputs, warm {warm:.2f} s (target < 5 s); rebuild everything from the files {rebuild:.2f} s → ratio "
          f"{rebuild / first:.1f}x; {saved}")


def section_engine(net_path: Path, folder: Path) -> None:
    """All engine figures on one built network."""
    t0 = time.perf_counter()
    graph = build_graph(DATA, REFERENCE, cache_dir=ROOT / ".cache", network=net_path)
    print(f"travel graph on {net_path.name}: {graph.n_road_nodes:,} road nodes, built in "
          f"{time.perf_counter() - t0:.1f} s (load + car/rail/best CSR)")
    frames = (gpd.read_file(DATA / "towns.geojson"), gpd.read_file(DATA / "boundary.geojson"),
              gpd.read_file(DATA / "town_points.geojson"))
    section_isochrones(graph)
    section_reach(graph, frames)
    section_scenario(net_path, graph, frames, folder)
