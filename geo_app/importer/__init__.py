"""Import the bureau's own layers: read, convert to WGS84, detect, match, validate, write.

Pure functions (no Flask), one module per step. The pipeline is::

    src = read_source(path)                       # Shapefile, zip, GPKG, FileGDB, GeoJSON (checked by bytes)
    plan = prepare_import(src, layer, registry)   # convert, match names, validate -> report
    apply_import(plan, data_dir, registry)        # backup, atomic write, history, README record

Drawn features go through :func:`prepare_feature` and :func:`apply_import` too, and
:func:`undo` reverts the last import or edit of a layer from ``DATA_DIR/history/LAYER.jsonl``.
Nothing is written unless :func:`apply_import` (or :func:`undo`) is called, and they write
the layer atomically, so a failed request changes nothing on disk. Callers hold
:func:`write_lock` from reading the current layer to writing the new one, so a web save, a
second server process and ``geo-app data import`` never overwrite each other's changes.

Modules: :mod:`.sources` (reading), with :mod:`.gdal_env` (GDAL without network), :mod:`.sniff`
(formats by their bytes), :mod:`.archive` (safe zips), :mod:`.geojson` (GeoJSON parsed here),
:mod:`.encoding` (text encodings) and :mod:`.staging` (checked copies under fixed names);
:mod:`.datum` (datum detection, WGS84) with :mod:`.gauss_kruger` (projected data); :mod:`.matching`
(township names and codes), :mod:`.checks` (geometry checks), :mod:`.plan` (the plan and its
report, imports and drawings), :mod:`.write` (lock, atomic write, backups, history, undo) and
:mod:`.report` (saving and printing reports). Everything public is re-exported here.
"""

from .checks import (  # noqa: F401
    check_geometries,
    coverage,
    overlaps,
)
from .datum import (  # noqa: F401
    detect_datum,
    resolve_crs,
    to_wgs84,
)
from .encoding import parse_encoding  # noqa: F401
from .gauss_kruger import candidates as gauss_kruger_candidates  # noqa: F401
from .matching import (  # noqa: F401
    CODE_FIELDS,
    NAME_FIELDS,
    code_key,
    match_towns,
    name_key,
)
from .plan import (  # noqa: F401
    DRAWN,
    IMPORTED,
    LISTED,
    ImportPlan,
    importable,
    prepare_feature,
    prepare_import,
    read_layer_file,
)
from .report import (  # noqa: F401
    format_report,
    save_report,
    validation_json,
)
from .sources import (  # noqa: F401
    DEFAULT_KINDS,
    KIND_NAMES,
    MAX_UNZIPPED,
    SHAPEFILE_PARTS,
    Source,
    SourceLayerRequired,
    list_layers,
    read_source,
)
from .write import (  # noqa: F401
    LOCK_FILE,
    apply_import,
    backup,
    history_path,
    read_history,
    record_readme,
    to_geojson,
    undo,
    write_lock,
)

__all__ = [
    "CODE_FIELDS",
    "DEFAULT_KINDS",
    "DRAWN",
    "IMPORTED",
    "ImportPlan",
    "KIND_NAMES",
    "LISTED",
    "LOCK_FILE",
    "MAX_UNZIPPED",
    "NAME_FIELDS",
    "SHAPEFILE_PARTS",
    "Source",
    "SourceLayerRequired",
    "apply_import",
    "backup",
    "check_geometries",
    "code_key",
    "coverage",
    "detect_datum",
    "format_report",
    "gauss_kruger_candidates",
    "history_path",
    "importable",
    "list_layers",
    "match_towns",
    "name_key",
    "overlaps",
    "parse_encoding",
    "prepare_feature",
    "prepare_import",
    "read_history",
    "read_layer_file",
    "read_source",
    "record_readme",
    "resolve_crs",
    "save_report",
    "to_geojson",
    "to_wgs84",
    "undo",
    "validation_json",
    "write_lock",
]
