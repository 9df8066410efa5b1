"""RFC 3339 parsing, canonical formatting and normalization of timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from memento_syncd.core.timestamps import format_timestamp, normalize_timestamp, parse_timestamp
from tests.core.strategies import RELAXED, aware_datetimes

CANONICAL = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z$")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-15T10:30:00Z", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15t10:30:00z", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15T10:30:00+00:00", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15T10:30:00-00:00", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15T12:30:00+02:00", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15T05:00:00-05:30", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15T00:15:00+23:59", datetime(2025, 1, 14, 0, 16, tzinfo=UTC)),
        ("2025-01-01T01:00:00+02:00", datetime(2024, 12, 31, 23, 0, tzinfo=UTC)),
        ("2024-12-31T23:00:00-02:00", datetime(2025, 1, 1, 1, 0, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
        ("2025-01-15 10:30:00", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15T10:30:00", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("2025-01-15 10:30:00Z", datetime(2025, 1, 15, 10, 30, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_accepts_rfc3339_and_sqlite_forms(text: str, expected: datetime) -> None:
    """Z, lower-case z/t, numeric offsets and SQLite's offset-less form all parse to UTC."""
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("fraction", "micro"),
    [
        (".1", 100000),
        (".12", 120000),
        (".123", 123000),
        (".1234", 123400),
        (".12345", 123450),
        (".123456", 123456),
        (".1234567", 123456),
        (".12345678", 123456),
        (".123456789", 123456),
        (".000000999", 0),
        (".0", 0),
    ],
)
def test_parse_fractional_seconds_of_one_to_nine_digits(fraction: str, micro: int) -> None:
    """1 to 9 fractional digits parse, truncated (never rounded) to microseconds."""
    parsed = parse_timestamp(f"2025-01-15T10:30:05{fraction}Z")
    assert parsed == datetime(2025, 1, 15, 10, 30, 5, micro, tzinfo=UTC)


def test_sqlite_form_is_utc_not_local_time() -> None:
    """SQLite's ``datetime('now')`` text has no offset and is read as UTC."""
    assert parse_timestamp("2025-06-01 12:00:00") == parse_timestamp("2025-06-01T12:00:00Z")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "garbage",
        "2025-01-15",
        "10:30:00",
        "2025-01-15T10:30Z",
        "2025-01-15T10:30:00.Z",
        "2025-01-15T10:30:00.1234567890Z",
        "2025-1-15T10:30:00Z",
        "25-01-15T10:30:00Z",
        "+2025-01-15T10:30:00Z",
        "2025-01-15X10:30:00Z",
        "2025-01-15T10:30:00ZZ",
        " 2025-01-15T10:30:00Z",
        "2025-01-15T10:30:00Z ",
        "2025-01-15T10:30:00,5Z",
        "2025/01/15T10:30:00Z",
        "2025-01-15T10:30:00UTC",
        "2025-01-15T10:30:00GMT",
    ],
)
def test_parse_rejects_garbage(text: str) -> None:
    """Text that is not shaped like an RFC 3339 timestamp raises ValueError."""
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-13-01T00:00:00Z",
        "2025-00-10T00:00:00Z",
        "2025-01-00T00:00:00Z",
        "2025-01-32T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-01-15T24:00:00Z",
        "2025-01-15T10:60:00Z",
        "2025-01-15T10:30:60Z",
        "0000-01-01T00:00:00Z",
    ],
)
def test_parse_rejects_impossible_dates_and_times(text: str) -> None:
    """Well-shaped text naming no real instant (month 13, Feb 30, hour 24...) raises ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - datetime's own messages vary by field
        parse_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-15T10:30:00+24:00",
        "2025-01-15T10:30:00-24:00",
        "2025-01-15T10:30:00+99:00",
        "2025-01-15T10:30:00+01:60",
        "2025-01-15T10:30:00-00:99",
    ],
)
def test_parse_rejects_out_of_range_offsets(text: str) -> None:
    """An offset of 24 hours or more, or 60 minutes or more, raises ValueError."""
    with pytest.raises(ValueError, match="bad UTC offset"):
        parse_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-15T10:30:00+0100",
        "2025-01-15T10:30:00+01",
        "2025-01-15T10:30:00+1:00",
        "2025-01-15T10:30:00 +01:00",
        "2025-01-15T10:30:00Z+01:00",
    ],
)
def test_parse_rejects_malformed_offsets(text: str) -> None:
    """Offsets not written ``+HH:MM`` raise ValueError."""
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_timestamp(text)


def test_error_message_truncates_long_input() -> None:
    """The ValueError quotes at most 40 characters of the offending text."""
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp") as info:
        parse_timestamp("x" * 1000)
    assert "x" * 41 not in str(info.value)


def test_parse_rejects_trailing_newline() -> None:
    """A timestamp followed by a newline is not a timestamp and raises ValueError."""
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_timestamp("2025-01-15T10:30:00Z\n")


@pytest.mark.parametrize(
    "text",
    [
        "\u0662\u0660\u0662\u0665-\u0660\u0661-\u0661\u0665T\u0661\u0660:\u0663\u0660:\u0660\u0660Z",
        "\uff12\uff10\uff12\uff15-01-15T10:30:00Z",
    ],
)
def test_parse_rejects_non_ascii_digits(text: str) -> None:
    """Digits outside ASCII 0-9 are not RFC 3339 and raise ValueError."""
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_timestamp(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_parse_out_of_range_after_offset_raises_value_error(text: str) -> None:
    """A timestamp whose UTC instant falls outside years 1..9999 raises ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError honours the contract
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 1, 15, 10, 30, tzinfo=UTC), "2025-01-15T10:30:00Z"),
        (datetime(2025, 1, 15, 10, 30, 0, 1, tzinfo=UTC), "2025-01-15T10:30:00.000001Z"),
        (datetime(2025, 1, 15, 10, 30, 0, 500000, tzinfo=UTC), "2025-01-15T10:30:00.500000Z"),
        (
            datetime(2025, 1, 15, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-15T10:30:00Z",
        ),
        (
            datetime(2025, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            "2024-12-31T23:30:00Z",
        ),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00Z"),
    ],
)
def test_format_writes_utc_with_z(moment: datetime, expected: str) -> None:
    """Formatting converts to UTC, ends in Z, and shows six fraction digits only when nonzero."""
    assert format_timestamp(moment) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z"),
        ("2025-01-15t10:30:00z", "2025-01-15T10:30:00Z"),
        ("2025-01-15 10:30:00", "2025-01-15T10:30:00Z"),
        ("2025-01-15T12:30:00+02:00", "2025-01-15T10:30:00Z"),
        ("2025-01-15T10:30:00.5Z", "2025-01-15T10:30:00.500000Z"),
        ("2025-01-15T10:30:00.123456789-01:00", "2025-01-15T11:30:00.123456Z"),
        ("2025-01-15T10:30:00.000Z", "2025-01-15T10:30:00Z"),
    ],
)
def test_normalize_gives_the_canonical_wire_form(text: str, expected: str) -> None:
    """Normalizing writes any accepted form as canonical UTC ``...Z``."""
    assert normalize_timestamp(text) == expected


