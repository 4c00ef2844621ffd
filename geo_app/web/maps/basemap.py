"""What a map draws under its data: tile layers and image overlays (the configured basemap).

Plain values, so :mod:`geo_app.web.tiles` (which finds the configured basemap) and
:mod:`.base` (which draws it) share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Overlay:
    """An image drawn over the map between WGS84 ``bounds`` ``[[south, west], [north, east]]``."""

    url: str
    bounds: list[list[float]]
    name: str
    attribution: str = ""
    opacity: float = 0.45


@dataclass(frozen=True)
class TileSource:
    """A raster tile layer: URL template, attribution, native zoom range and its name."""

    url: str
    attribution: str
    name: str
    min_zoom: int = 0
    max_native_zoom: int = 18


@dataclass(frozen=True)
class Basemap:
    """What a map draws under the data: tile layers (the first is shown) and overlays (hillshade)."""

    tiles: tuple[TileSource, ...] = ()
    overlays: tuple[Overlay, ...] = ()
