"""One-to-all benchmark: our engine vs networkx ``single_source_dijkstra_path_length``.

Both sides answer the same question on the same graph (identical nodes, edges and weights):
seconds from one source node to every node. Ours is ``TravelGraph.from_nodes`` (the engine
primitive every point query ends in); answers are checked equal. Graphs:

(a) the shipped graph (modes ``best`` and ``car``). Mode graphs of at most
    ``TABLE_MAX_NODES`` nodes carry an all-pairs table built once when the graph is built
    (one csgraph call, every node a source), so a one-to-all is a row lookup. The build cost
    is printed too, with the number of queries after which it has paid for itself.
(b) a generated ~200k-node grid-like road graph (synthetic, for a meaningful size; not data),
    far above the table limit: a scipy csgraph Dijkstra from the node, no CSR copy.

For each graph a second figure includes the per-point work a request adds (projecting and
snapping a lon/lat to its k nearest nodes). The LAST line is ``ratio_vs_networkx=<float>``
for the shipped graph, mode ``best`` (DESIGN §5: "one-to-all on the shipped network").
"""

from __future__ import annotations

import time
from pathlib import Path

import networkx as nx
import numpy as np
from _timing import p50  # benchmarks/ is on sys.path when run as a script
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from geo_app.network.graph import TravelGraph, assemble, build_graph
from geo_app.network.rail import build_rail_network, read_services
from geo_app.network.roads import RoadNetwork, load_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
REFERENCE = ROOT.parent / "shared" / "data"
MEIHEKOU = (125.67876, 42.52869)





def to_networkx(graph: TravelGraph, mode: str) -> nx.DiGraph:
    coo = graph.modes[mode].fwd.tocoo()
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.modes[mode].n))
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    return g


def grid_network(side: int, seed: int = 0) -> RoadNetwork:
    """Synthetic side x side grid (~200 m spacing, jittered) centred on Meihekou; random speeds 20-80 km/h."""
    rng = np.random.default_rng(seed)
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    to_ll = Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
    cx, cy = to_m.transform(*MEIHEKOU)
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = cx + (jj.ravel() - side / 2) * 200 + rng.normal(0, 30, side * side)
    y = cy + (ii.ravel() - side / 2) * 200 + rng.normal(0, 30, side * side)
    ids = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate([np.column_stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()]),
                            np.column_stack([ids[:-1, :].ravel(), ids[1:, :].ravel()])])
    keep = rng.random(len(pairs)) > 0.1  # drop 10% of links so it is not a perfect lattice
    pairs = pairs[keep]
    length = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]]) * 1.1
    speed = rng.uniform(20, 80, len(pairs)) / 3.6
    u = np.concatenate([pairs[:, 0], pairs[:, 1]])
    v = np.concatenate([pairs[:, 1], pairs[:, 0]])
    lon, lat = to_ll.transform(x, y)
    return RoadNetwork(np.column_stack([lon, lat]), tuple(str(i) for i in range(side * side)), u, v,
                       np.tile(length, 2), np.tile(length / speed, 2), "synthetic")


