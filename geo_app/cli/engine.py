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


@click.command("isochrone")
@click.option("--lon", required=True, help="Longitude (WGS84).")
@click.option("--lat", required=True, help="Latitude (WGS84).")
@click.option("--minutes", default="30,60,90,120", show_default=True, help="Increasing contour minutes.")
@click.option("--mode", default="best", show_default=True, help="car | rail | best")
@click.option("--direction", default="from", show_default=True, help="from | to")
@click.option("--cell", default="250", show_default=True, help="Cell size in metres (50-2000).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FILE.geojson or FILE.tif; GeoJSON on stdout when omitted.")
@with_appcontext
@domain_errors
def isochrone_cmd(lon: str, lat: str, minutes: str, mode: str, direction: str, cell: str,
                  output: Path | None) -> None:
    """Isochrones (contour polygons) from or to a point."""
    from ..analysis.isochrones import isochrones
    from ..analysis.surface import to_geotiff, travel_time_surface
    from ..validate import check_lonlat

    point = check_lonlat(parse_float(lon, "lon"), parse_float(lat, "lat"), "lon,lat")
    mins = parse_minutes(minutes)
    mode = parse_choice(mode, "mode", MODES)
    direction = parse_choice(direction, "direction", ("from", "to"))
    cell_m = parse_int(cell, "cell", lo=50, hi=2000)
    surface = travel_time_surface(extension()["graph"](), point, mode=mode, direction=direction, cell_m=cell_m,
                                  max_minutes=max(mins))
    if output is not None and output.suffix.lower() in (".tif", ".tiff"):
        to_geotiff(surface, output)
        click.echo(f"wrote {output}", err=True)
        return
    _write(isochrones(surface, mins).to_json(drop_id=True, ensure_ascii=False), output)


def _table_text(table: Any, fmt: str) -> str:
    """Render the reach table as text, JSON or CSV."""
    if fmt == "json":
        return json.dumps(table.to_dict(orient="records"), ensure_ascii=False, indent=1)
    if fmt == "csv":
        return table.to_csv(index=False)
    return table.to_string(index=False, na_rep="—")


@click.command("reach")
@click.option("--to", "to", default="changchun", show_default=True, help="Destination: name or LON,LAT.")
@click.option("--mode", default="best", show_default=True, help="car | rail | best")
@click.option("--minutes", default="120", show_default=True, help="Threshold minutes (1-240).")
@click.option("--cell", default="250", show_default=True, help="Cell size in metres (50-2000).")
@click.option("--format", "fmt", default="table", show_default=True, help="table | json | csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@with_appcontext
@domain_errors
def reach_cmd(to: str, mode: str, minutes: str, cell: str, fmt: str, output: Path | None) -> None:
    """Per-township reach table to a destination (default Changchun)."""
    from ..analysis.accessibility import reach_inputs, reach_table
    from ..analysis.routing import resolve_place

    mode = parse_choice(mode, "mode", MODES)
    fmt = parse_choice(fmt, "format", ("table", "json", "csv"))
    limit = parse_int(minutes, "minutes", lo=1, hi=240)
    cell_m = parse_int(cell, "cell", lo=50, hi=2000)
    layers = extension()["layers"]
    dest = resolve_place(to, layers.frame("places"))
    _, table = reach_table(extension()["graph"](), **reach_inputs(layers), to_lonlat=dest, mode=mode, minutes=limit,
                           cell_m=cell_m)
    _write(_table_text(table, fmt), output)


@click.command("route")
@click.option("--from", "origin", required=True, help="Origin LON,LAT.")
@click.option("--to", "dest", default="changchun", show_default=True, help="changchun, a place name or LON,LAT.")
@click.option("--mode", default="best", show_default=True, help="car | rail | best")
@with_appcontext
@domain_errors
def route_cmd(origin: str, dest: str, mode: str) -> None:
    """Fastest route: minutes, km, modes used and the path (GeoJSON geometry)."""
    from shapely.geometry import mapping

    from ..analysis.routing import resolve_place, route

    o = parse_lonlat(origin, "from")
    mode = parse_choice(mode, "mode", MODES)
    d = resolve_place(dest, extension()["layers"].frame("places"))
    res = route(extension()["graph"](), o, d, mode=mode)
    res["geometry"] = None if res["geometry"] is None else mapping(res["geometry"])
    res["status"] = "ok" if res["minutes"] is not None else "unreachable"
    click.echo(json.dumps(res, ensure_ascii=False))


@click.group("network")
def network_group() -> None:
    """Build the travel network."""


@network_group.command("build")
@click.option("--osm", "source", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="FILE.osm or FILE.graphml")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output graphml [data/routes/roads.graphml].")
@with_appcontext
@domain_errors
def network_build(source: Path, output: Path | None) -> None:
    """Build a drivable road graphml from OpenStreetMap data (osmnx)."""
    from ..network.roads import build_osm_graph, load_graphml_network, load_model

    data_dir = Path(current_app.config["DATA_DIR"])
    out = output or data_dir / "routes" / "roads.graphml"
    params = load_model(data_dir / "routes" / "model.toml")
    path = build_osm_graph(source, out, params=params)
    net = load_graphml_network(path)
    click.echo(f"wrote {path}: {len(net.lonlat)} nodes, {len(net.u)} edges")


COMMANDS: list[click.Command] = [isochrone_cmd, reach_cmd, route_cmd, network_group]
