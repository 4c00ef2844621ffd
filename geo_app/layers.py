"""Layer registry: one declarative TOML file per layer in ``layers/``.

A spec names its data file, titles in Chinese and English, style, legend, popup
fields, z-order, quality flag and attribution. A file given as ``ref:PATH`` is one of
the data pack's *use in place* files and is read from the configured reference-data
folder (``REFERENCE_DATA``), never copied into the repository.
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .errors import DataFileError, NotFound
from .network.cache import GraphCache

#: Bounds of the cache of serialised layer answers (``GET /api/layers/<name>?limit=``).
BODY_CACHE_ENTRIES = 64
BODY_CACHE_BYTES = 32 * 2**20
REQUIRED = ("name", "title_zh", "title_en", "file", "geometry", "z", "quality", "attribution")
GEOMETRY_KINDS = ("polygon", "line", "point", "none")
#: Layers computed from their file: ``rail_tracks`` = the lines routed on the VMAP0 tracks (network.tracks).
DERIVED = ("rail_tracks",)


@dataclass(frozen=True)
class LayerSpec:
    """One layer's declarative description (a parsed ``layers/*.toml``)."""

    name: str
    title_zh: str
    title_en: str
    file: str
    geometry: str
    z: int
    quality: str
    attribution: str
    style: dict[str, Any] = field(default_factory=dict)
    legend: dict[str, Any] = field(default_factory=dict)
    popup: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    #: Permanent map labels: text field(s), first zoom, priority (see geo_app.web.maps.layers).
    labels: dict[str, Any] = field(default_factory=dict)
    notice_zh: str = ""
    notice_en: str = ""
    label_field: str = "name_zh"
    derive: str = ""
    show: bool = True
    spec_path: str = ""

    def title(self, lang: str) -> str:
        """Return the title in ``lang`` (``zh`` or ``en``)."""
        return self.title_en if lang == "en" else self.title_zh

    def notice(self, lang: str) -> str:
        """Return the quality notice in ``lang`` (empty when none)."""
        return self.notice_en if lang == "en" else self.notice_zh

    @property
    def use_in_place(self) -> bool:
        """True when the file is read from the reference-data pack in place."""
        return self.file.startswith("ref:")


