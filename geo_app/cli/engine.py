"""Engine commands: ``isochrone``, ``reach``, ``route`` and ``network build``.

Plain click commands collected in :data:`COMMANDS`; :mod:`geo_app.cli` adds them to the
``geo-app`` group. A domain error prints its message and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..validate import parse_choice, parse_float, parse_int, parse_lonlat, parse_minutes
from ._support import domain_errors, extension

MODES = ("car", "rail", "best")


def _write(text: str, out: Path | None) -> None:
    """Write text to a file or stdout."""
    if out is None:
        click.echo(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


#: ``--network PATH``: route on a road network file instead of the configured one.
NETWORK_OPTION = click.option(
    "--network", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Road network file (.npz from `geo-app network build`, or .graphml); its extent is the service area.")


def _graph(network: Path | None) -> Any:
    """The app's travel graph, or one built on ``network`` (cached per file for this process)."""
    if network is None:
        return extension()["graph"]()
    from ..network.graph import build_graph

    key = ("network_graph", str(Path(network).resolve()), Path(network).stat().st_mtime_ns)
    ext = extension()
    if key not in ext:
        cfg = current_app.config
        ext[key] = build_graph(Path(cfg["DATA_DIR"]), Path(cfg["REFERENCE_DATA"]), cache_dir=cfg.get("CACHE_DIR"),
                               network=Path(network))
    return ext[key]


def _within_network(graph: Any, network: Path | None, point: tuple[float, float], field: str) -> None:
    """With ``--network``, the service area is the extent of the network's road nodes."""
    if network is None:
        return
    from ..errors import OutsideServiceArea

    ll = graph.node_lonlat[: graph.n_road_nodes]
    w, s, e, n = float(ll[:, 0].min()), float(ll[:, 1].min()), float(ll[:, 0].max()), float(ll[:, 1].max())
    if not (w <= point[0] <= e and s <= point[1] <= n):
        raise OutsideServiceArea(f"({point[0]}, {point[1]}) is outside the road network {Path(network).name} "
                                 f"(lon {w:.4f} to {e:.4f}, lat {s:.4f} to {n:.4f}); GeoJSON order is lon,lat",
                                 field=field)


@click.command("isochrone")
@click.option("--lon", required=True, help="Longitude (WGS84).")
@click.option("--lat", required=True, help="Latitude (WGS84).")
@click.option("--minutes", default="30,60,90,120", show_default=True, help="Increasing contour minutes.")
@click.option("--mode", default="best", show_default=True, help="car | rail | best")
@click.option("--direction", default="from", show_default=True, help="from | to")
@click.option("--cell", default="250", show_default=True, help="Cell size in metres (50-2000).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FILE.geojson or FILE.tif; GeoJSON on stdout when omitted.")
@NETWORK_OPTION
@with_appcontext
@domain_errors
def isochrone_cmd(lon: str, lat: str, minutes: str, mode: str, direction: str, cell: str,
                  output: Path | None, network: Path | None) -> None:
    """Isochrones (contour polygons) from or to a point (the same extent and contours as /api/isochrones)."""
    from ..analysis.extent import reach_extent
    from ..analysis.isochrones import isochrones
    from ..analysis.surface import to_geotiff, travel_time_surface
    from ..validate import check_lonlat

    point = check_lonlat(parse_float(lon, "lon"), parse_float(lat, "lat"), "lon,lat")
    mins = parse_minutes(minutes)
    mode = parse_choice(mode, "mode", MODES)
    direction = parse_choice(direction, "direction", ("from", "to"))
    cell_m = parse_int(cell, "cell", lo=50, hi=2000)
    graph = _graph(network)
    _within_network(graph, network, point, "lon,lat")
    # The grid covers everything reachable within the largest contour, not the county box.
    bounds, cell_m = reach_extent(graph, point, mode=mode, direction=direction, max_minutes=max(mins), cell_m=cell_m)
    surface = travel_time_surface(graph, point, mode=mode, direction=direction, cell_m=cell_m, bounds=bounds,
                                  max_minutes=max(mins))
    if output is not None and output.suffix.lower() in (".tif", ".tiff"):
        to_geotiff(surface, output)
        click.echo(f"wrote {output}", err=True)
        return
    _write(isochrones(surface, mins).to_json(drop_id=True, ensure_ascii=False), output)


