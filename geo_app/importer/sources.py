"""Reading a file to import: GeoJSON, GeoPackage, Shapefile, zipped Shapefiles or FileGDB, one explicit driver each.

The file is identified by its own bytes and staged under fixed names (:mod:`.staging`);
GDAL, hardened first (:mod:`.gdal_env`), reads only the staged copy, and the driver that
opened it must be the one the bytes called for. A file with several layers needs
``source_layer``; without it the import stops with a list of the layers
(:class:`SourceLayerRequired`, 422).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from ..errors import GeometryError, UnsupportedMediaType
from . import gdal_env
from .encoding import dbf_encoding, parse_encoding, text_sample
from .staging import KIND_NAMES, MAX_UNZIPPED, SHAPEFILE_PARTS, Staged, scrub, stage

__all__ = ["DEFAULT_KINDS", "KIND_NAMES", "MAX_UNZIPPED", "SHAPEFILE_PARTS", "Source", "SourceLayerRequired",
           "list_layers", "read_source"]

DEFAULT_KINDS = ("geojson", "gpkg", "shp", "zip", "gdb")


@dataclass
class Source:
    """A file as read, before any conversion."""

    frame: gpd.GeoDataFrame
    declared_crs: str | None
    driver: str
    name: str
    encoding: str | None = None
    encoding_reason: str | None = None
    source_layer: str | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class SourceLayerRequired(GeometryError):
    """A file holds several layers and none (or an unknown one) was chosen; lists the layers (422).

    Parameters
    ----------
    message
        The explanation, listing the layers.
    layers
        ``[{name, geometry_type, features}]``.
    """

    code = "source_layer_required"

    def __init__(self, message: str, *, layers: list[dict[str, Any]]) -> None:
        super().__init__(message, field="source_layer")
        self.layers = layers

    def to_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON error body (as :meth:`GeometryError.to_dict`), with the list of layers."""
        body = super().to_dict(*args, **kwargs)
        body["error"]["layers"] = self.layers
        return body


def _info(st: Staged) -> dict[str, Any]:
    """Read a staged layer's metadata; refuse it unless GDAL read it with the expected driver."""
    import pyogrio

    try:
        info = pyogrio.read_info(st.target, layer=st.gdal_layer, force_feature_count=True)
    except Exception as exc:  # GDAL errors of every kind name the file, never the server path
        raise UnsupportedMediaType(f"{st.name}: cannot read as {st.driver}: {_scrub(exc, st)}", field="file") from None
    if info["driver"] != st.driver:
        raise UnsupportedMediaType(f"{st.name}: read as {info['driver']}, expected {st.driver}", field="file")
    return dict(info)


def _scrub(exc: Exception, st: Staged) -> str:
    """A GDAL message without the temporary folder's path."""
    path = Path(st.target.split(":", 1)[-1] if st.target.startswith(("GPKG:", "GeoJSON:")) else st.target)
    return scrub(exc, path.parent)


def _listing(staged: list[Staged]) -> list[dict[str, Any]]:
    out = []
    for st in staged:
        info = _info(st)
        out.append({"name": st.name, "geometry_type": str(info.get("geometry_type")),
                    "features": int(info.get("features") or 0)})
    return out


def _choose(staged: list[Staged], source_layer: str | None, name: str) -> Staged:
    """The layer to read: the named one, or the only one; else :class:`SourceLayerRequired`."""
    if source_layer is None and len(staged) == 1:
        return staged[0]
    if source_layer is not None:
        hits = [s for s in staged if s.name == source_layer] or \
            [s for s in staged if s.name.lower() == source_layer.lower()]
        if len(hits) == 1:
            return hits[0]
    layers = _listing(staged)
    names = "; ".join(f"{x['name']} ({x['geometry_type']}, {x['features']} features)" for x in layers[:30])
    if source_layer is not None:
        msg = f"{name}: there is no layer {source_layer[:60]!r}; its layers: {names}"
    else:
        msg = f"{name} holds {len(layers)} layers: {names}; choose one with source_layer (--source-layer NAME)"
    raise SourceLayerRequired(msg, layers=layers)