def compare(label: str, graph: TravelGraph, mode: str, ours_repeats: int, nx_repeats: int) -> float:
    """Time one-to-all from the node nearest Meihekou, ours vs networkx; return the p50 ratio."""
    t0 = time.perf_counter()
    g = to_networkx(graph, mode)
    build_nx = time.perf_counter() - t0
    idx, _ = graph.snap(np.array([MEIHEKOU]))
    source = int(idx[0, 0])
    lonlat = tuple(graph.node_lonlat[source])
    nodes, zero = np.array([source]), np.zeros(1)
    last: dict[str, object] = {}

    def ours_once() -> None:
        last["a"] = graph.from_nodes(nodes, zero, mode=mode, direction="from")

    def ours_point() -> None:
        graph.one_to_all(lonlat, mode=mode, direction="from")

    def theirs_once() -> None:
        last["b"] = nx.single_source_dijkstra_path_length(g, source, weight="weight")

    ours = p50(ours_once, ours_repeats)
    point = p50(ours_point, ours_repeats)
    theirs = p50(theirs_once, nx_repeats)
    # same answers, from the timed runs' results, on the nodes ours returns: the road layer (for
    # "rail", the layer after a ride, which networkx numbers from ``off``)
    a, b = last["a"], last["b"]
    off = graph._layers(mode, "from")[1]
    reached = [n - off for n in b if off <= n < off + len(a)]
    check = max(abs(a[n] - b[n + off]) for n in reached[:: max(1, len(reached) // 2000)])
    same_reach = int(np.isfinite(a).sum()) == len(reached)
    ratio = theirs / ours
    engine = "all-pairs table" if graph.modes[mode].table is not None else "csgraph dijkstra"
    print(f"{label}: nodes={graph.modes[mode].n} edges={graph.modes[mode].fwd.nnz} engine={engine} "
          f"ours_p50={ours * 1e3:.3f}ms networkx_p50={theirs * 1e3:.3f}ms ratio={ratio:.1f}x "
          f"(max diff {check:.3g}s, same reachability {same_reach}, networkx build {build_nx:.1f}s)")
    print(f"  with lon/lat snapping: ours_p50={point * 1e3:.3f}ms ratio={theirs / point:.1f}x")
    return ratio


def compare_all_sources(label: str, graph: TravelGraph, mode: str, repeats: int) -> float:
    """Build cost of the all-pairs table: one csgraph call vs a networkx loop; return the ratio.

    Also prints after how many single queries the table has paid for itself against running
    csgraph's Dijkstra per query.
    """
    csr = graph.modes[mode].fwd
    n = csr.shape[0]
    g = to_networkx(graph, mode)
    nodes = np.arange(n)
    ours = p50(lambda: dijkstra(csr, directed=True, indices=nodes), repeats)
    theirs = p50(lambda: [nx.single_source_dijkstra_path_length(g, s, weight="weight") for s in range(n)],
                 max(1, repeats // 10))
    a = dijkstra(csr, directed=True, indices=nodes)
    b = np.full((n, n), np.inf)
    for s_, lengths in enumerate(nx.single_source_dijkstra_path_length(g, s, weight="weight") for s in range(n)):
        b[s_, list(lengths)] = list(lengths.values())
    check = float(np.max(np.abs(np.where(np.isfinite(a), a, 0) - np.where(np.isfinite(b), b, 0))))
    same_reach = bool(np.array_equal(np.isfinite(a), np.isfinite(b)))
    ratio = theirs / ours
    print(f"{label}: all {n} sources, nodes={n} edges={csr.nnz} ours_p50={ours * 1e3:.2f}ms "
          f"networkx_p50={theirs * 1e3:.2f}ms ratio={ratio:.1f}x "
          f"(max diff {check:.3g}s, same reachability {same_reach})")
    single = p50(lambda: dijkstra(csr, directed=True, indices=0), repeats)
    lookup = p50(lambda: graph.from_nodes(np.array([0]), np.zeros(1), mode=mode, direction="from"), repeats)
    print(f"  table build {ours * 1e3:.2f}ms, {ours / n * 1e6:.1f}us per source; one csgraph dijkstra "
          f"{single * 1e6:.1f}us vs a table lookup {lookup * 1e6:.1f}us: pays for itself after "
          f"{ours / max(single - lookup, 1e-9):.0f} queries")
    return ratio


def main() -> None:
    t_start = time.perf_counter()
    shipped = build_graph(DATA, REFERENCE)
    shipped_ratio = compare("shipped graph (best)", shipped, "best", 2000, 2000)
    compare("shipped graph (car)", shipped, "car", 2000, 2000)
    compare("shipped graph (rail)", shipped, "rail", 2000, 2000)
    compare_all_sources("shipped graph (best), table build: every source in one call", shipped, "best", 200)
    params = load_model(DATA / "routes" / "model.toml")
    rail = build_rail_network(REFERENCE, DATA / "routes" / "services.csv", params)
    t0 = time.perf_counter()
    big = assemble(grid_network(450), rail, params, tuple(read_services(DATA / "routes" / "services.csv")))
    print(f"built 200k-node graph in {time.perf_counter() - t0:.1f}s")
    ratio = compare("synthetic 200k grid (car)", big, "car", 9, 5)  # 5 networkx runs: 2 were too noisy
    print(f"ratio_200k_vs_networkx={ratio:.2f}")
    print(f"total {time.perf_counter() - t_start:.1f}s")
    print(f"ratio_vs_networkx={shipped_ratio:.2f}")


if __name__ == "__main__":
    main()
