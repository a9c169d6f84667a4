"""Session files: round trip, atomic writes, and errors a person can act on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from strfviewer.backend import session as session_module
from strfviewer.backend.errors import DataError, SessionError
from strfviewer.backend.session import (
    SCHEMA_VERSION,
    SESSION_SUFFIX,
    FrontendEntry,
    Session,
    load_session,
    missing_files,
    save_session,
)


def _full_session(root: Path, outside: Path) -> Session:
    return Session(
        audio=[root / "audio" / "a.wav", root / "audio" / "b c.flac"],
        models=[root / "models" / "strf1"],
        response_sets=[outside / "responses"],
        frontends=[
            FrontendEntry("gammatone", {"n_channels": 32, "f_min": 100.0, "log": True, "name": None}),
            FrontendEntry("mel", {"bands": [1, 2, 3], "nested": {"x": 1.5}}),
        ],
        selected_audio=1,
        selected_neuron=7,
        view_range=(0.25, 3.5),
        cursor_s=1.75,
        display={"colormap": "viridis", "level_mode": "percentile", "levels": [1.0, 99.0]},
    )


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _minimal(**extra: object) -> dict:
    return {"schema_version": SCHEMA_VERSION, "app": "strfviewer", **extra}


def test_session_error_is_a_data_error():
    assert issubclass(SessionError, DataError)


def test_round_trip_keeps_every_field_and_stores_relative_posix_paths(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "elsewhere"
    original = _full_session(project, outside)

    written = save_session(original, project / "work")

    assert written == project / f"work{SESSION_SUFFIX}"
    document = json.loads(written.read_text(encoding="utf-8"))
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["app"] == "strfviewer"
    assert document["saved_at"].endswith("+00:00")
    assert document["audio"] == ["audio/a.wav", "audio/b c.flac"]
    assert document["models"] == ["models/strf1"]
    assert document["response_sets"] == ["../elsewhere/responses"]
    assert "\\" not in written.read_text(encoding="utf-8")
    assert written.read_text(encoding="utf-8").startswith('{\n  "')

    loaded = load_session(written)
    assert loaded == original
    for path in [*loaded.audio, *loaded.models, *loaded.response_sets]:
        assert path.is_absolute()
    assert loaded.response_sets == [outside / "responses"]
    assert loaded.view_range == (0.25, 3.5) and isinstance(loaded.view_range, tuple)


def test_round_trip_survives_moving_the_project_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    saved = save_session(Session(audio=[project / "a.wav"]), project / "s.strfsession.json")
    moved = tmp_path / "moved"
    project.rename(moved)
    assert load_session(moved / saved.name).audio == [moved / "a.wav"]


def test_relative_input_paths_are_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sessions").mkdir()
    saved = save_session(Session(models=[Path("models/m")]), "sessions/x")
    assert json.loads(saved.read_text(encoding="utf-8"))["models"] == ["../models/m"]
    assert load_session(saved).models == [tmp_path / "models" / "m"]


def test_absolute_path_is_kept_when_no_relative_path_exists(tmp_path, monkeypatch):
    def no_relpath(*_args, **_kwargs):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(session_module.os.path, "relpath", no_relpath)
    target = tmp_path / "other" / "a.wav"
    saved = save_session(Session(audio=[target]), tmp_path / "s")
    assert json.loads(saved.read_text(encoding="utf-8"))["audio"] == [target.as_posix()]
    assert load_session(saved).audio == [target]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("s", "s.strfsession.json"), ("s.strfsession", "s.strfsession.json"), ("s.json", "s.json")],
)
def test_suffix_is_added_only_when_the_name_does_not_end_with_json(tmp_path, name, expected):
    assert save_session(Session(), tmp_path / name) == tmp_path / expected
    assert (tmp_path / expected).is_file()


def test_empty_session_round_trips_with_defaults(tmp_path):
    loaded = load_session(save_session(Session(), tmp_path / "empty"))
    assert loaded == Session()
    assert loaded.cursor_s == 0.0 and loaded.view_range is None and loaded.display == {}


def test_numpy_scalars_are_stored_as_plain_numbers(tmp_path):
    original = Session(selected_neuron=np.int64(3), cursor_s=np.float64(0.5), view_range=(np.float64(0), 2.0))
    loaded = load_session(save_session(original, tmp_path / "np"))
    assert loaded.selected_neuron == 3 and type(loaded.selected_neuron) is int
    assert loaded.cursor_s == 0.5 and loaded.view_range == (0.0, 2.0)


def test_saving_over_an_existing_file_replaces_it(tmp_path):
    path = save_session(Session(cursor_s=1.0), tmp_path / "s")
    save_session(Session(cursor_s=2.0), path)
    assert load_session(path).cursor_s == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# Atomicity ---------------------------------------------------------------------------------------------------


def _leftovers(folder: Path, keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p != keep)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_failed_replace_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch, error):
    path = save_session(Session(cursor_s=1.0), tmp_path / "s")
    before = path.read_bytes()

    def failing_replace(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(session_module.os, "replace", failing_replace)
    expected = SessionError if isinstance(error, OSError) else RuntimeError
    with pytest.raises(expected) as excinfo:
        save_session(Session(cursor_s=2.0), path)
    monkeypatch.undo()

    if expected is SessionError:
        assert "No space left on device" in str(excinfo.value) and str(path) in str(excinfo.value)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, path) == []


def test_failure_after_partial_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = save_session(Session(audio=[tmp_path / "old.wav"]), tmp_path / "s")
    before = path.read_bytes()
    seen: list[bytes] = []

    def failing_fsync(fd):
        seen.append(os.pread(fd, 1 << 16, 0))
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(session_module.os, "fsync", failing_fsync)
    with pytest.raises(SessionError, match="Input/output error"):
        save_session(Session(audio=[tmp_path / "new.wav"]), path)
    monkeypatch.undo()

    assert seen and b"new.wav" in seen[0], "the failure should have happened after the data reached the temp file"
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, path) == []


def test_invalid_value_is_refused_before_the_file_is_touched(tmp_path):
    path = save_session(Session(display={"colormap": "viridis"}), tmp_path / "s")
    before = path.read_bytes()
    with pytest.raises(SessionError) as excinfo:
        save_session(Session(display={"colormap": "magma", "levels": np.array([1.0, 2.0])}), path)
    message = str(excinfo.value)
    assert "display['levels']" in message and "ndarray" in message
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, path) == []


def test_missing_folder_is_a_session_error(tmp_path):
    with pytest.raises(SessionError, match="Cannot write session file"):
        save_session(Session(), tmp_path / "no-such-folder" / "s")


# Refused values on save -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session", "words"),
    [
        (Session(display={"opts": {"deep": {1, 2}}}), ["display['opts']['deep']", "set"]),
        (Session(display={"gain": float("nan")}), ["display['gain']", "finite"]),
        (Session(display={"map": {3: "x"}}), ["display['map']", "string keys", "3"]),
        (Session(frontends=[FrontendEntry("mel", {"window": object()})]), ["frontends[0].args['window']", "object"]),
        (Session(frontends=[FrontendEntry("mel", {"fs": [16000, b"x"]})]), ["frontends[0].args['fs'][1]", "bytes"]),
        (Session(frontends=[FrontendEntry("", {})]), ["frontends[0].kind", "non-empty string"]),
        (Session(frontends=[{"kind": "mel"}]), ["frontends[0]", "FrontendEntry"]),
        (Session(audio=[42]), ["audio[0]", "path"]),
        (Session(selected_neuron=-1), ["selected_neuron", "non-negative"]),
        (Session(view_range=(2.0, 1.0)), ["view_range", "start < end"]),
        (Session(cursor_s="soon"), ["cursor_s", "finite number"]),
    ],
)
def test_values_a_session_cannot_hold_are_refused_with_their_name(tmp_path, session, words):
    with pytest.raises(SessionError) as excinfo:
        save_session(session, tmp_path / "s")
    for word in words:
        assert word in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []


# Errors on load ---------------------------------------------------------------------------------------------


def test_missing_session_file(tmp_path):
    with pytest.raises(SessionError, match="not found") as excinfo:
        load_session(tmp_path / "nope.strfsession.json")
    assert "nope.strfsession.json" in str(excinfo.value)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(SessionError, match="is a folder"):
        load_session(tmp_path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.strfsession.json"
    path.write_bytes('{"schema_version": 1, "app": "strfviewer", "display": {"t": "café"}}'.encode("latin-1"))
    with pytest.raises(SessionError, match="not UTF-8"):
        load_session(path)


def test_utf8_with_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.strfsession.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_minimal(display={"t": "café"})).encode("utf-8"))
    assert load_session(path).display == {"t": "café"}


def test_invalid_json_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.strfsession.json"
    path.write_text('{\n  "schema_version": 1,\n  "audio": [\n    "a.wav",,\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(SessionError) as excinfo:
        load_session(path)
    message = str(excinfo.value)
    assert "not valid JSON" in message and "line 4" in message and "column 13" in message


def test_nan_literal_is_refused(tmp_path):
    path = tmp_path / "nan.strfsession.json"
    path.write_text('{"schema_version": 1, "cursor_s": NaN}', encoding="utf-8")
    with pytest.raises(SessionError, match="NaN"):
        load_session(path)


@pytest.mark.parametrize("document", [[1, 2], "session", 3, None])
def test_top_level_must_be_an_object(tmp_path, document):
    with pytest.raises(SessionError, match="top level must be a JSON object"):
        load_session(_write(tmp_path / "s.strfsession.json", document))


def test_schema_version_missing(tmp_path):
    with pytest.raises(SessionError, match="'schema_version' is missing"):
        load_session(_write(tmp_path / "s.json", {"audio": []}))


@pytest.mark.parametrize("version", ["1", 1.0, True, None])
def test_schema_version_must_be_an_integer(tmp_path, version):
    with pytest.raises(SessionError, match="'schema_version' must be an integer"):
        load_session(_write(tmp_path / "s.json", {"schema_version": version}))


def test_schema_version_zero_is_invalid(tmp_path):
    with pytest.raises(SessionError, match="invalid"):
        load_session(_write(tmp_path / "s.json", {"schema_version": 0}))


def test_newer_schema_version_is_refused_with_advice_to_update(tmp_path):
    path = _write(tmp_path / "future.strfsession.json", _minimal(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(SessionError) as excinfo:
        load_session(path)
    message = str(excinfo.value)
    assert "newer strfviewer" in message and "Update" in message and str(SCHEMA_VERSION + 1) in message
    assert "future.strfsession.json" in message


def test_other_application_is_refused(tmp_path):
    with pytest.raises(SessionError, match="not a strfviewer session"):
        load_session(_write(tmp_path / "s.json", _minimal(app="otherviewer")))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"audio": "a.wav"}, ["'audio'", "list of paths", "a string"]),
        ({"models": [1]}, ["'models[0]'", "path string", "a number"]),
        ({"response_sets": [""]}, ["'response_sets[0]'", "non-empty"]),
        ({"frontends": {}}, ["'frontends'", "list", "an object"]),
        ({"frontends": ["mel"]}, ["'frontends[0]'", "object", "a string"]),
        ({"frontends": [{"args": {}}]}, ["'frontends[0].kind'", "non-empty string", "null"]),
        ({"frontends": [{"kind": "mel", "args": []}]}, ["'frontends[0].args'", "object", "a list"]),
        ({"selected_audio": "1"}, ["'selected_audio'", "non-negative integer or null", "a string"]),
        ({"selected_neuron": 1.5}, ["'selected_neuron'", "integer", "1.5"]),
        ({"selected_neuron": False}, ["'selected_neuron'", "integer", "a boolean"]),
        ({"view_range": [1.0]}, ["'view_range'", "[start, end]"]),
        ({"view_range": [0, "end"]}, ["'view_range[1]'", "finite number"]),
        ({"view_range": [3, 3]}, ["'view_range'", "start < end"]),
        ({"cursor_s": "0"}, ["'cursor_s'", "finite number", "a string"]),
        ({"cursor_s": 1e400}, ["'cursor_s'", "finite number", "inf"]),
        ({"display": ["viridis"]}, ["'display'", "object", "a list"]),
    ],
)
def test_wrong_field_types_name_the_field_and_what_was_expected(tmp_path, fields, words):
    path = tmp_path / "s.strfsession.json"
    path.write_text(json.dumps(_minimal(**fields)).replace("Infinity", "1e400"), encoding="utf-8")
    with pytest.raises(SessionError) as excinfo:
        load_session(path)
    message = str(excinfo.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_unknown_keys_are_ignored(tmp_path):
    document = _minimal(
        audio=["a.wav"],
        frontends=[{"kind": "mel", "args": {"n": 2}, "added_in_v2": True}],
        selected_neuron=4,
        future_feature={"anything": [1, 2, 3]},
    )
    loaded = load_session(_write(tmp_path / "s.strfsession.json", document))
    assert loaded == Session(audio=[tmp_path / "a.wav"], frontends=[FrontendEntry("mel", {"n": 2})], selected_neuron=4)


def test_loading_does_not_require_the_referenced_files(tmp_path):
    saved = save_session(Session(audio=[tmp_path / "gone.wav"]), tmp_path / "s")
    assert load_session(saved).audio == [tmp_path / "gone.wav"]


# Referenced files -------------------------------------------------------------------------------------------


def test_missing_files_lists_exactly_the_absent_paths(tmp_path):
    (tmp_path / "here.wav").write_bytes(b"")
    (tmp_path / "model").mkdir()
    (tmp_path / "responses").mkdir()
    session = Session(
        audio=[tmp_path / "here.wav", tmp_path / "gone.wav"],
        models=[tmp_path / "model", tmp_path / "gone-model"],
        response_sets=[tmp_path / "responses", tmp_path / "gone-responses", tmp_path / "gone.wav"],
    )
    loaded = load_session(save_session(session, tmp_path / "s"))
    assert missing_files(loaded) == [tmp_path / "gone.wav", tmp_path / "gone-model", tmp_path / "gone-responses"]
    assert missing_files(Session(audio=[tmp_path / "here.wav"])) == []


_KILLED_SAVE = """
import os, sys
from pathlib import Path
from strfviewer.backend import session as s
point = sys.argv[2]
real_replace = os.replace
def die(*args, **kwargs):
    os._exit(9)  # the process is killed: no cleanup, no exception handler runs
