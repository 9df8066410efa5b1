"""Opaque pull cursors built from the server's sequence, never from wall-clock time.

A cursor names the server database (its random epoch), the feed it belongs to (a
short fingerprint of the team and project) and a sequence number. Clients never parse
it; the server refuses a cursor of another database (stale) or another project
(invalid) instead of silently skipping data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from memento_syncd.core.errors import InvalidInput

_PREFIX = "c1."
_INVALID = "not a cursor issued by this server"
_SHAPE = re.compile(r"c1\.[A-Za-z0-9_-]+")


class StaleCursor(InvalidInput):
    """The cursor was issued by another server database (restored or replaced)."""


def feed_fingerprint(feed: str) -> str:
    """A short stable fingerprint of a feed name (a team's project), for cursors."""
    return hashlib.sha256(feed.encode("utf-8")).hexdigest()[:12]


def encode_cursor(epoch: str, feed: str, seq: int) -> str:
    """Make the opaque cursor for position ``seq`` of ``feed`` in database ``epoch``."""
    return encode_text(f"{epoch}:{feed_fingerprint(feed)}:{seq}")


def encode_text(raw: str) -> str:
    """The cursor text of a raw ``epoch:fingerprint:seq`` string."""
    return _PREFIX + base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(text: str, epoch: str, feed: str, field: str = "cursor") -> int:
    """Return the sequence a cursor points at; ``InvalidInput`` if it is not for this pull."""
    if len(text) > 200 or not _SHAPE.fullmatch(text):
        raise InvalidInput(field, _INVALID)
    body = text[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
        cursor_epoch, fingerprint, seq_text = raw.split(":")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(field, _INVALID) from exc
    if encode_text(raw) != text:  # only the exact text this server writes
        raise InvalidInput(field, _INVALID)
    if not seq_text.isdigit() or len(seq_text) > 19:
        raise InvalidInput(field, _INVALID)
    if cursor_epoch != epoch:
        raise StaleCursor(
            field, "cursor belongs to another server database; pull again from the beginning"
        )
    if fingerprint != feed_fingerprint(feed):
        raise InvalidInput(
            field, "cursor belongs to another project or team; keep one cursor per project"
        )
    return int(seq_text)
