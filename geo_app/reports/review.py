"""One call from a stored review to its PDF: the static map, then the A4 layout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DataFileError
from .fonts import FontNotFound, cjk_font
from .pdf import review_pdf
from .review_map import review_map_png


def review_report_pdf(row: Mapping[str, Any], layers: Any, graph: Any, *, lang: str = "zh",
                      tz: str | None = None) -> bytes:
    """The PDF of a review (stored, or unsaved with ``report`` and ``geometry`` only).

    Parameters
    ----------
    row
        The review: ``geometry`` and ``report``; ``id``, ``created_at``, ``data_version`` and
        ``author`` when stored.
    layers
        The layer registry (the map's layers and the attributions).
    graph
        The travel graph (the 2-hour band and the route on the map).
    lang
        ``zh`` or ``en``.
    tz
        IANA zone of the times shown.

    Raises
    ------
    DataFileError
        When no font with Chinese glyphs is installed.
    """
    try:
        font = cjk_font()
    except FontNotFound:
        raise DataFileError(key="err_report_font") from None
    png = review_map_png(row, layers, graph, lang=lang, font=font)
    return review_pdf(row, map_png=png, lang=lang, tz=tz, font=font, attributions=layers.attributions())