if point == "fsync":
    s.os.fsync = die
elif point == "replace":
    s.os.replace = die
elif point == "write":
    real_fdopen = os.fdopen
    def half_then_die(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        def write(text):
            handle.buffer.write(text[: len(text) // 2].encode())
            handle.buffer.flush()
            os._exit(9)
        handle.write = write
        return handle
    s.os.fdopen = half_then_die
s.save_session(s.Session(cursor_s=2.0, audio=[Path("new.wav")]), Path(sys.argv[1]))
"""


@pytest.mark.parametrize("point", ["write", "fsync", "replace"])
def test_a_save_killed_at_any_point_leaves_the_previous_file_intact(tmp_path, point):
    import subprocess
    import sys

    path = save_session(Session(cursor_s=1.0, audio=[tmp_path / "old.wav"]), tmp_path / "work.strfsession.json")
    before = path.read_bytes()
    result = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path), point], capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()
    assert path.read_bytes() == before
    assert load_session(path).cursor_s == 1.0
    # The killed save left its temporary file; the next save completes and removes it.
    assert len(_leftovers(tmp_path, path)) == 1
    save_session(Session(cursor_s=3.0), path)
    assert load_session(path).cursor_s == 3.0 and _leftovers(tmp_path, path) == []


def test_an_interrupt_during_the_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_session(Session(cursor_s=1.0), tmp_path / "s")
    before = path.read_bytes()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(session_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_session(Session(cursor_s=2.0), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and _leftovers(tmp_path, path) == []
