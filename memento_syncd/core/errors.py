"""Errors raised by the pure core when input breaks the contract."""

from __future__ import annotations


class InvalidInput(ValueError):
    """A value from outside (a request, a file) does not satisfy the contract.

    ``field`` is a dotted path such as ``observations[3].updated_at`` so the message
    can name exactly what is wrong. ``too_large``: the value breaks a size limit (the
    API answers 413 rather than 422).
    """

    def __init__(self, field: str, message: str, *, too_large: bool = False) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.too_large = too_large
