"""Times for people and for files: local wall-clock time without microseconds, ISO 8601 with the offset.

The stores keep UTC (``2025-05-01T10:03:12.123456Z``). Pages and PDFs show the local time of the
configured zone (``TIMEZONE``, default ``Asia/Shanghai``) to the second; exports write ISO 8601 in
that zone with its offset (``2025-05-01T18:03:12+08:00``), which any spreadsheet or parser reads back
to the same instant.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The zone used when none is configured: China Standard Time (UTC+8, no daylight saving).
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Printed for a missing time.
MISSING = "—"


@functools.lru_cache(maxsize=16)
def zone(name: str | None = None) -> ZoneInfo:
    """Return the IANA zone ``name`` (default :data:`DEFAULT_TIMEZONE`).

    Raises
    ------
    ValueError
        When ``name`` is not an IANA zone name.
    """
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai") from exc


def parse_time(value: str | datetime | None) -> datetime | None:
    """Read a stored time (ISO 8601, ``Z`` or an offset; naive means UTC) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        stamp = value
    else:
        try:
            stamp = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def local_time(value: str | datetime | None, tz: str | None = None) -> datetime | None:
    """The time in zone ``tz``, truncated to the second (None when missing or unreadable)."""
    stamp = parse_time(value)
    return None if stamp is None else stamp.astimezone(zone(tz)).replace(microsecond=0)


def display_time(value: str | datetime | None, tz: str | None = None, *, seconds: bool = True) -> str:
    """Local wall-clock time for a page or a PDF: ``2025-05-01 18:03:12`` (``—`` when missing).

    Parameters
    ----------
    value
        A stored time (ISO 8601 text or datetime).
    tz
        IANA zone name; :data:`DEFAULT_TIMEZONE` when None.
    seconds
        Whether to print the seconds.
    """
    stamp = local_time(value, tz)
    if stamp is None:
        return MISSING
    return stamp.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def iso_time(value: str | datetime | None, tz: str | None = None) -> str | None:
    """ISO 8601 in zone ``tz`` with its offset and no microseconds: ``2025-05-01T18:03:12+08:00``."""
    stamp = local_time(value, tz)
    return None if stamp is None else stamp.isoformat()


def file_stamp(value: str | datetime | None = None, tz: str | None = None) -> str:
    """A compact local time for a download's file name: ``20250501-1803`` (now when ``value`` is None)."""
    stamp = local_time(value, tz) or datetime.now(zone(tz))
    return stamp.strftime("%Y%m%d-%H%M")
