"""The :class:`RoadNetwork` arrays that every road source (trunk corridors, graphml, OSM extract) becomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoadNetwork:
    """Directed road network as plain arrays.

    Attributes
    ----------
    lonlat
        (n, 2) node coordinates, WGS84 lon/lat.
    names
        Node labels (place names or OSM ids).
    u, v
        Edge endpoints (node indices).
    length_m, time_s
        Edge length in metres and travel time in seconds.
    source
        ``"trunk"`` or ``"osm"``.
    """

    lonlat: np.ndarray
    names: tuple[str, ...]
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    time_s: np.ndarray
    source: str
