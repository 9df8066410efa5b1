"""RFC 3339 timestamps: parse what devices send, write one canonical UTC form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$"
)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp or SQLite's ``datetime('now')`` form as UTC.

    A missing offset means UTC (SQLite's form); raises ``ValueError`` otherwise.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text[:40]!r}")
    year, month, day, hour, minute, second, frac, offset = match.groups()
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    base = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC
    )
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad UTC offset in timestamp: {text[:40]!r}")
        base -= sign * timedelta(hours=hours, minutes=minutes)
    return base


def format_timestamp(moment: datetime) -> str:
    """Write a datetime as RFC 3339 UTC with ``Z``, microseconds only when present."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_timestamp(text: str) -> str:
    """Return the canonical wire form of a timestamp string; ``ValueError`` if invalid."""
    return format_timestamp(parse_timestamp(text))