def test_normalize_rejects_invalid_text() -> None:
    """Normalizing invalid text raises ValueError like parsing does."""
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        normalize_timestamp("yesterday")


@pytest.mark.parametrize("year", [1, 9, 99, 999])
def test_format_pads_years_below_1000(year: int) -> None:
    """Years below 1000 are written with four digits and the result parses back."""
    text = format_timestamp(datetime(year, 6, 1, tzinfo=UTC))
    assert text == f"{year:04d}-06-01T00:00:00Z"
    assert parse_timestamp(text) == datetime(year, 6, 1, tzinfo=UTC)


def test_normalize_is_idempotent_for_early_years() -> None:
    """Normalizing an already-normalized early-year timestamp changes nothing."""
    once = normalize_timestamp("0999-06-01T00:00:00Z")
    assert normalize_timestamp(once) == once


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 (or SQLite) string and the UTC instant it denotes, built independently."""
    local = draw(st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31)))
    digits = draw(st.text(alphabet="0123456789", min_size=0, max_size=9))
    separator = draw(st.sampled_from(["T", "t", " "]))
    zone = draw(st.one_of(st.sampled_from(["", "Z", "z"]), st.integers(-1439, 1439)))
    if isinstance(zone, int):
        sign = "-" if zone < 0 else "+"
        suffix = f"{sign}{abs(zone) // 60:02d}:{abs(zone) % 60:02d}"
        offset = timedelta(minutes=zone)
    else:
        suffix, offset = zone, timedelta(0)
    fraction = f".{digits}" if digits else ""
    text = f"{local:%Y-%m-%d}{separator}{local:%H:%M:%S}{fraction}{suffix}"
    micro = int((digits + "000000")[:6]) if digits else 0
    instant = local.replace(microsecond=micro, tzinfo=UTC) - offset
    return text, instant


@RELAXED
@given(rfc3339_texts())
def test_parse_agrees_with_an_independent_construction(case: tuple[str, datetime]) -> None:
    """Any well-formed timestamp parses to the UTC instant its fields and offset denote."""
    text, instant = case
    assert parse_timestamp(text) == instant


@RELAXED
@given(rfc3339_texts())
def test_normalize_is_idempotent(case: tuple[str, datetime]) -> None:
    """Normalizing a normalized timestamp returns it unchanged, in canonical ASCII form."""
    once = normalize_timestamp(case[0])
    assert normalize_timestamp(once) == once
    assert CANONICAL.match(once)


@RELAXED
@given(aware_datetimes)
@example(datetime(2025, 1, 15, 10, 30, tzinfo=UTC))
@example(datetime(2025, 1, 15, 10, 30, 0, 1, tzinfo=timezone(timedelta(hours=-5))))
@example(datetime(1983, 10, 30, 2, 0, tzinfo=ZoneInfo("Australia/ACT")))  # in a DST gap
def test_format_parse_format_round_trips(moment: datetime) -> None:
    """format(parse(format(dt))) == format(dt) for any aware datetime in four-digit years."""
    text = format_timestamp(moment)
    assert CANONICAL.match(text)
    assert format_timestamp(parse_timestamp(text)) == text
    # Compare in UTC: PEP 495 makes an aware datetime in a DST gap or fold unequal to
    # every datetime of another zone, even the instant astimezone() maps it to.
    assert parse_timestamp(text) == moment.astimezone(UTC)


@RELAXED
@given(aware_datetimes, aware_datetimes)
def test_format_preserves_instant_equality(a: datetime, b: datetime) -> None:
    """Two datetimes format to the same text exactly when they are the same instant."""
    assert (format_timestamp(a) == format_timestamp(b)) == (a.astimezone(UTC) == b.astimezone(UTC))
