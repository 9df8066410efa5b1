"""RFC 3339 timestamps: parse what devices send, write one canonical UTC form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
# Already canonical (what format_timestamp writes): checked first, it is the common case.
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z")


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp or SQLite's ``datetime('now')`` form as UTC.

    A missing offset means UTC (SQLite's form); raises ``ValueError`` otherwise,
    including for instants that fall outside years 1 to 9999 once made UTC.
    """
    match = _RFC3339.fullmatch(text)
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
        try:
            base -= sign * timedelta(hours=hours, minutes=minutes)
        except OverflowError as exc:
            raise ValueError(f"timestamp out of range: {text[:40]!r}") from exc
    return base


def format_timestamp(moment: datetime) -> str:
    """Write a datetime as RFC 3339 UTC with ``Z``, microseconds only when present."""
    m = moment.astimezone(UTC)
    text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    return f"{text}.{m.microsecond:06d}Z" if m.microsecond else f"{text}Z"


def normalize_timestamp(text: str) -> str:
    """Return the canonical wire form of a timestamp string; ``ValueError`` if invalid."""
    if _CANONICAL.fullmatch(text) and not text.endswith(".000000Z"):
        datetime.fromisoformat(text)  # still rejects impossible dates such as February 30
        return text
    return format_timestamp(parse_timestamp(text))
