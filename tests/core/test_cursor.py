"""Opaque pull cursors: round trips, rejection of anything not issued for this feed."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from memento_syncd.core.cursor import StaleCursor, decode_cursor, encode_cursor, feed_fingerprint
from memento_syncd.core.errors import InvalidInput
from tests.core.strategies import RELAXED, valid_text

EPOCH = "3f9a0c1d2e4b5a69"
FEED = "7\nmemento"
FP = feed_fingerprint(FEED)
INVALID = "not a cursor issued by this server"
URL_SAFE = re.compile(r"^c1\.[A-Za-z0-9_-]+$")
MAX_SEQ = 10**19 - 1

epochs = st.text(alphabet="0123456789abcdef", min_size=1, max_size=64)
feeds = valid_text
seqs = st.integers(min_value=0, max_value=2**63 - 1)


def _forge_bytes(raw: bytes, prefix: str = "c1.") -> str:
    """A cursor-shaped string around arbitrary bytes, as a client could make one."""
    return prefix + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _forge(raw: str, prefix: str = "c1.") -> str:
    """A cursor-shaped string around arbitrary ASCII text."""
    return _forge_bytes(raw.encode("ascii"), prefix)


@RELAXED
@given(epochs, feeds, seqs)
def test_round_trip_for_any_hex_epoch_feed_and_seq(epoch: str, feed: str, seq: int) -> None:
    """Decoding a cursor with the epoch and feed that issued it returns the sequence encoded."""
    cursor = encode_cursor(epoch, feed, seq)
    assert URL_SAFE.match(cursor)
    assert len(cursor) <= 200
    assert decode_cursor(cursor, epoch, feed) == seq


@RELAXED
@given(epochs, epochs, feeds, seqs)
def test_another_epoch_is_stale(epoch: str, other: str, feed: str, seq: int) -> None:
    """A cursor issued under one epoch is a StaleCursor under any other epoch."""
    assume(epoch != other)
    with pytest.raises(StaleCursor):
        decode_cursor(encode_cursor(other, feed, seq), epoch, feed)


@RELAXED
@given(epochs, feeds, feeds, seqs)
def test_another_feed_is_invalid_not_stale(epoch: str, feed: str, other: str, seq: int) -> None:
    """A cursor of another team's project is InvalidInput (not stale) under this feed."""
    assume(feed_fingerprint(feed) != feed_fingerprint(other))
    with pytest.raises(InvalidInput, match="another project or team") as info:
        decode_cursor(encode_cursor(epoch, other, seq), epoch, feed)
    assert not isinstance(info.value, StaleCursor)


@RELAXED
@given(epochs, feeds, seqs, seqs)
def test_distinct_positions_give_distinct_cursors(epoch: str, feed: str, a: int, b: int) -> None:
    """Different sequences of one feed never share a cursor."""
    assert (encode_cursor(epoch, feed, a) == encode_cursor(epoch, feed, b)) == (a == b)


@RELAXED
@given(feeds)
def test_feed_fingerprint_is_a_sha256_prefix(feed: str) -> None:
    """A feed's fingerprint is the first 12 hex digits of the SHA-256 of its UTF-8."""
    assert feed_fingerprint(feed) == hashlib.sha256(feed.encode("utf-8")).hexdigest()[:12]
    assert re.fullmatch(r"[0-9a-f]{12}", feed_fingerprint(feed))


def test_known_encoding() -> None:
    """The wire form is ``c1.`` and unpadded URL-safe base64 of ``epoch:fingerprint:seq``."""
    cursor = encode_cursor("ab12", FEED, 7)
    assert cursor == _forge(f"ab12:{FP}:7")
    assert "=" not in cursor
    assert decode_cursor(cursor, "ab12", FEED) == 7


def test_zero_and_largest_positions_round_trip() -> None:
    """Sequence zero (before the first change) and the largest 19-digit sequence round trip."""
    assert decode_cursor(encode_cursor(EPOCH, FEED, 0), EPOCH, FEED) == 0
    assert decode_cursor(encode_cursor(EPOCH, FEED, MAX_SEQ), EPOCH, FEED) == MAX_SEQ


def test_stale_cursor_is_invalid_input_naming_the_field() -> None:
    """StaleCursor is an InvalidInput naming the field and telling the client to start over."""
    cursor = encode_cursor("0000", FEED, 5)
    with pytest.raises(StaleCursor) as info:
        decode_cursor(cursor, EPOCH, FEED, field="after")
    assert isinstance(info.value, InvalidInput)
    assert info.value.field == "after"
    assert "pull again from the beginning" in info.value.message


