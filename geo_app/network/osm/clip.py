"""The area an OSM build keeps: the county, the metro area, a bbox, a GeoJSON polygon, or everything.

A way is kept when at least one of its nodes lies inside the clip (the whole way is kept, so
roads that leave the area are not cut at its edge).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

#: Named clips and the file under ``data/`` each reads; ``metro`` (the default) holds Changchun.
NAMED_CLIPS = {"county": "boundary.geojson", "metro": "metro_counties.geojson"}
_BBOX = re.compile(r"^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*$")
_WGS84_NAMES = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326",
                "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:EPSG:4326")


@dataclass(frozen=True)
class Clip:
    """A clip area in WGS84.

    Attributes
    ----------
    label
        ``"none"``, ``"county"``, ``"metro"``, ``"bbox:W,S,E,N"`` or ``"file:PATH"`` (stored in the metadata).
    bbox
        (west, south, east, north), None for ``none``.
    polygon
        The (prepared) polygon, None for a bbox or ``none``.
    """

    label: str
    bbox: tuple[float, float, float, float] | None = None
    polygon: BaseGeometry | None = field(default=None, repr=False)

    def inside(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Whether each point lies in the clip (boundary included).

        Parameters
        ----------
        lon, lat
            Degrees, same shape.

        Returns
        -------
        numpy.ndarray
            Boolean mask.
        """
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        if self.bbox is None:
            return np.ones(lon.shape, dtype=bool)
        w, s, e, n = self.bbox
        mask = (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
        if self.polygon is not None and mask.any():
            cand = np.flatnonzero(mask)
            mask[cand] = shapely.intersects_xy(self.polygon, lon[cand], lat[cand])
        return mask


def _polygon_from_geojson(path: Path) -> BaseGeometry:
    """Union of the (multi)polygons in a GeoJSON file, read as JSON (no GDAL), in WGS84."""
    with open(path, encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    crs = ((doc.get("crs") or {}).get("properties") or {}).get("name")
    if crs is not None and crs not in _WGS84_NAMES:
        raise ValueError(f"{path}: clip polygons must be WGS84 lon/lat (RFC 7946); the file says {crs}")
    if doc.get("type") == "FeatureCollection":
        geoms = [f.get("geometry") for f in doc.get("features", [])]
    elif doc.get("type") == "Feature":
        geoms = [doc.get("geometry")]
    else:
        geoms = [doc]
    parts = [shape(g) for g in geoms if g]
    polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    if not polys:
        raise ValueError(f"{path}: no Polygon or MultiPolygon to clip to")
    union = shapely.union_all([shapely.make_valid(p) for p in polys])
    return union


def _bbox_clip(match: re.Match[str]) -> Clip:
    """A bbox clip from ``W,S,E,N`` after range checks."""
    w, s, e, n = (float(g) for g in match.groups())
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ValueError(f"bbox must be W,S,E,N in degrees with W < E and S < N (lon,lat order); got {w},{s},{e},{n}")
    return Clip(f"bbox:{w:g},{s:g},{e:g},{n:g}", (w, s, e, n))


def polygon_clip(polygon: BaseGeometry, label: str) -> Clip:
    """A clip from a WGS84 polygon (prepared for fast point tests)."""
    shapely.prepare(polygon)
    return Clip(label, tuple(float(b) for b in polygon.bounds), polygon)  # type: ignore[arg-type]


def resolve_clip(spec: str | None, data_dir: Path) -> Clip:
    """Turn a ``--clip`` value into a :class:`Clip`.

    Parameters
    ----------
    spec
        ``county``, ``metro`` (also when None), ``none``, ``W,S,E,N`` or a ``.geojson`` path.
    data_dir
        The project ``data`` folder (``boundary.geojson``, ``metro_counties.geojson``).

    Returns
    -------
    Clip

    Raises
    ------
    ValueError
        An unknown value, a bad bbox, or a file without polygons.
    """
    text = "metro" if spec is None else str(spec).strip()
    if text == "none":
        return Clip("none")
    if text in NAMED_CLIPS:
        return polygon_clip(_polygon_from_geojson(Path(data_dir) / NAMED_CLIPS[text]), text)
    match = _BBOX.match(text)
    if match:
        return _bbox_clip(match)
    path = Path(text)
    if path.suffix.lower() in (".geojson", ".json") and path.is_file():
        return polygon_clip(_polygon_from_geojson(path), f"file:{path.name}")
    raise ValueError(f"--clip must be county, metro, none, W,S,E,N or an existing .geojson file; got {text!r}")
