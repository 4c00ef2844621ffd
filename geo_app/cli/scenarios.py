"""`geo-app scenario list` and `geo-app scenario compare NAME` (the scenarios feature).

A domain error (unknown scenario, a broken scenario file) prints its message, which names the
file and the line, and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from ._support import domain_errors


@click.group("scenario")
def scenario_group() -> None:
    """Network scenarios (data/scenarios/*.toml): list them, compare one with today."""


@scenario_group.command("list")
@with_appcontext
def list_cmd() -> None:
    """List the scenario files with their titles (and any file that does not parse)."""
    from ..analysis.scenarios import ScenarioError, list_scenarios
    from ..web.scenarios import scenarios_dir

    for item in list_scenarios(scenarios_dir()):
        if isinstance(item, ScenarioError):
            click.echo(f"{Path(item.path).stem:<28} ERROR {item.message}")
            continue
        edits = ", ".join(f"{len(v)} {k}" for k, v in item.edits.items() if v)
        click.echo(f"{item.name:<28} {item.meta['title_zh']} / {item.meta['title_en']}  [{edits}; mode {item.mode}]")


@scenario_group.command("compare")
@click.argument("name")
@click.option("--mode", default=None, help="car | rail | best  [the scenario's mode, else best]")
@click.option("--minutes", default="120", show_default=True, help="Threshold minutes (1-240).")
@click.option("--cell", default="250", show_default=True, help="Cell size in metres (100-2000).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="diff.tif (minutes saved) or table.csv; a summary and the table on stdout when omitted.")
@with_appcontext
@domain_errors
def compare_cmd(name: str, mode: str | None, minutes: str, cell: str, output: Path | None) -> None:
    """Compare scenario NAME with today's network: reach to Changchun before and after."""
    from ..analysis import scenarios as sc
    from ..web.scenarios import compare_request, run_compare, scenarios_dir

    scenario = sc.find_scenario(scenarios_dir(), name)
    req = compare_request({"mode": mode, "minutes": minutes, "cell": cell}, scenario)
    comparison = run_compare(scenario, req)
    if output is not None and output.suffix.lower() in (".tif", ".tiff"):
        sc.to_geotiff(comparison, output)
        click.echo(f"wrote {output}", err=True)
        return
    from ..reports.tables import csv_text, frame_text

    if output is not None:  # UTF-8 with a BOM, so Excel in a Chinese locale reads it
        Path(output).write_text(csv_text(comparison.table), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
        return
    click.echo(f"{scenario.meta['title_zh']} / {scenario.meta['title_en']}  (mode {req['mode']}, "
               f"{req['minutes']} min, {req['cell']} m)")
    click.echo(json.dumps(comparison.summary, ensure_ascii=False))
    click.echo(frame_text(comparison.table, columns=[c for c in comparison.table.columns
                                                     if c not in ("level", "name_en", "has_boundary")]))


COMMANDS: list[click.Command] = [scenario_group]
