"""Where ``strfviewer fit`` writes and what it says when it cannot: a default folder outside the response set,
a full disk or a read-only folder explained in the user's terms with exit code 2 and nothing left behind, and a
warning (not a refusal) for neurons below the filterbank. Model folders appear whole or not at all."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from strfviewer.backend import checkpoints
from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.data import save_response_set
from strfviewer.backend.errors import CheckpointError
from strfviewer.backend.model_folders import OutputFolder, default_model_folder, models_home
from strfviewer.backend.models import Linear
from strfviewer.backend.synth import vocalization_like
from strfviewer.cli import main

FS = 16000


@pytest.fixture(scope="module")
def response_folder(tmp_path_factory) -> Path:
    """3 stimuli of 0.3 s; 3 neurons with characteristic frequencies, two of them below 500 Hz."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(3, 3, 2, 60)).astype(np.int16)
    return save_response_set(
        tmp_path_factory.mktemp("responses") / "nerve", name="Nerve fibres (simulated)", dt_ms=5.0,
        stimuli=[{"id": f"s{i}", "audio": vocalization_like(FS, 0.3, seed=i), "sample_rate_hz": FS}
                 for i in range(3)],
        neurons=[{"id": f"n{i}", "cf_hz": cf} for i, cf in enumerate((150.0, 400.0, 3000.0))], counts=counts,
        splits={"train": [0], "val": [1], "test": [2]},
    )


@pytest.fixture(autouse=True)
def user_data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    return tmp_path / "user-data"


def _fit(response_folder: Path, *extra: str) -> int:
    return main(["fit", str(response_folder), "--frontend-arg", "n_mels=8", "--frontend-arg", "f_max=7000",
                 "--audio-fs", str(FS), "--max-epochs", "1", "--window", "3", "--quiet", *extra])


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_without_out_the_model_goes_to_the_user_data_folder(response_folder, user_data, capsys):
    assert _fit(response_folder) == 0
    (folder,) = models_home().iterdir()
    assert models_home() == user_data / "strfviewer" / "models"
    assert folder.name.startswith("nerve-fibres-simulated-linear-mel-")
    assert not folder.resolve().is_relative_to(response_folder.resolve())
    assert f"wrote {folder}" in capsys.readouterr().out
    assert load_model(folder).model_class == "Linear"


def test_the_default_folder_never_lies_inside_the_response_set(response_folder, tmp_path):
    class Responses:
        root, name = response_folder, "x"

    assert default_model_folder(Responses, "linear", "mel", parent=response_folder / "models").parent == models_home()
    assert default_model_folder(Responses, "linear", "mel", parent=tmp_path).parent == tmp_path
    taken = default_model_folder(Responses, "linear", "mel", parent=tmp_path)
    taken.mkdir()
    assert default_model_folder(Responses, "linear", "mel", parent=tmp_path) != taken


def test_fit_refuses_an_out_folder_that_holds_files_and_leaves_it_untouched(response_folder, tmp_path, caplog):
    someone = tmp_path / "their-model"
    someone.mkdir()
    (someone / "notes.txt").write_text("keep me")
    assert _fit(response_folder, "--out", str(someone)) == 2
    assert _errors(caplog) == [f"{someone} already exists and is not an empty folder; choose a new folder"]
    assert [p.name for p in someone.iterdir()] == ["notes.txt"]


def test_a_discarded_output_folder_removes_only_what_the_fit_made(tmp_path):
    made = OutputFolder.claim(tmp_path / "new" / "deeper" / "model")
    assert made.new_parents == (tmp_path / "new" / "deeper", tmp_path / "new") and not made.existed
    made.path.mkdir(parents=True)
    (made.path / "weights.safetensors").write_bytes(b"partial")
    made.discard()
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    claimed = OutputFolder.claim(empty)
    (empty / "config.json").write_text("{}")
    claimed.discard()
    assert empty.is_dir() and list(empty.iterdir()) == []  # the user's folder stays; the fit's files go
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is not an empty folder"):
        OutputFolder.claim(tmp_path / "file")


def test_neurons_below_the_filterbank_are_warned_about_not_refused(response_folder, tmp_path, caplog):
    out = tmp_path / "model"
    assert _fit(response_folder, "--out", str(out)) == 0 and out.is_dir()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "cf_hz" in r.getMessage()]
    assert warning.startswith("2 of 3 neurons have a characteristic frequency (cf_hz) below the mel front-end's "
                              "lowest frequency of 500 Hz (lowest cf 150 Hz)")
    assert warning.endswith("(--frontend-arg f_min=150)")
    caplog.clear()
    assert _fit(response_folder, "--out", str(tmp_path / "low"), "--frontend-arg", "f_min=100") == 0
    assert not [r for r in caplog.records if "cf_hz" in r.getMessage()]


def test_a_full_disk_exits_2_with_the_users_terms_and_leaves_no_folder(response_folder, tmp_path, caplog,
                                                                        monkeypatch):
    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints.os, "write", full_disk)
    out = tmp_path / "new" / "deeper" / "model"
    assert _fit(response_folder, "--out", str(out)) == 2
    (message,) = _errors(caplog)
    assert message.startswith(f"could not write the model to {out}: the disk is full (")
    assert message.endswith("kB needed) — free space or choose another folder")
    assert "Traceback" not in caplog.text and "Errno" not in message
    assert list(tmp_path.iterdir()) == []  # neither the folder, its new parents, nor a temporary sibling


def test_a_read_only_folder_exits_2_and_says_so(response_folder, tmp_path, caplog, monkeypatch):
    """Tests run as root, where chmod does not stop writes: the file system's refusal is simulated."""
    shared = tmp_path / "shared"
    shared.mkdir()
    real_mkdir = os.mkdir

    def read_only(path, *args, **kwargs):
        if Path(path).parent == shared:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only)
    out = shared / "model"
    assert _fit(response_folder, "--out", str(out)) == 2
    assert _errors(caplog) == [f"{out} is read-only — choose another folder"]
    assert list(shared.iterdir()) == []


def _model() -> Linear:
    return Linear(4, 3, 2)


def test_a_failed_save_keeps_the_earlier_model_and_leaves_no_temporary(tmp_path, monkeypatch):
    folder = save_model(_model(), tmp_path / "m")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    def broken(fd, data):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(checkpoints.os, "write", broken)
    with pytest.raises(CheckpointError, match=r"could not write the model to .*: I/O error — choose another folder"):
        save_model(_model(), folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_saving_again_replaces_the_model_whole_but_never_other_files(tmp_path):
    first = save_model(_model(), tmp_path / "m")
    second_model = _model()
    save_model(second_model, first)
    assert sorted(p.name for p in first.iterdir()) == sorted(checkpoints.MODEL_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary or swapped-out folder is left
    loaded = load_model(first).model.state_dict()
    assert all((loaded[k] == v).all() for k, v in second_model.state_dict().items())

    (first / "notes.txt").write_text("someone's work")
    with pytest.raises(CheckpointError, match=r"already holds files that are not part of a model \(notes.txt\)"):
        save_model(_model(), first)
    assert (first / "notes.txt").read_text() == "someone's work"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_model(save_model(_model(), empty)).model_class == "Linear"


def test_a_saved_folder_has_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    folder = save_model(_model(), tmp_path / "m")
    assert stat.S_IMODE(folder.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