def _read(st: Staged, encoding: str | None) -> gpd.GeoDataFrame:
    import pyogrio

    _info(st)
    try:
        return pyogrio.read_dataframe(st.target, layer=st.gdal_layer, encoding=encoding, use_arrow=False)
    except Exception as exc:  # GDAL errors of every kind name the file
        raise UnsupportedMediaType(f"{st.name}: cannot read as {st.driver}: {_scrub(exc, st)}", field="file") from None


def _encoding(st: Staged, given: str | None) -> tuple[str | None, str | None, list[str]]:
    """The encoding of the chosen layer: the DBF's for a Shapefile, else what staging found."""
    if st.dbf is not None:
        dbf, header, cpg = st.dbf
        return dbf_encoding(header, text_sample(dbf, header), cpg=cpg, given=given)
    warnings = []
    if given and st.driver in ("GPKG", "OpenFileGDB"):
        warnings.append(f"--encoding {given} ignored: {st.encoding_reason}")
    return st.encoding, st.encoding_reason, warnings


def read_source(path: Path | str, *, name: str | None = None, kinds: tuple[str, ...] = DEFAULT_KINDS,
                source_layer: str | None = None, encoding: str | None = None) -> Source:
    """Read a Shapefile, zipped Shapefiles, GeoPackage, FileGDB or GeoJSON file (never a VRT).

    Parameters
    ----------
    path
        The file (or a ``.gdb`` folder).
    name
        Display name (e.g. the uploaded file name); the file name by default.
    kinds
        Accepted formats among ``geojson``, ``gpkg``, ``shp``, ``zip`` (zipped Shapefiles or a
        zipped FileGDB) and ``gdb`` (a FileGDB folder).
    source_layer
        The layer to read from a file with several (``--source-layer``).
    encoding
        The text encoding (``--encoding``); detected when None.

    Returns
    -------
    Source
        The raw frame (coordinates as in the file), its declared CRS (None when the file
        declares none; GeoJSON without a ``crs`` member counts as undeclared), the encoding
        used and why, and the layers of the file.
    """
    name = (name or Path(str(path)).name)[:120]
    gdal_env.check_user_path(str(path), name)
    gdal_env.harden()
    given = parse_encoding(encoding)
    with tempfile.TemporaryDirectory(prefix="geo-app-import-") as tmp:
        staged = stage(Path(path), name, kinds, Path(tmp), encoding=given)
        st = _choose(staged, source_layer, name)
        enc, reason, warnings = _encoding(st, given)
        gdf = _read(st, enc if st.dbf is not None else None)
        layers = _listing(staged) if len(staged) > 1 else []
    if len(gdf) == 0:
        raise GeometryError(f"{name}: the file has no features", field="file")
    declared = st.declared_crs if st.driver == "GeoJSON" else _crs_string(gdf.crs)
    return Source(frame=gdf, declared_crs=declared, driver=st.driver, name=name, encoding=enc,
                  encoding_reason=reason, source_layer=st.name if len(staged) > 1 or source_layer else None,
                  layers=layers, warnings=warnings)


def list_layers(path: Path | str, *, name: str | None = None, kinds: tuple[str, ...] = DEFAULT_KINDS
                ) -> list[dict[str, Any]]:
    """The layers of a file, ``[{name, geometry_type, features}]``, checked as :func:`read_source` does."""
    name = (name or Path(str(path)).name)[:120]
    gdal_env.check_user_path(str(path), name)
    gdal_env.harden()
    with tempfile.TemporaryDirectory(prefix="geo-app-import-") as tmp:
        return _listing(stage(Path(path), name, kinds, Path(tmp), encoding=None))


def _crs_string(crs: Any) -> str | None:
    """Return ``EPSG:NNNN`` (or WKT) for a pyproj CRS; None when absent."""
    if crs is None:
        return None
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()
