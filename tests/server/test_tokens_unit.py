"""Bearer tokens: minting, splitting, and constant-time matching against the stored hash."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memento_syncd.server import tokens

SHAPE = re.compile(r"^msd_[0-9a-f]{24}_[A-Za-z0-9_-]{43,}$")
MANY = 200


def test_minted_token_has_the_documented_shape() -> None:
    """A token reads ``msd_<24 hex id>_<secret>`` and carries its id and the secret's hash."""
    new = tokens.mint()
    assert SHAPE.match(new.text)
    assert new.text.startswith(f"msd_{new.token_id}_")
    assert re.fullmatch(r"[0-9a-f]{64}", new.secret_hash)


def test_minted_tokens_are_distinct() -> None:
    """Every mint gives a new text, id, secret and hash."""
    minted = [tokens.mint() for _ in range(MANY)]
    assert len({t.text for t in minted}) == MANY
    assert len({t.token_id for t in minted}) == MANY
    assert len({t.secret_hash for t in minted}) == MANY


def test_split_round_trips_a_minted_token() -> None:
    """Splitting a minted token gives its id and a secret whose hash is the stored one."""
    for _ in range(MANY):
        new = tokens.mint()
        parts = tokens.split(new.text)
        assert parts is not None
        token_id, secret = parts
        assert token_id == new.token_id
        assert new.text == f"{tokens.PREFIX}_{token_id}_{secret}"
        assert tokens.hash_secret(secret) == new.secret_hash


def test_matches_only_the_right_secret() -> None:
    """matches() is true for the minted secret and false for any other."""
    new = tokens.mint()
    other = tokens.mint()
    parts = tokens.split(new.text)
    assert parts is not None
    secret = parts[1]
    assert tokens.matches(secret, new.secret_hash)
    wrong = [
        "",
        secret[:-1],
        secret + "x",
        secret.upper() if secret != secret.upper() else secret.lower(),
        " " + secret,
        new.text,
        new.token_id,
        new.secret_hash,
    ]
    for candidate in wrong:
        assert not tokens.matches(candidate, new.secret_hash), candidate
    other_parts = tokens.split(other.text)
    assert other_parts is not None
    assert not tokens.matches(other_parts[1], new.secret_hash)
    assert not tokens.matches(secret, other.secret_hash)


def test_matches_wants_the_exact_stored_hash() -> None:
    """A stored hash in another case or truncated does not match."""
    presented = "not-a-real-token-part"
    stored = tokens.hash_secret(presented)
    assert tokens.matches(presented, stored)
    assert not tokens.matches(presented, stored.upper())
    assert not tokens.matches(presented, stored[:-1])
    assert not tokens.matches(presented, "0" * 64)
    assert not tokens.matches(presented, "")


def test_token_text_never_holds_the_stored_hash() -> None:
    """The plaintext token never equals or contains the hash that is stored."""
    for _ in range(MANY):
        new = tokens.mint()
        assert new.text != new.secret_hash
        assert new.secret_hash not in new.text
        parts = tokens.split(new.text)
        assert parts is not None
        assert parts[1] != new.secret_hash


def test_hash_secret_is_sha256_hex_of_utf8() -> None:
    """The stored form of a secret is the hex SHA-256 of its UTF-8 bytes."""
    assert tokens.hash_secret("abc") == hashlib.sha256(b"abc").hexdigest()
    assert tokens.hash_secret("\u00e9") == hashlib.sha256(b"\xc3\xa9").hexdigest()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "msd",
        "msd_",
        "msd__",
        "msd_abc",
        "msd_abc_",
        "msd__secret",
        "xyz_abc_secret",
        "MSD_abc_secret",
        " msd_abc_secret",
        "msdx_abc_secret",
        "msd-abc-secret",
        "Bearer msd_abc_secret",
        "abc_secret",
    ],
)
def test_split_rejects_malformed_text(text: str) -> None:
    """Text not shaped ``msd_<id>_<secret>`` with non-empty parts splits to None."""
    assert tokens.split(text) is None


def test_split_keeps_underscores_in_the_secret() -> None:
    """Only the first two underscores separate; the secret may contain more."""
    assert tokens.split("msd_abc_se_cr_et") == ("abc", "se_cr_et")
    assert tokens.split("msd_abc__x") == ("abc", "_x")


@settings(deadline=None)
@given(
    token_id=st.text(min_size=1, max_size=30).filter(lambda s: "_" not in s),
    secret=st.text(min_size=1, max_size=60),
)
def test_split_round_trips_any_shaped_ascii_text(token_id: str, secret: str) -> None:
    """For any id without underscores and any non-empty secret, split inverts the format
    when the token is ASCII, and refuses it otherwise (a header's other bytes)."""
    text = f"msd_{token_id}_{secret}"
    assert tokens.split(text) == ((token_id, secret) if text.isascii() else None)


@settings(deadline=None)
@given(st.text(max_size=80))
def test_split_result_reassembles_the_text(text: str) -> None:
    """Whenever split accepts text, the parts reassemble into exactly that text."""
    parts = tokens.split(text)
    if parts is not None:
        token_id, secret = parts
        assert token_id
        assert secret
        assert "_" not in token_id
        assert f"msd_{token_id}_{secret}" == text


_secrets = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


@settings(deadline=None)
@given(_secrets, _secrets)
def test_matches_iff_same_secret(secret: str, other: str) -> None:
    """matches(s, hash_secret(t)) holds exactly when s and t are the same secret."""
    assert tokens.matches(secret, tokens.hash_secret(secret))
    assert tokens.matches(secret, tokens.hash_secret(other)) == (secret == other)
