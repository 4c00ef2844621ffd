"""`geo-app review`: review a proposed project site and print the report as JSON.

A domain error (site outside the county, bad GeoJSON) prints its message and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from ._support import domain_errors, extension


@click.command("review")
@click.option("--lon", type=float, help="Site longitude (WGS84).")
@click.option("--lat", type=float, help="Site latitude (WGS84).")
@click.option("--polygon", "polygon", type=click.Path(exists=True, dir_okay=False),
              help="GeoJSON file with the site polygon (instead of --lon/--lat).")
@click.option("--project", default=None, help="Project name (a name from data/projects.csv brings its sector).")
@click.option("--sector", default=None, help="Project sector, e.g. 医药健康.")
@click.option("--save", is_flag=True, help="Store the review (as POST /api/reviews does).")
@with_appcontext
@domain_errors
def review_cmd(lon: float | None, lat: float | None, polygon: str | None, project: str | None,
               sector: str | None, save: bool) -> None:
    """Review a proposed project site and print the report as JSON."""
    from ..reviews import geojson_upload

    svc = extension()["reviews"]
    if polygon:
        geometry = geojson_upload(Path(polygon).read_bytes())
    elif lon is not None and lat is not None:
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    else:
        raise click.UsageError("give --lon and --lat, or --polygon FILE")
    payload = {"geometry": geometry, "project": project, "sector": sector}
    if save:
        rid, report = svc.submit(payload)
        report = {"id": rid, **report}
    else:
        report = svc.review(svc.parse(payload))
    click.echo(json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False))


COMMANDS: list[click.Command] = [review_cmd]
