"""Find the edges of a named road (``ref`` such as ``G202`` or ``name`` such as ``黑大公路``) in an OSM network."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np

from .store import OsmRoadNetwork

_SPLIT = re.compile(r"[;；/,，]")


def normalise(text: str) -> str:
    """Compare form of a road label: NFKC (full-width letters and digits), no spaces, case-folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def _tokens(label: str) -> set[str]:
    """A label and its parts (OSM separates several refs with ``;``: ``G202;S101``)."""
    parts = {normalise(p) for p in _SPLIT.split(label)}
    parts.add(normalise(label))
    parts.discard("")
    return parts


def matching_codes(strings: tuple[str, ...], query: str) -> np.ndarray:
    """Codes of the strings that equal ``query`` or have it as one of their ``;``-separated parts."""
    want = normalise(query)
    if not want:
        return np.zeros(0, dtype=np.int64)
    return np.array([i for i, s in enumerate(strings) if i and want in _tokens(s)], dtype=np.int64)


def road_edges(net: OsmRoadNetwork, query: str, *, by: str = "any") -> np.ndarray:
    """Indices of the edges whose ``ref`` or ``name`` matches ``query``.

    Parameters
    ----------
    net
        A loaded OSM network.
    query
        A ref (``G202``, ``g 202``, ``Ｇ２０２``) or a name (``黑大公路``); matched whole, or as one
        part of a ``;``-separated value.
    by
        ``"ref"``, ``"name"`` or ``"any"``.

    Returns
    -------
    numpy.ndarray
        Sorted edge indices (empty when nothing matches).
    """
    if by not in ("ref", "name", "any"):
        raise ValueError(f"by must be ref, name or any; got {by!r}")
    codes = matching_codes(net.strings, query)
    mask = np.zeros(len(net.u), dtype=bool)
    if len(codes):
        if by in ("ref", "any"):
            mask |= np.isin(net.edge_ref, codes)
        if by in ("name", "any"):
            mask |= np.isin(net.edge_name, codes)
    return np.flatnonzero(mask)


def known_roads(net: OsmRoadNetwork, limit: int = 20) -> list[str]:
    """The refs and names that carry the most road length (for "unknown road" messages)."""
    km: Counter[str] = Counter()
    for codes in (net.edge_ref, net.edge_name):
        sums = np.bincount(codes, weights=net.length_m, minlength=len(net.strings))
        for i in np.flatnonzero(sums):
            if i:
                km[net.strings[int(i)]] += float(sums[i])
    return [label for label, _ in km.most_common(limit)]
