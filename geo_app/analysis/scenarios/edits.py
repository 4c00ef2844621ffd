"""Applying a scenario: road and rail edits on copies of the inputs, then the same ``assemble`` as the base."""

from __future__ import annotations

from ...network.graph import TravelGraph, assemble
from .files import Scenario
from .inputs import NetworkInputs
from .rail_edits import _edit_rail
from .road_edits import _edit_road


def apply_scenario(inputs: NetworkInputs, scenario: Scenario) -> TravelGraph:
    """Apply a scenario to copies of the network inputs and assemble a new travel graph.

    Parameters
    ----------
    inputs
        The base inputs (never modified).
    scenario
        A parsed scenario.

    Returns
    -------
    TravelGraph
        A new graph; the base graph and ``inputs`` are untouched.

    Raises
    ------
    ScenarioError
        Unknown place, corridor or station, or a link into nowhere, naming the file and line.
    """
    road = _edit_road(inputs, scenario)
    rail, rows = _edit_rail(inputs, scenario)
    graph = assemble(road, rail, inputs.params, inputs.services + tuple(rows))
    object.__setattr__(graph, "county_bounds", inputs.county_bounds)
    return graph
