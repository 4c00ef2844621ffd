"""Thread safety of the shared graph caches (no timing assertions: timings live in benchmarks/)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from geo_app.analysis.extent import reach_extent
from geo_app.analysis.isochrones import isochrones
from geo_app.analysis.surface import Surface, node_times, travel_time_surface
from geo_app.network.graph import GraphCache, TravelGraph, build_graph
from geo_app.network.roads import to_metric

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
MEIHEKOU = (125.67876, 42.52869)
# rasterio.features.shapes hides this warning with warnings.catch_warnings, which is not
# thread-safe (isochrones.py ignores it for good at import; pytest resets filters per test).
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

#: (origin, WGS84 bounds, mode, cell_m): overlapping and disjoint grids, several cell sizes.
TASKS = [
    (MEIHEKOU, (125.3, 42.2, 126.0, 42.8), "best", 250),
    (MEIHEKOU, (125.5, 42.4, 125.9, 42.7), "car", 250),
    ((125.55, 42.45), (125.2, 42.1, 125.8, 42.6), "best", 300),
    ((125.80, 42.60), (125.6, 42.4, 126.1, 42.9), "rail", 250),
    ((125.45, 42.35), (125.0, 42.0, 125.7, 42.5), "car", 400),
    ((125.70, 42.30), (125.4, 42.1, 126.0, 42.5), "best", 300),
    (MEIHEKOU, (125.6, 42.45, 125.75, 42.6), "best", 100),
    ((125.62, 42.70), (125.3, 42.5, 125.9, 42.95), "car", 250),
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> TravelGraph:
    return build_graph(DATA, REFERENCE, cache_dir=tmp_path_factory.mktemp("cache"))


def _run(graph: TravelGraph, task: tuple) -> Surface:
    lonlat, bounds, mode, cell = task
    return travel_time_surface(graph, lonlat, mode=mode, direction="from", cell_m=cell, bounds=bounds,
                               max_minutes=120)


def _same(a: Surface, b: Surface) -> None:
    assert a.transform == b.transform
    np.testing.assert_array_equal(a.minutes, b.minutes)  # NaN == NaN here


def test_surface_from_8_threads_equals_single_threaded(graph):
    graph.cache.clear()
    reference = []
    for task in TASKS:
        graph.cache.clear()  # each reference computed from a cold cache, one thread
        reference.append(_run(graph, task))
    graph.cache.clear()
    budget = graph.cache.max_bytes
    graph.cache.max_bytes = 2 * 2**20  # ~2 MB: tiles are evicted while other threads still use them
    start = threading.Barrier(8)

    def worker(i: int) -> list[tuple[int, Surface]]:
        start.wait()
        out = []
        for rep in range(4):
            j = (i + rep) % len(TASKS)  # every thread walks the tasks in a different order
            out.append((j, _run(graph, TASKS[j])))
        return out

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = [r for fut in [pool.submit(worker, i) for i in range(8)] for r in fut.result()]
        assert graph.cache.nbytes <= graph.cache.max_bytes
    finally:
        graph.cache.max_bytes = budget
        graph.cache.clear()
    assert len(results) == 32
    for j, surface in results:
        _same(surface, reference[j])


def test_isochrone_pipeline_from_8_threads(graph):
    """reach_extent → surface → isochrones, as the API runs it, concurrently: same areas as alone."""
    origins = [task[0] for task in TASKS]

    def one(lonlat: tuple[float, float]) -> list[float]:
        bounds, cell = reach_extent(graph, lonlat, mode="best", direction="from", max_minutes=90, cell_m=250)
        s = travel_time_surface(graph, lonlat, mode="best", direction="from", cell_m=cell, bounds=bounds,
                                max_minutes=90)
        return list(isochrones(s, [30, 60, 90])["area_km2"])

    graph.cache.clear()
    alone = [one(o) for o in origins]
    graph.cache.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(one, origins * 2))
    assert together == alone * 2


def test_tiled_grid_equals_the_cell_formula(graph):
    """The cached, tiled snapping gives what a direct k-nearest query over every cell gives."""
    graph.cache.clear()
    lonlat, bounds, mode, cell = TASKS[2]
    s = _run(graph, TASKS[2])
    h, w = s.minutes.shape
    t = s.transform
    xx, yy = np.meshgrid(t.c + (np.arange(w) + 0.5) * t.a, t.f + (np.arange(h) + 0.5) * t.e)
    idx, acc = graph.snap_xy(np.column_stack([xx.ravel(), yy.ravel()]), int(graph.params["access"]["k"]["value"]))
    node_t = graph.one_to_all(lonlat, mode=mode, direction="from", limit_s=120 * 60)
    secs = (node_t[idx] + acc).min(axis=1)
    d = np.hypot(xx.ravel() - to_metric(np.array([lonlat]))[0][0], yy.ravel() - to_metric(np.array([lonlat]))[0][1])
    secs = np.minimum(secs, np.where(d <= graph.access_limit_m, graph.access_seconds(d), np.inf))  # direct trip
    expect = secs.reshape(h, w) / 60.0
    expect = np.where(expect <= 120, expect, np.nan)
    np.testing.assert_allclose(s.minutes, expect, rtol=1e-5, atol=1e-3)  # float32 vs float64
    assert np.isfinite(s.minutes).sum() > 1000

def test_grid_is_lattice_aligned_and_covers_bounds(graph):
    s = _run(graph, TASKS[0])
    cell = s.cell_m
    assert s.transform.c % cell == 0 and s.transform.f % cell == 0


def test_node_times_cached_read_only_and_shared_with_extent(graph):
    graph.cache.clear()
    reach_extent(graph, MEIHEKOU, mode="car", direction="from", max_minutes=60, cell_m=250)
    assert len(graph.cache) == 1  # the extent's search, reused by the surface below
    t = node_times(graph, MEIHEKOU, mode="car", direction="from", limit_s=3600.0)
    assert not t.flags.writeable
    np.testing.assert_array_equal(t, graph.one_to_all(MEIHEKOU, mode="car", direction="from", limit_s=3600.0))
    # the graph's own arrays stay read-only and untouched
    for a in (graph.node_xy, graph.modes["best"].fwd.data, graph.modes["best"].fwd.indices):
        assert not a.flags.writeable


def test_graph_cache_lru_is_bounded_and_thread_safe():
    cache = GraphCache(max_bytes=1000)
    cache.put("a", 1, 400)
    cache.put("b", 2, 400)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3, 400)  # evicts "b", the least recently used
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.put("huge", 4, 5000) == 4 and "huge" not in cache
    assert cache.put("a", 99, 1) == 1  # first stored value wins
    assert cache.get_or_compute("d", lambda: (5, 10)) == 5

    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(3000):
                key = int(rng.integers(0, 50))
                got = cache.get_or_compute(key, lambda key=key: (key * 2, int(rng.integers(1, 200))))
                assert got == key * 2
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert cache.nbytes <= cache.max_bytes
