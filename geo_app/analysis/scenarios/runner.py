"""A per-process scenario runner with caches, and the scenario's edits drawn as lines for maps."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd

from ...network.cache import GraphCache, deep_nbytes
from ...network.graph import TravelGraph
from ...network.params import effective
from ...network.variants import with_params
from .. import budget
from ..accessibility import reach_table
from ..surface import grid_cells
from .compare import Comparison, compare
from .edits import apply_scenario
from .files import Scenario, edit_label, find_scenario
from .inputs import NetworkInputs


class ScenarioRunner:
    """Apply and compare scenarios against one base graph, caching what does not change, within bounds.

    Scenario graphs are cached by file content (at most ``max_graphs`` of them, least recently used
    dropped); their derived values (grid snaps, node times) go into views of the base graph's
    cache, so every graph shares its bounds. The base "before" reach tables are cached by their
    arguments and the towns and boundary they were computed on, in an LRU of ``before_entries``
    entries and ``before_bytes`` bytes.

    Parameters
    ----------
    inputs
        The network inputs the base graph was built from.
    base
        The base travel graph (never modified).
    directory
        ``data/scenarios``.
    max_graphs, graph_bytes, before_entries, before_bytes
        The bounds of the two caches (entries, bytes).
    """

    def __init__(self, inputs: NetworkInputs, base: TravelGraph, directory: Path | str, *, max_graphs: int = 4,
                 graph_bytes: int = 256 * 2**20, before_entries: int = 32, before_bytes: int = 64 * 2**20) -> None:
        self.inputs, self.base, self.directory = inputs, base, Path(directory)
        self.graphs = GraphCache(max_bytes=graph_bytes, max_entries=max_graphs)
        self.before = GraphCache(max_bytes=before_bytes, max_entries=before_entries)

    def scenario(self, name: str) -> Scenario:
        """Load one scenario by name (NotFound when missing)."""
        return find_scenario(self.directory, name)

    def graph(self, scenario: Scenario) -> TravelGraph:
        """The scenario's graph (cached by the file's text)."""
        key = (scenario.name, scenario.text)
        hit = self.graphs.get(key)
        if hit is not None:
            return hit
        budget.check("scenario graph")
        graph = apply_scenario(self.inputs, scenario)
        if self.base.origin is not None:  # batch workers rebuild it from the same files
            object.__setattr__(graph, "origin", replace(self.base.origin, scenario=(str(scenario.path),
                                                                                scenario.text)))
        # Its grid snaps and node times share the base graph's cache (and bounds), under its own key.
        object.__setattr__(graph, "cache", self.base.cache.view(("scenario", *key)))
        return self.graphs.put(key, graph, deep_nbytes(graph))

    def compare(self, scenario: Scenario, towns: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, *,
                params: Mapping[str, float] | None = None, **kw: Any) -> Comparison:
        """:func:`compare` the base graph with the scenario's (keyword arguments as there).

        ``params`` are assumption values (:func:`~geo_app.network.variants.with_params`) applied to
        both graphs. Before any work, the two county surfaces are estimated against the request's budget
        (:func:`~geo_app.analysis.budget.require`); the "before" table is cached only when complete.
        """
        over = effective(params or {}, self.base.params)
        base = with_params(self.base, dict(over))
        key = (_frames_key(towns, boundary), over,
               *sorted((k, repr(v)) for k, v in kw.items() if k != "town_points"))
        before = self.before.get(key)
        self._require(boundary, kw, surfaces=1 if before is not None else 2)
        if before is None:
            before = reach_table(base, towns, boundary, **kw)
            self.before.put(key, before, deep_nbytes(before))
        budget.check("scenario surface")
        after = with_params(self.graph(scenario), dict(over))
        return compare(base, after, towns, boundary, before=before, **kw)

    def _require(self, boundary: gpd.GeoDataFrame, kw: dict[str, Any], *, surfaces: int) -> None:
        """Refuse a comparison whose surfaces (cold snaps assumed) cannot finish within the budget."""
        if "to_lonlat" not in kw or budget.remaining() == float("inf"):
            return  # no budget open (command line, batch)
        x0, y0, x1, y1 = boundary.to_crs("EPSG:4326").total_bounds
        cells = grid_cells(self.base, kw["to_lonlat"], (x0, y0, x1, y1), float(kw.get("cell_m", 250)))
        k = min(int(self.base.params["access"]["k"]["value"]), self.base.n_road)
        mg = self.base.modes[kw.get("mode", "best")]
        search = 0.0 if mg.table is not None else budget.search_seconds(mg.fwd.nnz)
        budget.require(surfaces * (budget.surface_seconds(cells, k) + search), "scenario compare")


def _frames_key(*frames: gpd.GeoDataFrame) -> str:
    """A fingerprint of frames' geometries and codes (a towns import changes the "before" table)."""
    h = hashlib.sha1(usedforsecurity=False)
    for frame in frames:
        h.update(b"".join(g.wkb if g is not None else b"-" for g in frame.geometry))
        h.update(repr(list(frame.get("code", []))).encode("utf-8"))
    return h.hexdigest()


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
