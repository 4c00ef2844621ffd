"""`geo-app review`: review a proposed project site; print the report as JSON or text, write a PDF.

A domain error (site outside the county, bad GeoJSON) prints its message and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from shapely.geometry import mapping

from ._support import domain_errors, extension


@click.command("review")
@click.option("--lon", type=float, help="Site longitude (WGS84).")
@click.option("--lat", type=float, help="Site latitude (WGS84).")
@click.option("--polygon", "polygon", type=click.Path(exists=True, dir_okay=False),
              help="GeoJSON file with the site polygon (instead of --lon/--lat).")
@click.option("--project", default=None, help="Project name (a name from data/projects.csv brings its sector).")
@click.option("--sector", default=None, help="Project sector, e.g. 医药健康.")
@click.option("--save", is_flag=True, help="Store the review (as POST /api/reviews does).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True,
              help="json, or text for reading in a terminal (findings aligned in columns).")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the A4 PDF report (map, findings, verdict, versions) to this file.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of --format text and --pdf.")
@with_appcontext
@domain_errors
def review_cmd(lon: float | None, lat: float | None, polygon: str | None, project: str | None,
               sector: str | None, save: bool, fmt: str, pdf: Path | None, lang: str) -> None:
    """Review a proposed project site and print the report (JSON, or text); optionally write a PDF."""
    from ..reviews import geojson_upload
    from ..storage import data_version
    from ..storage.base import utc_now

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
        row = svc.store.get(rid)
        report = {"id": rid, **report}
    else:
        inp = svc.parse(payload)
        report = svc.review(inp)
        row = {"geometry": mapping(inp.geometry), "report": report, "project": inp.project,
               "created_at": utc_now(), "data_version": data_version(svc.data_dir)}
    if pdf is not None:
        _write_pdf(row, pdf, lang)
    if fmt == "text":
        from ..reports.review_text import review_text

        click.echo(review_text(row, lang=lang, tz=current_app.config.get("TIMEZONE")))
    else:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False))


def _write_pdf(row: dict, path: Path, lang: str) -> None:
    """Write the review's PDF (the same as ``/reviews/<id>.pdf``)."""
    from ..reports.review import review_report_pdf

    ext = extension()
    data = review_report_pdf(row, ext["layers"], ext["graph"](), lang=lang, tz=current_app.config.get("TIMEZONE"))
    Path(path).write_bytes(data)
    click.echo(f"wrote {path}", err=True)


COMMANDS: list[click.Command] = [review_cmd]
