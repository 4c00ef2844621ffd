"""Directed edge arrays with the attributes a built OSM network keeps per edge."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EdgeArrays:
    """Directed edges over ``n`` nodes with per-edge attributes (class, ref, name codes)."""

    n: int
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    time_s: np.ndarray
    cls: np.ndarray
    ref: np.ndarray
    name: np.ndarray

    def take(self, sel: np.ndarray, n: int | None = None, remap: np.ndarray | None = None) -> EdgeArrays:
        """The selected edges, with node indices remapped when ``remap`` is given."""
        u, v = self.u[sel], self.v[sel]
        if remap is not None:
            u, v = remap[u], remap[v]
        return EdgeArrays(self.n if n is None else n, u, v, self.length_m[sel], self.time_s[sel], self.cls[sel],
                          self.ref[sel], self.name[sel])
