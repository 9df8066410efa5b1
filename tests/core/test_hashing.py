"""The wire content hash: hex SHA-256 of the UTF-8 of an observation's content."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given

from memento_syncd.core.hashing import content_hash
from tests.core.strategies import RELAXED, valid_text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("\u00e9", hashlib.sha256(b"\xc3\xa9").hexdigest()),
        ("\U0001f600", hashlib.sha256(b"\xf0\x9f\x98\x80").hexdigest()),
    ],
)
def test_known_digests(content: str, expected: str) -> None:
    """Known inputs hash to their published SHA-256 digests of UTF-8 bytes."""
    assert content_hash(content) == expected


def test_normalization_forms_hash_differently() -> None:
    """Hashing is of the exact code points: NFC and NFD spellings differ."""
    assert content_hash("\u00e9") != content_hash("e\u0301")


@RELAXED
@given(valid_text)
def test_is_lower_hex_sha256_of_utf8(content: str) -> None:
    """For any text the hash is the 64 lower-case hex digits of SHA-256 over its UTF-8."""
    digest = content_hash(content)
    assert digest == hashlib.sha256(content.encode("utf-8")).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
