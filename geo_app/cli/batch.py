"""`geo-app batch reach`: travel time from every cell of an extent to many destinations, on Dask.

A click group collected in :data:`COMMANDS`; :mod:`geo_app.cli` adds it to ``geo-app``. A domain
error (unknown extent, destination file, scenario) prints its message and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ._support import domain_errors, extension

MODES = ("car", "rail", "best")


@click.group("batch")
def batch_group() -> None:
    """Batch accessibility for large extents, distributed with Dask."""


def _modes(text: str) -> list[str]:
    """Parse ``car,best`` into a list of known modes."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        raise click.BadParameter(f"modes must be a comma list of {', '.join(MODES)}; got {text!r}")
    return list(dict.fromkeys(modes))


def _scenario_graphs(names: tuple[str, ...]) -> dict[str, Any]:
    """``{"base": graph, NAME: scenario graph, ...}`` (scenarios via the app's scenario runner)."""
    graphs: dict[str, Any] = {"base": extension()["graph"]()}
    if not names:
        return graphs
    from ..web.scenarios import runner

    run = runner()
    for name in names:
        if name == "base" or name in graphs:
            continue
        graphs[name] = run.graph(run.scenario(name))
    return graphs


@batch_group.command("reach")
@click.option("--extent", default="metro", show_default=True, help="metro | county | FILE (polygons).")
@click.option("--cell", default=100.0, show_default=True, type=click.FloatRange(10, 5000),
              help="Cell size in metres (EPSG:32651 lattice).")
@click.option("--to", "to", default="seats", show_default=True,
              help="seats (the 41 places of data/places.geojson) | changchun | FILE (points).")
@click.option("--modes", default="car,best", show_default=True, help="Comma list of car, rail, best.")
@click.option("--scenario", "scenarios", multiple=True,
              help="Scenario NAME of data/scenarios (repeatable); today's network ('base') is always included.")
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler (tcp://HOST:PORT); "
              "default: a LocalCluster on this machine.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256),
              help="LocalCluster worker processes (one thread each).")
@click.option("--chunk-cells", default=200_000, show_default=True, type=click.IntRange(1_000, 10_000_000),
              help="Grid cells per task (bounds memory per task).")
@click.option("--max-minutes", default=240.0, show_default=True, type=click.FloatRange(1, 1440),
              help="Cells slower than this are NaN (also the search limit).")
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output GeoParquet dataset (folder of part files), e.g. reach.parquet.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
@domain_errors
def reach_cmd(extent: str, cell: float, to: str, modes: str, scenarios: tuple[str, ...], scheduler: str | None,
              workers: int, chunk_cells: int, max_minutes: float, out: Path, quiet: bool) -> None:
    """Travel time from every cell of EXTENT to every destination (reverse one-to-all per destination).

    Writes OUT (GeoParquet: cell_id, gx, gy, centroid geometry in EPSG:32651, one float32 minutes
    column per destination/mode/scenario, NaN = unreachable) and OUT-stem.counties.csv /
    OUT-stem.townships.csv (share of cells within 60/90/120 min).
    """
    from ..analysis import batch

    mode_list = _modes(modes)
    data_dir = Path(current_app.config["DATA_DIR"])
    ext_geom = batch.load_extent(extent, data_dir)
    dests = batch.load_destinations(to, data_dir)
    graphs = _scenario_graphs(scenarios)
    counties, townships = batch.load_units(data_dir)
    n_cols = len(dests) * len(mode_list) * len(graphs)
    grid = batch.Grid.covering(ext_geom.bounds, cell)
    click.echo(f"batch reach: extent {extent} at {cell:g} m (grid {grid.width} x {grid.height}), "
               f"{len(dests)} destinations x {len(mode_list)} modes x {len(graphs)} scenarios = {n_cols} columns; "
               f"{'scheduler ' + scheduler if scheduler else f'LocalCluster of {workers} workers'}", err=True)
    with batch.dask_client(scheduler, workers) as client:
        res = batch.batch_reach(graphs, ext_geom, dests, mode_list, out, client=client, cell_m=cell,
                                chunk_cells=chunk_cells, max_minutes=max_minutes, counties=counties,
                                townships=townships, progress=not quiet,
                                meta={"extent": str(extent), "to": str(to)})
    click.echo(f"wrote {res.out} ({res.cells} cells x {len(res.columns)} columns, {res.chunks} chunks) in "
               f"{res.seconds:.1f} s = {res.cell_destinations_per_s / 1e6:.2f} M cell-destinations/s", err=True)
    for path in (res.counties_csv, res.townships_csv):
        if path is not None:
            click.echo(f"wrote {path}", err=True)


COMMANDS: list[click.Command] = [batch_group]
