"""The Qt-free job protocol: long computations report progress through a callback and stop on a flag.

The GUI's job runner and the command line's progress bar both drive backend work through this protocol,
so the backend never needs to know who is watching.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .errors import StrfviewerError

# progress(done, total, message): ``done`` out of ``total`` steps, with a short status line.
ProgressCallback = Callable[[int, int, str], None]


class CancelFlag(Protocol):
    """Anything with ``is_set()``, such as ``threading.Event``."""

    def is_set(self) -> bool: ...


class CancelledError(StrfviewerError):
    """The user cancelled the job; nothing it would have produced was written."""


def check_cancel(cancel: CancelFlag | None) -> None:
    """Raise :class:`CancelledError` if the flag is set."""
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled")


def report(progress: ProgressCallback | None, done: int, total: int, message: str) -> None:
    """Call the progress callback if there is one."""
    if progress is not None:
        progress(done, total, message)
