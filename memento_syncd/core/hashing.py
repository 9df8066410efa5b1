"""Content hashing shared by server and client."""

from __future__ import annotations

import hashlib


def content_hash(content: str) -> str:
    """Return the wire ``content_hash`` of an observation's content: hex SHA-256 of UTF-8."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()
