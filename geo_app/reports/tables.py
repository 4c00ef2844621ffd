"""Tables for a terminal and for a spreadsheet.

Terminal tables align by *display* width: a Chinese character takes two columns
(:func:`unicodedata.east_asian_width` ``W``/``F``), a combining mark none, so 梅河口市 lines up
with Meihekou. Shares print as percentages, minutes with one decimal, and a missing value as
``—``. CSV text starts with a UTF-8 byte-order mark, which Excel in a Chinese locale needs to
read UTF-8 instead of GBK.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

#: UTF-8 byte-order mark written at the start of every CSV export.
BOM = "\ufeff"
MISSING = "—"
#: How each known column of the reach and scenario tables is printed.
KINDS = {
    "share_area_within": "share", "share_beyond_limit": "share", "share_population_within": "share",
    "before_share": "share", "after_share": "share",
    "min": "minutes", "median": "minutes", "max": "minutes", "seat_minutes": "minutes", "before": "minutes",
    "after": "minutes", "change": "minutes", "minutes_car": "minutes", "minutes_rail": "minutes",
    "minutes_best": "minutes",
    "has_boundary": "bool", "newly_within": "bool", "within": "bool",
    "population": "int", "population_within": "int", "before_population_within": "int",
    "after_population_within": "int", "population_year": "int",
}
_RIGHT = {"share", "minutes", "int"}


def display_width(value: str) -> int:
    """Columns ``value`` takes in a terminal (wide and full-width characters count 2)."""
    width = 0
    for ch in value:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def fit(value: str, width: int, *, right: bool = False) -> str:
    """Pad ``value`` with spaces to ``width`` display columns."""
    gap = " " * max(width - display_width(value), 0)
    return gap + value if right else value + gap


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_share(value: Any) -> str:
    """A share (0–1) as a percentage with one decimal: ``0.3%``; ``<0.1%`` for a sliver, ``0%`` for none."""
    if _missing(value):
        return MISSING
    x = min(max(float(value), 0.0), 1.0)
    if x in (0.0, 1.0):
        return f"{x * 100:.0f}%"
    pct = x * 100
    if pct < 0.05:
        return "<0.1%"
    if pct > 99.95:
        return ">99.9%"
    return f"{pct:.1f}%"


def fmt_cell(value: Any, kind: str = "text") -> str:
    """One cell as text: ``—`` when missing; shares as percentages; minutes with one decimal."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return MISSING
    if kind == "share":
        return fmt_share(value)
    if kind == "minutes":
        return f"{float(value):.1f}" if math.isfinite(float(value)) else MISSING
    if kind == "int":
        return f"{int(round(float(value))):,}"
    if kind == "bool":
        return "yes" if bool(value) else "no"
    return str(value)


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str], *, right: Iterable[int] = ()) -> str:
    """Align text cells into columns by display width (the last column is not padded).

    Parameters
    ----------
    rows
        Cells as text.
    header
        Column titles.
    right
        Indices of the columns to right-align (numbers).
    """
    right = set(right)
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(display_width(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for r in table:
        cells = [c if i == len(r) - 1 and i not in right else fit(c, widths[i], right=i in right)
                 for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    rule = "  ".join("─" * w for w in widths)
    return "\n".join([lines[0], rule, *lines[1:]])


def frame_text(frame: pd.DataFrame, *, columns: Sequence[str] | None = None,
               kinds: Mapping[str, str] | None = None) -> str:
    """A DataFrame as an aligned terminal table; columns that are empty in every row are left out."""
    kinds = {**KINDS, **(kinds or {})}
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns and not frame[c].map(_missing).all()]
    rows = [[fmt_cell(v, kinds.get(c, "text")) for c, v in zip(cols, rec, strict=True)]
            for rec in frame[cols].itertuples(index=False)]
    return text_table(rows, cols, right=[i for i, c in enumerate(cols) if kinds.get(c, "text") in _RIGHT])


def csv_text(frame: pd.DataFrame) -> str:
    """CSV text of a table, starting with the UTF-8 BOM (write it with ``encoding="utf-8"``)."""
    return BOM + frame.to_csv(index=False, lineterminator="\n")
