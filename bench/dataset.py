"""The data every benchmark uses: about 1 KB observations, deterministic by seed.

``make_observations(N)`` gives N wire observations (the dicts a client pushes), each
with a random UUID ``sync_id``, a ``type``, a six-word ``title``, about
``CONTENT_BYTES`` of random ASCII words as ``content`` and a canonical RFC 3339
``updated_at``, one second apart. The same seed gives the same observations, so figures
from different benchmarks describe the same work.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Imported by the scripts next to it, whose directory is on sys.path.
from harness import BenchError

from memento_syncd.store.schema import APP_TABLE

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


# --------------------------------------------------------------------------- Zipf text

ZIPF_WORDS = 30_000  # vocabulary size
ZIPF_EXPONENT = 1.0  # weight of the word of rank r is r ** -ZIPF_EXPONENT, as in English
DEDUP_THRESHOLD = 0.85  # the client's default sync.similarity_threshold
_ONSETS = ("", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st",
           "tr", "ch", "th", "sh", "pr", "bl", "gr")  # fmt: skip
_NUCLEI = ("a", "e", "i", "o", "u", "ea", "ou", "io", "ai", "y")
_CODAS = ("", "", "n", "r", "s", "t", "l", "d", "ng", "ck", "st", "m")


def _pseudo_words(rng: random.Random, size: int) -> list[str]:
    """``size`` distinct pronounceable pseudo-words, shorter ones mostly first (more frequent)."""
    seen: set[str] = set()
    while len(seen) < size:
        syllables = 1 + min(3, int(rng.expovariate(1.2)))
        parts = [rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
                 for _ in range(syllables)]  # fmt: skip
        word = "".join(parts)
        if len(word) >= 2:
            seen.add(word)
    return sorted(sorted(seen), key=lambda word: len(word) + rng.gauss(0, 1.5))


class ZipfText:
    """Pseudo-English: one fixed vocabulary drawn with Zipf weights, in capitalized sentences.

    The vocabulary is the same for every seed; ``seed`` only picks which words are drawn,
    so texts of different seeds share the distribution, as two devices of one team do.
    """

    def __init__(self, seed: int, size: int = ZIPF_WORDS, exponent: float = ZIPF_EXPONENT) -> None:
        self.rng = random.Random(seed)
        self.words = _pseudo_words(random.Random(SEED), size)
        self._cum = list(itertools.accumulate(rank**-exponent for rank in range(1, size + 1)))

    def draw(self, count: int) -> list[str]:
        """``count`` words drawn with Zipf weights."""
        return self.rng.choices(self.words, cum_weights=self._cum, k=count)

    def title(self) -> str:
        """A title of four to eight words."""
        return " ".join(self.draw(self.rng.randint(4, 8))).capitalize()

    def content(self, size: int = CONTENT_BYTES) -> str:
        """Sentences of 6 to 20 words, about ``size`` characters (ASCII)."""
        sentences: list[str] = []
        length = 0
        while length < size:
            sentence = " ".join(self.draw(self.rng.randint(6, 20))).capitalize() + "."
            sentences.append(sentence)
            length += len(sentence) + 1
        return " ".join(sentences)

    def near_copy(self, text: str, edits: int) -> str:
        """``text`` with ``edits`` words replaced by words of the rarer half of the vocabulary."""
        words = text.split(" ")
        for position in self.rng.sample(range(len(words)), min(edits, len(words))):
            end = "." if words[position].endswith(".") else ""
            words[position] = self.rng.choice(self.words[len(self.words) // 2 :]) + end
        return " ".join(words)


def changed_copy(
    gen: ZipfText, title: str, content: str, edits: tuple[int, int], similar: bool
) -> str:
    """``content`` with ``edits`` (a range) words changed: a near twin of the original or not.

    ``similar`` asks for a Jaccard of word sets above ``DEDUP_THRESHOLD`` (near twin) or
    at most it (near miss), as ``memento_syncd.core.similarity.is_similar`` decides.
    """
    from memento_syncd.core.similarity import is_similar, token_ids, word_set

    original = token_ids(word_set(title, content))
    for _ in range(100):
        changed = gen.near_copy(content, gen.rng.randint(*edits))
        tokens = token_ids(word_set(title, changed))
        if changed != content and is_similar(original, tokens, DEDUP_THRESHOLD) == similar:
            return changed
    raise BenchError("could not make a changed copy of the kind asked for")


def app_row(project: str, index: int, title: str, content: str) -> tuple[Any, ...]:
    """A row of the application's ``observations`` table (no id), one second per index."""
    moment = datetime(2025, 1, 15, 10, 30, tzinfo=UTC) + timedelta(seconds=index)
    at = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (project, TYPES[index % len(TYPES)], title, content, None, "project", at, at, None)


def write_app_db(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """Create the application's database (``schema.APP_TABLE``) and insert ``rows``, plainly."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(APP_TABLE)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO observations (project, type, title, content, topic_key, scope,"
            " created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
