"""Province-size OSM build benchmark (DESIGN §5): synthetic Jilin-size .osm.pbf → road network file.

SYNTHETIC INPUT (benchmarks/osm_synth.py): ~1.5 M nodes, ~300 k ways over Jilin's bbox, cached in
``.cache/bench/``. Not run in CI (pytest collects ``tests/`` only). Each heavy step runs in a
child process so its peak memory is its own. Prints, with the baseline of the same run:

1. build with the metro clip (the default) and with ``--clip none``: time, peak memory (< 3 min, < 4 GB);
2. loading the built file (< 10 s);
3. pyrosm on the same file and clip (``get_network("driving")`` and its networkx graph) vs our reader;
4. the present osmnx path (``graph_from_xml`` → graphml → RoadNetwork) on a smaller ``.osm`` cut of the
   same synthetic data vs our build of that cut (osmnx cannot hold the province);
5. on the built metro network (benchmarks/osm_engine.py): an isochrone (4 contours, 120 min) p50, a county
   reach table, and a scenario compare, each against networkx on the same graph where that can finish.

``python benchmarks/osm_province.py [--skip-pyrosm] [--skip-osmnx]``; the LAST line is
``build_s=<float>`` for the metro build.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _timing import p50  # benchmarks/ is on sys.path when run as a script
from osm_engine import section_engine

from geo_app.network.osm import build_osm_network, load_osm_network, summary_lines
from geo_app.network.roads import build_osm_graph, load_graphml_network, load_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CACHE = ROOT / ".cache" / "bench"
PBF = CACHE / "jilin_synth.osm.pbf"
CUT = CACHE / "jilin_synth_cut.osm"
CUT_BBOX = "125.2,42.1,126.1,43.0"  # ~1° x 1° around Meihekou


def child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (benchmarks/ on the path); return the JSON it prints last."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}", "PATH": "/usr/bin:/bin"})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_input(rows: int, cols: int) -> None:
    """Generate the synthetic extract and its .osm cut once (cached by size)."""
    if PBF.exists() and CUT.exists():
        return
    PBF.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "osm_synth.py"), str(PBF), "--rows", str(rows),
                    "--cols", str(cols), "--cut", CUT_BBOX, str(CUT)], check=True, cwd=ROOT)


def our_build(clip: str, out: Path) -> dict:
    """Our build in a child process; the metadata it returns (timings, peak memory)."""
    code = (
        "import json; from pathlib import Path; from geo_app.network.roads import load_model; "
        "from geo_app.network.osm import build_osm_network; "
        f"m = build_osm_network(Path({str(PBF)!r}), Path({str(out)!r}), data_dir=Path({str(DATA)!r}), "
        f"params=load_model(Path({str(DATA / 'routes' / 'model.toml')!r})), clip={clip!r}, progress=False); "
        "print(json.dumps(m, ensure_ascii=False, default=str))")
    return child(code)


def pyrosm_build(clip: str) -> dict:
    """pyrosm's driving network of the same file and clip, then its networkx graph (child process).

    pyrosm's default engine caches each read's result under ``<tmp>/pyrosm/cache`` and serves an
    identical read from there; the cache is cleared first so the file is really read.
    """
    code = (
        "import json, time, resource; from pathlib import Path; import pyrosm; "
        "from geo_app.network.osm.clip import resolve_clip; "
        f"c = resolve_clip({clip!r}, Path({str(DATA)!r})); pyrosm.OSM.clear_cache({str(PBF)!r}); "
        "t0 = time.perf_counter(); "
        f"osm = pyrosm.OSM({str(PBF)!r}, bounding_box=c.polygon); "
        "nodes, edges = osm.get_network(network_type='driving', nodes=True); t1 = time.perf_counter(); "
        "g = osm.to_graph(nodes, edges, graph_type='networkx', progress=False); t2 = time.perf_counter(); "
        "print(json.dumps({'read_s': t1 - t0, 'graph_s': t2 - t1, 'nodes': len(nodes), 'edges': len(edges), "
        "'graph_nodes': g.number_of_nodes(), 'graph_edges': g.number_of_edges(), "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    return child(code)


def section_build(tmp: Path) -> dict:
    """Builds of the province file: metro clip and none."""
    results = {}
    for clip in ("metro", "none"):
        meta = our_build(clip, tmp / f"roads_{clip}.npz")
        results[clip] = meta
        print("\n".join(summary_lines(meta)))
        s = meta["seconds"]["total"]
        print(f"build clip={clip}: {s:.1f} s (target < 180 s), peak {meta['peak_rss_mb']:,.0f} MB (target < 4,096 MB)")
    for clip in ("metro", "none"):
        path = tmp / f"roads_{clip}.npz"
        t = p50(lambda path=path: load_osm_network(path), 3)
        print(f"load clip={clip}: {t:.2f} s for {results[clip]['nodes']:,} nodes (target < 10 s)")
    return results


def section_pyrosm(results: dict) -> None:
    """pyosmium (ours) vs pyrosm on the same file and clip (metro: pyrosm's polygon bounding_box; none)."""
    for clip in ("metro", "none"):
        try:
            ours, theirs = results[clip], pyrosm_build(clip)
        except RuntimeError as exc:  # e.g. out of memory: report it and go on
            print(f"pyrosm, clip {clip}: failed: {str(exc).strip().splitlines()[-1:]}")
            continue
        read = ours["seconds"]["read"]
        print(f"pyrosm get_network(driving), clip {clip}: {theirs['read_s']:.1f} s, {theirs['edges']:,} segments; "
              f"our read (pyosmium) {read:.1f} s → ratio {theirs['read_s'] / read:.2f}x")
        total = theirs["read_s"] + theirs["graph_s"]
        print(f"pyrosm + networkx graph, clip {clip}: {total:.1f} s, peak {theirs['peak_rss_mb']:,.0f} MB, "
              f"{theirs['graph_nodes']:,} nodes; our whole build {ours['seconds']['total']:.1f} s, peak "
              f"{ours['peak_rss_mb']:,.0f} MB → ratio {total / ours['seconds']['total']:.2f}x")


def section_osmnx(tmp: Path) -> None:
    """The present osmnx path vs ours on the .osm cut."""
    params = load_model(DATA / "routes" / "model.toml")
    t0 = time.perf_counter()
    net = load_graphml_network(build_osm_graph(CUT, tmp / "cut.graphml", params=params))
    t_osmnx = time.perf_counter() - t0
    t0 = time.perf_counter()
    meta = build_osm_network(CUT, tmp / "cut.npz", data_dir=DATA, params=params, clip="none", progress=False)
    t_ours = time.perf_counter() - t0
    print(f"osmnx graph_from_xml path on the cut ({CUT.stat().st_size / 1e6:.1f} MB .osm): {t_osmnx:.1f} s, "
          f"{len(net.lonlat):,} nodes; ours {t_ours:.2f} s, {meta['nodes']:,} nodes → ratio {t_osmnx / t_ours:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-pyrosm", action="store_true")
    ap.add_argument("--skip-osmnx", action="store_true")
    ap.add_argument("--rows", type=int, default=540, help="lattice rows (default: province size)")
    ap.add_argument("--cols", type=int, default=680)
    args = ap.parse_args()
    global PBF, CUT
    if (args.rows, args.cols) != (540, 680):  # a smaller trial input beside the province one
        PBF = CACHE / f"synth_{args.rows}x{args.cols}.osm.pbf"
        CUT = CACHE / f"synth_{args.rows}x{args.cols}_cut.osm"
    ensure_input(args.rows, args.cols)
    tmp = CACHE / "out"
    tmp.mkdir(parents=True, exist_ok=True)
    results = section_build(tmp)
    section_engine(tmp / "roads_metro.npz", tmp)
    if not args.skip_osmnx:
        section_osmnx(tmp)
    if not args.skip_pyrosm:
        section_pyrosm(results)
    print(f"build_s={results['metro']['seconds']['total']:.2f}")


if __name__ == "__main__":
    main()
