"""Saving and restoring a working session as a ``*.strfsession.json`` file (described in docs/formats.md).

A session records what the user had open (audio, models, response sets), the active front-ends and their
arguments, the selected neuron, the view range and display settings, so a figure can be reproduced later or
on another machine. It is plain JSON on purpose: nothing in it is ever executed (no pickle, no eval), and a
person can read and fix it in a text editor.

Paths are stored relative to the session file's folder when possible, so a project folder can be moved or
shared as a whole. Files a session refers to may have disappeared since; that is not a load error, because
the user should still get the rest of the session back: :func:`missing_files` lists them for the GUI.

Writes are atomic (temporary file in the same folder, flush, fsync, ``os.replace``) so a crash or a full disk
never leaves a half-written session in place of a good one.
"""

from __future__ import annotations

import json
import math
import operator
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from strfviewer.backend.durable import write_text_durably
from strfviewer.backend.errors import SessionError, short_repr
from strfviewer.backend.jsonfile import JsonFault, JsonProblem, json_type, read_json_object

SCHEMA_VERSION = 1
SESSION_SUFFIX = ".strfsession.json"
APP_NAME = "strfviewer"

_PATH_FIELDS = ("audio", "models", "response_sets")
_MAX_DEPTH = 64
# A session file holds paths and settings, a few kB; above this size it is refused before it is read.
MAX_SESSION_BYTES = 16 << 20


@dataclass
class FrontendEntry:
    """One active front-end: its kind (a key of ``strfviewer.backend.frontends.KINDS``) and JSON-able arguments."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Session:
    """Everything needed to put the viewer back the way the user left it."""

    audio: list[Path] = field(default_factory=list)
    models: list[Path] = field(default_factory=list)
    response_sets: list[Path] = field(default_factory=list)
    # How each recording among the response sets (an NWB file) was imported: bin width, presentations table
    # and column, as sources.ImportChoice.to_json; {} for a response-set folder.
    import_choices: list[dict[str, Any]] = field(default_factory=list)
    frontends: list[FrontendEntry] = field(default_factory=list)
    selected_audio: int | None = None
    selected_neuron: int | None = None
    view_range: tuple[float, float] | None = None
    cursor_s: float = 0.0
    display: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Saving


def save_session(session: Session, path: str | Path) -> Path:
    """Write ``session`` to ``path`` atomically and return the path written.

    ``.strfsession.json`` is appended when the name does not end with ``.json``. Everything is validated before
    the file is touched, so a bad value (e.g. a numpy array in ``display``) raises :class:`SessionError` naming
    the offending key and leaves any previous file intact.
    """
    target = _with_suffix(Path(os.fspath(path)))
    folder = Path(os.path.abspath(target)).parent
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "app": APP_NAME,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for name in _PATH_FIELDS:
        document[name] = [_store_path(item, folder, f"{name}[{i}]") for i, item in enumerate(getattr(session, name))]
    if any(session.import_choices):
        document["import_choices"] = list(session.import_choices)
        _check_jsonable(document["import_choices"], "import_choices", 0)
    document["frontends"] = [_frontend_to_json(entry, i) for i, entry in enumerate(session.frontends)]
    document["selected_audio"] = _plain_index(session.selected_audio)
    document["selected_neuron"] = _plain_index(session.selected_neuron)
    document["view_range"] = None if session.view_range is None else list(session.view_range)
    document["cursor_s"] = session.cursor_s
    document["display"] = session.display
    _check_jsonable(session.display, "display", 0)
    # Parse the document back exactly as load_session would, so a file we write is a file we can read.
    try:
        _session_from_document(document, folder)
    except SessionError as exc:
        raise SessionError(f"Cannot save session to {target}: {exc}") from exc
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    _atomic_write_text(target, text)
    return target


def _plain_index(value: Any) -> Any:
    """Numpy integers (e.g. from an argmax) become plain ints; anything else is left for validation to judge."""
    if value is None or isinstance(value, (bool, int)) or not hasattr(value, "__index__"):
        return value
    return operator.index(value)


def _with_suffix(path: Path) -> Path:
    if path.name.lower().endswith(".json"):
        return path
    if path.name.lower().endswith(".strfsession"):
        return path.with_name(path.name + ".json")
    return path.with_name(path.name + SESSION_SUFFIX)


def _store_path(item: Any, folder: Path, where: str) -> str:
    """Relative to the session folder when possible (portable project folders), always with forward slashes."""
    if not isinstance(item, (str, os.PathLike)):
        raise SessionError(f"Session field {where} must be a path, got {type(item).__name__}.")
    text = os.fspath(item)
    if not isinstance(text, str) or not text:
        raise SessionError(f"Session field {where} must be a non-empty path.")
    absolute = os.path.abspath(text)
    try:
        stored = os.path.relpath(absolute, folder)
    except ValueError:  # another drive on Windows: no relative path exists
        stored = absolute
    return PurePath(stored).as_posix()


def _frontend_to_json(entry: Any, index: int) -> dict[str, Any]:
    where = f"frontends[{index}]"
    if not isinstance(entry, FrontendEntry):
        raise SessionError(f"Session field {where} must be a FrontendEntry, got {type(entry).__name__}.")
    _check_jsonable(entry.args, f"{where}.args", 0)
    return {"kind": entry.kind, "args": entry.args}


def _check_jsonable(value: Any, where: str, depth: int) -> None:
    """Refuse what JSON cannot hold faithfully, naming the key so the caller can find the culprit."""
    if depth > _MAX_DEPTH:
        raise SessionError(f"Session value {where} is nested too deeply (a reference cycle?).")
    if value is None or isinstance(value, (bool, str, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SessionError(f"Session value {where} is {value}, which JSON cannot store; use a finite number.")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_jsonable(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SessionError(f"Session value {where} has the key {key!r}; only string keys can be stored.")
            _check_jsonable(item, f"{where}[{key!r}]", depth + 1)
        return
    raise SessionError(
        f"Session value {where} is a {type(value).__name__}, which cannot be stored in a session file; "
        "use numbers, strings, booleans, None, lists or dicts with string keys."
    )


def _atomic_write_text(target: Path, text: str) -> None:
    """:func:`~strfviewer.backend.durable.write_text_durably`, failures in a session's words."""
    try:
        write_text_durably(target, text)
    except OSError as exc:
        raise SessionError(f"Cannot write session file {target}: {exc.strerror or exc}.") from exc


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_session(path: str | Path) -> Session:
    """Read a session file; relative paths come back absolute, resolved against the file's folder.

    Every problem with the file itself raises :class:`SessionError` with a message a person can act on.
    Files the session refers to are not checked here (see :func:`missing_files`); unknown keys are ignored so
    that older versions can open files from newer ones that only add fields.
    """
    source = Path(os.fspath(path))
    document = read_json_object(source, lambda problem: SessionError(_read_problem(source, problem)),
                                max_bytes=MAX_SESSION_BYTES, allow_constants=False, encoding="utf-8-sig")
    folder = Path(os.path.abspath(source)).parent
    try:
        return _session_from_document(document, folder)
    except SessionError as exc:
        raise SessionError(f"Session file {source}: {exc} Fix the file in a text editor, or save the session again.") \
            from exc


