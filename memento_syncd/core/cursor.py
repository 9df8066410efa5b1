"""Opaque pull cursors built from the server's sequence, never from wall-clock time."""

from __future__ import annotations

import base64
import binascii

from memento_syncd.core.errors import InvalidInput

_PREFIX = "c1."


class StaleCursor(InvalidInput):
    """The cursor was issued by another server database (restored or replaced)."""


def encode_cursor(epoch: str, seq: int) -> str:
    """Make the opaque cursor for position ``seq`` of the log of database ``epoch``."""
    raw = f"{epoch}:{seq}".encode("ascii")
    return _PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str, epoch: str, field: str = "cursor") -> int:
    """Return the sequence a cursor points at; ``InvalidInput`` if it is not ours."""
    if not text.startswith(_PREFIX) or len(text) > 200:
        raise InvalidInput(field, "not a cursor issued by this server")
    body = text[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
        cursor_epoch, seq_text = raw.split(":")
        seq = int(seq_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(field, "not a cursor issued by this server") from exc
    if seq < 0 or not seq_text.isdigit():
        raise InvalidInput(field, "not a cursor issued by this server")
    if cursor_epoch != epoch:
        raise StaleCursor(
            field, "cursor belongs to another server database; pull again from the beginning"
        )
    return seq
