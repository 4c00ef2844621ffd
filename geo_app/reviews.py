"""The siting-review service: validate a submission, run the review, store it.

Shared by the HTTP API, the HTML form and the ``geo-app review`` command, so all three
apply the same rules. Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import validate
from .analysis.routing import resolve_place
from .analysis.siting import load_rules, review_site, sectors
from .errors import GeoAppError, GeometryError, OutsideServiceArea, UnsupportedMediaType, ValidationError
from .layers import LayerRegistry
from .storage import ReviewStore, data_version
from .validate_body import loads_json

MAX_TEXT = 200


@dataclass(frozen=True)
class ReviewInput:
    """A validated submission."""

    geometry: Any  # shapely Point or Polygon, WGS84
    project: str | None
    sector: str | None


def geojson_upload(raw: bytes) -> dict[str, Any]:
    """Parse an uploaded GeoJSON file into one geometry object.

    The bytes are parsed as JSON here; no GDAL driver (let alone VRT) ever opens an upload.

    Parameters
    ----------
    raw
        File content.

    Returns
    -------
    dict
        A GeoJSON geometry (from a geometry, a Feature, or a one-feature FeatureCollection).
    """
    try:  # strict: nesting scanned before parsing, unencodable text, numbers a float cannot hold, a crs member
        obj = loads_json(raw, body="geometry_file")
    except ValueError:
        raise UnsupportedMediaType(key="err_geojson_file_utf8", field="geometry_file") from None
    except GeoAppError as exc:
        exc.field = "geometry_file"  # the form field the file came in
        raise
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list) or len(feats) != 1:
            raise GeometryError(key="err_geojson_one_feature", field="geometry_file")
        obj = feats[0]
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict):
        raise GeometryError(key="err_geojson_no_geometry", field="geometry_file")
    return obj


class ReviewService:
    """Validates, reviews and stores proposed project sites.

    Parameters
    ----------
    layers
        The layer registry (boundary, towns, parks, logistics, stations, rail, roads, places, projects).
    graph
        Callable returning the shared :class:`~geo_app.network.graph.TravelGraph`.
    store
        Where reviews are kept.
    data_dir
        The ``data/`` folder, hashed into each review's ``data_version``.
    dem_path
        Optional GeoTIFF DEM.
    rules_path
        Optional rules file (default: the packaged ``review_rules.toml``).
    """

    def __init__(self, *, layers: LayerRegistry, graph: Callable[[], Any], store: ReviewStore, data_dir: Path,
                 dem_path: Path | None = None, rules_path: Path | None = None) -> None:
        self.layers = layers
        self.graph = graph
        self.store = store
        self.data_dir = Path(data_dir)
        self.dem_path = dem_path
        self.rules = load_rules(rules_path)
        self.sectors = sectors(self.rules)

    def projects(self) -> list[dict[str, str]]:
        """The plan's key projects (box, sector, name) for the form."""
        df = self.layers.frame("projects")
        return [{"box": str(r.box), "sector": str(r.sector), "name_zh": str(r.name_zh)}
                for r in df.itertuples(index=False)]

    def _text(self, value: Any, field: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValidationError(key="err_text_type", params={"field": field}, field=field)
        value = value.strip()
        if len(value) > MAX_TEXT:
            raise ValidationError(key="err_text_long", params={"field": field, "n": MAX_TEXT}, field=field)
        return value or None

    def parse(self, payload: Any) -> ReviewInput:
        """Validate a submission ``{geometry, project?, sector?}`` (DESIGN §6).

        A project named in ``data/projects.csv`` brings its sector when none is given.
        """
        if not isinstance(payload, Mapping):
            raise ValidationError(key="err_review_body_object", field="body")
        if payload.get("geometry") is None:
            raise ValidationError(key="err_geometry_required", field="geometry")
        geom = validate.geometry(payload["geometry"], "geometry", allowed=("Point", "Polygon"))
        c = geom.centroid
        if not validate.in_service_area(c.x, c.y):
            raise OutsideServiceArea(key="err_site_outside", params={"lon": f"{c.x:.5f}", "lat": f"{c.y:.5f}"},
                                     field="geometry")
        project = self._text(payload.get("project"), "project")
        sector = self._text(payload.get("sector"), "sector")
        if sector is not None and sector not in self.sectors:
            raise ValidationError(key="err_sector_choice", params={"sectors": list(self.sectors)}, field="sector")
        if sector is None and project is not None:
            sector = next((p["sector"] for p in self.projects() if p["name_zh"] == project), None)
        return ReviewInput(geom, project, sector)

    def review(self, inp: ReviewInput) -> dict[str, Any]:
        """Run the siting review (not stored)."""
        places = self.layers.frame("places")
        return review_site(inp.geometry, project=inp.project, sector=inp.sector, layers=self.layers,
                           graph=self.graph(), rules=self.rules, dem_path=self.dem_path,
                           changchun=resolve_place("changchun", places),
                           centre=resolve_place("meihekou", places))

    def submit(self, payload: Any, *, author: str | None = None) -> tuple[str, dict[str, Any]]:
        """Validate, review and store in one transaction; nothing is stored when any step fails."""
        inp = self.parse(payload)
        report = self.review(inp)
        rid = self.store.add({"geometry": inp.geometry, "report": report, "project": inp.project,
                              "sector": inp.sector, "author": author,
                              "data_version": data_version(self.data_dir)})
        return rid, report
