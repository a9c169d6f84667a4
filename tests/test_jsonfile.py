"""Reading a JSON object from an untrusted file: each way it can fail reaches the caller as a JsonProblem,
which becomes the caller's typed error; the size limit is applied before the file is read."""

from __future__ import annotations

import pytest

from strfviewer.backend import session
from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.data import responses
from strfviewer.backend.errors import CheckpointError, ResponseSetError, SessionError, StrfviewerError, short_repr
from strfviewer.backend.jsonfile import JsonFault, JsonProblem, json_type, parse_json, read_json_object


class _RefusedError(StrfviewerError):
    def __init__(self, problem: JsonProblem) -> None:
        super().__init__(problem.reason())
        self.problem = problem


def _problem(path, **kwargs) -> JsonProblem:
    with pytest.raises(_RefusedError) as info:
        read_json_object(path, _RefusedError, max_bytes=kwargs.pop("max_bytes", 1000), **kwargs)
    return info.value.problem


def test_an_object_is_read(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"a": [1, 2.5, null, true], "b": {"c": "d"}}', encoding="utf-8")
    assert read_json_object(path, _RefusedError, max_bytes=1000) == {"a": [1, 2.5, None, True], "b": {"c": "d"}}


@pytest.mark.parametrize("content,fault,words", [
    (b"[1, 2]", JsonFault.NOT_OBJECT, "holds a list, not a JSON object"),
    (b'"text"', JsonFault.NOT_OBJECT, "holds a string"),
    (b"{'a': 1}", JsonFault.NOT_JSON, "is not valid JSON (Expecting property name"),
    (b"", JsonFault.NOT_JSON, "is not valid JSON"),
    (b'{"a": "caf\xe9"}', JsonFault.NOT_TEXT, "is not UTF-8 text"),
    (b"[" * 100_000, JsonFault.TOO_DEEP, "nested too deeply"),
    (b'{"n": 1' + b"0" * 5000 + b"}", JsonFault.NOT_JSON, "is not valid JSON"),  # too long to convert
])
def test_each_fault_is_named(tmp_path, content, fault, words):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    problem = _problem(path, max_bytes=200_000)
    assert problem.fault is fault and problem.path == path
    assert words in problem.reason() and "\n" not in problem.reason()


def test_a_missing_file_and_a_folder_are_unreadable(tmp_path):
    missing = _problem(tmp_path / "nothing.json")
    assert missing.fault is JsonFault.UNREADABLE and isinstance(missing.cause, FileNotFoundError)
    assert missing.reason().startswith("cannot be read (")
    assert _problem(tmp_path).fault is JsonFault.UNREADABLE


def test_a_file_over_the_limit_is_refused_from_its_size(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: 8 GiB on paper, nothing on disk, so it must not be read
        handle.truncate(8 << 30)
    problem = _problem(path, max_bytes=1 << 20)
    assert problem.fault is JsonFault.TOO_LARGE and problem.size == 8 << 30 and problem.limit == 1 << 20
    assert problem.reason() == "is 8 GiB, more than the 1 MiB limit"


def test_the_limit_is_inclusive(tmp_path):
    path = tmp_path / "edge.json"
    path.write_bytes(b'{"a": 1}')
    assert read_json_object(path, _RefusedError, max_bytes=8) == {"a": 1}
    assert _problem(path, max_bytes=7).fault is JsonFault.TOO_LARGE


def test_constants_are_refused_only_when_asked(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('{"x": NaN}', encoding="utf-8")
    assert read_json_object(path, _RefusedError, max_bytes=100)["x"] != 0  # NaN, as json.loads reads it
    problem = _problem(path, allow_constants=False)
    assert problem.fault is JsonFault.NOT_JSON and "NaN is not a number JSON allows" in problem.reason()
    with pytest.raises(ValueError, match="Infinity"):
        parse_json("[-Infinity]", allow_constants=False)
    assert parse_json("[1, 2]") == [1, 2]


def test_a_byte_order_mark_needs_utf8_sig(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert _problem(path).fault is JsonFault.NOT_JSON
    assert read_json_object(path, _RefusedError, max_bytes=100, encoding="utf-8-sig") == {"a": 1}


def test_the_callers_error_type_is_raised_without_the_parser_traceback(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(_RefusedError) as info:
        read_json_object(path, _RefusedError, max_bytes=100)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("value,name", [(None, "null"), (True, "a boolean"), (3, "a number"), (2.5, "a number"),
                                        ("s", "a string"), ([], "a list"), ({}, "an object")])
def test_json_type(value, name):
    assert json_type(value) == name


def test_short_repr_cuts_long_values():
    assert short_repr("abc") == "'abc'"
    long = short_repr("x" * 500)
    assert len(long) == 80 and long.endswith("...")
    assert short_repr(10**50, 40) == repr(10**50)[:37] + "..."


def test_each_loader_refuses_an_oversized_file_in_its_own_words(tmp_path, monkeypatch, demo_like_files):
    rs_folder, model_folder, session_file = demo_like_files
    monkeypatch.setattr(responses, "MAX_DATASET_BYTES", 10)
    with pytest.raises(ResponseSetError, match=r"dataset.json is .* bytes, more than the .* limit.*docs/formats.md"):
        responses.load_response_set(rs_folder)
    import strfviewer.backend.checkpoints as checkpoints

    monkeypatch.setattr(checkpoints, "MAX_JSON_BYTES", 10)
    with pytest.raises(CheckpointError, match=r"the model configuration is .* more than the .* limit"):
        load_model(model_folder)
    monkeypatch.setattr(session, "MAX_SESSION_BYTES", 10)
    with pytest.raises(SessionError, match=r"Session file .* more than the .* limit for a session file"):
        session.load_session(session_file)


@pytest.fixture
def demo_like_files(tmp_path):
    """A small response set, model folder and session, each with a JSON file of more than 10 bytes."""
    import numpy as np

    from strfviewer.backend.checkpoints import save_model
    from strfviewer.backend.models import Linear

    rs = responses.save_response_set(
        tmp_path / "rs", name="t", dt_ms=5.0,
        stimuli=[{"id": "s0", "audio": np.zeros(800, dtype=np.float32), "sample_rate_hz": 16000}],
        neurons=[{"id": "n0"}], counts=np.zeros((1, 1, 2, 10), dtype=np.int16))
    model = save_model(Linear(4, 3, 1), tmp_path / "model")
    saved = session.save_session(session.Session(), tmp_path / "s")
    return rs, model, saved
