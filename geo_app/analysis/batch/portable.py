"""Shipping travel graphs to Dask workers, and the reverse node times computed there."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...errors import NoNetworkNearby
from ...network.graph import TravelGraph


def _rebuild_graph(cls: type, fields: dict[str, Any]) -> TravelGraph:
    """Re-create a TravelGraph from its init fields (KD-tree rebuilt, fresh empty cache)."""
    return cls(**fields)


class PortableGraph:
    """A TravelGraph that pickles (its cache holds a lock): only the init fields travel.

    Parameters
    ----------
    graph
        The travel graph to ship to Dask workers.
    """

    def __init__(self, graph: TravelGraph) -> None:
        self.graph = graph

    def __reduce__(self) -> tuple[Any, ...]:
        g = self.graph
        fields = {f.name: getattr(g, f.name) for f in dataclasses.fields(g) if f.init}
        return (_portable, (type(g), fields))


def _portable(cls: type, fields: dict[str, Any]) -> PortableGraph:
    return PortableGraph(_rebuild_graph(cls, fields))


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
