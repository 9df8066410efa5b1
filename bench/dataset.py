"""The data every benchmark uses: about 1 KB observations, deterministic by seed.

``make_observations(N)`` gives N wire observations (the dicts a client pushes), each
with a random UUID ``sync_id``, a ``type``, a six-word ``title``, about
``CONTENT_BYTES`` of random ASCII words as ``content`` and a canonical RFC 3339
``updated_at``, one second apart. The same seed gives the same observations, so figures
from different benchmarks describe the same work.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

# Imported by the scripts next to it, whose directory is on sys.path.
from harness import BenchError

PROJECT = "bench"
TEAM = "bench"
MEMBER = "b"
SEED = 20250115
CONTENT_BYTES = 1024
PAGE = 1000  # observations per pull request: the server's maximum page
TYPES = ("decision", "bugfix", "discovery", "pattern", "note", "architecture")


def make_vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    """Pseudo-words of 2 to 10 lowercase letters."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(size)]


def make_content(rng: random.Random, vocab: list[str], size: int) -> str:
    """About ``size`` characters of random words (ASCII, so bytes == characters)."""
    words = rng.choices(vocab, k=size // 5)
    text = " ".join(words)
    while len(text) < size:
        text += " " + " ".join(rng.choices(vocab, k=16))
    cut = text.rfind(" ", 0, size)
    return text[: cut if cut > size // 2 else size]


def make_observations(count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """``count`` wire observations with unique random-UUID sync_ids, deterministic by seed."""
    rng = random.Random(seed)
    vocab = make_vocabulary(rng)
    start = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    for index in range(count):
        moment = start + timedelta(seconds=index)
        out.append(
            {
                "sync_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": TYPES[index % len(TYPES)],
                "title": " ".join(rng.choices(vocab, k=6)).capitalize(),
                "content": make_content(rng, vocab, CONTENT_BYTES),
                "updated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    if len({o["sync_id"] for o in out}) != count:
        raise BenchError("generated sync_ids are not unique; change the seed")
    return out


def batches(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """Consecutive slices of ``size`` items."""
    return [items[start : start + size] for start in range(0, len(items), size)]
