"""The compact file of a built OSM network (``.npz``) and loading it as a :class:`RoadNetwork`.

Arrays: ``lon``, ``lat`` (float64) and ``osm_id`` (int64) per node; ``u``, ``v`` (int32),
``length_m``, ``time_s`` (float32), ``cls`` (int8) and ``ref``, ``name`` (int32 codes into the
strings) per directed edge; the strings as one UTF-8 blob with offsets; the metadata as UTF-8
JSON (source file, clip, build date, options, counts, class speeds). No pickles: the file is
read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..road_network import RoadNetwork
from .build import BuiltNetwork
from .tags import CLASSES

FORMAT = "geo_app.osm_network/1"


@dataclass(frozen=True)
class OsmRoadNetwork(RoadNetwork):
    """A :class:`RoadNetwork` (``source="osm"``) with what scenarios need to name roads.

    Attributes
    ----------
    edge_class
        (m,) int8 codes into :attr:`classes` (OSM ``highway`` values, ``ferry``).
    edge_ref, edge_name
        (m,) int32 codes into :attr:`strings` (0 is "").
    strings
        ``ref``/``name`` values.
    classes
        Class names by code.
    meta
        The file's metadata (source, clip, build date, options, counts).
    osm_id
        (n,) OSM node ids.
    """

    edge_class: np.ndarray
    edge_ref: np.ndarray
    edge_name: np.ndarray
    strings: tuple[str, ...]
    classes: tuple[str, ...]
    meta: dict[str, Any]
    osm_id: np.ndarray

    def edge_labels(self, i: int) -> dict[str, str]:
        """``highway``, ``ref`` and ``name`` of edge ``i``."""
        return {"highway": self.classes[int(self.edge_class[i])], "ref": self.strings[int(self.edge_ref[i])],
                "name": self.strings[int(self.edge_name[i])]}


def _pack_strings(strings: tuple[str, ...], codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list]:
    """Keep only the strings the codes use (0 = "" first); return blob, offsets and recoded arrays."""
    used = np.unique(np.concatenate([np.zeros(1, dtype=np.int64), *[c.astype(np.int64) for c in codes]]))
    recode = np.zeros(len(strings), dtype=np.int32)
    recode[used] = np.arange(len(used), dtype=np.int32)
    raw = [strings[i].encode("utf-8") for i in used]
    ptr = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in raw], out=ptr[1:])
    blob = np.frombuffer(b"".join(raw), dtype=np.uint8) if ptr[-1] else np.zeros(0, dtype=np.uint8)
    return blob, ptr, [recode[c] for c in codes]


def _unpack_strings(blob: np.ndarray, ptr: np.ndarray) -> tuple[str, ...]:
    """Inverse of :func:`_pack_strings`."""
    raw = blob.tobytes()
    return tuple(raw[ptr[i]:ptr[i + 1]].decode("utf-8") for i in range(len(ptr) - 1))


def save_network(built: BuiltNetwork, path: Path, meta: Mapping[str, Any]) -> Path:
    """Write a built network atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    built
        The network from :func:`geo_app.network.osm.build.build_arrays`.
    path
        Target ``.npz``.
    meta
        JSON-serialisable metadata; ``format``, ``classes`` and the counts are added.

    Returns
    -------
    Path
        ``path``.
    """
    e = built.edges
    blob, ptr, (ref, name) = _pack_strings(built.strings, [e.ref, e.name])
    info = {**meta, "format": FORMAT, "classes": list(CLASSES), "nodes": int(e.n), "edges": len(e.u)}
    arrays = {
        "lon": built.lon.astype(np.float64), "lat": built.lat.astype(np.float64),
        "osm_id": built.osm_id.astype(np.int64),
        "u": e.u.astype(np.int32), "v": e.v.astype(np.int32), "length_m": e.length_m.astype(np.float32),
        "time_s": e.time_s.astype(np.float32), "cls": e.cls.astype(np.int8), "ref": ref, "name": name,
        "strings_utf8": blob, "strings_ptr": ptr,
        "meta_json": np.frombuffer(json.dumps(info, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_meta(path: Path) -> dict[str, Any]:
    """Only the metadata of a network file."""
    with np.load(Path(path), allow_pickle=False) as z:
        return json.loads(z["meta_json"].tobytes().decode("utf-8"))


def load_osm_network(path: Path) -> OsmRoadNetwork:
    """Load a network file written by :func:`save_network`.

    Parameters
    ----------
    path
        The ``.npz``.

    Returns
    -------
    OsmRoadNetwork
        ``source="osm"``; node names are the OSM node ids.

    Raises
    ------
    ValueError
        Not a network file of this format, or inconsistent arrays.
    """
    with np.load(Path(path), allow_pickle=False) as z:
        try:
            meta = json.loads(z["meta_json"].tobytes().decode("utf-8"))
            arrays = {k: z[k] for k in ("lon", "lat", "osm_id", "u", "v", "length_m", "time_s", "cls", "ref", "name",
                                        "strings_utf8", "strings_ptr")}
        except KeyError as exc:
            raise ValueError(f"{path} is not a geo-app OSM network file (missing {exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    n = len(arrays["lon"])
    u, v = arrays["u"].astype(np.int64), arrays["v"].astype(np.int64)
    if len(u) and (u.min() < 0 or v.min() < 0 or max(u.max(), v.max()) >= n):
        raise ValueError(f"{path}: edge endpoints outside the {n} nodes")
    strings = _unpack_strings(arrays["strings_utf8"], arrays["strings_ptr"])
    lonlat = np.column_stack([arrays["lon"], arrays["lat"]])
    return OsmRoadNetwork(
        lonlat=lonlat, names=tuple(map(str, arrays["osm_id"].tolist())), u=u, v=v,
        length_m=arrays["length_m"].astype(np.float64), time_s=arrays["time_s"].astype(np.float64), source="osm",
        edge_class=arrays["cls"], edge_ref=arrays["ref"], edge_name=arrays["name"], strings=strings,
        classes=tuple(meta.get("classes", CLASSES)), meta=meta, osm_id=arrays["osm_id"])
