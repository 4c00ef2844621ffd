"""A travel graph for modified assumptions: re-weighted read-only copies of the edge arrays, cached.

:func:`with_params` answers the graph of a request's assumption parameters (:mod:`.params`). The
graph it starts from is never touched: each mode's CSR ``data`` is copied and re-weighted from the
entries' kinds and road classes (road edges by class speed, access edges by off-network speed and
circuity, boarding by station entry and wait, transfers by wait), and small graphs get new all-pairs
tables. The variant keeps the parent's nodes, KD-tree and grid snaps (tiles hold distances, so they do
not depend on the access speed); its node times live under its own namespace of the parent's cache.
Variants are cached in the parent's :class:`~geo_app.network.cache.GraphCache`, which bounds entries
and bytes. Nothing here imports Flask.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from .cache import CacheView, GraphCache
from .csr import _MIN_W, KINDS, TABLE_MAX_NODES, ModeGraph, readonly
from .offnet import all_pairs
from .params import effective
from .roads import value

_ROAD, _ACCESS, _BOARD, _TRANSFER = (KINDS.index(k) for k in ("road", "access", "board", "transfer"))


@dataclass(frozen=True)
class _Weights:
    """How to re-weight entries: factors for road classes and access edges, new boarding and transfer costs."""

    class_factor: np.ndarray | None
    access_factor: float
    entry_old_s: float
    entry_new_s: float
    wait_s: float | None
    transfer_s: float


def _weights(graph: Any, over: Mapping[str, float]) -> _Weights:
    """The re-weighting for ``over`` relative to ``graph``'s own parameters."""
    p = graph.params
    section = "osm" if graph.road_source == "osm" else "road"
    table = p.get(section, {}).get("speed_kmh", {})
    factor = None
    if any(k.startswith("speed_") for k in over) and graph.road_classes:
        old = np.array([float(value(table[c])) if c in table else 1.0 for c in graph.road_classes])
        new = np.array([over.get(f"speed_{c}", old[i]) for i, c in enumerate(graph.road_classes)])
        factor = old / new
    speed0, circ0 = float(value(p, "access", "speed_kmh")), float(value(p, "access", "circuity"))
    access = (over.get("circuity", circ0) / circ0) * (speed0 / over.get("access_kmh", speed0))
    entry0 = float(value(p, "rail", "station_entry_min")) * 60.0
    wait = over.get("wait_min")
    return _Weights(factor, access, entry0, over.get("station_entry_min", entry0 / 60.0) * 60.0,
                    None if wait is None else float(wait) * 60.0, float(value(p, "rail", "transfer_min")) * 60.0)


def _new_weights(data: np.ndarray, kind: np.ndarray, cls: np.ndarray | None, w: _Weights) -> np.ndarray:
    """Re-weighted copies of edge seconds, from each edge's kind and road class."""
    data = np.array(data, dtype=float)
    if w.class_factor is not None and cls is not None:
        sel = (kind == _ROAD) & (cls >= 0)
        data[sel] *= w.class_factor[cls[sel]]
    data[kind == _ACCESS] *= w.access_factor
    board = kind == _BOARD
    wait_now = data[board] - w.entry_old_s
    data[board] = w.entry_new_s + (wait_now if w.wait_s is None else w.wait_s)
    if w.wait_s is not None:
        data[kind == _TRANSFER] = w.transfer_s + w.wait_s
    return np.maximum(data, _MIN_W)


def _side(csr: csr_matrix, length: np.ndarray, kind: np.ndarray, cls: np.ndarray | None,
          par: tuple[np.ndarray, ...] | None, w: _Weights) -> tuple[Any, ...]:
    """One direction re-weighted: ``(csr, length, kind, cls, par)``, new read-only arrays.

    Entries with parallel edges take the fastest edge of their group after re-weighting, with its
    length, kind and class (so a national road can overtake the expressway beside it).
    """
    data = _new_weights(csr.data, kind, cls, w)
    if par is not None and len(par[0]):
        entry, pw, plen, pkind, pcls = par
        pw = _new_weights(pw, pkind, pcls, w)
        order = np.lexsort((pw, entry))
        win = order[np.r_[True, entry[order][1:] != entry[order][:-1]]]
        length, kind, cls = (np.array(a) for a in (length, kind, cls))
        at = entry[win]
        data[at], length[at], kind[at], cls[at] = pw[win], plen[win], pkind[win], pcls[win]
        par = (entry, pw, plen, pkind, pcls)
        readonly(length, kind, cls, pw)
    out = csr_matrix((data, csr.indices, csr.indptr), shape=csr.shape, copy=False)
    readonly(out.data)
    return out, length, kind, cls, par


