"""People within a travel-time surface's minutes: the population on a surface's grid, per township and county.

Pure functions (no Flask, no files): :func:`geo_app.population.load_population` reads the imported
data into a :class:`Population`. A population is either

* ``raster``: people per 250 m cell of the global lattice in EPSG:32651 (as imported); it is put
  on any surface grid conserving the sum (a window copy when the grids share cells, else
  :func:`rasterio.warp.reproject` with ``Resampling.sum``, which is area-weighted in GDAL ≥ 3.1);
* ``table``: people per township. With township boundaries the people are spread over each
  polygon by area (uniformly over the cells whose centre lies in it); without, they are reported
  per township only and no figure within the minutes can be given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from affine import Affine

METRIC_CRS = "EPSG:32651"


@dataclass(frozen=True, repr=False)
class Population:
    """Imported population data.

    Attributes
    ----------
    kind
        ``raster`` or ``table``.
    year, source
        What the data says about itself (several years or sources are joined by ``; ``).
    total
        People in the data (the raster's cells, or the table's rows).
    key
        A fingerprint of the file it was read from (for caches and ``repr``).
    grid, transform
        ``raster``: float64 people per cell and its EPSG:32651 transform.
    table
        ``table``: ``code``, ``name_zh``, ``population``, ``year``, ``source`` (one row per township).
    by_code
        ``table``: :func:`unit_key` -> that township's row.
    """

    kind: str
    year: str
    source: str
    total: float
    key: str
    grid: np.ndarray | None = None
    transform: Affine | None = None
    table: pd.DataFrame | None = None
    by_code: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Population({self.kind}, {self.year}, {self.source!r}, {self.key})"

    def meta(self) -> dict[str, Any]:
        """JSON-ready description: kind, year, source, total and (raster) cell size."""
        out: dict[str, Any] = {"kind": self.kind, "year": self.year, "source": self.source, "total": self.total}
        if self.transform is not None:
            out["cell_m"] = float(self.transform.a)
        return out


def unit_key(code: Any, name_zh: Any) -> str:
    """How a township is looked up in a population table: its code, else (梅河口高新区 has none) its name."""
    if code is not None and not (isinstance(code, float) and math.isnan(code)) and str(code).strip():
        return str(code).strip()
    return f"name:{name_zh}"


def _same_lattice(src_t: Affine, dst_t: Affine) -> tuple[int, int] | None:
    """(row, col) offset of the destination in the source when both share cells, else None."""
    if not math.isclose(src_t.a, dst_t.a) or not math.isclose(src_t.e, dst_t.e):
        return None
    col = (dst_t.c - src_t.c) / src_t.a
    row = (dst_t.f - src_t.f) / src_t.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(row)), int(round(col))


def resample_sum(values: np.ndarray, src_t: Affine, dst_t: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Put people per cell on another EPSG:32651 grid, conserving the sum over the part the grids share.

    Parameters
    ----------
    values
        (H, W) people per source cell.
    src_t, dst_t
        Source and destination transforms (north-up, EPSG:32651).
    shape
        Destination (rows, cols).

    Returns
    -------
    numpy.ndarray
        float64 people per destination cell (0 outside the source).
    """
    out = np.zeros(shape, dtype="float64")
    off = _same_lattice(src_t, dst_t)
    if off is not None:
        r0, c0 = off
        h, w = values.shape
        rs, re = max(r0, 0), min(r0 + shape[0], h)
        cs, ce = max(c0, 0), min(c0 + shape[1], w)
        if rs < re and cs < ce:
            out[rs - r0:re - r0, cs - c0:ce - c0] = values[rs:re, cs:ce]
        return out
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    # Warp into the destination window over the source only: GDAL's warper loses part of the sum
    # when it splits a destination much larger than its source into chunks.
    h, w = values.shape
    x0, y1 = src_t.c, src_t.f
    x1, y0 = x0 + w * src_t.a, y1 + h * src_t.e
    inv = ~dst_t
    c0, r0 = inv @ (x0, y1)
    c1, r1 = inv @ (x1, y0)
    cs, rs = max(math.floor(c0) - 1, 0), max(math.floor(r0) - 1, 0)
    ce, re = min(math.ceil(c1) + 1, shape[1]), min(math.ceil(r1) + 1, shape[0])
    if cs >= ce or rs >= re:
        return out
    part = np.zeros((re - rs, ce - cs), dtype="float64")
    reproject(np.ascontiguousarray(values, dtype="float64"), part, src_transform=src_t, src_crs=METRIC_CRS,
              dst_transform=dst_t @ Affine.translation(cs, rs), dst_crs=METRIC_CRS, resampling=Resampling.sum)
    out[rs:re, cs:ce] = part
    return out


