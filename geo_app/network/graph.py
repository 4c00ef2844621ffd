"""The travel-graph API in one import: re-exports the names callers use.

The work is split by job (none of these modules imports Flask):

- :mod:`.csr`: edge arrays → read-only CSR :class:`ModeGraph` (+ all-pairs table for small graphs).
- :mod:`.cache`: :class:`GraphCache`, the byte-bounded LRU cache of derived values.
- :mod:`.snapping`: points → nearest nodes with access seconds.
- :mod:`.search`: one-to-all searches on a mode graph (table lookup or scipy Dijkstra).
- :mod:`.travel`: :class:`TravelGraph`, the immutable graph that delegates to the two above.
- :mod:`.modes`: assembling ``car`` / ``rail`` / ``best`` from road + rail networks; building from data.
"""

from __future__ import annotations

from .cache import GraphCache
from .csr import KINDS, TABLE_MAX_NODES, ModeGraph, make_csr, with_source
from .modes import _rail_cached, assemble, build_graph, load_graph
from .search import DIRECTIONS, MODES
from .snapping import _BRUTE_MAX_PAIRS
from .travel import TravelGraph

__all__ = [
    "DIRECTIONS", "KINDS", "MODES", "TABLE_MAX_NODES", "_BRUTE_MAX_PAIRS", "GraphCache", "ModeGraph", "TravelGraph",
    "_rail_cached", "assemble", "build_graph", "load_graph", "make_csr", "with_source",
]
