"""Bearer tokens: random, shown once, stored only as a hash, compared in constant time.

A token reads ``msd_<id>_<secret>``: the public ``id`` finds the row, the secret's
SHA-256 is compared with ``hmac.compare_digest``. The plaintext is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "msd"


@dataclass(frozen=True, slots=True)
class NewToken:
    """A freshly minted token: ``text`` for the user, ``token_id`` and ``secret_hash`` to keep."""

    token_id: str
    secret_hash: str
    text: str


def mint() -> NewToken:
    """Create a token with a 96-bit public id and a 256-bit secret."""
    token_id = secrets.token_hex(12)
    secret = secrets.token_hex(32)
    return NewToken(token_id, hash_secret(secret), f"{PREFIX}_{token_id}_{secret}")


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split(text: str) -> tuple[str, str] | None:
    """Return ``(token_id, secret)`` from a token, or None if it is not shaped like one
    (tokens are ASCII: a header's other bytes arrive as text no hash or query can take)."""
    parts = text.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    if not text.isascii():
        return None
    return parts[1], parts[2]


def matches(secret: str, secret_hash: str) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return hmac.compare_digest(hash_secret(secret), secret_hash)