def test_stale_epoch_is_reported_before_feed_mismatch() -> None:
    """A cursor of another database and another feed is reported stale."""
    with pytest.raises(StaleCursor):
        decode_cursor(encode_cursor("0000", "other", 5), EPOCH, FEED)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("c1.", id="prefix-only"),
        pytest.param("c1.!!!!", id="not-base64"),
        pytest.param("c1.YWJj", id="no-colon"),
        pytest.param(_forge(f"{EPOCH}:5"), id="old-two-part-form"),
        pytest.param("C1." + _forge(f"{EPOCH}:{FP}:5")[3:], id="upper-case-prefix"),
        pytest.param(_forge(f"{EPOCH}:{FP}:5", prefix="c2."), id="wrong-version-prefix"),
        pytest.param(_forge(f"{EPOCH}:{FP}:5", prefix=""), id="no-prefix"),
        pytest.param(_forge(f"{EPOCH}:{FP}:-1"), id="negative"),
        pytest.param(_forge(f"{EPOCH}:{FP}:-0"), id="negative-zero"),
        pytest.param(_forge(f"{EPOCH}:{FP}:+5"), id="plus-sign"),
        pytest.param(_forge(f"{EPOCH}:{FP}: 5"), id="leading-space"),
        pytest.param(_forge(f"{EPOCH}:{FP}:5 "), id="trailing-space"),
        pytest.param(_forge(f"{EPOCH}:{FP}:1_000"), id="underscore-digits"),
        pytest.param(_forge(f"{EPOCH}:{FP}:0x10"), id="hex-seq"),
        pytest.param(_forge(f"{EPOCH}:{FP}:five"), id="word-seq"),
        pytest.param(_forge(f"{EPOCH}:{FP}:"), id="empty-seq"),
        pytest.param(_forge(f"{EPOCH}:{FP}:1.5"), id="fractional-seq"),
        pytest.param(_forge(f"{EPOCH}:{FP}:5:6"), id="extra-part"),
        pytest.param(_forge(f"{EPOCH}:{FP}:{MAX_SEQ + 1}"), id="twenty-digit-seq"),
        pytest.param(_forge_bytes(b"\xff\xfe:a:5"), id="non-ascii"),
        pytest.param("c1.YWIxMjo3\u00e9", id="non-ascii-text"),
        pytest.param("c1." + "A" * 198, id="overlong"),
    ],
)
def test_rejects_what_this_server_did_not_issue(text: str) -> None:
    """Garbage, wrong prefixes, negative or non-digit sequences and overlong text are invalid."""
    with pytest.raises(InvalidInput) as info:
        decode_cursor(text, EPOCH, FEED)
    assert not isinstance(info.value, StaleCursor)
    assert info.value.field == "cursor"
    assert info.value.message == INVALID


def test_overlong_text_is_refused_even_if_it_would_decode() -> None:
    """Text over 200 characters is refused before decoding, whatever it holds."""
    epoch = "a" * 150
    cursor = encode_cursor(epoch, FEED, MAX_SEQ)
    assert len(cursor) > 200
    with pytest.raises(InvalidInput, match=INVALID):
        decode_cursor(cursor, epoch, FEED)


def test_field_name_is_reported() -> None:
    """The error names the field the caller passes."""
    with pytest.raises(InvalidInput) as info:
        decode_cursor("nope", EPOCH, FEED, field="body.cursor")
    assert info.value.field == "body.cursor"
    assert str(info.value).startswith("body.cursor: ")


@RELAXED
@given(st.text(max_size=220))
def test_arbitrary_text_raises_only_invalid_input(text: str) -> None:
    """Decoding arbitrary text either returns a sequence >= 0 or raises InvalidInput."""
    try:
        seq = decode_cursor(text, EPOCH, FEED)
    except InvalidInput:
        return
    assert seq >= 0


@RELAXED
@given(st.binary(max_size=120))
def test_arbitrary_payload_raises_only_invalid_input(payload: bytes) -> None:
    """Any bytes behind the ``c1.`` prefix decode to a sequence >= 0 or raise InvalidInput."""
    text = _forge_bytes(payload)
    try:
        seq = decode_cursor(text, EPOCH, FEED)
    except InvalidInput:
        return
    assert seq >= 0


@RELAXED
@given(st.text(alphabet="0123456789:+-_ .xe\u0663", max_size=24))
def test_sequence_part_must_be_at_most_19_ascii_digits(tail: str) -> None:
    """A forged sequence part is accepted exactly when it is 1-19 ASCII digits, read in base 10."""
    expected_ok = re.fullmatch(r"[0-9]{1,19}", tail) is not None
    try:
        seq = decode_cursor(_forge_bytes(f"{EPOCH}:{FP}:{tail}".encode()), EPOCH, FEED)
    except InvalidInput:
        assert not expected_ok
        return
    assert expected_ok
    assert seq == int(tail)


_GOOD = encode_cursor("ab12", FEED, 7)  # 26 base64 characters: the last carries 4 spare bits


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_GOOD + "!!!!", id="junk-suffix"),
        pytest.param("c1.!!!!" + _GOOD[3:], id="junk-prefix"),
        pytest.param(_GOOD[:8] + "    " + _GOOD[8:], id="inner-spaces"),
        pytest.param(_GOOD + "==", id="stray-padding"),
        pytest.param(_GOOD + "\n\n\n\n", id="newlines"),
        pytest.param(_GOOD[:-1] + chr(ord(_GOOD[-1]) + 1), id="spare-bits"),
    ],
)
def test_rejects_cursor_with_junk_characters(text: str) -> None:
    """A cursor with characters this server never writes is not a cursor it issued."""
    assert text != _GOOD
    with pytest.raises(InvalidInput):
        decode_cursor(text, "ab12", FEED)
