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
