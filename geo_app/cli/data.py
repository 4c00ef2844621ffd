"""`geo-app data` commands: ``import``, ``undo`` and ``reload``.

A domain error prints its message and exits with status 2; a blocked import prints the
report and exits with status 2 too, having written nothing in the data folder.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ._support import domain_errors, extension


def _registry() -> Any:
    """The app's layer registry."""
    return extension()["layers"]


def _author(note: str | None) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"{user} (cli)" + (f": {note}" if note else "")


@click.group("data")
def data_group() -> None:
    """Import the bureau's own layers, undo imports and edits, reload the running data."""


@data_group.command("import")
@click.argument("layer")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--crs", default=None, help="EPSG:NNNN, cgcs2000, wgs84, gcj02 or bd09 (default: the file's; "
                                          "detected when it has none).")
@click.option("--name-field", default=None, help="Column holding the names (default: name_zh, name, 名称, ...).")
@click.option("--code-field", default=None, help="Column holding the official codes (default: code, XZQDM, ...).")
@click.option("--dry-run", is_flag=True, help="Print and save the report, write nothing.")
@click.option("--force", is_flag=True, help="Import despite unmatched names or geometries make_valid repaired.")
@click.option("--note", default="", help="Author note for the layer history.")
@click.option("--source-layer", default=None, help="The layer to read from a file with several (GeoPackage, "
                                                   "FileGDB, zip of Shapefiles); without it they are listed.")
@click.option("--encoding", default=None, help="Text encoding of the attributes (default: .cpg, DBF LDID, then "
                                               "UTF-8 or GB18030 from the text).")
@click.option("--json", "as_json", is_flag=True, help="Print the validation report as one JSON object "
                                                      "(other messages go to stderr).")
@click.option("--year", default=None, help="population: the year of the figures (required for a raster).")
@click.option("--source", default=None, help="dem, population: who made the data (default: the file names).")
@with_appcontext
@domain_errors
def import_cmd(layer: str, files: tuple[Path, ...], crs: str | None, name_field: str | None,
               code_field: str | None, dry_run: bool, force: bool, note: str, source_layer: str | None,
               encoding: str | None, as_json: bool, year: str | None, source: str | None) -> None:
    """Import FILE (Shapefile, zip, GeoPackage, FileGDB folder, GeoJSON) as LAYER, converted to WGS84.

    LAYER ``dem`` takes one or more GeoTIFF tiles (any CRS), mosaicked into data/dem.tif;
    ``population`` takes a GeoTIFF of people per cell or a CSV of township populations.
    """
    from .. import importer
    from ..importer.file_layers import FILE_LAYERS

    if layer in FILE_LAYERS:
        _import_file_layer(layer, files, year=year, source=source, name_field=name_field, code_field=code_field,
                           force=force, dry_run=dry_run, note=note)
        return
    if len(files) != 1:
        raise click.UsageError(f"layer {layer} takes one FILE (several files only for dem)")
    src = importer.read_source(files[0], source_layer=source_layer, encoding=encoding)
    _import_vector(src, layer, crs=crs, name_field=name_field, code_field=code_field, force=force,
                   dry_run=dry_run, note=note, as_json=as_json)


