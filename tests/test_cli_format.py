"""The command line: product-only help, a plain click group, tables aligned by display width."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from geo_app.cli import main
from geo_app.reports.tables import display_width, fit, fmt_cell, fmt_share, text_table


def test_help_lists_the_products_commands_only():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0, res.output
    for flask_only in ("--app", "--env-file", "--debug", "limiter", "FLASK"):
        assert flask_only not in res.output
    for cmd in ("serve", "layers", "isochrone", "reach", "route", "review", "network", "data", "scenario",
                "users", "audit", "batch"):
        assert re.search(rf"^\s+{cmd}\s", res.output, re.M), cmd
    assert type(main) is not __import__("flask.cli", fromlist=["FlaskGroup"]).FlaskGroup
    assert isinstance(main, click.Group) and "limiter" not in main.commands


def test_console_script_creates_the_app_itself(tmp_path):
    """Without a test runner's ScriptInfo the group builds the app from GEO_APP_* (no --app needed)."""
    res = CliRunner().invoke(main, ["layers"], env={"GEO_APP_INSTANCE": str(tmp_path / "instance")})
    assert res.exit_code == 0, res.output
    assert "boundary" in res.output and "rail_lines" in res.output


def test_display_width_and_cells():
    assert display_width("梅河口市") == 8 and display_width("Meihekou") == 8 and display_width("ｅ") == 2
    assert display_width("e\u0301") == 1  # a combining accent takes no column
    assert fit("山城镇", 8) == "山城镇  " and fit("5", 3, right=True) == "  5"
    assert fmt_share(0.0027) == "0.3%" and fmt_share(0.0004) == "<0.1%" and fmt_share(0) == "0%"
    assert fmt_share(0.9999) == ">99.9%" and fmt_share(None) == "—" and fmt_share(float("nan")) == "—"
    assert fmt_cell(None) == "—" and fmt_cell(118.44, "minutes") == "118.4" and fmt_cell("", "text") == "—"
    assert fmt_cell(True, "bool") == "yes" and fmt_cell(12345.0, "int") == "12,345"
    table = text_table([["梅河口市", "1.0"], ["x", "22.5"]], ["name", "min"], right=[1])
    assert [display_width(line) for line in table.splitlines()] == [14, 14, 14, 14]  # 8 + 2 + 4


def _cell_starts(line: str) -> list[int]:
    """Display columns where the cells of a table line start (cells are separated by 2+ spaces)."""
    out, col, prev_space = [], 0, 2
    for ch in line:
        if ch != " " and prev_space >= 2:
            out.append(col)
        prev_space = prev_space + 1 if ch == " " else 0
        col += display_width(ch)
    return out


def test_reach_table_aligns_chinese_columns(invoke):
    res = invoke(["reach", "--cell", "1000"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    header = lines[0]
    assert header.split()[:3] == ["code", "name_zh", "basis"]
    assert "None" not in res.output and "nan" not in res.output.lower()
    county = next(ln for ln in lines if "梅河口市" in ln)
    assert re.search(r"\d+\.\d%|<0\.1%|\b0%", county)  # shares are percentages
    assert "—" in lines[2]  # a unit without a boundary has no share
    basis = display_width(header[: header.index("basis")])
    for ln in lines[2:]:  # every row's basis cell starts under its header, whatever the width of the names
        assert basis in _cell_starts(ln), ln
    assert len({display_width(ln) for ln in lines[2:] if ln.endswith("no boundary")}) == 1  # right edge too


def test_review_text_format_aligns_findings(invoke):
    res = invoke(["review", "--lon", "125.66", "--lat", "42.52", "--format", "text"])
    assert res.exit_code == 0, res.output
    assert not res.output.lstrip().startswith("{")
    lines = res.output.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("项目"))
    rows = lines[head + 2: lines.index("", head)]
    value_col = display_width(lines[head][: lines[head].index("结果")])
    assert len(rows) > 10 and all(value_col in _cell_starts(r) for r in rows)
    assert "结论：" in res.output and re.search(r"规则版本 v\d+", res.output)
    english = invoke(["review", "--lon", "125.66", "--lat", "42.52", "--format", "text", "--lang", "en"])
    assert "Siting review" in english.output and "Time to Changchun (car)" in english.output
    bad = invoke(["review", "--lon", "125.66", "--lat", "42.52", "--format", "xml"])
    assert bad.exit_code == 2


def test_scenario_table_has_no_none(invoke):
    res = invoke(["scenario", "compare", "fast_rail_changchun", "--cell", "1000"])
    assert res.exit_code == 0, res.output
    table = res.output.split("\n", 2)[2]
    assert "None" not in table and "梅河口市" in table and "%" in table


def test_reach_csv_starts_with_bom(invoke, tmp_path):
    out = tmp_path / "reach.csv"
    assert invoke(["reach", "--format", "csv", "--cell", "1000", "-o", str(out)]).exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"minutes_car,minutes_rail,minutes_best,within" in raw
    scen = tmp_path / "table.csv"
    assert invoke(["scenario", "compare", "fast_rail_changchun", "--cell", "1000", "-o", str(scen)]).exit_code == 0
    assert scen.read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("args", [["reach", "--format", "yaml"], ["review"]])
def test_bad_arguments_exit_2(invoke, args):
    assert invoke(args).exit_code == 2
