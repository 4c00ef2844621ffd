"""The site under review: its geometry in metres, its basis point, and where it lies (county, parks).

A point site is judged where it is; a polygon on its centroid for travel times and terrain, and
on its area for the county, township and park overlap. The facts several findings share (share
of the site inside the county, parks the site lies in) are computed once, when first asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .common import layer, metric, name, to_metric, with_geometry
from .travel import Travel


def park_sectors(row: Mapping[str, Any], rules: Mapping[str, Any]) -> list[str]:
    """Return a park's designated sectors: the rules' park table first, else the layer's ``sectors``."""
    park = name(row, "name_zh") or ""
    if park in rules["parks"]:
        return list(rules["parks"][park])
    raw = row.get("sectors")
    if isinstance(raw, str):
        return [s.strip() for s in raw.split(";") if s.strip()]
    if isinstance(raw, list | tuple):
        return [str(s) for s in raw]
    return []


@dataclass
class Site:
    """A proposed project site and what the review needs to judge it.

    Parameters
    ----------
    geom
        shapely Point, Polygon or MultiPolygon in WGS84 (already checked).
    project, sector
        The cleaned project name and sector (or None).
    layers
        Mapping of layer name to GeoDataFrame, or a ``LayerRegistry``.
    graph
        A ``TravelGraph`` or None.
    rules
        From :func:`~geo_app.analysis.siting.rules.load_rules`.
    dem_path
        GeoTIFF DEM or None.
    changchun, centre
        ``(lon, lat)`` of Changchun and of Meihekou's centre.
    """

    geom: Any
    project: str | None
    sector: str | None
    layers: Any
    graph: Any
    rules: Mapping[str, Any]
    dem_path: Path | str | None
    changchun: Sequence[float]
    centre: Sequence[float]
    gtype: str = field(init=False)
    is_point: bool = field(init=False)
    site_m: Any = field(init=False)
    lon: float = field(init=False)
    lat: float = field(init=False)
    area_km2: float | None = field(init=False)
    travel: Travel = field(init=False)

    def __post_init__(self) -> None:
        self.gtype = self.geom.geom_type
        self.is_point = self.gtype == "Point"
        self.site_m = to_metric(self.geom)
        basis_pt = self.geom if self.is_point else self.geom.centroid
        self.lon, self.lat = float(basis_pt.x), float(basis_pt.y)
        self.area_km2 = None if self.is_point else self.site_m.area / 1e6
        self.changchun, self.centre = tuple(self.changchun), tuple(self.centre)
        self.travel = Travel(self.graph, (self.lon, self.lat))

    @cached_property
    def county(self) -> tuple[bool, float] | None:
        """``(inside Meihekou, share of the site inside)``; None when the county boundary is not loaded."""
        boundary = with_geometry(layer(self.layers, "boundary"))
        if boundary is None:
            return None
        county = metric(boundary).union_all()
        if self.is_point:
            return bool(county.covers(self.site_m)), 1.0
        share = self.site_m.intersection(county).area / self.site_m.area if self.site_m.area else 0
        return share > 0, share

    @property
    def inside(self) -> bool | None:
        """Whether the site lies in Meihekou (a polygon: any part of it); None when unknown."""
        return None if self.county is None else self.county[0]

    @cached_property
    def park_frame(self) -> Any:
        """The parks with a geometry, in the metric CRS; None when no park geometry is loaded."""
        parks = with_geometry(layer(self.layers, "parks"))
        return None if parks is None else metric(parks)

    @cached_property
    def parks(self) -> list[dict[str, Any]] | None:
        """The parks the site lies in or overlaps (``name_zh``, ``name_en``, ``sectors``, ``share``).

        Largest share of the site first; among equal shares the smaller (more specific) park first,
        since the plan's parks nest (e.g. the pharma park inside 梅河口高新区). None when no park
        geometry is loaded.
        """
        pm = self.park_frame
        if pm is None:
            return None
        if self.is_point:
            hit = pm[pm.covers(self.site_m)]
            shares = {i: 1.0 for i in hit.index}
        else:
            inter = pm.intersection(self.site_m).area / self.site_m.area
            shares = {i: float(s) for i, s in inter.items() if s > 0}
        area = pm.area
        ranked = sorted(shares.items(), key=lambda kv: (-round(kv[1], 6), float(area[kv[0]])))
        return [{"name_zh": name(pm.loc[i], "name_zh"), "name_en": name(pm.loc[i], "name_en"),
                 "sectors": park_sectors(pm.loc[i], self.rules), "share": s} for i, s in ranked]
