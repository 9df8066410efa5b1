"""What every command shares: one-line errors on stderr and exit codes."""

from __future__ import annotations

import sys


class CommandError(Exception):
    """A failure to report as one line on stderr; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1, prog: str = "memento-syncd") -> int:
    """Print ``message`` as the one error line and return the exit status."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code
