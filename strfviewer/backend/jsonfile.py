"""Reading a JSON object from a file the user chose: the one place every loader's JSON comes through.

A file from outside can be anything: far too large to parse in memory, unreadable, not text, not JSON,
nested deeper than the parser can follow, or JSON that is not an object. Each of these becomes a
:class:`JsonProblem`, which the caller turns into its own typed error in its own words (a response set, a
model folder and a session each say what to do differently). A file over the size limit is refused from its
size, before it is read whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import StrfviewerError, one_line


class JsonFault(Enum):
    """What kept a file from being a JSON object."""

    TOO_LARGE = "too large"
    UNREADABLE = "unreadable"
    NOT_TEXT = "not text"
    NOT_JSON = "not JSON"
    TOO_DEEP = "nested too deeply"
    NOT_OBJECT = "not an object"


@dataclass(frozen=True)
class JsonProblem:
    """Why ``path`` could not be read as a JSON object, with what a message about it may need."""

    fault: JsonFault
    path: Path
    limit: int
    cause: BaseException | None = None  # the OSError, UnicodeDecodeError, ValueError or RecursionError
    size: int | None = None  # bytes, for TOO_LARGE (None: more than ``limit``, exact size unknown)
    value: Any = None  # the parsed document, for NOT_OBJECT

    def reason(self) -> str:
        """What was wrong, on one line and without advice (the caller adds what to do)."""
        if self.fault is JsonFault.TOO_LARGE:
            size = "larger" if self.size is None else f"{_size(self.size)}, more"
            return f"is {size} than the {_size(self.limit)} limit"
        if self.fault is JsonFault.UNREADABLE:
            return f"cannot be read ({getattr(self.cause, 'strerror', None) or self._cause_text()})"
        if self.fault is JsonFault.NOT_TEXT:
            return f"is not UTF-8 text ({self._cause_text()})"
        if self.fault is JsonFault.NOT_JSON:
            return f"is not valid JSON ({self._cause_text()})"
        if self.fault is JsonFault.TOO_DEEP:
            return "is nested too deeply to be read"
        return f"holds {json_type(self.value)}, not a JSON object"

    def _cause_text(self) -> str:
        return one_line(self.cause) if self.cause is not None else self.fault.value


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, with its article ("a list", "null"), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes} bytes"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str, *, allow_constants: bool = True) -> Any:
    """``json.loads(text)``; with ``allow_constants=False`` the non-standard NaN, Infinity and -Infinity are
    refused too. Raises ValueError for anything that is not JSON (integers too long to convert included) and
    RecursionError for nesting deeper than the parser can follow."""
    if allow_constants:
        return json.loads(text)
    return json.loads(text, parse_constant=_refuse_constant)


def read_json_object(
    path: str | Path,
    error_for: Callable[[JsonProblem], StrfviewerError],
    *,
    max_bytes: int,
    allow_constants: bool = True,
    encoding: str = "utf-8",
) -> dict[str, Any]:
    """The JSON object in ``path``; any problem is raised as ``error_for(problem)``, the caller's typed error.

    A file larger than ``max_bytes`` is refused from its size before it is read (and a file that grows, or a
    device that reports no size, from the first ``max_bytes + 1`` bytes). ``encoding`` ``"utf-8-sig"`` also
    accepts a byte-order mark; ``allow_constants`` is as in :func:`parse_json`."""
    path = Path(path)
    outcome = _load(path, max_bytes, allow_constants, encoding)
    if isinstance(outcome, JsonProblem):
        raise error_for(outcome) from None
    return outcome


def _load(path: Path, max_bytes: int, allow_constants: bool, encoding: str) -> dict[str, Any] | JsonProblem:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                return JsonProblem(JsonFault.TOO_LARGE, path, max_bytes, size=size)
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        return JsonProblem(JsonFault.UNREADABLE, path, max_bytes, cause=exc)
    if len(raw) > max_bytes:  # grew since, or a device that reports no size
        return JsonProblem(JsonFault.TOO_LARGE, path, max_bytes)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return JsonProblem(JsonFault.NOT_TEXT, path, max_bytes, cause=exc)
    try:
        document = parse_json(text, allow_constants=allow_constants)
    except RecursionError as exc:
        return JsonProblem(JsonFault.TOO_DEEP, path, max_bytes, cause=exc)
    except ValueError as exc:  # JSONDecodeError, refused constants, integers too long to convert
        return JsonProblem(JsonFault.NOT_JSON, path, max_bytes, cause=exc)
    if not isinstance(document, dict):
        return JsonProblem(JsonFault.NOT_OBJECT, path, max_bytes, value=document)
    return document
