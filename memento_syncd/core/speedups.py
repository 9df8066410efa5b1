"""The optional C speed-ups of the similarity core (``_speedups.c``), where they were built.

``WordKeys``, ``in_at_least`` and ``narrow`` are the compiled ones where the build had a
C compiler, else ``None``; their callers (``token_order.FrozenOrder``,
``similarity.in_at_least``, ``store.postings``) then run their pure-Python code, which
gives the same answers (the test suite compares the two on random inputs). Setting
``MEMENTO_SYNCD_PURE_PYTHON`` (to anything) in the environment leaves the compiled code
unused, to compare or to rule it out. Pure: no I/O.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memento_syncd.core._speedups import WordKeys as NativeWordKeys

WordKeys: type[NativeWordKeys] | None = None
in_at_least: Callable[[Sequence[array[int]], int], list[int]] | None = None
narrow: Callable[[bytes], bytes | None] | None = None

if not os.environ.get("MEMENTO_SYNCD_PURE_PYTHON"):
    try:
        from memento_syncd.core import _speedups
    except ImportError:  # built without a C compiler: the pure-Python code serves
        pass
    else:
        WordKeys = _speedups.WordKeys
        in_at_least = _speedups.in_at_least
        narrow = _speedups.narrow
