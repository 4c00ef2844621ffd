"""Shipping travel graphs to Dask workers, and the reverse node times computed there."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFileError, NoNetworkNearby
from ...network.graph import TravelGraph, build_graph
from ...network.origin import GraphOrigin


def _rebuild_graph(cls: type, fields: dict[str, Any]) -> TravelGraph:
    """Re-create a TravelGraph from its init fields (KD-tree rebuilt, fresh empty cache)."""
    return cls(**fields)


class PortableGraph:
    """A TravelGraph that pickles (its cache holds a lock).

    A graph on an OSM road network with a known :class:`~geo_app.network.origin.GraphOrigin`
    travels as that origin only: each worker process loads the network file (and applies the
    scenario) once, then reuses it for every task. Other graphs travel as their init fields.

    Parameters
    ----------
    graph
        The travel graph to ship to Dask workers.
    """

    def __init__(self, graph: TravelGraph) -> None:
        self.graph = graph

    def __reduce__(self) -> tuple[Any, ...]:
        g = self.graph
        if g.origin is not None and g.road_source == "osm":
            return (_from_origin, (g.origin,))
        fields = {f.name: getattr(g, f.name) for f in dataclasses.fields(g) if f.init}
        return (_portable, (type(g), fields))


def _portable(cls: type, fields: dict[str, Any]) -> PortableGraph:
    return PortableGraph(_rebuild_graph(cls, fields))


#: Graphs this (worker) process loaded from their origin, one per origin.
_LOADED: dict[GraphOrigin, PortableGraph] = {}
_LOADED_LOCK = threading.Lock()


def _from_origin(origin: GraphOrigin) -> PortableGraph:
    """The graph of ``origin``, loaded from its files on first use in this process."""
    with _LOADED_LOCK:
        if origin not in _LOADED:
            _LOADED[origin] = PortableGraph(load_origin(origin))
        return _LOADED[origin]


def load_origin(origin: GraphOrigin) -> TravelGraph:
    """Build a graph from the files its origin names (the base graph, or the base plus its scenario).

    Raises
    ------
    DataFileError
        The network or the scenario file changed since the graph was built.
    """
    origin.check()
    network = Path(origin.network) if origin.network else None
    data_dir, reference_dir = Path(origin.data_dir), Path(origin.reference_dir)
    cache_dir = Path(origin.cache_dir) if origin.cache_dir else None
    if origin.scenario is None:
        return build_graph(data_dir, reference_dir, cache_dir=cache_dir, network=network)
    from ..scenarios import apply_scenario, load_inputs, load_scenario

    path, text = origin.scenario
    scenario = load_scenario(Path(path))
    if scenario.text != text:
        raise DataFileError(f"scenario {path} changed since the batch started")
    inputs = load_inputs(data_dir, reference_dir, cache_dir=cache_dir, network=network)
    graph = apply_scenario(inputs, scenario)
    object.__setattr__(graph, "origin", origin)
    return graph


def node_times_to(graph: PortableGraph | TravelGraph, lonlat: tuple[float, float], mode: str,
                  limit_s: float) -> np.ndarray:
    """Seconds from every road-layer node to ``lonlat`` (one reverse one-to-all), float32.

    Parameters
    ----------
    graph
        The (scenario's) travel graph.
    lonlat
        The destination.
    mode
        ``car``, ``rail`` or ``best``.
    limit_s
        Dijkstra limit; slower nodes are inf.

    Returns
    -------
    numpy.ndarray
        (n_road,) float32 seconds; all inf when no road node lies within the access limit of the
        destination (:func:`travel_time_surface` raises ``NoNetworkNearby`` there; the batch keeps
        the column, reachable only by the direct off-network trip, and flags it in the metadata).
    """
    g = graph.graph if isinstance(graph, PortableGraph) else graph
    try:
        t = g.one_to_all((float(lonlat[0]), float(lonlat[1])), mode=mode, direction="to", limit_s=float(limit_s))
    except NoNetworkNearby:  # only the direct off-network trip can reach it (car/best)
        return np.full(g.n_road, np.inf, dtype=np.float32)
    return np.asarray(t, dtype=np.float32)


def _reached(stack: np.ndarray) -> list[bool]:
    """Per column, whether any road-layer node reaches the destination."""
    return [bool(v) for v in np.isfinite(stack).any(axis=1)]


def _stack(*arrays: np.ndarray) -> np.ndarray:
    """(C, n_road) float32 from per-column node times."""
    return np.stack(arrays).astype(np.float32, copy=False)
