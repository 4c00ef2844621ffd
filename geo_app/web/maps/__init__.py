"""Folium map builders: offline Leaflet, layers with zh/en popups and labels, bands, page fragments.

One module per job:

- :mod:`.basemap`: the configured basemap as plain values (tile layers, overlays).
- :mod:`.base`: the map itself (offline Leaflet, basemap, initial fit) and the page fragments.
- :mod:`.layers`: registry layers with popups, permanent labels and zoom-gated features.
- :mod:`.bands`: time bands and choropleths with legend classes that cover every value drawn.
- :mod:`.numbers`: the one format of shares, areas and minutes (mirrored by ``static/maps.js``).

The browser side (labels that hide when they overlap, pick mode, compact attribution) is
``static/maps.js``, loaded by every map built here.
"""

from __future__ import annotations

from .bands import BAND_COLORS, NO_VALUE_COLOR, add_bands, add_choropleth, band_classes, band_color
from .base import DEFAULT_BOUNDS, MapCall, base_map, frame_bounds, pad_bounds, render_parts
from .basemap import Basemap, Overlay, TileSource
from .layers import CONTEXT_LAYERS, add_layer, context_map, label_items, label_text, overview_map, popup_data
from .numbers import fmt_km2, fmt_minutes, fmt_share

__all__ = [
    "BAND_COLORS", "CONTEXT_LAYERS", "DEFAULT_BOUNDS", "NO_VALUE_COLOR", "Basemap", "MapCall", "Overlay",
    "TileSource", "add_bands", "add_choropleth", "add_layer", "band_classes", "band_color", "base_map",
    "context_map", "fmt_km2", "fmt_minutes", "fmt_share", "frame_bounds", "label_items", "label_text",
    "overview_map", "pad_bounds", "popup_data", "render_parts",
]
