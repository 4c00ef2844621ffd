"""A per-process scenario runner with caches, and the scenario's edits drawn as lines for maps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ...network.graph import TravelGraph
from ..accessibility import reach_table
from ..surface import Surface
from .compare import Comparison, compare
from .edits import apply_scenario
from .files import Scenario, edit_label, find_scenario
from .inputs import NetworkInputs


class ScenarioRunner:
    """Apply and compare scenarios against one base graph, caching what does not change.

    Scenario graphs are cached by file content; the base "before" reach table by its
    arguments.

    Parameters
    ----------
    inputs
        The network inputs the base graph was built from.
    base
        The base travel graph (never modified).
    directory
        ``data/scenarios``.
    """

    def __init__(self, inputs: NetworkInputs, base: TravelGraph, directory: Path | str) -> None:
        self.inputs, self.base, self.directory = inputs, base, Path(directory)
        self._graphs: dict[tuple[str, str], TravelGraph] = {}
        self._before: dict[tuple, tuple[Surface, pd.DataFrame]] = {}

    def scenario(self, name: str) -> Scenario:
        """Load one scenario by name (NotFound when missing)."""
        return find_scenario(self.directory, name)

    def graph(self, scenario: Scenario) -> TravelGraph:
        """The scenario's graph (cached by the file's text)."""
        key = (scenario.name, scenario.text)
        if key not in self._graphs:
            graph = apply_scenario(self.inputs, scenario)
            if len(self._graphs) >= 16:
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = graph
        return self._graphs[key]

    def compare(self, scenario: Scenario, towns: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame,
                **kw: Any) -> Comparison:
        """:func:`compare` the base graph with the scenario's (keyword arguments as there)."""
        key = tuple(sorted((k, repr(v)) for k, v in kw.items() if k != "town_points"))
        before = self._before.get(key)
        if before is None:
            before = reach_table(self.base, towns, boundary, **kw)
            self._before[key] = before
        return compare(self.base, self.graph(scenario), towns, boundary, before=before, **kw)


def edit_lines(inputs: NetworkInputs, scenario: Scenario) -> gpd.GeoDataFrame:
    """The scenario's road links, corridors and rail services as schematic lines (WGS84), for maps.

    Only points that resolve are drawn (the scenario is validated by :func:`apply_scenario`).
    """
    from shapely.geometry import LineString

    own = {r["name"]: (float(r["lon"]), float(r["lat"])) for r in scenario.edits["station"]}
    stations = {n: tuple(p) for n, p in zip(inputs.rail.station_names, inputs.rail.station_lonlat.tolist(),
                                             strict=True) if n}

    def point(raw: Any, lookup: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
        return lookup.get(raw) if isinstance(raw, str) else (float(raw[0]), float(raw[1]))

    rows = []
    for table, row in ((t, r) for t in ("road_link", "corridor", "rail_service") for r in scenario.edits[t]):
        if table == "road_link":
            pts = [point(row["from"], inputs.places), point(row["to"], inputs.places)]
        elif table == "corridor":
            stops = inputs.corridors.get(row["id"], {}).get("stops", "")
            pts = [inputs.places.get(s.strip()) for s in stops.split(";") if s.strip()]
        else:
            pts = [point(s, {**inputs.stations, **stations, **own}) for s in row["stops"]]
        pts = [p for p in pts if p is not None]
        if len(pts) >= 2:
            rows.append({"edit": table, "label": edit_label(table, row), "geometry": LineString(pts)})
    return gpd.GeoDataFrame(rows, columns=["edit", "label", "geometry"], geometry="geometry", crs="EPSG:4326")
