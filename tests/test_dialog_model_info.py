"""The model-info dialog: a deepSTRF folder that does not say its sample rate (or bin width) loads once the
dialog's fields are filled; values that cannot work are refused with a message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QDialog
from safetensors.torch import save_file

from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.errors import CheckpointError, MissingModelInfoError
from strfviewer.backend.frontends import KINDS, make_wav2spec
from strfviewer.backend.models import Linear
from strfviewer.gui.app import create_application
from strfviewer.gui.dialogs.model_info import ModelInfoDialog
from strfviewer.gui.settings import settings

FS = 16000


@pytest.fixture(autouse=True)
def _app(qtbot):
    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def _deepstrf_folder(root: Path, model: torch.nn.Module) -> Path:
    """A folder as deepSTRF 0.1.0 writes it (as in test_checkpoints): config without the front-end argument,
    no strfviewer block in the metadata."""
    root.mkdir()
    config = {"_model_class": "Linear", "kernel": None, "n_frequency_bands": model.F, "out_neurons": model.O,
              "output_activation": None, "prefiltering": None, "temporal_window_size": model.T}
    (root / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(root / "model.safetensors"))
    (root / "metadata.json").write_text(json.dumps({"dataset": "NS1", "library": "deepSTRF"}))
    return root


@pytest.fixture
def sincnet_folder(tmp_path) -> tuple[Path, torch.nn.Module]:
    """SincNet tensors do not tell the sample rate: the guess for audio_fs is empty."""
    frontend = make_wav2spec("sincnet", audio_fs=FS, dt_ms=5.0, n_filters=10, kernel_size=101)
    model = _randomised(Linear(10, 9, 3, wav2spec=frontend))
    return _deepstrf_folder(tmp_path / "sincnet", model), model


def _error(folder: Path) -> MissingModelInfoError:
    with pytest.raises(MissingModelInfoError) as info:
        load_model(folder)
    return info.value


def _load_answering(path: Path, ask):
    """``load_model(path)``, retried with ``ask(parent, error)``'s answers as MainWindow.open_model does (the
    answers of each round added to the earlier ones, two questions at most)."""
    answers: dict = {}
    for _ in range(2):
        try:
            return load_model(path, **answers)
        except MissingModelInfoError as exc:
            answers = {**answers, **ask(None, exc)}
    return load_model(path, **answers)


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> None:
    x = torch.randn(1, 1, 30 * FS // 200)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_the_dialog_asks_exactly_what_is_missing_with_the_guesses(sincnet_folder, qtbot):
    folder, _ = sincnet_folder
    dialog = ModelInfoDialog(_error(folder))
    qtbot.addWidget(dialog)
    assert [dialog.kind_box.itemText(i) for i in range(dialog.kind_box.count())] == list(KINDS)
    assert len(KINDS) == 5
    assert dialog.kind_box.currentText() == "sincnet"
    assert dialog.audio_fs_edit.text() == ""  # cannot be inferred from SincNet's tensors
    assert dialog.dt_ms_edit.text() == "5"
    assert dialog.class_box is None  # the model class is recorded in config.json


def test_load_interactively_with_the_fields_filled(sincnet_folder, qtbot):
    folder, model = sincnet_folder
    asked = []

    def ask(parent, error):
        dialog = ModelInfoDialog(error, parent)
        qtbot.addWidget(dialog)
        asked.append(error.missing)
        dialog.audio_fs_edit.setText("16000")
        dialog.accept()
        assert dialog.result() == QDialog.DialogCode.Accepted
        return dialog.answers()

    loaded = _load_answering(folder, ask)
    assert len(asked) == 1 and asked[0]["kind"] == "sincnet"
    assert loaded.frontend.kind == "sincnet" and loaded.frontend.audio_fs == FS and loaded.frontend.hop == 80
    _same_outputs(model, loaded.model)


def test_the_guesses_alone_load_a_mel_model(tmp_path, qtbot):
    model = _randomised(Linear(10, 9, 2, wav2spec=make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=10)))
    folder = _deepstrf_folder(tmp_path / "mel", model)

    def ask(parent, error):
        dialog = ModelInfoDialog(error, parent)
        qtbot.addWidget(dialog)
        assert (dialog.kind_box.currentText(), dialog.audio_fs_edit.text(), dialog.dt_ms_edit.text()) == \
            ("mel", "16000", "5")
        dialog.accept()
        return dialog.answers()

    loaded = _load_answering(folder, ask)
    assert loaded.frontend.kind == "mel" and loaded.frontend.audio_fs == FS
    _same_outputs(model, loaded.model)


def test_a_fractional_hop_is_refused_with_a_message(sincnet_folder, qtbot):
    folder, model = sincnet_folder
    refusals = []

    def ask(parent, error):
        dialog = ModelInfoDialog(error, parent)
        qtbot.addWidget(dialog)
        dialog.audio_fs_edit.setText("16000")
        dialog.dt_ms_edit.setText("5.03")  # 80.48 samples per frame
        dialog.accept()
        refusals.append((dialog.result(), dialog.message.isHidden(), dialog.message.text(), dialog.answers()))
        dialog.dt_ms_edit.setText("5")
        dialog.accept()
        return dialog.answers()

    loaded = _load_answering(folder, ask)
    result, hidden, text, answers = refusals[0]
    assert result != QDialog.DialogCode.Accepted and answers is None
    assert not hidden and "whole number of samples" in text and "80.48" in text
    _same_outputs(model, loaded.model)


@pytest.mark.parametrize("field,value,fragment", [
    ("audio_fs_edit", "-16000", "positive"),
    ("audio_fs_edit", "fast", "must be a number"),
    ("audio_fs_edit", "16000.5", "whole number of Hz"),
    ("dt_ms_edit", "0", "positive"),
])
def test_invalid_numbers_are_refused(sincnet_folder, qtbot, field, value, fragment):
    folder, _ = sincnet_folder
    dialog = ModelInfoDialog(_error(folder))
    qtbot.addWidget(dialog)
    dialog.audio_fs_edit.setText("16000")
    getattr(dialog, field).setText(value)
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert not dialog.message.isHidden() and fragment in dialog.message.text()


def test_another_kind_is_built_from_its_defaults(sincnet_folder, qtbot):
    folder, _ = sincnet_folder
    dialog = ModelInfoDialog(_error(folder))
    qtbot.addWidget(dialog)
    dialog.audio_fs_edit.setText("16000")
    dialog.kind_box.setCurrentText("mel")
    assert dialog.load_kwargs() == {"audio_fs": 16000, "dt_ms": 5.0, "frontend": {"kind": "mel", "kwargs": {}}}
    with pytest.raises(CheckpointError):  # mel defaults do not fit SincNet weights: explained, not a crash
        load_model(folder, **dialog.load_kwargs())


def test_a_bare_weights_file_asks_for_the_model_class_then_the_frontend(tmp_path, qtbot):
    model = _randomised(Linear(10, 9, 2, wav2spec=make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=10)))
    torch.save(model.state_dict(), tmp_path / "fit.pt")
    questions = []

    def ask(parent, error):
        dialog = ModelInfoDialog(error, parent)
        qtbot.addWidget(dialog)
        questions.append((dialog.class_box is not None, dialog.kind_box is not None))
        if dialog.class_box is not None:
            assert dialog.class_box.currentText() == "Linear"  # guessed from the tensor names
        dialog.accept()
        return dialog.answers()

    loaded = _load_answering(tmp_path / "fit.pt", ask)
    assert questions == [(True, False), (False, True)]
    _same_outputs(model, loaded.model)


def test_a_prefiltered_model_asks_its_kernel_length_with_the_front_end_in_one_dialog(tmp_path, qtbot):
    from strfviewer.backend.models.prefilters import make_prefiltering

    frontend = make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=10)
    prefilter = make_prefiltering("adaptrans", 10, 5.0)
    prefilter.kernel_size = 9  # a short kernel: the answer must reach the model, not the default
    model = _randomised(Linear(10, 9, 2, wav2spec=frontend, prefiltering=prefilter))
    folder = _deepstrf_folder(tmp_path / "adaptrans", model)
    asked = []

    def ask(parent, error):
        dialog = ModelInfoDialog(error, parent)
        qtbot.addWidget(dialog)
        asked.append(error.missing)
        assert dialog.prefilter_edit.text() == "651" and dialog.kind_box.currentText() == "mel"
        dialog.prefilter_edit.setText("1")
        dialog.accept()
        assert dialog.result() != QDialog.DialogCode.Accepted and "at least 2" in dialog.message.text()
        dialog.prefilter_edit.setText("9")
        dialog.accept()
        return dialog.answers()

    loaded = _load_answering(folder, ask)
    assert len(asked) == 1 and loaded.model.prefiltering.kernel_size == 9
    _same_outputs(model, loaded.model)