def _mode(mg: ModeGraph, w: _Weights) -> ModeGraph:
    """One mode graph re-weighted (and its all-pairs tables rebuilt when it has them)."""
    fwd, fl, fk, fc, fp = _side(mg.fwd, mg.fwd_len, mg.fwd_kind, mg.fwd_cls, mg.fwd_par, w)
    rev, rl, rk, rc, rp = _side(mg.rev, mg.rev_len, mg.rev_kind, mg.rev_cls, mg.rev_par, w)
    table, offnet = all_pairs(fwd, fk) if mg.table is not None and mg.n <= TABLE_MAX_NODES else (None, None)
    return replace(mg, fwd=fwd, rev=rev, fwd_len=fl, rev_len=rl, fwd_kind=fk, rev_kind=rk, table=table,
                   offnet=offnet, fwd_cls=fc, rev_cls=rc, fwd_par=fp, rev_par=rp)


def _params(params: Mapping[str, Any], over: Mapping[str, float], section: str) -> dict[str, Any]:
    """A deep copy of model.toml with the overridden values (``wait_min`` becomes ``rail.wait_min``).

    A road speed is set in ``section`` (the graph's road source) when that table has the class. A
    changed entry is marked as an assumption without a source: the value is the request's.
    """
    out = copy.deepcopy(dict(params))
    paths = {"access_kmh": ("access", "speed_kmh"), "circuity": ("access", "circuity"),
             "station_entry_min": ("rail", "station_entry_min")}
    for name, got in over.items():
        if name == "wait_min":
            out["rail"]["wait_min"] = {"value": got, "unit": "min", "label_zh": "固定候车时间",
                                       "label_en": "Fixed boarding wait", "source": "", "assumption": True}
            continue
        cls = name.removeprefix("speed_")
        path = paths.get(name) or next(((sec, "speed_kmh", cls) for sec in (section, "road", "osm")
                                        if cls in out.get(sec, {}).get("speed_kmh", {})), None)
        if path is None:
            continue
        entry = functools.reduce(operator.getitem, path, out)
        entry.update(value=got, source="", assumption=True)
    return out


class VariantCache:
    """A variant graph's cache: grid snaps (``"tile"`` keys) in its parent's cache, the rest in a namespace.

    Both live in one :class:`GraphCache`, so every variant shares the process's bounds.
    """

    def __init__(self, parent: GraphCache | CacheView | VariantCache, namespace: Hashable) -> None:
        self.tiles = parent.tiles if isinstance(parent, VariantCache) else parent
        root = parent.own.parent if isinstance(parent, VariantCache) else parent
        ns: Hashable = ("params", namespace)
        if isinstance(root, CacheView):
            root, ns = root.parent, (root.namespace, ns)
        self.own = CacheView(root, ns)

    def _pick(self, key: Hashable) -> Any:
        return self.tiles if isinstance(key, tuple) and key[:1] == ("tile",) else self.own

    def __len__(self) -> int:
        return len(self.own)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._pick(key)

    @property
    def nbytes(self) -> int:
        """Bytes of this variant's own entries."""
        return self.own.nbytes

    @property
    def max_bytes(self) -> int:
        """The shared byte bound."""
        return self.own.max_bytes

    def get(self, key: Hashable, default: Any = None) -> Any:
        """As :meth:`GraphCache.get`."""
        return self._pick(key).get(key, default)

    def put(self, key: Hashable, value: Any, nbytes: int) -> Any:
        """As :meth:`GraphCache.put`."""
        return self._pick(key).put(key, value, nbytes)

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[Any, int]]) -> Any:
        """As :meth:`GraphCache.get_or_compute`."""
        return self._pick(key).get_or_compute(key, compute)

    def clear(self) -> None:
        """Drop this variant's own entries (the parent's grid snaps stay)."""
        self.own.clear()


def _variant(graph: Any, over: Mapping[str, float], key: Hashable) -> tuple[Any, int]:
    """Build the variant graph and its size in bytes (the new arrays only)."""
    w = _weights(graph, over)
    modes = {name: _mode(mg, w) for name, mg in graph.modes.items()}
    out = copy.copy(graph)  # shares the nodes, the KD-tree and the services; never written to
    object.__setattr__(out, "params", _params(graph.params, over, "osm" if graph.road_source == "osm" else "road"))
    object.__setattr__(out, "modes", modes)
    object.__setattr__(out, "cache", VariantCache(graph.cache, key))
    size = sum(a.nbytes for mg in modes.values()
               for a in (mg.fwd.data, mg.rev.data, mg.table, mg.offnet, mg.fwd_len, mg.rev_len) if a is not None)
    return out, size + 4096


def with_params(graph: Any, overrides: Mapping[str, float]) -> Any:
    """The travel graph with the assumption parameters ``overrides`` (:func:`~.params.parse_params`).

    Parameters
    ----------
    graph
        A :class:`~geo_app.network.travel.TravelGraph` (base or scenario), never modified.
    overrides
        ``{name: value}``; values equal to the model's are ignored.

    Returns
    -------
    TravelGraph
        ``graph`` itself when nothing differs from the model, else a cached re-weighted copy.
    """
    over = effective(overrides, graph.params)
    if not over:
        return graph
    key = ("variant", over)
    return graph.cache.get_or_compute(key, lambda: _variant(graph, dict(over), over))