def spread_table(pop: Population, keys: list[str], geoms: list[Any], cell_m: float
                 ) -> tuple[np.ndarray, Affine] | None:
    """Spread a township table over the townships' polygons by area, on the lattice of ``cell_m``.

    Each cell goes to one township (the last one whose polygon holds its centre); a township's
    people are shared equally by its cells, so every township's cells sum to its population. A
    township too small to hold a cell centre puts its people in the cell of its representative point.

    Parameters
    ----------
    pop
        A ``table`` population.
    keys, geoms
        The townships' :func:`unit_key` and EPSG:32651 polygons (None where there is no boundary).
    cell_m
        Cell size; the grid's corners lie on multiples of it (the surfaces' lattice).

    Returns
    -------
    tuple or None
        ``(people per cell, transform)``; None when no township with people has a boundary.
    """
    from rasterio.features import rasterize

    items = [(k, g, float(pop.by_code[k]["population"] or 0.0)) for k, g in zip(keys, geoms, strict=True)
             if k in pop.by_code and g is not None and not g.is_empty]
    if not items:
        return None
    x0 = min(g.bounds[0] for _, g, _ in items)
    y0 = min(g.bounds[1] for _, g, _ in items)
    x1 = max(g.bounds[2] for _, g, _ in items)
    y1 = max(g.bounds[3] for _, g, _ in items)
    gx0, gy0 = math.floor(x0 / cell_m), math.floor(y0 / cell_m)
    w, h = math.ceil(x1 / cell_m) - gx0, math.ceil(y1 / cell_m) - gy0
    transform = Affine(cell_m, 0.0, gx0 * cell_m, 0.0, -cell_m, (gy0 + h) * cell_m)
    labels = rasterize([(g, i + 1) for i, (_, g, _) in enumerate(items)], out_shape=(h, w), transform=transform,
                       fill=0, dtype="int32")
    counts = np.bincount(labels.ravel(), minlength=len(items) + 1)
    grid = np.zeros((h, w), dtype="float64")
    for i, (_, g, people) in enumerate(items, start=1):
        if counts[i]:
            grid[labels == i] += people / counts[i]
        else:
            p = g.representative_point()
            col, row = ~transform @ (p.x, p.y)
            grid[min(int(row), h - 1), min(int(col), w - 1)] += people
    return grid, transform


def people_grid(pop: Population | None, transform: Affine, shape: tuple[int, int], *,
                keys: list[str] | None = None, geoms: list[Any] | None = None) -> np.ndarray | None:
    """People per cell of a surface grid, or None when the data cannot be placed on a grid.

    Parameters
    ----------
    pop
        The population (None: no data).
    transform, shape
        The surface's grid (EPSG:32651, on the lattice of its cell size).
    keys, geoms
        The townships' :func:`unit_key` and EPSG:32651 polygons (needed for a ``table``).

    Returns
    -------
    numpy.ndarray or None
        float64 people per cell; None without data, or for a table without township boundaries.
    """
    if pop is None:
        return None
    if pop.kind == "raster":
        return resample_sum(pop.grid, pop.transform, transform, shape)  # type: ignore[arg-type]
    if not keys or geoms is None:
        return None
    spread = spread_table(pop, keys, geoms, float(transform.a))
    return None if spread is None else resample_sum(spread[0], spread[1], transform, shape)


_COUNTY_PEOPLE: dict[tuple[str, bytes], float] = {}


def county_people(pop: Population, county: Any) -> float:
    """People of a population raster in the cells whose centre lies in ``county`` (EPSG:32651), memoised.

    Parameters
    ----------
    pop
        A ``raster`` population.
    county
        The county polygon in EPSG:32651.

    Returns
    -------
    float
    """
    from rasterio.features import rasterize

    key = (pop.key, county.wkb)
    if key not in _COUNTY_PEOPLE:
        mask = rasterize([(county, 1)], out_shape=pop.grid.shape, transform=pop.transform,  # type: ignore[union-attr]
                         fill=0, dtype="uint8").astype(bool)
        if len(_COUNTY_PEOPLE) > 8:
            _COUNTY_PEOPLE.clear()
        _COUNTY_PEOPLE[key] = float(pop.grid[mask].sum())  # type: ignore[index]
    return _COUNTY_PEOPLE[key]


def people_within(people: np.ndarray | None, minutes: np.ndarray, limit: float,
                  mask: np.ndarray | None = None) -> tuple[float | None, float | None]:
    """People in ``mask`` (all cells when None) and those of them within ``limit`` minutes.

    Returns
    -------
    tuple
        ``(population, population_within)``; ``(None, None)`` without a people grid.
    """
    if people is None:
        return None, None
    sel = np.ones(minutes.shape, dtype=bool) if mask is None else mask
    with np.errstate(invalid="ignore"):
        inside = sel & (minutes <= limit)
    return float(people[sel].sum()), float(people[inside].sum())


def share(part: float | None, whole: float | None) -> float | None:
    """``part / whole`` rounded to 4 digits; None when either is missing or the whole is 0."""
    if part is None or whole is None or whole <= 0:
        return None
    return round(part / whole, 4)
