"""TravelGraph: one directed graph of roads and rail, as read-only scipy CSR arrays.

Node layout (``best``): road-layer nodes ``[0, n_road)`` (road nodes, then station forecourts),
then platform nodes ``[n_road, n_road + n_platform)``. ``car`` keeps the road layer only. ``rail``
is a two-layer graph ``[road layer 0 | platforms | road layer 1]``: boarding is possible from
either road layer, alighting only into layer 1, so a trip from layer 0 to layer 1 uses at least
one rail leg and ``rail`` can never beat ``best``.

The class holds the arrays and knows the node layout; snapping lives in :mod:`.snapping`, the
searches in :mod:`.search`, building in :mod:`.modes`. Nothing here imports Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from . import search as _search
from .assumptions import list_assumptions
from .cache import GraphCache
from .csr import ModeGraph, readonly
from .origin import GraphOrigin
from .roads import to_metric, value
from .snapping import snap_xy, usable_snap


@dataclass(frozen=True, eq=False)
class TravelGraph:
    """Immutable travel network (build with :func:`~geo_app.network.modes.build_graph`).

    Attributes
    ----------
    params
        Parsed ``model.toml``.
    node_lonlat, node_xy
        (n_road, 2) road-layer node coordinates: WGS84 lon/lat and EPSG:32651 metres.
    node_names
        Road-layer node labels (place names, OSM ids, ``station:NAME``).
    n_road_nodes
        Nodes from the road source (the rest of the road layer are station forecourts).
    platform_lonlat, platform_line
        Platform nodes (one per line and station).
    modes
        ``{"car" | "rail" | "best": ModeGraph}``.
    road_source
        ``"trunk"`` or ``"osm"``.
    services
        Rows of ``services.csv``.
    county_bounds
        WGS84 bounds of ``data/boundary.geojson`` (the default surface extent), when present.
    origin
        The files the graph was built from (:class:`~geo_app.network.origin.GraphOrigin`), when known:
        batch workers load an OSM graph from them instead of receiving its arrays.
    road_classes
        Names of the road speed classes that ``ModeGraph.fwd_cls`` codes point to (model.toml
        ``road.speed_kmh`` or ``osm.speed_kmh`` keys), for re-weighting (:mod:`.params`).
    cache
        A thread-safe :class:`GraphCache` of values derived from the (immutable) graph.
    """

    params: dict[str, Any]
    node_lonlat: np.ndarray
    node_xy: np.ndarray
    node_names: tuple[str, ...]
    n_road_nodes: int
    platform_lonlat: np.ndarray
    platform_line: tuple[str, ...]
    modes: dict[str, ModeGraph]
    road_source: str
    services: tuple[dict[str, Any], ...] = ()
    county_bounds: tuple[float, float, float, float] | None = None
    origin: GraphOrigin | None = field(default=None, repr=False)
    road_classes: tuple[str, ...] = ()
    tree: cKDTree = field(init=False, repr=False)
    cache: GraphCache = field(init=False, repr=False, default_factory=GraphCache)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tree", cKDTree(self.node_xy))
        readonly(self.node_lonlat, self.node_xy, self.platform_lonlat)

    @property
    def n_road(self) -> int:
        """Number of road-layer nodes (the length of :meth:`one_to_all` results)."""
        return len(self.node_xy)

    @property
    def access_limit_m(self) -> float:
        """Off-network access limit in metres."""
        return float(value(self.params, "access", "limit_m"))

    @property
    def access_speed_ms(self) -> float:
        """Off-network access speed in m/s divided by the circuity (seconds per straight metre⁻¹)."""
        return value(self.params, "access", "speed_kmh") / 3.6 / value(self.params, "access", "circuity")

    def access_seconds(self, dist_m: np.ndarray) -> np.ndarray:
        """Straight distance → access time: ``d x circuity / speed``."""
        return np.asarray(dist_m, dtype=float) / self.access_speed_ms

    def snap(self, lonlat: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Snap points to their k nearest road-layer nodes.

        Parameters
        ----------
        lonlat
            (m, 2) WGS84 lon/lat.
        k
            Candidates per point; model.toml ``access.k`` when None.

        Returns
        -------
        node_idx : (m, k) int
            Node indices (0 where there is no node within the limit; its time is inf).
        access_s : (m, k) float
            Access seconds, ``inf`` beyond the access limit.
        """
        k = min(int(k or value(self.params, "access", "k")), self.n_road)
        xy = to_metric(np.asarray(lonlat, dtype=float).reshape(-1, 2))
        return self.snap_xy(xy, k)

    def snap_xy(self, xy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`snap` for EPSG:32651 coordinates (see :func:`~geo_app.network.snapping.snap_xy`)."""
        return snap_xy(xy, self.node_xy, self.tree, k, self.access_limit_m, self.access_speed_ms)

    def _snap_point(self, lonlat: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The nodes a point snaps to and their access seconds; :class:`NoNetworkNearby` if none."""
        idx, acc = self.snap(np.array([lonlat], dtype=float))
        return usable_snap(idx[0], acc[0], lonlat, self.access_limit_m)

    def _layers(self, mode: str, direction: str) -> tuple[int, int]:
        """Offsets of the start layer and the result layer in the mode's node numbering."""
        if mode != "rail":
            return 0, 0
        far = self.n_road + 2 * len(self.platform_lonlat)
        return (0, far) if direction == "from" else (far, 0)

    _check = staticmethod(_search.check_query)

    def search(self, lonlat: tuple[float, float], *, mode: str, direction: str,
               limit_s: float | None = None, predecessors: bool = False) -> dict[str, Any]:
        """Run one Dijkstra from a point (virtual source linked to its k nearest nodes).

        Returns
        -------
        dict
            ``dist`` (all nodes of the mode graph, virtual source last), ``pred`` (or None),
            ``csr`` searched, ``result_offset`` (where road-layer results start), ``source``.
        """
        self._check(mode, direction)
        nodes, access = self._snap_point(lonlat)
        start, result = self._layers(mode, direction)
        return _search.point_search(self.modes[mode], nodes, access, start, result, direction, limit_s,
                                    predecessors)

    def one_to_all(self, lonlat: tuple[float, float], *, mode: str, direction: str,
                   limit_s: float | None = None) -> np.ndarray:
        """Seconds from (``direction="from"``) or to (``"to"``) a point for every road-layer node.

        The point is snapped to its k nearest road-layer nodes (off-network access time as the
        start offset of each), then :meth:`from_nodes` does the network part.

        Parameters
        ----------
        lonlat
            The origin (or destination) as (lon, lat).
        mode
            ``car``, ``rail`` or ``best``.
        direction
            ``from`` (forward graph) or ``to`` (reversed graph).
        limit_s
            Search limit in seconds; nodes beyond it are inf.

        Returns
        -------
        numpy.ndarray
            (n_road,) float seconds, ``inf`` when unreachable.
        """
        nodes, access = self._snap_point(lonlat)
        return self.from_nodes(nodes, access, mode=mode, direction=direction, limit_s=limit_s)

    def one_to_all_offnet(self, lonlat: tuple[float, float], *, mode: str, direction: str,
                          limit_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`one_to_all` and, per node, the seconds of the trip spent off the network.

        The off-network part is the point's own access leg and any access edge on the way
        (:func:`~geo_app.network.search.from_nodes_offnet`).

        Returns
        -------
        tuple of numpy.ndarray
            ``(seconds, offnet_seconds)``, each (n_road,).
        """
        self._check(mode, direction)
        nodes, access = self._snap_point(lonlat)
        start, result = self._layers(mode, direction)
        return _search.from_nodes_offnet(self.modes[mode], nodes, access, start, result, self.n_road, direction,
                                         limit_s)

    def from_nodes(self, nodes: np.ndarray, offsets: np.ndarray, *, mode: str, direction: str,
                   limit_s: float | None = None) -> np.ndarray:
        """One-to-all from (or to) a set of road-layer nodes, each with a start offset.

        ``t[x] = min_i(offsets[i] + time(nodes[i] → x))`` for ``direction="from"`` (``x →
        nodes[i]`` for ``"to"``); see :func:`~geo_app.network.search.from_nodes`.

        Parameters
        ----------
        nodes
            (m,) road-layer node indices, m ≥ 1.
        offsets
            (m,) seconds already spent on reaching each node (finite, ≥ 0).
        mode, direction, limit_s
            As for :meth:`one_to_all`.

        Returns
        -------
        numpy.ndarray
            (n_road,) float seconds, ``inf`` when unreachable or beyond ``limit_s``.
        """
        self._check(mode, direction)
        start, result = self._layers(mode, direction)
        return _search.from_nodes(self.modes[mode], nodes, offsets, start, result, self.n_road, direction, limit_s)

    def node_coords(self, mode: str) -> np.ndarray:
        """(n, 2) lon/lat of every node of a mode graph (virtual source excluded)."""
        parts = [self.node_lonlat]
        if mode != "car":
            parts.append(self.platform_lonlat)
        if mode == "rail":
            parts += [self.platform_lonlat, self.node_lonlat]
        return np.concatenate(parts)

    def assumptions(self) -> list[dict[str, Any]]:
        """Every speed, circuity, wait, transfer and data-quality flag in use.

        Returns
        -------
        list of dict
            Keys ``key``, ``label_zh``, ``label_en``, ``value``, ``unit``, ``source``, ``assumption``.
        """
        return list_assumptions(self.params, self.road_source, self.services)
