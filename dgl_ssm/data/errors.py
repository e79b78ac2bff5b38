"""The data layer's errors: a needed file is missing (:class:`MissingDataError`) or differs from the recorded one
(:class:`CorruptDataError`). Their own module, below ``paths`` and ``manifest``, which both raise them."""
from __future__ import annotations

__all__ = ["MissingDataError", "CorruptDataError"]


class MissingDataError(FileNotFoundError):
    """A data file that is needed is absent or unreadable; the message says where and how to get it."""


class CorruptDataError(MissingDataError):
    """An offline data file differs from the recorded one (truncated, edited or another file); the message names it."""