def _read_problem(source: Path, problem: JsonProblem) -> str:
    """Why ``source`` is not a session file, in words a person can act on."""
    cause = problem.cause
    if isinstance(cause, FileNotFoundError):
        return f"Session file not found: {source}. Check the path or choose another file."
    if isinstance(cause, IsADirectoryError):
        return f"{source} is a folder, not a session file."
    if problem.fault is JsonFault.UNREADABLE:
        return f"Cannot read session file {source}: {getattr(cause, 'strerror', None) or cause}."
    if isinstance(cause, UnicodeDecodeError):
        return (f"Session file {source} is not UTF-8 text (bad byte at position {cause.start}); "
                "it may be damaged or not a session file.")
    if isinstance(cause, json.JSONDecodeError):
        return f"Session file {source} is not valid JSON: {cause.msg} at line {cause.lineno}, column {cause.colno}."
    if problem.fault is JsonFault.NOT_JSON:  # NaN or Infinity, an integer too long to convert
        return f"Session file {source} is not valid JSON: {cause}."
    if problem.fault is JsonFault.TOO_DEEP:
        return f"Session file {source} is nested too deeply to be a session file."
    if problem.fault is JsonFault.TOO_LARGE:
        return (f"Session file {source} {problem.reason()} for a session file (they hold paths and settings); it "
                "is damaged or not a session file.")
    return (f"Session file {source}: the top level must be a JSON object, got {json_type(problem.value)}; not a "
            "session file. Fix the file in a text editor, or save the session again.")


