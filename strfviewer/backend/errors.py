"""Typed errors of the backend.

Every error a user can trigger derives from :class:`StrfviewerError`, so the GUI and the command line can
show its message and carry on instead of printing a traceback. The ``ValueError`` subclasses keep the
conventional exception type for argument and input-shape mistakes.
"""


class StrfviewerError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigurationError(StrfviewerError, ValueError):
    """A constructor argument is out of range or inconsistent with another one."""


class InputShapeError(StrfviewerError, ValueError):
    """A tensor handed to a module has the wrong rank, channel count or length."""


class DataError(StrfviewerError):
    """A data file (audio, response set) is missing, unreadable or inconsistent."""


class AudioLoadError(DataError):
    """An audio file cannot be used: missing, empty, corrupt, non-finite, too large or too slow a rate."""


class ResponseSetError(DataError):
    """A response-set folder does not follow the documented format."""


class GridLockError(DataError):
    """Audio and response bins do not line up (sample rate, bin width and lengths disagree)."""


class CheckpointError(StrfviewerError):
    """A model folder or weights file cannot be loaded or written."""


class UnsafeCheckpointError(CheckpointError):
    """A weights file would need arbitrary code to load (a pickle); it is refused, never executed."""


class MissingModelInfoError(CheckpointError):
    """A model cannot be rebuilt until the user supplies what the files do not say (listed in ``missing``)."""

    def __init__(self, message: str, missing: dict[str, object]) -> None:
        super().__init__(message)
        self.missing = missing


class LiveInputError(StrfviewerError):
    """A microphone cannot be opened or stopped delivering (no PortAudio, no such device, unplugged)."""


class SessionError(DataError):
    """A session file cannot be read or written."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line for a dialog or a log line, at most ``limit`` characters (its type
    name when it has no message): a message built from a hostile file cannot flood the screen."""
    text = " ".join(str(exc).split())[:limit]
    return text or type(exc).__name__


def short_repr(value: object, limit: int = 80) -> str:
    """``repr`` of a value read from a file, cut to at most ``limit`` characters (ending in ``...``): a
    hostile file cannot flood the message that quotes it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
