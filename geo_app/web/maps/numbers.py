"""One way to print shares and areas, for templates, legends, tooltips and popups alike.

The same figure is printed the same way wherever a page shows it: a share is a percentage
with one decimal (``0.2%``), an area is km² with one decimal and thousands separators
(``1,273.5``). Rounding is half-up on the exact value of the float, which is what
JavaScript's ``Number.prototype.toFixed`` does, so ``GeoMaps.fmt`` in ``static/maps.js``
prints the numbers the browser computes exactly like these functions print the server's.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

#: Printed for a value that is missing (None, NaN).
MISSING = "—"


def _fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, rounded half-up on its exact binary value."""
    quantum = Decimal(1).scaleb(-digits)
    return f"{Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP):,}"


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(float(value))


def fmt_km2(value: float | None) -> str:
    """An area in km²: one decimal, thousands separators (no unit).

    Parameters
    ----------
    value
        Square kilometres, or None.

    Returns
    -------
    str
        ``"5.3"``, ``"14,148.2"``; ``"—"`` when missing.
    """
    if _missing(value):
        return MISSING
    return _fixed(max(float(value), 0.0), 1)  # type: ignore[arg-type]


def fmt_share(value: float | None) -> str:
    """A share (0–1) as a percentage with one decimal.

    A share that is not exactly 0 (or 1) never prints as ``0%`` (or ``100%``): a sliver of the
    county is ``<0.1%``, almost all of it ``>99.9%``.

    Parameters
    ----------
    value
        A fraction between 0 and 1, or None.

    Returns
    -------
    str
        ``"0.2%"``, ``"0%"``, ``"<0.1%"``; ``"—"`` when missing.
    """
    if _missing(value):
        return MISSING
    x = min(max(float(value), 0.0), 1.0)  # type: ignore[arg-type]
    if x == 0.0 or x == 1.0:
        return f"{x * 100:.0f}%"
    text = _fixed(x * 100.0, 1)
    if text == "0.0":
        return "<0.1%"
    if text == "100.0":
        return ">99.9%"
    return f"{text}%"


def fmt_minutes(value: float | None) -> str:
    """Minutes as a whole number (``"161"``); ``"—"`` when missing."""
    if _missing(value):
        return MISSING
    return _fixed(float(value), 0)  # type: ignore[arg-type]


#: Jinja filter name → function (registered for every template by :mod:`geo_app.web.assets`).
FILTERS = {"km2": fmt_km2, "share": fmt_share, "minutes": fmt_minutes}