def _import_vector(src: Any, layer: str, *, crs: str | None, name_field: str | None, code_field: str | None,
                   force: bool, dry_run: bool, note: str, as_json: bool) -> None:
    """``data import LAYER FILE`` for vector layers: report (text or JSON), then write unless a dry run."""
    from .. import importer

    reg = _registry()
    data_dir = Path(current_app.config["DATA_DIR"])
    # Checked against the layer as it is while the lock is held, so a save from the web (or
    # another import) cannot slip in between the check and the write.
    lock = (contextlib.nullcontext() if dry_run else
            importer.write_lock(data_dir, timeout_s=float(current_app.config["DATA_LOCK_TIMEOUT_S"])))
    with lock:
        plan = importer.prepare_import(src, layer, reg, crs=crs, name_field=name_field, code_field=code_field,
                                       force=force)
        plan.note = note
        saved = importer.save_report(plan.report, Path(current_app.instance_path) / "import-reports")
        if as_json:
            click.echo(json.dumps(importer.validation_json(plan), ensure_ascii=False, indent=1))
        else:
            click.echo(importer.format_report(plan.report))
        click.echo(f"report saved to {saved}", err=as_json)
        if not plan.ok:
            click.echo("geo-app: import blocked; nothing was written", err=True)
            sys.exit(2)
        if dry_run:
            click.echo("dry run: nothing written", err=as_json)
            return
        entry = importer.apply_import(plan, data_dir, reg, author=_author(note))
    reg.clear()
    click.echo(f"wrote {reg.path(layer)} (previous file kept as {entry['backup']}); "
               "a running service uses it from its next request", err=as_json)


def _import_file_layer(layer: str, files: tuple[Path, ...], *, dry_run: bool, note: str, **options: Any) -> None:
    """``data import dem|population``: report, then (unless a dry run) write under the data folder's lock."""
    from .. import importer
    from ..importer.file_layers import prepare_file_layer
    from ..importer.files import apply_file_plan, format_file_report

    data_dir = Path(current_app.config["DATA_DIR"])
    plan = prepare_file_layer(layer, list(files), _registry(), **options)
    plan.note = note
    saved = importer.save_report(plan.report, Path(current_app.instance_path) / "import-reports")
    click.echo(format_file_report(plan.report))
    click.echo(f"report saved to {saved}")
    if not plan.ok:
        click.echo("geo-app: import blocked; nothing was written", err=True)
        sys.exit(2)
    if dry_run:
        click.echo("dry run: nothing written")
        return
    with importer.write_lock(data_dir, timeout_s=float(current_app.config["DATA_LOCK_TIMEOUT_S"])):
        entry = apply_file_plan(plan, data_dir, author=_author(note))
    backups = ", ".join(b for b in entry["backups"].values() if b) or "none"
    click.echo(f"wrote {', '.join(entry['files'])} in {data_dir} (previous files kept: {backups}); "
               "a running service uses it from its next request")


@data_group.command("undo")
@click.argument("layer")
@click.option("--note", default="", help="Author note for the layer history.")
@with_appcontext
@domain_errors
def undo_cmd(layer: str, note: str) -> None:
    """Revert the last import or drawing saved into LAYER (restores its backup)."""
    from .. import importer
    from ..importer.files import FILE_LAYERS, undo_files

    reg = _registry()
    data_dir = Path(current_app.config["DATA_DIR"])
    with importer.write_lock(data_dir, timeout_s=float(current_app.config["DATA_LOCK_TIMEOUT_S"])):
        if layer in FILE_LAYERS:
            entry = undo_files(data_dir, layer, author=_author(note), note=note)
            kept = ", ".join(b for b in entry["backups"].values() if b) or "none"
            click.echo(f"{layer}: reverted change {entry['reverts']}, restored "
                       f"{', '.join(entry['restored']) or 'no file (there was none before)'} (kept: {kept})")
            return
        entry = importer.undo(data_dir, layer, reg, author=_author(note), note=note)
    reg.clear()
    click.echo(f"{layer}: reverted change {entry['reverts']}, restored {entry['restored']} "
               f"(the undone file is kept as {entry['backup']})")


@data_group.command("reload")
@with_appcontext
@domain_errors
def reload_cmd() -> None:
    """Drop this process's cached layers and re-read every data file (checks that they load).

    A running ``geo-app serve`` needs no reload: it re-reads a layer file on the first request
    after the file changed, whichever process changed it.
    """
    reg = _registry()
    reg.clear()
    reg.load_all()
    for spec in reg:
        s = reg.summary(spec.name)
        click.echo(f"{s['name']:<16}{s['features']:>6} features, {s['with_geometry']:>5} with geometry")


COMMANDS: list[click.Command] = [data_group]
