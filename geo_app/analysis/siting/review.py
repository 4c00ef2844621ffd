"""The siting review (DESIGN §4): check the inputs, apply the finding functions in order, judge, report."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import GeometryError, ValidationError
from . import place, proximity, terrain, travel
from .common import json_safe
from .rules import sectors
from .site import Site
from .verdict import VERDICT_ZH, verdict

#: The report's findings, in order; each function returns its findings for a :class:`Site`.
FINDINGS: tuple[Callable[[Site], list[dict[str, Any]]], ...] = (
    place.basis, place.township, place.park, travel.changchun, travel.centre, travel.station,
    travel.logistics_hub, proximity.rail_line, proximity.trunk_road, terrain.terrain, place.sector_fit,
)


def _checked(geom: Any, project: str | None, sector: str | None, rules: Mapping[str, Any]
             ) -> tuple[str | None, str | None]:
    """Check the geometry type; return the project and sector stripped (blank → None) and checked."""
    gtype = getattr(geom, "geom_type", None)
    if gtype not in ("Point", "Polygon", "MultiPolygon") or geom.is_empty:
        raise GeometryError(key="err_site_type", params={"got": gtype}, field="geometry")
    if project is not None:
        project = str(project).strip() or None
        if project is not None and len(project) > 200:
            raise ValidationError(key="err_project_long", field="project")
    known_sectors = sectors(rules)
    if sector is not None:
        sector = str(sector).strip() or None
    if sector is not None and sector not in known_sectors:
        raise ValidationError(key="err_sector_choice", params={"sectors": list(known_sectors)}, field="sector")
    return project, sector


def _report(site: Site, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Assemble the report around the findings and their verdict."""
    judged, reasons, caveats, missing = verdict(findings, site.inside, site.rules)
    return {
        "project": site.project,
        "sector": site.sector,
        "sector_en": site.rules.get("sector_en", {}).get(site.sector) if site.sector else None,
        "site": {"type": site.gtype, "lon": site.lon, "lat": site.lat, "area_km2": site.area_km2,
                 "basis": "point" if site.is_point else "centroid"},
        "inside_meihekou": site.inside,
        "findings": findings,
        "verdict": judged,
        "verdict_zh": VERDICT_ZH[judged],
        "reasons": reasons,
        "caveats": caveats,
        "missing_data": missing,
        "rules_version": site.rules.get("version"),
    }


def review_site(geom: Any, *, project: str | None = None, sector: str | None = None,
                layers: Mapping[str, Any] | Any, graph: Any, rules: Mapping[str, Any],
                dem_path: Path | str | None = None, changchun: Sequence[float],
                centre: Sequence[float]) -> dict[str, Any]:
    """Review a proposed project site.

    Parameters
    ----------
    geom
        shapely Point, Polygon or MultiPolygon in WGS84 (already validated, e.g. by
        :func:`geo_app.validate.geometry`).
    project
        Project name (free text) or None.
    sector
        One of :func:`~geo_app.analysis.siting.sectors` or None.
    layers
        Mapping of layer name to GeoDataFrame (EPSG:4326), or a ``LayerRegistry``. Used:
        ``boundary``, ``towns``, ``parks``, ``logistics``, ``stations``, ``rail_lines``, ``roads``.
    graph
        A ``TravelGraph`` (``one_to_all``, ``snap``) or None when no network is loaded.
    rules
        From :func:`~geo_app.analysis.siting.load_rules`.
    dem_path
        GeoTIFF DEM or None (``GEO_APP_DEM``).
    changchun, centre
        ``(lon, lat)`` of Changchun and of Meihekou's centre.

    Returns
    -------
    dict
        ``project``, ``sector``, ``sector_en``, ``site``, ``inside_meihekou``, ``findings``
        (list of ``{key, label_zh, label_en, value, unit, rule, status, note_zh, note_en,
        detail}``), ``verdict``, ``verdict_zh``, ``reasons`` and ``caveats`` (lists of
        ``{key, zh, en}``), ``missing_data`` (the data an ``incomplete`` verdict needs: ``{key, zh, en,
        page, command, findings}``), ``rules_version``. JSON-safe.
    """
    project, sector = _checked(geom, project, sector, rules)
    site = Site(geom=geom, project=project, sector=sector, layers=layers, graph=graph, rules=rules,
                dem_path=dem_path, changchun=changchun, centre=centre)
    findings = [f for step in FINDINGS for f in step(site)]
    return json_safe(_report(site, findings))