#: Columns of ``reach --format table`` (empty ones are left out, e.g. population without an import).
REACH_TABLE_COLUMNS = ("code", "name_zh", "basis", "minutes_car", "minutes_rail", "minutes_best", "within",
                       "share_area_within", "min", "median", "max", "population", "population_within",
                       "share_population_within", "status")


def _table_text(table: Any, fmt: str) -> str:
    """Render the reach table as JSON, CSV (UTF-8 with a BOM) or a terminal table aligned by display width.

    JSON is the chosen mode's table as the API returns it; CSV and the table put the minutes by
    every mode first (:func:`geo_app.reports.exports.reach_export`). Shares print as percentages
    and missing values as ``—`` in the table.
    """
    from ..reports.tables import csv_text, frame_text

    if fmt == "json":
        return json.dumps(table.to_dict(orient="records"), ensure_ascii=False, indent=1)
    if fmt == "csv":
        return csv_text(table)
    return frame_text(table, columns=REACH_TABLE_COLUMNS)


@click.command("reach")
@click.option("--to", "to", default="changchun", show_default=True, help="Destination: name or LON,LAT.")
@click.option("--mode", default="best", show_default=True, help="car | rail | best")
@click.option("--minutes", default="120", show_default=True, help="Threshold minutes (1-240).")
@click.option("--cell", default="250", show_default=True, help="Cell size in metres (50-2000).")
@click.option("--format", "fmt", default="table", show_default=True, help="table | json | csv")
@click.option("--sensitivity", is_flag=True,
              help="Instead of the table: the county's share within the minutes under low / model / high values "
                   "of each assumption (off-network speed and circuity, station entry, boarding wait, road speeds).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@with_appcontext
@domain_errors
def reach_cmd(to: str, mode: str, minutes: str, cell: str, fmt: str, sensitivity: bool, output: Path | None) -> None:
    """Per-township reach table to a destination (default Changchun)."""
    from ..analysis.accessibility import reach_inputs, reach_table
    from ..analysis.routing import resolve_place

    mode = parse_choice(mode, "mode", MODES)
    fmt = parse_choice(fmt, "format", ("table", "json", "csv"))
    limit = parse_int(minutes, "minutes", lo=1, hi=240)
    cell_m = parse_int(cell, "cell", lo=50, hi=2000)
    layers = extension()["layers"]
    dest = resolve_place(to, layers.frame("places"))
    if sensitivity:
        _write(_sensitivity_text(layers, dest, mode, limit, cell_m, fmt), output)
        return
    if fmt == "json":
        _, table = reach_table(extension()["graph"](), **reach_inputs(layers), to_lonlat=dest, mode=mode,
                               minutes=limit, cell_m=cell_m)
    else:
        from ..reports.exports import reach_export

        _, table = reach_export(extension()["graph"](), layers, to_lonlat=dest, mode=mode, minutes=limit,
                                cell_m=cell_m)
    _write(_table_text(table, fmt), output)


#: Columns of ``reach --sensitivity --format table`` (people only with an imported population).
SENSITIVITY_COLUMNS = ("parameter", "label_zh", "unit", "low", "model", "high", "share_low", "share_model",
                       "share_high", "spread", "people_low", "people_model", "people_high")


def _sensitivity_text(layers: Any, dest: tuple[float, float], mode: str, minutes: int, cell_m: int, fmt: str) -> str:
    """The sensitivity table (:func:`geo_app.analysis.sensitivity.sensitivity_table`) as table, JSON or CSV."""
    import pandas as pd

    from ..analysis.accessibility import reach_inputs
    from ..analysis.sensitivity import COLUMNS, sensitivity_table
    from ..reports.tables import csv_text, frame_text

    inputs = reach_inputs(layers)
    rows = sensitivity_table(extension()["graph"](), inputs["boundary"], to_lonlat=dest, mode=mode, minutes=minutes,
                             cell_m=cell_m, population=inputs["population"])
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1)
    frame = pd.DataFrame([{**r, "model": "½ headway" if r["model"] is None else r["model"]} for r in rows],
                         columns=list(COLUMNS)).astype(object)
    if fmt == "csv":
        return csv_text(frame)
    kinds = {c: "share" for c in ("share_low", "share_model", "share_high", "spread")}
    kinds.update({c: "int" for c in ("people_low", "people_model", "people_high")})
    return frame_text(frame, columns=SENSITIVITY_COLUMNS, kinds=kinds)


