"""The reach table as a planner files it: minutes to the destination by car, rail and the best mode.

:func:`reach_export` runs the reach analysis once per mode and puts, after the unit's name, the
basis of its figure (the median cell of a unit with a boundary, else its point), the minutes by
each mode and whether the best mode is within the threshold; the chosen mode's full table
follows unchanged. Written with :func:`geo_app.reports.tables.csv_text` (UTF-8 with a BOM).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..analysis.accessibility import reach_inputs, reach_table

MODES = ("car", "rail", "best")


def unit_minutes(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per row: the basis (``median cell`` / ``its point``) and its minutes (None when neither exists)."""
    has = table["has_boundary"].fillna(False).astype(bool)
    median = table["median"].where(has & table["median"].notna(), None)
    point = table["seat_minutes"].where(~has & table["seat_minutes"].notna(), None)
    minutes = median.where(median.notna(), point).astype(object)
    basis = pd.Series(["median cell" if h else ("its point" if p is not None and not pd.isna(p) else None)
                       for h, p in zip(has & median.notna(), point, strict=True)], index=table.index, dtype=object)
    return basis, minutes.where(minutes.notna(), None)


def reach_export(graph: Any, layers: Any, *, to_lonlat: tuple[float, float], mode: str = "best",
                 minutes: int = 120, cell_m: int = 250) -> tuple[Any, pd.DataFrame]:
    """The reach table of ``mode`` with minutes by every mode in front.

    Parameters
    ----------
    graph
        The travel graph.
    layers
        The layer registry (townships, boundary, points, population).
    to_lonlat
        Destination, WGS84.
    mode
        The mode of the full table (``share_area_within``, ``min``, ``median``, …).
    minutes
        Threshold of ``share_area_within`` and ``within``.
    cell_m
        Cell size in metres.

    Returns
    -------
    tuple
        ``(surface of mode, table)``; the table's columns are ``level, code, name_zh, name_en,
        has_boundary, basis, minutes_car, minutes_rail, minutes_best, within``, then the rest of
        the reach table's columns.
    """
    inputs = reach_inputs(layers)
    tables: dict[str, pd.DataFrame] = {}
    surface = None
    for m in MODES:
        surf, tables[m] = reach_table(graph, **inputs, to_lonlat=to_lonlat, mode=m, minutes=minutes, cell_m=cell_m)
        if m == mode:
            surface = surf
    base = tables[mode]
    head = base[["level", "code", "name_zh", "name_en", "has_boundary"]].copy()
    head["basis"], _ = unit_minutes(tables["best"])
    for m in MODES:
        head[f"minutes_{m}"] = unit_minutes(tables[m])[1]
    best = head["minutes_best"]
    head["within"] = [None if v is None or pd.isna(v) else bool(v <= minutes) for v in best]
    rest = base.drop(columns=[c for c in head.columns if c in base.columns])
    out = pd.concat([head, rest], axis=1).astype(object)
    return surface, out.where(pd.notna(out), None)
