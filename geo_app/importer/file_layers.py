"""One entry point for the file layers (``dem``, ``population``), shared by ``geo-app data import`` and ``/data``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UnsupportedMediaType, ValidationError
from .dem import prepare_dem
from .files import FILE_LAYERS, FilePlan
from .population import prepare_population

__all__ = ["FILE_LAYERS", "prepare_file_layer"]


def prepare_file_layer(layer: str, paths: Sequence[Path], registry: Any, *, names: Sequence[str] | None = None,
                       year: str | None = None, source: str | None = None, name_field: str | None = None,
                       code_field: str | None = None, force: bool = False) -> FilePlan:
    """Check and convert the files of a ``dem`` or ``population`` import (nothing is written).

    Parameters
    ----------
    layer
        ``dem`` (one or more GeoTIFF tiles) or ``population`` (one GeoTIFF or CSV).
    paths
        The files.
    registry
        The layer registry (``boundary`` and ``towns`` are read).
    names
        The files' original names (uploads).
    year, source, name_field, code_field, force
        As for :func:`~geo_app.importer.population.prepare_population`; ``source`` also names a DEM's maker.

    Returns
    -------
    FilePlan
    """
    import rasterio.errors

    boundary = registry.frame("boundary")
    if layer not in FILE_LAYERS:
        raise ValidationError(f"{layer!r} is not a file layer ({', '.join(FILE_LAYERS)})", field="layer")
    folders = [Path(p).name for p in paths if not Path(p).is_file()]
    if folders:
        raise ValidationError(f"{layer}: give files, not folders ({', '.join(folders)})", field="file")
    if layer == "population" and len(paths) != 1:
        raise ValidationError("population: give one file (a GeoTIFF or a CSV)", field="file")
    try:
        if layer == "dem":
            return prepare_dem(list(paths), boundary, names=names, source=source)
        return prepare_population(Path(paths[0]), towns=registry.frame("towns"), boundary=boundary,
                                  name=(names or [None])[0], year=year, source=source, name_field=name_field,
                                  code_field=code_field, force=force)
    except rasterio.errors.RasterioError as exc:  # a TIFF GDAL can open but not read through
        raise UnsupportedMediaType(f"{layer}: GDAL cannot read the raster ({str(exc)[:160]})", field="file") from exc
