"""TravelGraph: one directed graph of roads and rail, as read-only scipy CSR arrays.

Node layout (``best``): road-layer nodes ``[0, n_road)`` (road nodes, then station forecourts),
then platform nodes ``[n_road, n_road + n_platform)``. ``car`` keeps the road layer only. ``rail``
is a two-layer graph ``[road layer 0 | platforms | road layer 1]``: boarding is possible from
either road layer, alighting only into layer 1, so a trip from layer 0 to layer 1 uses at least
one rail leg and ``rail`` can never beat ``best``.

Mode graphs of at most :data:`TABLE_MAX_NODES` nodes (the shipped trunk network) also carry an
all-pairs time table, built once with the graph, so a one-to-all query is a row lookup; larger
graphs (OSM extracts) run scipy's Dijkstra per query. Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ..errors import NoNetworkNearby, ValidationError
from .rail import RailNetwork, build_rail_network, read_services
from .roads import RoadNetwork, load_model, load_road_network, to_metric, value

MODES = ("car", "rail", "best")
DIRECTIONS = ("from", "to")
#: Edge kinds, aligned with each CSR's data.
KINDS = ("road", "access", "board", "alight", "ride", "transfer", "origin")
_MIN_W = 1e-3  # seconds; keeps zero-cost edges (alighting) as explicit, positive weights
#: Mode graphs up to this many nodes keep an all-pairs time table (n x n float64, at most
#: 1,500² x 8 B = 18 MB per mode), so one-to-all becomes a row lookup instead of a Dijkstra
#: run. The shipped trunk graph has 59-218 nodes per mode; OSM graphs are far above it.
TABLE_MAX_NODES = 1500
#: Snaps of at most this many point x node pairs skip the KD-tree (see ``TravelGraph.snap_xy``).
_BRUTE_MAX_PAIRS = 20_000


@dataclass(frozen=True)
class ModeGraph:
    """CSR forward/reverse matrices of one mode with edge lengths and kinds aligned to ``data``."""

    n: int
    fwd: csr_matrix
    rev: csr_matrix
    fwd_len: np.ndarray
    rev_len: np.ndarray
    fwd_kind: np.ndarray
    rev_kind: np.ndarray
    #: All-pairs seconds ``table[i, j]`` = time i → j (``inf`` if unreachable), read-only;
    #: None above :data:`TABLE_MAX_NODES`.
    table: np.ndarray | None = None


def _readonly(*arrays: np.ndarray) -> None:
    """Make arrays read-only."""
    for a in arrays:
        a.setflags(write=False)


def make_csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, length: np.ndarray,
             kind: np.ndarray) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
    """Build a CSR matrix keeping the fastest of parallel edges.

    Parameters
    ----------
    n
        Number of nodes.
    u, v, w, length, kind
        Edge arrays (seconds, metres, kind code).

    Returns
    -------
    tuple
        ``(csr, length, kind)`` with ``length`` and ``kind`` aligned to ``csr.data``; all read-only.
    """
    order = np.lexsort((w, v, u))
    u, v, w, length, kind = u[order], v[order], w[order], length[order], kind[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w, length, kind = u[first], v[first], w[first], length[first], kind[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    csr = csr_matrix((np.maximum(w, _MIN_W), v.astype(np.int32), indptr), shape=(n, n))
    _readonly(csr.data, csr.indices, csr.indptr, length, kind)
    return csr, np.ascontiguousarray(length), np.ascontiguousarray(kind)


def _mode_graph(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, length: np.ndarray,
                kind: np.ndarray) -> ModeGraph:
    """Forward and reversed CSR for one mode."""
    fwd, fl, fk = make_csr(n, u, v, w, length, kind)
    rev, rl, rk = make_csr(n, v, u, w, length, kind)
    table = None
    if n <= TABLE_MAX_NODES:
        table = dijkstra(fwd, directed=True)  # one csgraph call, every node as a source
        _readonly(table)
    return ModeGraph(n, fwd, rev, fl, rl, fk, rk, table)


def with_source(csr: csr_matrix, targets: np.ndarray, weights: np.ndarray) -> csr_matrix:
    """Return a copy of ``csr`` with one extra (virtual source) node linked to ``targets``.

    The source row is appended last; its index is ``csr.shape[0]``.
    """
    n = csr.shape[0]
    order = np.argsort(targets)
    indptr = np.append(csr.indptr, csr.indptr[-1] + len(targets))
    indices = np.concatenate([csr.indices, np.asarray(targets, dtype=csr.indices.dtype)[order]])
    data = np.concatenate([csr.data, np.maximum(np.asarray(weights, dtype=float)[order], _MIN_W)])
    return csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))


class GraphCache:
    """Thread-safe LRU cache of derived, read-only values (grid snaps, node times), bounded in bytes.

    One lock guards the ordering and the byte count; values are computed outside the lock, so two
    threads may compute the same key at once (the first one stored wins and both get an equal value).
    Cached numpy arrays must be treated as read-only; the graph's own arrays are never touched.

    Parameters
    ----------
    max_bytes
        Budget for the sum of the entries' sizes; least recently used entries are dropped beyond it.
    """

    def __init__(self, max_bytes: int = 192 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        with self._lock:
            return self._bytes

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the value for ``key`` (marking it recently used), or ``default``."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return default
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> Any:
        """Store ``value`` (``nbytes`` large) unless another thread stored ``key`` first; return the stored value.

        A value larger than the whole budget is returned without being stored.
        """
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
            if nbytes > self.max_bytes:
                return value
            self._items[key] = (value, int(nbytes))
            self._bytes += int(nbytes)
            while self._bytes > self.max_bytes:
                _, (_, size) = self._items.popitem(last=False)
                self._bytes -= size
            return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[Any, int]]) -> Any:
        """Return the cached value, else ``compute()`` → ``(value, nbytes)``, stored and returned."""
        hit = self.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        value, nbytes = compute()
        return self.put(key, value, nbytes)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


_MISSING = object()


@dataclass(frozen=True, eq=False)
class TravelGraph:
    """Immutable travel network (build with :func:`build_graph`).

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
    tree: cKDTree = field(init=False, repr=False)
    cache: GraphCache = field(init=False, repr=False, default_factory=GraphCache)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tree", cKDTree(self.node_xy))
        _readonly(self.node_lonlat, self.node_xy, self.platform_lonlat)

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
        """Like :meth:`snap` for EPSG:32651 coordinates.

        Few points against a small graph (at most :data:`_BRUTE_MAX_PAIRS` point-node pairs)
        are measured directly: a KD-tree query costs some 40 µs of fixed overhead per call,
        which would dominate a single-point query on the shipped trunk graph.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        limit = self.access_limit_m
        if len(xy) * self.n_road <= _BRUTE_MAX_PAIRS:
            d = np.hypot(xy[:, None, 0] - self.node_xy[None, :, 0], xy[:, None, 1] - self.node_xy[None, :, 1])
            idx = np.argsort(d, axis=1, kind="stable")[:, :k]
            dist = np.take_along_axis(d, idx, axis=1)
            missing = dist > limit
        else:
            dist, idx = self.tree.query(xy, k=k, distance_upper_bound=limit)
            dist, idx = np.asarray(dist).reshape(len(xy), k), np.asarray(idx).reshape(len(xy), k)
            missing = idx >= self.n_road
        idx = np.where(missing, 0, idx)
        return idx.astype(np.int64), np.where(missing, np.inf, self.access_seconds(dist))

    def _layers(self, mode: str, direction: str) -> tuple[int, int]:
        """Offsets of the start layer and the result layer in the mode's node numbering."""
        if mode != "rail":
            return 0, 0
        far = self.n_road + 2 * len(self.platform_lonlat)
        return (0, far) if direction == "from" else (far, 0)

    @staticmethod
    def _check(mode: str, direction: str) -> None:
        """Raise :class:`ValidationError` for an unknown mode or direction."""
        if mode not in MODES:
            raise ValidationError(f"mode must be one of {', '.join(MODES)}; got {mode!r}", field="mode")
        if direction not in DIRECTIONS:
            raise ValidationError(f"direction must be 'from' or 'to'; got {direction!r}", field="direction")

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
        mg = self.modes[mode]
        base = mg.fwd if direction == "from" else mg.rev
        csr = with_source(base, nodes + start, access)
        lim = np.inf if limit_s is None else float(limit_s)
        out = dijkstra(csr, directed=True, indices=mg.n, limit=lim, return_predecessors=predecessors)
        dist, pred = (out if predecessors else (out, None))
        return {"dist": dist, "pred": pred, "csr": csr, "result_offset": result, "source": mg.n}

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

    def _snap_point(self, lonlat: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The nodes a point snaps to and their access seconds; :class:`NoNetworkNearby` if none."""
        idx, acc = self.snap(np.array([lonlat], dtype=float))
        ok = np.isfinite(acc[0])
        if not ok.any():
            raise NoNetworkNearby(
                f"no road within {self.access_limit_m:.0f} m of ({lonlat[0]}, {lonlat[1]}); lon,lat order",
                field="lonlat")
        return idx[0][ok], acc[0][ok]

    def from_nodes(self, nodes: np.ndarray, offsets: np.ndarray, *, mode: str, direction: str,
                   limit_s: float | None = None) -> np.ndarray:
        """One-to-all from (or to) a set of road-layer nodes, each with a start offset.

        ``t[x] = min_i(offsets[i] + time(nodes[i] → x))`` for ``direction="from"`` (``x →
        nodes[i]`` for ``"to"``). A mode graph with an all-pairs table (at most
        :data:`TABLE_MAX_NODES` nodes) answers by a vectorised row minimum; larger graphs run
        scipy's Dijkstra, straight from the node when there is one source (no CSR copy), else
        from a virtual source linked to all of them.

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
        nodes = np.asarray(nodes, dtype=np.int64).ravel()
        offsets = np.asarray(offsets, dtype=float).ravel()
        start, result = self._layers(mode, direction)
        mg = self.modes[mode]
        lim = np.inf if limit_s is None else float(limit_s)
        if mg.table is not None:
            rows = slice(result, result + self.n_road)
            if len(nodes) == 1:  # basic indexing: a view of one row (column for "to"), then one add
                node = start + int(nodes[0])
                t = (mg.table[node, rows] if direction == "from" else mg.table[rows, node]) + offsets[0]
            else:
                block = mg.table[start + nodes, rows] if direction == "from" else mg.table[rows, start + nodes].T
                t = (block + offsets[:, None]).min(axis=0)
            if limit_s is not None:
                t[t > lim] = np.inf
            return t
        base = mg.fwd if direction == "from" else mg.rev
        if len(nodes) == 1:
            if offsets[0] > lim:
                return np.full(self.n_road, np.inf)
            dist = dijkstra(base, directed=True, indices=int(start + nodes[0]), limit=lim - offsets[0])
            t = dist[result:result + self.n_road] + offsets[0]
        else:
            csr = with_source(base, nodes + start, offsets)
            t = dijkstra(csr, directed=True, indices=mg.n, limit=lim)[result:result + self.n_road]
        return t

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
        out = list(_leaves(self.params, ()))
        if self.road_source == "osm":
            out = [a for a in out if not a["key"].startswith(("road.", "data_quality.trunk"))]
        else:
            out = [a for a in out if not a["key"].startswith("osm.")]
        for row in self.services:
            for col, unit, zh, en in (("speed_kmh", "km/h", "旅行速度", "speed"),
                                      ("headway_min", "min", "发车间隔", "headway")):
                if row.get(col):
                    out.append({"key": f"services.{row['line']}.{col}", "label_zh": f"{row['line']}{zh}",
                                "label_en": f"{row['line']} {en}", "value": float(row[col]), "unit": unit,
                                "source": row.get("source", ""),
                                "assumption": str(row.get("assumption", "")).lower() == "true"})
        return out


def _leaves(node: Mapping[str, Any], path: tuple[str, ...]):  # noqa: ANN202
    """Yield the ``{value, ...}`` entries of model.toml with their dotted key."""
    for key, item in node.items():
        if isinstance(item, Mapping) and "value" in item:
            yield {"key": ".".join((*path, key)), "label_zh": item.get("label_zh", key),
                   "label_en": item.get("label_en", key), "value": item["value"], "unit": item.get("unit", ""),
                   "source": item.get("source", ""), "assumption": bool(item.get("assumption", True))}
        elif isinstance(item, Mapping):
            yield from _leaves(item, (*path, key))


def _station_access(road_xy: np.ndarray, station_xy: np.ndarray, params: Mapping[str, Any]):  # noqa: ANN202
    """Access links (both ways) between each station forecourt and its k nearest road nodes."""
    k = min(int(value(params, "access", "k")), len(road_xy))
    limit = float(value(params, "access", "limit_m"))
    dist, idx = cKDTree(road_xy).query(station_xy, k=k, distance_upper_bound=limit)
    dist, idx = dist.reshape(len(station_xy), k), idx.reshape(len(station_xy), k)
    s, j = np.nonzero(np.isfinite(dist))
    length = dist[s, j] * value(params, "access", "circuity")
    t = length / (value(params, "access", "speed_kmh") / 3.6)
    return s, idx[s, j], length, t


def _rail_cached(reference_dir: Path, services_csv: Path, params: Mapping[str, Any],
                 cache_dir: Path | None) -> RailNetwork:
    """Build the rail network, caching the derived arrays in ``cache_dir`` (never in the repo)."""
    if cache_dir is None:
        return build_rail_network(reference_dir, services_csv, params)
    h = hashlib.sha256(repr(sorted(params.get("rail", {}).items())).encode())
    for p in (reference_dir / "rail" / "lines.geojson", reference_dir / "rail" / "stations.geojson", services_csv):
        if p.exists():
            h.update(p.read_bytes())
    path = Path(cache_dir) / f"rail-{h.hexdigest()[:16]}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own cache file
    rail = build_rail_network(reference_dir, services_csv, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(rail, fh)
    return rail


def assemble(road: RoadNetwork, rail: RailNetwork, params: dict[str, Any],
             services: tuple[dict[str, Any], ...] = ()) -> TravelGraph:
    """Join a road network and a rail network into a :class:`TravelGraph`.

    Parameters
    ----------
    road, rail
        The two networks as arrays.
    params
        Parsed ``model.toml``.
    services
        ``services.csv`` rows (for the assumptions list).
    """
    nr0, ns, npl = len(road.lonlat), len(rail.station_lonlat), len(rail.platform_station)
    road_xy, st_xy = to_metric(road.lonlat), to_metric(rail.station_lonlat)
    nr = nr0 + ns
    s, j, alen, at = _station_access(road_xy, st_xy, params)
    plat = np.arange(npl) + nr
    fore = rail.platform_station + nr0
    parts = {  # kind -> (u, v, time, length)
        0: (road.u, road.v, road.time_s, road.length_m),
        1: (np.concatenate([s + nr0, j]), np.concatenate([j, s + nr0]), np.tile(at, 2), np.tile(alen, 2)),
        2: (fore, plat, rail.board_s, np.zeros(npl)),
        3: (plat, fore, np.zeros(npl), np.zeros(npl)),
    }
    kinds = np.array([KINDS.index(k) for k in rail.kind], dtype=np.int8)
    parts[4] = (rail.u + nr, rail.v + nr, rail.time_s, rail.length_m)
    modes = {
        "car": _combine(nr, parts, [0, 1], {}),
        "best": _combine(nr + npl, parts, [0, 1, 2, 3, 4], {4: kinds}),
        "rail": _rail_layers(nr, npl, parts, kinds),
    }
    names = road.names + tuple(f"station:{n}" if n else "station" for n in rail.station_names)
    return TravelGraph(params=params, node_lonlat=np.concatenate([road.lonlat, rail.station_lonlat]),
                       node_xy=np.concatenate([road_xy, st_xy]), node_names=names, n_road_nodes=nr0,
                       platform_lonlat=rail.station_lonlat[rail.platform_station].copy(),
                       platform_line=rail.platform_line, modes=modes, road_source=road.source,
                       services=services)


def _combine(n: int, parts: dict, use: list, kind_override: dict) -> ModeGraph:
    """Concatenate edge groups into one mode graph."""
    u = np.concatenate([parts[k][0] for k in use]).astype(np.int64)
    v = np.concatenate([parts[k][1] for k in use]).astype(np.int64)
    w = np.concatenate([parts[k][2] for k in use]).astype(float)
    length = np.concatenate([parts[k][3] for k in use]).astype(float)
    kind = np.concatenate([kind_override[k] if k in kind_override else np.full(len(parts[k][0]), k, np.int8)
                           for k in use])
    return _mode_graph(n, u, v, w, length, kind.astype(np.int8))


def _rail_layers(nr: int, npl: int, parts: dict, ride_kinds: np.ndarray) -> ModeGraph:
    """Two-layer graph ``[road 0 | platforms before a ride | platforms after a ride | road 1]``.

    Boarding from road layer 0 reaches the "before" platforms; only a ride edge leads to the
    "after" platforms; alighting goes from "after" platforms into road layer 1. A path from
    layer 0 to layer 1 therefore contains at least one in-vehicle (ride) edge.
    """
    p0, p1, r1 = nr, nr + npl, nr + 2 * npl
    road, acc, board, alight, ride = parts[0], parts[1], parts[2], parts[3], parts[4]
    ride_only = ride_kinds == KINDS.index("ride")

    def shift(group: tuple, du: int, dv: int, mask: np.ndarray | None = None) -> tuple:
        sel = slice(None) if mask is None else mask
        return (group[0][sel] + du, group[1][sel] + dv, group[2][sel], group[3][sel])

    groups = {
        "r0": (shift(road, 0, 0), 0), "a0": (shift(acc, 0, 0), 1),
        "r1": (shift(road, r1, r1), 0), "a1": (shift(acc, r1, r1), 1),
        "b0": (shift(board, 0, p0 - nr), 2), "b1": (shift(board, r1, p1 - nr), 2),
        "first": (shift(ride, p0 - nr, p1 - nr, ride_only), 4),
        "ride": (shift(ride, p1 - nr, p1 - nr), None),
        "off": (shift(alight, p1 - nr, r1), 3),
    }
    parts2 = {name: g for name, (g, _) in groups.items()}
    kinds = {name: (ride_kinds if k is None else np.full(len(g[0]), k, np.int8))
             for name, (g, k) in groups.items()}
    return _combine(r1 + nr, parts2, list(groups), kinds)


def build_graph(data_dir: Path, reference_dir: Path, *, cache_dir: Path | None = None,
                roads_graphml: Path | None = None) -> TravelGraph:
    """Build the travel graph from the project data and the reference rail data (read in place).

    Parameters
    ----------
    data_dir
        The project ``data`` folder (``routes/model.toml``, ``routes/services.csv``, road data).
    reference_dir
        The reference-data folder holding ``rail/lines.geojson`` and ``rail/stations.geojson``.
    cache_dir
        Where derived rail arrays may be cached (git-ignored); no cache when None.
    roads_graphml
        OSM road graphml; ``data/routes/roads.graphml`` when it exists, else the trunk corridors.

    Returns
    -------
    TravelGraph
    """
    data_dir, reference_dir = Path(data_dir), Path(reference_dir)
    params = load_model(data_dir / "routes" / "model.toml")
    services_csv = data_dir / "routes" / "services.csv"
    road = load_road_network(data_dir, params, Path(roads_graphml) if roads_graphml else None)
    rail = _rail_cached(reference_dir, services_csv, params, Path(cache_dir) if cache_dir else None)
    graph = assemble(road, rail, params, tuple(read_services(services_csv)))
    boundary = data_dir / "boundary.geojson"
    if boundary.exists():
        import geopandas as gpd

        bounds = tuple(float(b) for b in gpd.read_file(boundary).to_crs("EPSG:4326").total_bounds)
        object.__setattr__(graph, "county_bounds", bounds)
    return graph


def load_graph(config: Mapping[str, Any]) -> TravelGraph:
    """Build the graph from a config mapping (DATA_DIR, REFERENCE_DATA, CACHE_DIR, ROADS_GRAPHML)."""
    return build_graph(Path(config["DATA_DIR"]), Path(config["REFERENCE_DATA"]),
                       cache_dir=config.get("CACHE_DIR"), roads_graphml=config.get("ROADS_GRAPHML"))