@click.command("route")
@click.option("--from", "origin", required=True, help="Origin LON,LAT.")
@click.option("--to", "dest", default="changchun", show_default=True, help="changchun, a place name or LON,LAT.")
@click.option("--mode", default="best", show_default=True, help="car | rail | best")
@NETWORK_OPTION
@with_appcontext
@domain_errors
def route_cmd(origin: str, dest: str, mode: str, network: Path | None) -> None:
    """Fastest route: minutes, km, modes used and the path (GeoJSON geometry)."""
    from shapely.geometry import mapping

    from ..analysis.routing import resolve_place, route

    o = parse_lonlat(origin, "from")
    mode = parse_choice(mode, "mode", MODES)
    d = resolve_place(dest, extension()["layers"].frame("places"))
    graph = _graph(network)
    _within_network(graph, network, o, "from")
    _within_network(graph, network, d, "to")
    res = route(graph, o, d, mode=mode)
    res["geometry"] = None if res["geometry"] is None else mapping(res["geometry"])
    res["status"] = "ok" if res["minutes"] is not None else "unreachable"
    click.echo(json.dumps(res, ensure_ascii=False))


@click.group("network")
def network_group() -> None:
    """Build the travel network."""


@network_group.command("build")
@click.option("--osm", "source", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="FILE.osm.pbf, FILE.osm, FILE.osm.bz2 or FILE.graphml")
@click.option("--clip", default="metro", show_default=True,
              help="county | metro | none | W,S,E,N | FILE.geojson: keep the ways with a node inside.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output .npz [data/routes/roads.npz]; a .graphml output takes the older osmnx path.")
@click.option("--service", is_flag=True, help="Keep highway=service roads (not parking aisles or private).")
@click.option("--ferry", is_flag=True, help="Keep car ferries (route=ferry).")
@click.option("--spacing", default=1000.0, show_default=True, type=click.FloatRange(min=0),
              help="Metres between the nodes kept along long contracted roads (0: contract fully).")
@click.option("--index", default="flex_mem", show_default=True,
              help="pyosmium node-location index, e.g. sparse_file_array,/tmp/nodes.idx for a whole country.")
@with_appcontext
@domain_errors
def network_build(source: Path, clip: str, output: Path | None, service: bool, ferry: bool, spacing: float,
                  index: str) -> None:
    """Build the road network from an OpenStreetMap extract (pyosmium), clipped while reading."""
    from ..errors import ValidationError
    from ..network.osm import build_osm_network, summary_lines
    from ..network.roads import load_model

    data_dir = Path(current_app.config["DATA_DIR"])
    params = load_model(data_dir / "routes" / "model.toml")
    out = output or data_dir / "routes" / "roads.npz"
    if out.suffix.lower() == ".graphml":
        if source.suffix.lower() not in (".osm", ".graphml"):
            raise ValidationError("a .graphml output takes .osm or .graphml input (osmnx); write .npz for "
                                  f"{source.name}", field="output")
        _build_graphml(source, out, params)
        return
    try:
        meta = build_osm_network(source, out, data_dir=data_dir, params=params, clip=clip, service=service,
                                 ferry=ferry, spacing_m=spacing, index=index)
    except ValueError as exc:
        raise ValidationError(str(exc), field="osm") from None
    click.echo("\n".join(summary_lines(meta)))
    if output is not None and output.resolve() != (data_dir / "routes" / "roads.npz").resolve():
        click.echo(f"use it with GEO_APP_NETWORK={out} (or --network {out} for route and isochrone)")


def _build_graphml(source: Path, out: Path, params: dict[str, Any]) -> None:
    """The older osmnx path (.osm or .graphml in, graphml out), kept for existing graphml users."""
    from ..network.roads import build_osm_graph, load_graphml_network

    path = build_osm_graph(source, out, params=params)
    net = load_graphml_network(path)
    click.echo(f"wrote {path}: {len(net.lonlat)} nodes, {len(net.u)} edges")


COMMANDS: list[click.Command] = [isochrone_cmd, reach_cmd, route_cmd, network_group]
