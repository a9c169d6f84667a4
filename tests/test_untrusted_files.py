"""Nothing executes from a file: crafted files that would run code if loaded unsafely leave no marker behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.data.spikes import read_spike_times
from strfviewer.backend.errors import StrfviewerError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import Linear
from strfviewer.backend.session import load_session

SOURCE = Path(__file__).resolve().parents[1] / "strfviewer"


class _Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _python(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "code from a file was executed"


def _expect_refused(call) -> None:
    with pytest.raises(StrfviewerError):
        call()


def test_pickled_pt_files_are_refused(tmp_path, marker):
    for i, obj in enumerate([_Payload(marker), {"readout.strf.kernel.weight": _Payload(marker)},
                             {"state_dict": {"w": torch.zeros(2)}, "hook": _Payload(marker)}]):
        path = tmp_path / f"evil{i}.pt"
        torch.save(obj, path)
        _expect_refused(lambda p=path: load_model(p, description={"_model_class": "Linear"}))
    plain = tmp_path / "legacy.pt"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    _expect_refused(lambda: load_model(plain, description={"_model_class": "Linear"}))


def test_torch_zip_with_malicious_data_pkl_is_refused(tmp_path, marker):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(2)}, good)
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w", zipfile.ZIP_STORED) as dst:
        for item in src.infolist():
            data = pickle.dumps(_Payload(marker), protocol=2) if item.filename.endswith("data.pkl") \
                else src.read(item.filename)
            dst.writestr(item, data)
    _expect_refused(lambda: load_model(evil, description={"_model_class": "Linear"}))


def _response_set(root: Path) -> Path:
    return save_response_set(root, name="x", dt_ms=5.0, counts=np.zeros((1, 1, 1, 4), np.int16),
                             stimuli=[{"id": "s", "audio": np.zeros(80, np.float32), "sample_rate_hz": 16000}],
                             neurons=[{"id": "n"}])


def test_npz_with_pickled_object_array_is_refused(tmp_path, marker):
    root = _response_set(tmp_path / "set")
    np.savez(root / "responses.npz", counts=np.array([_Payload(marker)], dtype=object))
    _expect_refused(lambda: load_response_set(root))


def test_spike_times_with_pickled_object_array_is_not_loaded(tmp_path, marker):
    root = _response_set(tmp_path / "set")
    np.savez(root / "spike_times.npz", spike_ticks=np.array([_Payload(marker)], dtype=object),
             trial_ptr=np.array([0, 1]), tick_ms=np.float64(1.0))
    spikes, reason = read_spike_times(root, (1, 1, 1))
    assert spikes is None and "cannot be read" in reason
    (root / "spike_times.npz").write_bytes(b"PK\x03\x04garbage")
    spikes, reason = read_spike_times(root, (1, 1, 1))
    assert spikes is None and reason


def test_python_source_in_session_strings_stays_text(tmp_path, marker):
    code = _python(marker)
    path = tmp_path / "s.strfsession.json"
    path.write_text(json.dumps({"schema_version": 1, "app": "strfviewer", "audio": [code], "models": [code],
                                "response_sets": [code], "frontends": [{"kind": code, "args": {code: code}}],
                                "display": {code: code}}))
    session = load_session(path)
    assert session.display == {code: code} and session.frontends[0].kind == code
    path.write_text(json.dumps({"schema_version": code, "app": code}))
    _expect_refused(lambda: load_session(path))


@pytest.mark.parametrize("class_name", ["os.system", "subprocess.Popen", "builtins.eval", "__import__('os')",
                                        "posix.system", "torch.nn.modules.module.Module"])
def test_model_class_names_are_not_imported(tmp_path, marker, class_name):
    folder = save_model(Linear(34, 3, 1), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "_model_class": class_name}))
    with pytest.raises(StrfviewerError, match="not supported"):
        load_model(folder)


def test_python_source_in_config_and_metadata_strings_stays_text(tmp_path, marker):
    code = _python(marker)
    folder = save_model(Linear(4, 3, 1, wav2spec=make_wav2spec("mel", audio_fs=8000, dt_ms=5.0, n_mels=4)),
                        tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config.update({key: code for key in config if key != "_model_class"}, extra=code)
    (folder / "config.json").write_text(json.dumps(config))
    _expect_refused(lambda: load_model(folder))
    metadata = json.loads((folder / "metadata.json").read_text())

    def poison(value):
        if isinstance(value, dict):
            return {k: poison(v) for k, v in value.items()}
        return code if isinstance(value, str) else value

    (folder / "metadata.json").write_text(json.dumps(poison(metadata)))
    save_model(Linear(4, 3, 1, wav2spec=make_wav2spec("mel", audio_fs=8000, dt_ms=5.0, n_mels=4)), tmp_path / "m2")
    (tmp_path / "m2" / "metadata.json").write_text(json.dumps(poison(metadata)))
    with contextlib.suppress(StrfviewerError):  # a refusal or a harmless load: either way nothing runs
        load_model(tmp_path / "m2")


_FORBIDDEN = [
    (r"pickle\.loads?\(", "pickle.load"),
    (r"(?<![\w.])eval\(", "eval("),
    (r"(?<![\w.])exec\(", "exec("),
    (r"allow_pickle\s*=\s*True", "allow_pickle=True"),
    (r"weights_only\s*=\s*False", "weights_only=False"),
]
# Allowed occurrences, each with the reason it is safe: none so far.
_ALLOWED: dict[tuple[str, str], str] = {}


def _code_lines(path: Path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.split("#", 1)[0]
        yield number, stripped


def test_source_tree_never_loads_unsafely():
    problems = []
    for path in sorted(SOURCE.rglob("*.py")):
        rel = str(path.relative_to(SOURCE.parent))
        text = path.read_text(encoding="utf-8")
        for number, line in _code_lines(path):
            for pattern, name in _FORBIDDEN:
                if re.search(pattern, line) and (rel, name) not in _ALLOWED:
                    problems.append(f"{rel}:{number}: {name}")
        for match in re.finditer(r"torch\.load\(", text):
            depth, end = 0, match.end() - 1
            for end in range(match.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            call = text[match.start() : end + 1]
            if not re.search(r"weights_only\s*=\s*True", call):
                problems.append(f"{rel}:{text[: match.start()].count(chr(10)) + 1}: torch.load without "
                                "weights_only=True")
    assert not problems, "unsafe loading in the source tree:\n" + "\n".join(problems)


def test_the_grep_finds_what_it_looks_for(tmp_path):
    buffer = io.StringIO("x = torch.load(path)\ny = eval('1')\n")
    text = buffer.getvalue()
    assert re.search(r"(?<![\w.])eval\(", text) and "weights_only" not in text
