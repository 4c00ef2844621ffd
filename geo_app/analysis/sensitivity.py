"""How the county's reach moves with each assumption: one row per assumption, low / model / high.

Each row changes one assumption (:func:`geo_app.network.params.editable`: off-network speed and
circuity, station entry, boarding wait, the speed of each road class of the network) to its low
and its high value, the others staying at the model's values, and gives the county's share of area
within the minutes (and its people within them, when a population is imported) for the three. The
rows are sorted by how far the share moves, so the assumption that decides the answer comes first.
Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd

from ..i18n import text
from ..network.params import Parameter, editable
from ..network.variants import with_params
from .accessibility import reach_table
from .population import Population

#: Columns of :func:`sensitivity_table` rows.
COLUMNS = ("parameter", "label_zh", "label_en", "unit", "low", "model", "high", "share_low", "share_model",
           "share_high", "spread", "people_low", "people_model", "people_high", "share_low_confidence_model")


def county_figures(graph: Any, boundary: gpd.GeoDataFrame, *, to_lonlat: tuple[float, float], mode: str,
                   minutes: float, cell_m: float, population: Population | None = None) -> dict[str, Any]:
    """The county row of :func:`~geo_app.analysis.accessibility.reach_table` (no township work).

    Returns
    -------
    dict
        ``share_area_within``, ``population_within``, ``share_low_confidence``, ``median``.
    """
    towns = gpd.GeoDataFrame({"code": [], "name_zh": [], "name_en": []}, geometry=[], crs="EPSG:4326")
    _surface, table = reach_table(graph, towns, boundary, to_lonlat=to_lonlat, mode=mode, minutes=minutes,
                                  cell_m=cell_m, population=population)
    row = table.iloc[-1]
    return {k: row[k] for k in ("share_area_within", "population_within", "share_low_confidence", "median")}


def _row(p: Parameter, graph: Any, figures: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """One table row from the figures at ``low``, ``model`` and ``high``."""
    labels = p.labels(graph.params) or (text("param_wait_min", "zh"), text("param_wait_min", "en"))
    shares = [figures[k]["share_area_within"] for k in ("low", "model", "high")]
    known = [s for s in shares if s is not None]
    return {
        "parameter": p.name, "label_zh": labels[0], "label_en": labels[1],
        "unit": p.unit, "low": p.low, "model": p.model_value(graph.params), "high": p.high,
        "share_low": shares[0], "share_model": shares[1], "share_high": shares[2],
        "spread": round(max(known) - min(known), 4) if known else None,
        "people_low": figures["low"]["population_within"], "people_model": figures["model"]["population_within"],
        "people_high": figures["high"]["population_within"],
        "share_low_confidence_model": figures["model"]["share_low_confidence"],
    }


def sensitivity_table(graph: Any, boundary: gpd.GeoDataFrame, *, to_lonlat: tuple[float, float],
                      mode: str = "best", minutes: float = 120, cell_m: float = 250,
                      population: Population | None = None) -> list[dict[str, Any]]:
    """The county's share within ``minutes`` under low / model / high values of each assumption.

    Parameters
    ----------
    graph
        The model's travel graph (base or scenario); variants are built from it, it is not changed.
    boundary
        The county boundary.
    to_lonlat, mode, minutes, cell_m
        As for :func:`~geo_app.analysis.accessibility.reach_table`.
    population
        Optional imported population (the ``people_*`` columns).

    Returns
    -------
    list of dict
        One row per editable assumption (columns :data:`COLUMNS`), largest ``spread`` first.
    """
    kw = {"to_lonlat": to_lonlat, "mode": mode, "minutes": minutes, "cell_m": cell_m, "population": population}
    model = county_figures(graph, boundary, **kw)
    rows = []
    for p in editable(graph):
        figures = {"model": model}
        for which in ("low", "high"):
            figures[which] = county_figures(with_params(graph, {p.name: getattr(p, which)}), boundary, **kw)
        rows.append(_row(p, graph, figures))
    return sorted(rows, key=lambda r: -(r["spread"] or 0.0))