def read_spec(path: Path) -> LayerSpec:
    """Parse and check one layer TOML file.

    Parameters
    ----------
    path
        The ``layers/NAME.toml`` file.

    Returns
    -------
    LayerSpec
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataFileError(f"layer spec {path}: {exc}") from exc
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise DataFileError(f"layer spec {path}: missing keys {missing}")
    if raw.get("derive", "") not in ("", *DERIVED):
        raise DataFileError(f"layer spec {path}: derive must be one of {DERIVED}")
    if raw["geometry"] not in GEOMETRY_KINDS:
        raise DataFileError(f"layer spec {path}: geometry must be one of {GEOMETRY_KINDS}")
    known = set(LayerSpec.__dataclass_fields__) - {"spec_path"}
    extra = set(raw) - known
    if extra:
        raise DataFileError(f"layer spec {path}: unknown keys {sorted(extra)}")
    return LayerSpec(**raw, spec_path=str(path))


def _signature(path: Path) -> tuple[int, int, int] | None:
    """``(mtime_ns, size, inode)`` of a file, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class LayerRegistry:
    """Reads ``layers/*.toml`` and serves cached GeoDataFrames in WGS84.

    Parameters
    ----------
    layers_dir
        Folder of layer specs.
    data_dir
        Folder that relative ``file`` paths are resolved against (its parent is the
        repository root, so ``data/x.geojson`` works).
    reference_dir
        The data pack folder for ``ref:`` files.
    cache_dir
        ``CACHE_DIR``: where layers derived from use-in-place files (``derive``) are cached.
    """

    def __init__(self, layers_dir: Path, data_dir: Path, reference_dir: Path,
                 cache_dir: Path | None = None) -> None:
        self.layers_dir = Path(layers_dir)
        self.data_dir = Path(data_dir)
        self.reference_dir = Path(reference_dir)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        paths = sorted(self.layers_dir.glob("*.toml"))
        if not paths:
            raise DataFileError(f"no layer specs in {self.layers_dir}")
        specs = [read_spec(p) for p in paths]
        self.specs: dict[str, LayerSpec] = {s.name: s for s in sorted(specs, key=lambda s: s.z)}
        self._cache: dict[str, gpd.GeoDataFrame] = {}
        self._signatures: dict[str, tuple[int, int, int] | None] = {}
        # Serialised layer answers by (name, limit): bounded, since ``limit`` comes from the request.
        self._bodies = GraphCache(max_bytes=BODY_CACHE_BYTES, max_entries=BODY_CACHE_ENTRIES)
        self._lock = threading.Lock()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)

    def spec(self, name: str) -> LayerSpec:
        """Return a layer's spec; raise :class:`NotFound` for an unknown name."""
        try:
            return self.specs[name]
        except KeyError:
            raise NotFound(key="err_unknown_layer", params={"name": name[:60], "known": list(self.specs)},
                           field="name") from None

    def path(self, name: str) -> Path:
        """Resolve the data file of a layer."""
        spec = self.spec(name)
        if spec.use_in_place:
            return self.reference_dir / spec.file.removeprefix("ref:")
        rel = Path(spec.file)
        return rel if rel.is_absolute() else self.data_dir / rel.relative_to("data")

    def frame(self, name: str) -> gpd.GeoDataFrame:
        """Return the layer as a GeoDataFrame in EPSG:4326 (cached; do not mutate).

        The cache holds while the file is unchanged: each call compares the file's
        (mtime, size, inode) with those it was read with, so a file rewritten by another
        process (``geo-app data import``, a second server) is read again on the next request.
        """
        with self._lock:
            return self._frame_locked(name)

    def _frame_locked(self, name: str) -> gpd.GeoDataFrame:
        signature = _signature(self.path(name))
        if name not in self._cache or self._signatures.get(name) != signature:
            self._cache[name] = self._read(self.spec(name))
            self._signatures[name] = signature
            self._bodies.discard(lambda k: k[0] == name)
        return self._cache[name]

    def load_all(self) -> None:
        """Read every layer now, so a corrupt file stops start-up with its name."""
        for name in self.specs:
            self.frame(name)

    def clear(self) -> None:
        """Drop cached frames and serialised bodies (after a data import or edit)."""
        with self._lock:
            self._cache.clear()
            self._signatures.clear()
            self._bodies.clear()

    def cached_body(self, name: str, limit: int, build: Any) -> bytes:
        """Return the serialised full-layer response for ``(name, limit)``, building it once.

        At most :data:`BODY_CACHE_ENTRIES` answers of :data:`BODY_CACHE_BYTES` bytes in all are kept
        (least recently used dropped first).

        Parameters
        ----------
        name, limit
            The cache key (responses filtered by ``bbox`` are not cached).
        build
            Zero-argument callable returning the bytes.
        """
        key = (name, limit)
        with self._lock:
            self._frame_locked(name)  # drops this layer's bodies when its file has changed
            hit = self._bodies.get(key)
            signature = self._signatures.get(name)
        if hit is None:
            hit = build()
            with self._lock:
                if self._signatures.get(name) == signature:  # not replaced while we built it
                    self._bodies.put(key, hit, len(hit))
        return hit

    def _read(self, spec: LayerSpec) -> gpd.GeoDataFrame:
        path = self.path(spec.name)
        if not path.exists():
            hint = " (use-in-place file: set GEO_APP_REFERENCE_DATA)" if spec.use_in_place else ""
            raise DataFileError(f"layer {spec.name}: data file {path} not found{hint}")
        try:
            if path.suffix == ".csv":
                df = pd.read_csv(path, dtype=str, keep_default_na=False)
                gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([None] * len(df)), crs="EPSG:4326")
            else:
                json.loads(path.read_text(encoding="utf-8"))  # refuse truncated/corrupt JSON early
                gdf = gpd.read_file(path, engine="pyogrio")
                if gdf.crs is None:
                    gdf = gdf.set_crs("EPSG:4326")
                elif gdf.crs.to_epsg() != 4326:
                    gdf = gdf.to_crs("EPSG:4326")
        except DataFileError:
            raise
        except Exception as exc:  # any parse failure names the file
            raise DataFileError(f"layer {spec.name}: cannot read {path}: {exc}") from exc
        for key, value in spec.filter.items():
            gdf = gdf[gdf[key] == value]
        if spec.derive:
            gdf = self._derived(gdf)
        return gdf.reset_index(drop=True)

    def _derived(self, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The rail lines on their alignment along the VMAP0 tracks (cached under ``cache_dir``)."""
        from .network.roads import load_model
        from .network.tracks import load_routed, routed_frame

        params = load_model(self.data_dir / "routes" / "model.toml")
        return routed_frame(gdf, load_routed(self.reference_dir, params, self.cache_dir))

    def quality(self, name: str) -> str:
        """The layer's quality as the data now say it.

        The spec's flag holds for the shipped file; once features carry their own
        ``geometry_quality`` (after an import or a drawing), that wins: the most common value
        among features with geometry, with "(n of m)" when some features still have none.
        """
        spec = self.spec(name)
        gdf = self.frame(name)
        if "geometry_quality" not in gdf.columns or not len(gdf):
            return spec.quality
        drawn = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        flags = drawn["geometry_quality"].dropna().astype(str)
        flags = flags[flags != "missing"]
        if flags.empty:
            return spec.quality
        top = flags.value_counts().index[0]
        return top if len(drawn) == len(gdf) else f"{top} ({len(drawn)} of {len(gdf)})"

    def summary(self, name: str) -> dict[str, Any]:
        """Return counts and flags of one layer for listings."""
        spec = self.spec(name)
        gdf = self.frame(name)
        has_geom = int((~gdf.geometry.isna() & ~gdf.geometry.is_empty).sum()) if len(gdf) else 0
        return {
            "name": spec.name,
            "title_zh": spec.title_zh,
            "title_en": spec.title_en,
            "features": len(gdf),
            "with_geometry": has_geom,
            "quality": self.quality(name),
            "geometry": spec.geometry,
            "attribution": spec.attribution,
            "use_in_place": spec.use_in_place,
        }

    def missing_geometry(self, name: str) -> gpd.GeoDataFrame:
        """Return the features of a layer that have no geometry."""
        gdf = self.frame(name)
        return gdf[gdf.geometry.isna() | gdf.geometry.is_empty]

    def attributions(self) -> list[str]:
        """Return the distinct attribution lines of all layers, in z-order."""
        seen: list[str] = []
        for spec in self:
            for line in spec.attribution.split("|"):
                line = line.strip()
                if line and line not in seen:
                    seen.append(line)
        return seen