def _session_from_document(document: dict[str, Any], folder: Path) -> Session:
    """Validate a parsed document field by field; shared by load and save so both agree on what is valid."""
    if "schema_version" not in document:
        raise SessionError("'schema_version' is missing; this is not a strfviewer session file.")
    version = document["schema_version"]
    if not _is_int(version):
        raise SessionError(f"'schema_version' must be an integer, got {json_type(version)}.")
    if version > SCHEMA_VERSION:
        raise SessionError(
            f"it was written by a newer strfviewer (schema_version {version}; this version reads up to "
            f"{SCHEMA_VERSION}). Update strfviewer to open it."
        )
    if version < 1:
        raise SessionError(f"'schema_version' {version} is invalid; it must be between 1 and {SCHEMA_VERSION}.")
    app = document.get("app", APP_NAME)
    if app != APP_NAME:
        raise SessionError(f"'app' is {app!r}, not {APP_NAME!r}; this is not a strfviewer session file.")

    paths = {name: _load_paths(document.get(name, []), name, folder) for name in _PATH_FIELDS}
    frontends = _load_frontends(document.get("frontends", []))
    display = document.get("display", {})
    if not isinstance(display, dict):
        raise SessionError(f"field 'display' must be an object, got {json_type(display)}.")
    return Session(
        audio=paths["audio"],
        models=paths["models"],
        response_sets=paths["response_sets"],
        import_choices=_load_choices(document.get("import_choices", []), len(paths["response_sets"])),
        frontends=frontends,
        selected_audio=_load_index(document.get("selected_audio"), "selected_audio"),
        selected_neuron=_load_index(document.get("selected_neuron"), "selected_neuron"),
        view_range=_load_view_range(document.get("view_range")),
        cursor_s=_load_number(document.get("cursor_s", 0.0), "cursor_s"),
        display=display,
    )


def _load_paths(value: Any, name: str, folder: Path) -> list[Path]:
    if not isinstance(value, list):
        raise SessionError(f"field '{name}' must be a list of paths, got {json_type(value)}.")
    paths = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise SessionError(f"field '{name}[{i}]' must be a non-empty path string, got {json_type(item)}.")
        paths.append(Path(os.path.normpath(folder / item)))
    return paths


def _load_choices(value: Any, n_response_sets: int) -> list[dict[str, Any]]:
    """At most one object per response set (the first ones; a missing one means a folder); their contents are
    the importer's to check, when it opens the recording."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise SessionError(f"field 'import_choices' must be a list of objects, got {_describe(value)}.")
    if len(value) > n_response_sets:
        raise SessionError(f"field 'import_choices' has {len(value)} entries for {n_response_sets} response sets.")
    return list(value)


def _load_frontends(value: Any) -> list[FrontendEntry]:
    if not isinstance(value, list):
        raise SessionError(f"field 'frontends' must be a list, got {json_type(value)}.")
    entries = []
    for i, item in enumerate(value):
        where = f"frontends[{i}]"
        if not isinstance(item, dict):
            raise SessionError(f"field '{where}' must be an object with 'kind' and 'args', got {json_type(item)}.")
        kind = item.get("kind")
        if not isinstance(kind, str) or not kind:
            raise SessionError(f"field '{where}.kind' must be a non-empty string, got {json_type(kind)}.")
        args = item.get("args", {})
        if not isinstance(args, dict):
            raise SessionError(f"field '{where}.args' must be an object, got {json_type(args)}.")
        entries.append(FrontendEntry(kind=kind, args=args))
    return entries


def _load_index(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        raise SessionError(f"field '{name}' must be a non-negative integer or null, got {_describe(value)}.")
    return value


def _load_number(value: Any, name: str) -> float:
    if not _is_number(value) or not _finite(value):
        raise SessionError(f"field '{name}' must be a finite number (seconds), got {_describe(value)}.")
    return float(value)


def _load_view_range(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SessionError(f"field 'view_range' must be null or [start, end] in seconds, got {_describe(value)}.")
    start = _load_number(value[0], "view_range[0]")
    end = _load_number(value[1], "view_range[1]")
    if end <= start:
        raise SessionError(f"field 'view_range' must have start < end, got [{start}, {end}].")
    return (start, end)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    """math.isfinite, also for integers too large for a float (which it would reject with OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    if not (_is_number(value) or value is None):
        return json_type(value)
    return short_repr(value, 40)


# ---------------------------------------------------------------------------------------------------------------
# Referenced files


def missing_files(session: Session) -> list[Path]:
    """Audio, model and response-set paths that do not exist, in session order, so the GUI can tell the user."""
    missing: list[Path] = []
    for name in _PATH_FIELDS:
        for item in getattr(session, name):
            candidate = Path(item)
            if not candidate.exists() and candidate not in missing:
                missing.append(candidate)
    return missing
