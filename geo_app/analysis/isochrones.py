"""Isochrone polygons from a travel-time surface (``rasterio.features.shapes``).

Each contour is the union of the cells whose time is ≤ its minutes, so contours are nested
by construction and unreachable (NaN) land is excluded. Nothing here imports Flask.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import shapes
from shapely.geometry import shape

from .surface import Surface

# rasterio.features.shapes silences this warning for its in-memory dataset with
# ``warnings.catch_warnings``, which is not thread-safe: under a threaded server the warning
# leaks into the logs. Ignore it for good (it never concerns our arrays, which carry a transform).
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.")


def _contour(surface: Surface, minutes: float) -> shapely.Geometry | None:
    """Union of cells ≤ ``minutes`` as one (Multi)Polygon in EPSG:32651, or None when empty."""
    with np.errstate(invalid="ignore"):
        inside = surface.minutes <= minutes
    rows = np.flatnonzero(inside.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(inside.any(axis=0))
    r0, c0 = int(rows[0]), int(cols[0])
    # Polygonise only the window holding the cells (the transform is shifted by whole cells, so
    # vertices land on the same lattice coordinates as on the full grid).
    window = inside[r0:int(rows[-1]) + 1, c0:int(cols[-1]) + 1]
    transform = surface.transform @ Affine.translation(c0, r0)
    polys = [shape(geom) for geom, val in shapes(window.view(np.uint8), mask=window, transform=transform)
             if val == 1]
    # Vertices at every cell corner along straight runs, so nested contours share vertices and stay
    # nested after reprojection to WGS84.
    return shapely.segmentize(shapely.union_all(polys), surface.cell_m * 1.001)


def isochrones(surface: Surface, minutes: list[int]) -> gpd.GeoDataFrame:
    """Contour polygons at the given minutes.

    Parameters
    ----------
    surface
        A travel-time surface.
    minutes
        Contour values, increasing.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per requested contour (``len(minutes)`` rows, always), columns
        ``minutes``, ``mode``, ``direction``, ``area_km2``, ``geometry``. Polygons follow the
        right-hand rule (exterior counter-clockwise). A contour with no reachable cell has
        ``area_km2 = 0`` and ``geometry = None``.
    """
    geoms = [_contour(surface, m) for m in minutes]
    areas = [0.0 if g is None else round(float(g.area) / 1e6, 3) for g in geoms]
    metric = gpd.GeoSeries(geoms, crs=surface.crs)
    wgs = metric.to_crs("EPSG:4326")
    oriented = [None if g is None or g.is_empty else shapely.orient_polygons(g, exterior_cw=False)
                for g in wgs]
    return gpd.GeoDataFrame(
        {"minutes": [int(m) for m in minutes], "mode": surface.mode, "direction": surface.direction,
         "area_km2": areas},
        geometry=gpd.GeoSeries(oriented, crs="EPSG:4326"), crs="EPSG:4326",
    )
