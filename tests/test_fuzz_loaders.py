"""Hostile input for every loader: each failure is a typed StrfviewerError naming the file, nothing else escapes.

Each property starts from a valid file and damages it (random JSON in a field, wrong types, truncation, random
bytes), so most examples reach deep into the loader instead of failing at the first check.
"""

from __future__ import annotations

import copy
import io
import json
import math
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from strfviewer.backend.analysis.causality import MAX_JACOBIAN_BYTES, check_jacobian_size, jacobian_bytes
from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.data.audio import audio_info, load_audio
from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.describe import describe_path
from strfviewer.backend.errors import CheckpointError, ConfigurationError, StrfviewerError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import Linear, LinearNonlinear
from strfviewer.backend.session import load_session
from strfviewer.cli import main

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
                | st.sampled_from([10**400, -1, 0, 10**12, 2**63]) | st.floats() | st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example (function-scoped fixtures are shared between examples)."""
    folder = tempfile.mkdtemp(prefix="fuzz-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _typed_or_ok(call: Callable[[], Any], names: tuple[str, ...]) -> Any:
    """Run ``call``; a failure must be a StrfviewerError whose one-line message names one of ``names``."""
    try:
        return call()
    except StrfviewerError as exc:
        message = str(exc)
        assert message.strip(), "empty error message"
        assert any(name in message for name in names), f"message does not name the file: {message}"
        return exc


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# ---------------------------------------------------------------------------------------------------------------
# Audio


def _wav_bytes(fmt: str = "WAV", subtype: str = "PCM_16", frames: int = 400) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.sin(np.arange(frames) / 5.0).astype(np.float32) * 0.5, 8000, format=fmt,
                    subtype=subtype)
    return buffer.getvalue()


_VALID_AUDIO = {"wav": _wav_bytes(), "flac": _wav_bytes("FLAC"), "float.wav": _wav_bytes(subtype="FLOAT")}


def _check_audio(path: Path) -> None:
    _typed_or_ok(lambda: audio_info(path), (str(path),))
    _typed_or_ok(lambda: load_audio(path, 8000, hop=40), (str(path),))


@FUZZ
@given(st.binary(max_size=600))
def test_audio_random_bytes(data):
    with _scratch() as tmp:
        path = tmp / "sound.wav"
        path.write_bytes(data)
        _check_audio(path)


@FUZZ
@given(st.sampled_from(sorted(_VALID_AUDIO)), st.data())
def test_audio_truncated_or_corrupted(kind, data):
    valid = _VALID_AUDIO[kind]
    cut = data.draw(st.integers(0, len(valid)))
    blob = bytearray(valid[:cut])
    for _ in range(data.draw(st.integers(0, 8))):
        if blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    with _scratch() as tmp:
        path = tmp / f"sound.{kind}"
        path.write_bytes(bytes(blob))
        _check_audio(path)


@FUZZ
@given(st.sampled_from(["wav", "float.wav"]), st.binary(min_size=1, max_size=800))
def test_audio_valid_header_garbage_body(kind, body):
    valid = _VALID_AUDIO[kind]
    header = valid[: valid.index(b"data") + 8]
    with _scratch() as tmp:
        path = tmp / f"sound.{kind}"
        path.write_bytes(header + body)
        _check_audio(path)


# ---------------------------------------------------------------------------------------------------------------
# Response sets


def _valid_set(root: Path) -> dict:
    counts = np.arange(2 * 2 * 2 * 10, dtype=np.int16).reshape(2, 2, 2, 10) % 3
    save_response_set(root, name="fuzz", dt_ms=5.0, counts=counts, splits={"train": [0], "test": [1]},
                      stimuli=[{"id": f"s{i}", "audio": np.zeros(400, np.float32), "sample_rate_hz": 8000}
                               for i in range(2)],
                      neurons=[{"id": "n0"}, {"id": "n1", "valid": False}])
    return json.loads((root / "dataset.json").read_text())


def _check_set(root: Path) -> None:
    names = (str(root),)
    result = _typed_or_ok(lambda: load_response_set(root), names)
    if not isinstance(result, Exception):
        _typed_or_ok(lambda: describe_path(root), names)


_SET_FIELDS = ["format", "version", "name", "dt_ms", "stimuli", "neurons", "responses", "splits", "citation",
               "species", "hearing_range_hz", "stimuli.0", "stimuli.0.id", "stimuli.0.file",
               "stimuli.0.sample_rate_hz", "stimuli.0.label", "neurons.0", "neurons.0.id", "neurons.0.valid",
               "splits.train"]


def _replace(doc: Any, dotted: str, value: Any, delete: bool) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    key = int(last) if isinstance(doc, list) else last
    if delete and isinstance(doc, dict):
        doc.pop(key, None)
    else:
        doc[key] = value


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(_SET_FIELDS), json_values, st.booleans()), min_size=1, max_size=3))
def test_response_set_json_fields(edits):
    with _scratch() as tmp:
        doc = _valid_set(tmp)
        for field, value, delete in edits:
            try:
                _replace(doc, field, value, delete)
            except (KeyError, IndexError, TypeError, ValueError):
                continue  # an earlier edit removed the parent
        (tmp / "dataset.json").write_text(json.dumps(doc))
        _check_set(tmp)


@FUZZ
@given(st.one_of(st.binary(max_size=200), json_values.map(_dumps),
                 st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
                 st.sampled_from([b'{"dt_ms": NaN}', b"\xff\xfe{}", b'{"version": 1' + b"9" * 5000 + b"}"])))
def test_response_set_json_bytes(blob):
    with _scratch() as tmp:
        _valid_set(tmp)
        (tmp / "dataset.json").write_bytes(blob)
        _check_set(tmp)


_DTYPES = ["int8", "uint8", "int64", "float16", "float32", "float64", "complex64", "bool", "<U3", "S2", "V4",
           "datetime64[s]", "i4,f4"]


@FUZZ
@given(st.sampled_from(_DTYPES), st.lists(st.integers(0, 3), max_size=5), st.sampled_from(["counts", "other"]))
def test_response_set_counts_arrays(dtype, shape, key):
    with _scratch() as tmp:
        _valid_set(tmp)
        np.savez(tmp / "responses.npz", **{key: np.zeros(shape, dtype=dtype)})
        _check_set(tmp)


def _npy_header_claiming(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


@FUZZ
@given(st.one_of(
    st.binary(max_size=300),
    st.sampled_from(["pickle", "object", "npy", "huge", "overflow"]),
    st.tuples(st.integers(0, 400), st.binary(max_size=8)),
))
def test_response_set_npz_bytes(case):
    with _scratch() as tmp:
        _valid_set(tmp)
        target = tmp / "responses.npz"
        valid = target.read_bytes()
        if isinstance(case, bytes):
            target.write_bytes(case)
        elif isinstance(case, tuple):  # a truncated archive with a few garbage bytes
            target.write_bytes(valid[: case[0]] + case[1])
        elif case == "pickle":
            with zipfile.ZipFile(target, "w") as archive:
                archive.writestr("counts.npy", b"\x80\x04K\x01.")
        elif case == "object":
            np.savez(target, counts=np.array([{"a": 1}, None], dtype=object))
        elif case == "npy":
            np.save(tmp / "plain.npy", np.zeros((2, 2, 2, 10)))
            target.write_bytes((tmp / "plain.npy").read_bytes())
        else:  # a header that claims a huge array
            shape = (10**6, 10**6, 10, 10) if case == "huge" else (2**62, 2**62, 1, 1)
            with zipfile.ZipFile(target, "w") as archive:
                archive.writestr("counts.npy", _npy_header_claiming(shape))
        _check_set(tmp)


# ---------------------------------------------------------------------------------------------------------------
# Model folders and weights


@pytest.fixture(scope="module")
def model_template(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    frontend = make_wav2spec("mel", audio_fs=8000, dt_ms=5.0, n_mels=8)
    return save_model(LinearNonlinear(8, 3, 2, wav2spec=frontend), tmp_path_factory.mktemp("tpl") / "model")


def _check_model(path: Path, folder: Path) -> None:
    result = _typed_or_ok(lambda: load_model(path), (str(path), str(folder)))
    if not isinstance(result, Exception):
        _typed_or_ok(lambda: describe_path(path), (str(path), str(folder)))


_CONFIG_VALUES = st.one_of(
    json_values,
    # Copies: sampled_from hands out the same list and dict each time, and the edits nest values into one another.
    st.sampled_from([-1, 0, 10**12, 10**400, "34", 3.5, float("nan"), [8], {"a": 1}, True]).map(copy.deepcopy),
)
_CLASS_NAMES = st.one_of(st.text(max_size=20), json_values,
                         st.sampled_from(["ICNet", "Linear", "LinearNonlinear", "os.system", "subprocess.Popen",
                                          "builtins.eval", "__import__('os')", "torch.nn.Module"]))
_CONFIG_KEYS = ["n_frequency_bands", "temporal_window_size", "out_neurons", "kernel", "prefiltering", "wav2spec",
                "output_activation", "audio_fs", "dt_ms", "n_filters", "encoder_channels", "n_encoder_layers",
                "encoder_strides", "sincnet_kernel_size", "bottleneck_channels"]


@FUZZ
@given(_CLASS_NAMES, st.dictionaries(st.sampled_from(_CONFIG_KEYS), _CONFIG_VALUES, max_size=4))
def test_model_config_fuzzed(model_template, class_name, changes):
    with _scratch() as tmp:
        folder = shutil.copytree(model_template, tmp / "m")
        config = json.loads((folder / "config.json").read_text())
        config.update(changes, _model_class=class_name)
        (folder / "config.json").write_text(json.dumps(config))
        _check_model(folder, folder)


_METADATA_FIELDS = ["strfviewer", "strfviewer.wav2spec", "strfviewer.wav2spec.kind", "strfviewer.wav2spec.kwargs",
                    "strfviewer.wav2spec.kwargs.n_mels", "strfviewer.wav2spec.kwargs.win_ms", "strfviewer.audio_fs",
                    "strfviewer.dt_ms", "strfviewer.metrics", "strfviewer.wav2spec.modes"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(_METADATA_FIELDS), _CONFIG_VALUES, st.booleans()), min_size=1,
                max_size=3))
@example([("strfviewer.wav2spec.kwargs.n_mels", 10**400, False)])  # once overflowed a float (found by a run)
def test_model_metadata_fuzzed(model_template, edits):
    with _scratch() as tmp:
        folder = shutil.copytree(model_template, tmp / "m")
        doc = json.loads((folder / "metadata.json").read_text())
        for field, value, delete in edits:
            try:
                _replace(doc, field, value, delete)
            except (KeyError, IndexError, TypeError, ValueError):
                continue
        (folder / "metadata.json").write_text(json.dumps(doc))
        _check_model(folder, folder)


@FUZZ
@given(st.sampled_from(["config.json", "metadata.json"]),
       st.one_of(st.binary(max_size=100), json_values.map(_dumps),
                 st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)))
def test_model_json_bytes(model_template, name, blob):
    with _scratch() as tmp:
        folder = shutil.copytree(model_template, tmp / "m")
        (folder / name).write_bytes(blob)
        _check_model(folder, folder)


@FUZZ
@given(st.data())
def test_model_safetensors_damaged(model_template, data):
    with _scratch() as tmp:
        folder = shutil.copytree(model_template, tmp / "m")
        weights = folder / "model.safetensors"
        valid = weights.read_bytes()
        how = data.draw(st.sampled_from(["truncate", "flip", "random", "renamed", "reshaped"]))
        if how == "truncate":
            weights.write_bytes(valid[: data.draw(st.integers(0, len(valid) - 1))])
        elif how == "flip":
            blob = bytearray(valid)
            for _ in range(data.draw(st.integers(1, 6))):
                blob[data.draw(st.integers(0, min(len(blob) - 1, 400)))] = data.draw(st.integers(0, 255))
            weights.write_bytes(bytes(blob))
        elif how == "random":
            weights.write_bytes(data.draw(st.binary(max_size=200)))
        else:
            from safetensors.torch import load_file

            state = load_file(str(weights))
            name = data.draw(st.sampled_from(sorted(state)))
            if how == "renamed":
                state[data.draw(st.text(min_size=1, max_size=30))] = state.pop(name)
            else:
                dims = data.draw(st.lists(st.integers(0, 5), max_size=4))
                dtype = data.draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool,
                                                   torch.float16, torch.complex64]))
                state[name] = torch.zeros(dims, dtype=dtype)
            save_file(state, str(weights))
        _check_model(folder, folder)


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.integers(0, 2000), st.sampled_from(["list", "nested", "scalars"])))
def test_model_pt_files(case):
    with _scratch() as tmp:
        path = tmp / "weights.pt"
        if isinstance(case, bytes):
            path.write_bytes(case)
        else:
            obj: Any = {"readout.strf.kernel.weight": torch.zeros(2, 1, 8, 3)}
            if case == "list":
                obj = [torch.zeros(3), "text", 1]
            elif case == "nested":
                obj = {"state_dict": {"a": {"b": torch.zeros(2)}}, "epoch": 3}
            elif case == "scalars":
                obj = {"a": 1, "b": "x", "c": None}
            torch.save(obj, path)
            if isinstance(case, int):  # a truncated zip
                path.write_bytes(path.read_bytes()[:case])
        _check_model(path, tmp)
        config = {"_model_class": "Linear", "out_neurons": 2}
        _typed_or_ok(lambda: load_model(path, description=config, audio_fs=8000, dt_ms=5.0), (str(path),))


# ---------------------------------------------------------------------------------------------------------------
# Sessions


_SESSION_FIELDS = st.sampled_from(["schema_version", "app", "audio", "models", "response_sets", "frontends",
                                   "selected_audio", "selected_neuron", "view_range", "cursor_s", "display"])


@FUZZ
@given(st.one_of(
    st.binary(max_size=200),
    json_values.map(_dumps),
    st.dictionaries(_SESSION_FIELDS, _CONFIG_VALUES, max_size=6).map(lambda d: _dumps({"schema_version": 1, **d})),
    st.integers(1, 5000).map(lambda depth: b'{"schema_version": 1, "display": ' + b"[" * depth + b"]" * depth + b"}"),
))
def test_session_fuzzed(blob):
    with _scratch() as tmp:
        path = tmp / "fuzz.strfsession.json"
        path.write_bytes(blob)
        _typed_or_ok(lambda: load_session(path), (str(path),))
        _typed_or_ok(lambda: describe_path(path), (str(path),))


# ---------------------------------------------------------------------------------------------------------------
# Hand-picked files whose messages are read in full, and `strfviewer info`


def _hostile_files(root: Path, template: Path) -> dict[str, Path]:
    files = {}
    (root / "noise.wav").write_bytes(b"RIFF\x24\0\0\0WAVEfmt " + bytes(range(40)))
    files["audio"] = root / "noise.wav"
    rs = root / "set"
    rs.mkdir()
    doc = _valid_set(rs)
    doc["dt_ms"] = 10**400
    (rs / "dataset.json").write_text(json.dumps(doc))
    files["response set"] = rs
    model = shutil.copytree(template, root / "model")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "out_neurons": 10**12}))
    files["model"] = model
    (root / "bad.pt").write_bytes(b"PK\x03\x04" + b"\0" * 30)
    files["weights"] = root / "bad.pt"
    (root / "s.strfsession.json").write_text('{"schema_version": 1, "cursor_s": 1' + "0" * 400 + "}")
    files["session"] = root / "s.strfsession.json"
    return files


_ACTIONS = ("fix", "re-save", "re-export", "check", "convert", "use", "write", "supply", "choose", "correct", "update")


def test_hostile_files_get_one_actionable_line_from_info(tmp_path, model_template, capsys, caplog):
    for kind, path in _hostile_files(tmp_path, model_template).items():
        caplog.clear()
        assert main(["info", str(path)]) == 2, kind
        out = capsys.readouterr()
        assert out.out == "", kind
        messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(messages) == 1 and "\n" not in messages[0], (kind, messages)
        assert str(path) in messages[0], (kind, messages[0])
        assert any(word in messages[0].lower() for word in _ACTIONS), (kind, messages[0])


def test_info_subprocess_exit_code_and_no_traceback(tmp_path, model_template):
    files = _hostile_files(tmp_path, model_template)
    for kind in ("model", "response set"):
        run = subprocess.run([sys.executable, "-m", "strfviewer", "info", str(files[kind])], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 2, (kind, run.stderr)
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_huge_model_sizes_are_refused_before_allocating(model_template, tmp_path):
    for name, value in (("out_neurons", 10**12), ("out_neurons", -1), ("n_frequency_bands", "8")):
        folder = shutil.copytree(model_template, tmp_path / f"{name}{value}")
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, name: value}))
        with pytest.raises(CheckpointError, match=name):
            load_model(folder)
    with pytest.raises(ConfigurationError, match="out_neurons"):
        Linear(8, 3, 10**12)
    with pytest.raises(ConfigurationError, match="GiB"):
        Linear(10**5, 10**4, 1)


# ---------------------------------------------------------------------------------------------------------------
# Causality memory guard


def test_hour_long_jacobian_is_refused_from_shapes_alone():
    audio_fs, hop = 48000, 240
    n_samples = 60 * 60 * audio_fs
    with pytest.raises(ConfigurationError) as info:
        check_jacobian_size(n_samples, hop, audio_fs=audio_fs)
    message = str(info.value)
    assert f"{n_samples // hop} frames x {n_samples} samples" in message and "3600.0 s" in message
    assert "GiB" in message and "shorter segment" in message
    seconds = float(message.split("at most ")[1].split(" s")[0])
    assert 1 < seconds < 60
    assert jacobian_bytes(int(seconds * audio_fs), hop) <= MAX_JACOBIAN_BYTES
    check_jacobian_size(2 * audio_fs, hop, audio_fs=audio_fs)  # the causality view's 2 s segments fit


def test_frame_jacobian_checks_before_allocating(monkeypatch):
    from strfviewer.backend.analysis import causality

    frontend = make_wav2spec("mel", audio_fs=8000, dt_ms=5.0, n_mels=4)
    monkeypatch.setattr(causality, "MAX_JACOBIAN_BYTES", 1 << 20)
    monkeypatch.setattr(causality.check_jacobian_size, "__kwdefaults__", {
        **causality.check_jacobian_size.__kwdefaults__, "budget": 1 << 20})
    with pytest.raises(ConfigurationError, match="shorter segment"):
        causality.frame_jacobian(frontend, torch.zeros(1, 1, 8000))
    assert math.isfinite(causality.frame_jacobian(frontend, torch.zeros(400)).leak)
