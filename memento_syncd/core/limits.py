"""Size limits the server enforces on what clients send."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on requests; every one is checked before anything is written."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000
    max_observation_bytes: int = 256 * 1024
    max_page: int = 1000
    default_page: int = 500
    max_page_bytes: int = 8 * 1024 * 1024
    max_identifier_chars: int = 200
    max_title_chars: int = 2000
    max_topic_key_chars: int = 1000
