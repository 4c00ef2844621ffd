"""Reading the imported population (``DATA_DIR/population.tif`` or ``population.csv``), cached per file.

``geo-app data import population FILE`` writes one of the two files (see
:mod:`geo_app.importer.population`). :func:`load_population` reads whichever is there into an
:class:`~geo_app.analysis.population.Population`, and reads it again only when the file changed
(modification time, size, inode), whichever process changed it. Nothing here imports Flask.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis.population import Population, unit_key

POPULATION_TIF = "population.tif"
POPULATION_CSV = "population.csv"
TABLE_COLUMNS = ("code", "name_zh", "population", "year", "source")

_CACHE: dict[str, tuple[tuple[int, int, int], Population]] = {}
_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def _joined(values: pd.Series) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values if str(v).strip()))


def read_raster(path: Path, key: str) -> Population:
    """Read an imported population raster (people per 250 m cell, EPSG:32651, float64)."""
    from .raster import open_geotiff

    with open_geotiff(path) as src:
        grid = np.nan_to_num(src.read(1).astype("float64"), nan=0.0)
        tags = src.tags()
        transform = src.transform
    return Population("raster", tags.get("YEAR", ""), tags.get("SOURCE", ""), float(grid.sum()), key,
                      grid=grid, transform=transform)


def read_table(path: Path, key: str) -> Population:
    """Read an imported township population table (``code, name_zh, population, year, source``)."""
    df = pd.read_csv(path, dtype={"code": str, "name_zh": str, "year": str, "source": str}, keep_default_na=False)
    df["population"] = df["population"].astype("float64")
    by_code = {unit_key(r["code"] or None, r["name_zh"]): r for r in df.to_dict("records")}
    return Population("table", _joined(df["year"]), _joined(df["source"]), float(df["population"].sum()), key,
                      table=df, by_code=by_code)


def population_path(data_dir: str | Path) -> Path | None:
    """The imported population file in ``data_dir`` (the raster when, unexpectedly, both exist); None when none."""
    for name in (POPULATION_TIF, POPULATION_CSV):
        path = Path(data_dir) / name
        if path.is_file():
            return path
    return None


def load_population(data_dir: str | Path | None) -> Population | None:
    """The imported population of a data folder, or None when there is none (or it cannot be read).

    Parameters
    ----------
    data_dir
        The data folder (None: no population).

    Returns
    -------
    Population or None
        Cached per file and re-read when the file's mtime, size or inode changed.
    """
    if data_dir is None:
        return None
    path = population_path(data_dir)
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    sig = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _LOCK:
        hit = _CACHE.get(str(path))
        if hit is not None and hit[0] == sig:
            return hit[1]
    key = f"{path.name}@{sig[0]}:{sig[1]}:{sig[2]}"
    try:
        pop = read_raster(path, key) if path.suffix == ".tif" else read_table(path, key)
    except Exception as exc:  # a damaged file must not take the maps down; the import checks files
        log.warning("population file %s cannot be read: %s", path, exc)
        return None
    with _LOCK:
        _CACHE[str(path)] = (sig, pop)
    return pop
