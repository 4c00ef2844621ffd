"""``geo-app network build --osm``: read, clip, build, contract, write, and summarise."""

from __future__ import annotations

import resource
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .build import BuiltNetwork, build_arrays
from .clip import resolve_clip
from .read import WayTable, read_ways
from .store import save_network
from .tags import WayTagger, class_speeds, zone_speeds


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (``getrusage`` ``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _source_info(path: Path) -> dict[str, Any]:
    """Name, size and modification time of the input file."""
    st = path.stat()
    return {"file": path.name, "path": str(path.resolve()), "bytes": st.st_size,
            "modified": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")}


def build_osm_network(source: Path, out: Path, *, data_dir: Path, params: Mapping[str, Any],
                      clip: str | None = "metro", service: bool = False, ferry: bool = False,
                      spacing_m: float = 1000.0, index: str = "flex_mem", progress: bool = True) -> dict[str, Any]:
    """Build a road network file from an OSM extract.

    Parameters
    ----------
    source
        ``.osm.pbf``, ``.osm``, ``.osm.bz2`` or an osmnx ``.graphml``.
    out
        The ``.npz`` to write.
    data_dir
        The project ``data`` folder (for the ``county`` and ``metro`` clips).
    params
        Parsed ``model.toml`` (``[osm.speed_kmh]``, ``[osm.maxspeed_zone_kmh]``).
    clip
        ``metro`` (default), ``county``, ``none``, ``W,S,E,N`` or a ``.geojson`` polygon.
    service, ferry
        Keep service roads / car ferries.
    spacing_m
        Node spacing kept along long contracted chains (0: contract fully).
    index
        pyosmium node-location index.
    progress
        Show tqdm bars.

    Returns
    -------
    dict
        The metadata written into the file (counts, report, timings, peak memory).

    Raises
    ------
    ValueError
        Bad clip or file type, or no drivable way inside the clip.
    """
    source, t0 = Path(source), time.perf_counter()
    area = resolve_clip(clip, data_dir)
    tagger = WayTagger(params, service=service, ferry=ferry)
    ways = read_ways(source, area, tagger, index=index, progress=progress)
    if ways.n_ways == 0:
        raise ValueError(f"{source.name}: no drivable way inside the clip {area.label}")
    t_read = time.perf_counter()
    built = _build_with_bar(ways, spacing_m, progress)
    t_build = time.perf_counter()
    options = {"service": service, "ferry": ferry, "spacing_m": spacing_m, "index": index}
    meta = _file_meta(source, area.label, area.bbox, options, params, built.report)
    save_network(built, out, meta)
    t_end = time.perf_counter()
    meta.update(nodes=int(built.edges.n), edges=len(built.edges.u), output=str(out),
                output_bytes=Path(out).stat().st_size, peak_rss_mb=round(peak_rss_mb(), 1),
                seconds={"read": round(t_read - t0, 2), "build": round(t_build - t_read, 2),
                         "write": round(t_end - t_build, 2), "total": round(t_end - t0, 2)})
    return meta


def _build_with_bar(ways: WayTable, spacing_m: float, progress: bool) -> BuiltNetwork:
    """:func:`build_arrays` under a tqdm bar of its three steps."""
    from tqdm import tqdm

    with tqdm(total=3, desc="build", disable=not progress, leave=False) as bar:
        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(0 if name == "segments" else 1)
        built = build_arrays(ways, spacing_m=spacing_m, step=step)
        bar.update(1)
    return built


def _file_meta(source: Path, clip: str, bbox: Any, options: dict[str, Any], params: Mapping[str, Any],
               report: dict[str, Any]) -> dict[str, Any]:
    """The metadata stored in the network file."""
    return {"source": _source_info(source), "clip": clip, "clip_bbox": bbox,
            "built": datetime.now(UTC).isoformat(timespec="seconds"), "options": options,
            "speed_kmh": class_speeds(params), "maxspeed_zone_kmh": zone_speeds(params), "report": report}


def summary_lines(meta: Mapping[str, Any]) -> list[str]:
    """Human-readable summary of a build (what ``geo-app network build`` prints)."""
    r, s = meta["report"], meta["seconds"]
    share = 100.0 * r["nodes_connected"] / max(r["nodes_read"], 1)
    km = " · ".join(f"{k} {v:,.1f}" for k, v in sorted(r["km_by_class"].items(), key=lambda kv: -kv[1]))
    return [
        f"OSM network from {meta['source']['file']} (clip {meta['clip']}): {meta['nodes']:,} nodes, "
        f"{meta['edges']:,} directed edges",
        f"  read: {r['ways_tagged']:,} highway/route ways, {r['ways_drivable']:,} drivable, "
        f"{r['ways_kept']:,} inside the clip; {r['refs_missing']:,} node refs without a location",
        f"  largest strongly connected part: {r['nodes_connected']:,} of {r['nodes_read']:,} nodes ({share:.1f} %); "
        f"dropped {r['dropped_parts']:,} parts ({r['dropped_nodes']:,} nodes, {r['dropped_edges']:,} edges, "
        f"{r['dropped_km']:,.1f} km)",
        f"  degree-2 contraction: {r['nodes_connected']:,} → {r['nodes']:,} nodes "
        f"({r['spacing_nodes']:,} kept every {meta['options']['spacing_m']:g} m on long chains), "
        f"{r['edges_connected']:,} → {r['edges']:,} edges",
        f"  km by class: {km}",
        f"  time {s['total']:.1f} s (read {s['read']:.1f}, build {s['build']:.1f}, write {s['write']:.1f}); "
        f"peak memory {meta['peak_rss_mb']:,.0f} MB",
        f"  written {meta['output']} ({meta['output_bytes'] / 1e6:.1f} MB)",
    ]
