"""Read drivable ways from an OSM file into flat arrays, clipping while reading.

``.osm.pbf``, ``.osm`` and ``.osm.bz2`` go through pyosmium (libosmium's readers decode the
blocks on a thread pool): one pass keeps node locations in an index (``flex_mem`` by default;
``sparse_file_array,FILE`` keeps it on disk for a whole-country extract) and hands only ways
with a ``highway`` or ``route`` tag to Python. Ways are buffered in chunks and each chunk is
clipped at once, so memory follows the kept part, not the file. ``.graphml`` (an osmnx graph)
is read with osmnx; those files are small by nature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .clip import Clip
from .tags import WayAttrs, WayTagger

#: libosmium's undefined coordinate (``Location::undefined_coordinate``), for nodes missing from the file.
UNDEFINED = 2**31 - 1
#: Fixed-point scale of osmium coordinates (1e-7 degrees).
COORD_SCALE = 1e-7
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")


@dataclass
class WayTable:
    """Drivable ways as flat arrays (the input of :func:`geo_app.network.osm.build.build_arrays`).

    Attributes
    ----------
    way_ptr
        (w + 1,) offsets of each way's nodes in ``node_id``/``x``/``y``.
    node_id, x, y
        OSM node id and fixed-point lon/lat (1e-7 degrees, :data:`UNDEFINED` when missing).
    cls, oneway, speed_fwd, speed_bwd
        Per way: class code, direction (1, -1, 0) and km/h along and against the node order.
    ref, name
        Per way: indices into ``strings`` (0 is "").
    time_s, length_m
        Per way: a whole-way time (ferry ``duration``) or length (graphml) that overrides the
        computed one, ``nan`` when there is none.
    strings
        Interned ``ref``/``name`` values.
    stats
        Counts: ``ways_tagged`` (with highway/route), ``ways_drivable``, ``ways_kept``, ``refs_missing``.
    """

    way_ptr: np.ndarray
    node_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    cls: np.ndarray
    oneway: np.ndarray
    speed_fwd: np.ndarray
    speed_bwd: np.ndarray
    ref: np.ndarray
    name: np.ndarray
    time_s: np.ndarray
    length_m: np.ndarray
    strings: tuple[str, ...]
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_ways(self) -> int:
        """Number of ways."""
        return len(self.cls)


_WAY_FIELDS = ("cls", "oneway", "speed_fwd", "speed_bwd", "ref", "name", "time_s", "length_m")
_WAY_DTYPES = (np.int8, np.int8, np.float32, np.float32, np.int32, np.int32, np.float64, np.float64)


class _Accumulator:
    """Collects ways in Python lists and turns each full chunk into clipped numpy arrays."""

    def __init__(self, clip: Clip, chunk_refs: int) -> None:
        self.clip, self.chunk_refs = clip, int(chunk_refs)
        self.strings: dict[str, int] = {"": 0}
        self.chunks: list[dict[str, np.ndarray]] = []
        self.stats = {"ways_tagged": 0, "ways_drivable": 0, "ways_kept": 0, "refs_missing": 0}
        self._reset()

    def _reset(self) -> None:
        self.ids: list[int] = []
        self.xs: list[int] = []
        self.ys: list[int] = []
        self.sizes: list[int] = []
        self.attrs: list[tuple[Any, ...]] = []

    def intern(self, text: str) -> int:
        """Index of a ref/name string."""
        idx = self.strings.get(text)
        if idx is None:
            idx = self.strings[text] = len(self.strings)
        return idx

    def add(self, attrs: WayAttrs, size: int, length_m: float = math.nan) -> None:
        """Record a way whose ``size`` nodes were just appended to ``ids``/``xs``/``ys``."""
        self.sizes.append(size)
        time_s = attrs.duration_s if attrs.duration_s is not None else math.nan
        self.attrs.append((attrs.cls, attrs.oneway, attrs.speed_fwd, attrs.speed_bwd, self.intern(attrs.ref),
                           self.intern(attrs.name), time_s, length_m))
        if len(self.ids) >= self.chunk_refs:
            self.flush()

    def flush(self) -> None:
        """Clip the buffered ways (keep those with a node inside) and store them as arrays."""
        if not self.sizes:
            return
        sizes = np.asarray(self.sizes, dtype=np.int64)
        x, y = np.asarray(self.xs, dtype=np.int32), np.asarray(self.ys, dtype=np.int32)
        valid = x != UNDEFINED
        self.stats["refs_missing"] += int((~valid).sum())
        inside = valid.copy()
        inside[valid] = self.clip.inside(x[valid] * COORD_SCALE, y[valid] * COORD_SCALE)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        keep = np.add.reduceat(inside.astype(np.int64), starts) > 0
        per_ref = np.repeat(keep, sizes)
        cols = list(zip(*self.attrs, strict=True))
        chunk = {name: np.asarray(col, dtype=dt)[keep] for name, col, dt in zip(_WAY_FIELDS, cols, _WAY_DTYPES,
                                                                                  strict=True)}
        chunk.update(sizes=sizes[keep], node_id=np.asarray(self.ids, dtype=np.int64)[per_ref], x=x[per_ref],
                     y=y[per_ref])
        self.stats["ways_kept"] += int(keep.sum())
        self.chunks.append(chunk)
        self._reset()

    def finish(self) -> WayTable:
        """All kept ways as one :class:`WayTable`."""
        self.flush()
        def cat(key: str, dtype: Any) -> np.ndarray:
            return np.concatenate([c[key] for c in self.chunks]) if self.chunks else np.zeros(0, dtype)
        sizes = cat("sizes", np.int64)
        ptr = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=ptr[1:])
        ways = {name: cat(name, dt) for name, dt in zip(_WAY_FIELDS, _WAY_DTYPES, strict=True)}
        return WayTable(way_ptr=ptr, node_id=cat("node_id", np.int64), x=cat("x", np.int32), y=cat("y", np.int32),
                        strings=tuple(self.strings), stats=dict(self.stats), **ways)


def is_osm_file(path: Path) -> bool:
    """Whether pyosmium reads this file (by its name: .osm.pbf, .pbf, .osm, .osm.bz2, .osm.gz)."""
    return str(path).lower().endswith(OSM_SUFFIXES)


def read_osm(path: Path, clip: Clip, tagger: WayTagger, *, index: str = "flex_mem", progress: bool = True,
             chunk_refs: int = 2_000_000) -> WayTable:
    """Read the drivable ways of an ``.osm.pbf`` / ``.osm`` / ``.osm.bz2`` file with pyosmium.

    Parameters
    ----------
    path
        The extract.
    clip
        Ways with no node inside are dropped as they are read.
    tagger
        Way filter and speeds (:class:`~geo_app.network.osm.tags.WayTagger`).
    index
        pyosmium node-location index (``flex_mem``, ``sparse_mem_array``, ``sparse_file_array,FILE``, ...).
    progress
        Show a tqdm counter of ways.
    chunk_refs
        Node references buffered before a chunk is clipped.

    Returns
    -------
    WayTable
    """
    import osmium
    from tqdm import tqdm

    fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations(index)
          .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
          .with_filter(osmium.filter.KeyFilter("highway", "route")))
    acc = _Accumulator(clip, chunk_refs)
    ids, xs, ys = acc.ids, acc.xs, acc.ys
    seen = 0
    with tqdm(desc=f"read {Path(path).name}", unit=" ways", disable=not progress, mininterval=0.5) as bar:
        for way in fp:
            seen += 1
            if seen % 20_000 == 0:
                bar.update(20_000)
            attrs = tagger(way.tags.get)
            if attrs is None:
                continue
            nodes = way.nodes
            if len(nodes) < 2:
                continue
            for nr in nodes:
                loc = nr.location
                ids.append(nr.ref)
                xs.append(loc.x)
                ys.append(loc.y)
            acc.stats["ways_drivable"] += 1
            acc.add(attrs, len(nodes))
            if not acc.ids:  # a flush replaced the lists
                ids, xs, ys = acc.ids, acc.xs, acc.ys
        bar.update(seen % 20_000)
    acc.stats["ways_tagged"] = seen
    return acc.finish()


def _first(raw: Any) -> str:
    """First value of an osmnx attribute that may be a list (or its string form)."""
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else ""
    text = "" if raw is None else str(raw)
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].split(",")[0].strip().strip("'\"")
    return text


def read_graphml(path: Path, clip: Clip, tagger: WayTagger) -> WayTable:
    """Read an osmnx graphml (each directed edge becomes a one-way, two-node way).

    The edge's ``length`` is kept; its time is ``travel_time`` when present, else length over
    ``maxspeed`` or the class speed. Edges of classes the tagger does not keep are dropped.
    """
    import osmnx as ox

    g = ox.load_graphml(Path(path))
    acc = _Accumulator(clip, 2_000_000)
    for u, v, data in g.edges(data=True):
        acc.stats["ways_tagged"] += 1
        tags: dict[str, str] = {k: _first(data.get(k)) for k in ("highway", "ref", "name", "maxspeed")}
        tags["oneway"] = "yes"
        attrs = tagger(tags.get)
        if attrs is None:
            continue
        length = float(data.get("length", math.nan))
        if data.get("travel_time") and length > 0:
            kmh = length / float(data["travel_time"]) * 3.6
            attrs = WayAttrs(attrs.cls, 1, kmh, kmh, attrs.ref, attrs.name)
        for node in (u, v):
            acc.ids.append(int(node))
            acc.xs.append(round(float(g.nodes[node]["x"]) / COORD_SCALE))
            acc.ys.append(round(float(g.nodes[node]["y"]) / COORD_SCALE))
        acc.stats["ways_drivable"] += 1
        acc.add(attrs, 2, length)
    return acc.finish()


def read_ways(path: Path, clip: Clip, tagger: WayTagger, **kwargs: Any) -> WayTable:
    """Dispatch on the file name: pyosmium for OSM files, osmnx for ``.graphml``."""
    if str(path).lower().endswith(".graphml"):
        return read_graphml(path, clip, tagger)
    if not is_osm_file(path):
        raise ValueError(f"{path}: expected .osm.pbf, .osm, .osm.bz2 or .graphml")
    return read_osm(path, clip, tagger, **kwargs)
