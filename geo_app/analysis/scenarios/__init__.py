"""Network scenarios: declarative edits of the travel network and before/after comparison.

A scenario is one TOML file in ``data/scenarios/`` (see ``data/scenarios/README.md``)::

    title_zh = "…"  ; title_en = "…" ; description_zh = "…" ; description_en = "…"
    [[road_link]]     from, to (place name or [lon, lat]), class or speed_kmh, length_km?
    [[corridor]]      id (road_corridors.csv), class and/or speed_kmh
    [[station]]       name, lon, lat (a station point the author supplies)
    [[rail_service]]  line, stops (station names), speed_kmh or minutes (one per leg), headway_min
    [[remove_link]]   from, to (road nodes), corridor?

Every edit may list ``assumptions = ["speed_kmh", …]`` (which of its numbers are assumptions) and
``source``. Applying a scenario edits *copies* of the network inputs (road and rail arrays) and
calls the same :func:`~geo_app.network.graph.assemble` as the base graph, so the base
:class:`~geo_app.network.graph.TravelGraph` is never touched. No coordinate is invented: new
links join road nodes, places, stations, or coordinates written in the scenario file itself.
Nothing here imports Flask.

Modules, each importing only those above it:

``files``
    Reading and checking scenario files (:class:`Scenario`, :class:`ScenarioError`).
``inputs``
    The road and rail arrays and look-ups a graph is assembled from (:class:`NetworkInputs`).
``road_edits``, ``rail_edits``
    The edits of one scenario on copies of the road and the rail arrays.
``edits``
    :func:`apply_scenario`: both kinds of edit, then ``assemble``.
``compare``
    Before/after surfaces, minutes saved, the township table (:class:`Comparison`).
``runner``
    :class:`ScenarioRunner` (caches per process) and :func:`edit_lines` for maps.
"""

from __future__ import annotations

from .compare import TABLE_COLUMNS, Comparison, boundaries, compare, table_rows, to_geotiff, township_changes
from .edits import apply_scenario
from .files import (
    EDIT_KEYS,
    EDIT_TABLES,
    MODES,
    TOP_KEYS,
    Scenario,
    ScenarioError,
    edit_label,
    find_line,
    find_scenario,
    list_scenarios,
    load_scenario,
)
from .inputs import NetworkInputs, load_inputs
from .road_edits import _edit_road as _edit_road  # re-exported: tests check road edits alone (sc._edit_road)
from .runner import ScenarioRunner, edit_lines

__all__ = [
    "EDIT_KEYS",
    "EDIT_TABLES",
    "MODES",
    "TABLE_COLUMNS",
    "TOP_KEYS",
    "Comparison",
    "NetworkInputs",
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "apply_scenario",
    "boundaries",
    "compare",
    "edit_label",
    "edit_lines",
    "find_line",
    "find_scenario",
    "list_scenarios",
    "load_inputs",
    "load_scenario",
    "table_rows",
    "to_geotiff",
    "township_changes",
]
