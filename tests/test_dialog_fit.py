"""The fit dialog through its real widgets offscreen, on a tiny synthetic response set: a fit adds a loadable
model to the session, cancelling leaves nothing behind, "fit all" fills the comparison table, errors are shown."""

from __future__ import annotations

import errno
import json
import math
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QStandardPaths

from strfviewer.backend import checkpoints, fitting
from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.data import load_response_set, save_response_set
from strfviewer.backend.model_folders import models_home
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.dialogs.fit import FitDialog
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.settings import settings
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.compare import COLUMNS, CompareView

FS, DT = 16000, 5.0
HOP = FS * 5 // 1000
MEL = {"n_mels": 10, "f_max": 7000.0}
GAMMATONE = {"n_filters": 10, "f_max": 7000.0}


@pytest.fixture(scope="module")
def response_folder(tmp_path_factory) -> Path:
    """3 stimuli of 0.3 s at 16 kHz; 4 neurons (the last one not valid) driven by the sound's envelope, 3 repeats."""
    rng = np.random.default_rng(1)
    n_bins, n_rep = 60, 3
    sounds, rates = [], []
    for s in range(3):
        sound = vocalization_like(FS, 0.3, seed=s) + 0.05 * rng.normal(size=n_bins * HOP).astype(np.float32)
        envelope = np.sqrt((sound.reshape(n_bins, HOP) ** 2).mean(axis=1))
        envelope /= envelope.max()
        rates.append(np.stack([1.0 + 12.0 * np.roll(envelope, n + 1) for n in range(4)]))  # (N, T)
        sounds.append(sound)
    counts = np.stack([rng.poisson(np.repeat(r[:, None, :], n_rep, axis=1)) for r in rates], axis=1)  # (N,S,R,T)
    root = tmp_path_factory.mktemp("responses") / "tiny-set"
    return save_response_set(
        root, name="tiny", dt_ms=DT,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS} for i, a in enumerate(sounds)],
        neurons=[{"id": f"n{i}", "valid": i < 3} for i in range(4)], counts=counts.astype(np.int16),
        splits={"train": [0], "val": [1], "test": [2]},
    )


@pytest.fixture
def session(qtbot, response_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))  # models_home() of this test
    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()
    state = SessionState()
    runner = JobRunner()
    responses = load_response_set(response_folder)
    responses.root = tmp_path / "tiny-set"  # a response-set folder of this test's own, which no fit may write into
    state.set_responses(responses)
    state.set_audio(AudioDocument(None, vocalization_like(FS, 0.4), FS))
    yield state, runner
    runner.shutdown(10000)


def _dialog(qtbot, state, runner, epochs: int = 3, method: str = "gradient descent") -> FitDialog:
    dialog = FitDialog(state, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.method_box.setCurrentText(method)
    dialog.epochs_box.setValue(epochs)
    dialog.patience_box.setValue(epochs)
    dialog.lr_box.setValue(0.01)
    return dialog


def _models_folder(state) -> Path:
    return models_home()


def test_fit_adds_a_loadable_linear_model_to_the_session(session, qtbot):
    state, runner = session
    slot = state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner)
    assert dialog.model_box.currentText() == "Linear"
    assert dialog.audio_fs_box.value() == FS  # the stimuli's own rate
    folder = Path(dialog.folder_edit.text())
    assert folder.parent == _models_folder(state) and folder.name.startswith("tiny-linear-mel-")
    assert not folder.exists()

    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    assert dialog.message.isHidden(), dialog.message.text()
    assert [m.path for m in state.models] == [folder]
    again = load_model(folder)
    assert again.model_class == "Linear" and again.frontend.kind == "mel"
    assert again.info["neurons"] == ["n0", "n1", "n2"]  # "valid" neurons: n3 is not
    assert again.info["wav2spec"]["kwargs"]["n_mels"] == 10
    assert again.info["training"]["max_epochs"] == 3 and again.info["training"]["lr"] == pytest.approx(0.01)
    assert again.info["training"]["frontend_kwargs"] == {**MEL}
    assert "validation cc_norm" in dialog.results_label.text() and "test cc_norm" in dialog.results_label.text()
    val = dialog.results[-1].fitted.result.val_metrics["cc_norm_mean"]
    assert f"{val:.3f}" in dialog.results_label.text()
    assert dialog.results[-1].slot_id == slot.id
    assert dialog.fit_button.isEnabled() and not dialog.cancel_button.isEnabled()
    proposed = Path(dialog.folder_edit.text())  # the next fit gets a folder of its own
    assert proposed != folder and not proposed.exists()


def test_ln_on_all_neurons_with_a_bin_limit(session, qtbot):
    state, runner = session
    state.add_frontend("gammatone", GAMMATONE)
    dialog = _dialog(qtbot, state, runner, epochs=2)
    dialog.model_box.setCurrentText("LN")
    dialog.neurons_box.setCurrentText("all")
    dialog.bins_check.setChecked(True)
    dialog.bins_box.setValue(40)
    assert Path(dialog.folder_edit.text()).name.startswith("tiny-ln-gammatone-")
    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    loaded = state.models[-1]
    assert loaded.model_class == "LinearNonlinear" and loaded.model.O == 4
    assert loaded.info["training"]["n_bins"] == 40
    assert settings().value("fit/model") == "LN"  # the options are remembered


def test_a_dnet_is_fitted_from_the_dialog_and_opens(session, qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, epochs=2)
    dialog.model_box.setCurrentText("DNet")
    assert Path(dialog.folder_edit.text()).name.startswith("tiny-dnet-mel-")
    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    loaded = state.models[-1]
    assert loaded.model_class == "DNet" and loaded.model.H == 20


def test_model_arguments_reach_the_network_and_a_wrong_one_is_explained(session, qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, epochs=1)
    assert not dialog.arguments_edit.isEnabled()  # Linear takes none
    dialog.model_box.setCurrentText("NRF")
    assert dialog.arguments_edit.isEnabled() and "n_hidden=" in dialog.arguments_edit.placeholderText()
    dialog.arguments_edit.setText("n_hidden=3 init_tau=2.5")
    dialog.fit_button.click()
    assert "nrf takes only n_hidden" in dialog.message.text() and state.models == []
    dialog.arguments_edit.setText("n_hidden=3")
    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    assert state.models[-1].model.H == 3 and settings().value("fit/model_arguments") == "n_hidden=3"


def test_cancel_during_a_fit_leaves_no_model_folder(session, qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, epochs=1_000_000)
    folder = Path(dialog.folder_edit.text())
    dialog.fit_button.click()
    assert dialog.cancel_button.isEnabled() and not dialog.fit_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 2, timeout=60000)  # training is under way
    with qtbot.waitSignal(dialog.fitsFinished, timeout=60000):
        dialog.cancel_button.click()
    assert "Cancelled" in dialog.status.text()
    assert state.models == []
    assert not folder.exists() and not _models_folder(state).exists()
    assert dialog.fit_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_cancel_racing_the_model_write_still_removes_the_folder(session, qtbot, monkeypatch):
    """Cancel arrives after the fit has written its folder (while it is loaded back): the folder goes again."""
    state, runner = session
    state.add_frontend("mel", MEL)
    written, proceed = threading.Event(), threading.Event()
    real_load = checkpoints.load_model

    def slow_load(path, **kwargs):
        written.set()
        proceed.wait(20)
        return real_load(path, **kwargs)

    monkeypatch.setattr(fitting, "load_model", slow_load)  # the fit job opens its folder back
    dialog = _dialog(qtbot, state, runner, epochs=2)
    folder = Path(dialog.folder_edit.text())
    dialog.fit_button.click()
    qtbot.waitUntil(written.is_set, timeout=60000)
    assert (folder / "model.safetensors").is_file()
    with qtbot.waitSignal(dialog.fitsFinished, timeout=60000):
        dialog.cancel_button.click()
        proceed.set()
    assert not folder.exists() and state.models == []


def test_fit_all_then_the_comparison_table_shows_each_cc_norm(session, qtbot):
    state, runner = session
    mel = state.add_frontend("mel", MEL)
    gammatone = state.add_frontend("gammatone", GAMMATONE)
    view = CompareView(state, runner)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.built, timeout=10000)
    assert [row[COLUMNS.index("test cc_norm")] for row in view.table_text()] == ["-", "-"]

    dialog = _dialog(qtbot, state, runner, epochs=2)
    fitted = []
    dialog.modelFitted.connect(fitted.append)
    with qtbot.waitSignal(dialog.fitsFinished, timeout=180000):
        dialog.fit_all_button.click()
    assert dialog.message.isHidden(), dialog.message.text()
    assert len(state.models) == 2 and len(fitted) == 2
    assert [m.info["wav2spec"]["kind"] for m in state.models] == ["mel", "gammatone"]
    assert len({m.path for m in state.models}) == 2
    for model in state.models:
        assert model.path.parent == _models_folder(state)
        assert load_model(model.path).model_class == "Linear"
    cells = [row[COLUMNS.index("test cc_norm")] for row in view.table_text()]
    for slot, cell, model in zip((mel, gammatone), cells, state.models, strict=True):
        assert math.isfinite(float(cell)), cell
        per_neuron = [v for v in model.info["metrics"]["test"]["cc_norm"] if v is not None]
        assert float(cell) == pytest.approx(float(np.median(per_neuron)), abs=5e-4)
        assert view.rows[slot.id] is not None
    assert dialog.results_label.text().count("validation cc_norm") == 2


def test_errors_are_shown_in_the_dialog_and_nothing_is_fitted(session, qtbot, tmp_path):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner)
    dialog.audio_fs_box.setValue(16001)  # 16001 Hz x 5 ms is not a whole number of samples
    dialog.fit_button.click()
    assert not dialog.message.isHidden() and "whole number" in dialog.message.text()
    assert state.models == [] and not dialog.running

    dialog.audio_fs_box.setValue(FS)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("someone's work")
    dialog.folder_edit.setText(str(occupied))
    dialog.fit_button.click()
    assert "already exists" in dialog.message.text()
    assert (occupied / "notes.txt").read_text() == "someone's work" and state.models == []

    dialog.folder_edit.setText(str(tmp_path / "fresh"))
    state.set_frontend_args(state.frontends[0].id, {"n_mels": 10, "win_ms": 1.0})  # an invalid front-end
    with qtbot.waitSignal(dialog.fitsFinished, timeout=60000):
        dialog.fit_button.click()
    assert "win_ms" in dialog.message.text() and "\n" not in dialog.message.text()
    assert state.models == [] and not (tmp_path / "fresh").exists()


def test_the_dialog_needs_a_response_set(qtbot):
    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()
    state, runner = SessionState(), JobRunner()
    state.add_frontend("mel", MEL)
    dialog = FitDialog(state, runner)
    qtbot.addWidget(dialog)
    assert not dialog.fit_button.isEnabled()
    dialog.start_fit()
    assert "response set" in dialog.message.text()
    runner.shutdown(1000)


def test_metadata_names_the_frontend_the_comparison_matches(session, qtbot):
    """The fitted model's metadata records the full front-end config; the slot holds only non-defaults."""
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, epochs=1)
    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    meta = json.loads((state.models[0].path / "metadata.json").read_text())["strfviewer"]
    assert meta["wav2spec"]["kind"] == "mel" and meta["wav2spec"]["kwargs"]["f_min"] == 500.0
    from strfviewer.backend.analysis.compare import matching_model

    assert matching_model(state.models, "mel", MEL) is state.models[0]
    assert matching_model(state.models, "mel", {**MEL, "n_mels": 11}) is None


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_the_default_output_folder_is_never_inside_the_response_set(session, qtbot, tmp_path):
    """The response-set folder may be read-only or shared: the proposal is in the user's data folder, or under
    the parent the user chose last time, unless that choice was inside the response set."""
    state, runner = session
    state.responses.root = Path(state.responses.stimuli[0].file).parents[1]  # the real folder
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner)
    proposed = Path(dialog.folder_edit.text())
    assert not _inside(proposed, state.responses.root)
    assert proposed.parent == models_home() and not proposed.exists()

    settings().setValue("fit/output_parent", str(state.responses.root / "models"))  # remembered, but inside
    assert not _inside(Path(_dialog(qtbot, state, runner).folder_edit.text()), state.responses.root)

    elsewhere = tmp_path / "my-models"
    settings().setValue("fit/output_parent", str(elsewhere))
    assert Path(_dialog(qtbot, state, runner).folder_edit.text()).parent == elsewhere


def test_a_chosen_output_folder_is_remembered_for_the_next_fit(session, qtbot, tmp_path):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, epochs=1)
    chosen = tmp_path / "lab-share" / "first-model"
    qtbot.keyClicks(dialog.folder_edit, "x")  # the user edits the field...
    dialog.folder_edit.setText(str(chosen))  # ...to this path
    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    assert dialog.message.isHidden(), dialog.message.text()
    assert state.models[-1].path == chosen
    again = Path(_dialog(qtbot, state, runner).folder_edit.text())
    assert again.parent == chosen.parent and again.name.startswith("tiny-linear-mel-")


def test_the_output_field_shows_a_long_path_elided_with_the_full_path_as_tooltip(session, qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner)
    text = dialog.folder_edit.text()
    assert dialog.folder_edit.toolTip() == text
    assert dialog.folder_edit.width() >= dialog.folder_edit.fontMetrics().averageCharWidth() * 60
    long_path = "/" + "/".join(["a-rather-long-folder-name"] * 8) + "/the-model"
    dialog.folder_edit.setText(long_path)
    dialog.fit_button.setFocus()  # not editing: the field draws the path elided in the middle
    shown = dialog.folder_edit.shown_text()
    assert "…" in shown and shown.startswith("/a-rather-long") and shown.endswith("/the-model")
    assert dialog.folder_edit.toolTip() == long_path
    assert dialog.folder_edit.text() == long_path  # eliding is drawing only: the path itself is whole


def test_a_full_disk_is_reported_in_the_users_terms_and_leaves_nothing(session, qtbot, monkeypatch):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, epochs=1)
    folder = Path(dialog.folder_edit.text())

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.os, "write", full_disk)
    with qtbot.waitSignal(dialog.fitsFinished, timeout=120000):
        dialog.fit_button.click()
    text = dialog.message.text()
    assert "the disk is full" in text and "free space or choose another folder" in text, text
    assert "unexpected" not in text.lower() and "Errno" not in text
    assert state.models == [] and not folder.exists()
    assert not models_home().exists() or list(models_home().iterdir()) == []


def test_neurons_below_the_filterbank_are_warned_about_and_the_range_can_follow(session, qtbot):
    """cf_hz below the front-end's lowest frequency: a warning (the fit is still allowed), and one click gives
    the front-end the response set's range, which the pane and the fit then share."""
    state, runner = session
    rs = state.responses
    rs.neurons = [replace(n, meta={**n.meta, "cf_hz": cf}) for n, cf in zip(rs.neurons, (150.0, 300.0, 2000.0, 90.0),
                                                                               strict=True)]
    rs.hearing_range_hz = (100.0, 7500.0)
    slot = state.add_frontend("mel", MEL)  # f_min 500 Hz, the deepSTRF default
    dialog = _dialog(qtbot, state, runner)
    assert dialog.coverage_label.isVisible()
    warning = dialog.coverage_label.text()
    assert "2 of 3 neurons" in warning and "150 Hz" in warning and "500 Hz" in warning and "f_min" in warning
    assert dialog.fit_button.isEnabled()  # a warning, not a refusal
    dialog.neurons_box.setCurrentText("all")
    assert "3 of 4 neurons" in dialog.coverage_label.text() and "90 Hz" in dialog.coverage_label.text()
    assert dialog.follow_button.isVisible()
    assert "hearing range 100–7,500 Hz" in dialog.follow_button.toolTip()

    dialog.follow_button.click()
    assert slot.args["f_min"] == 90.0 and slot.args["f_max"] == 7500.0 and slot.args["n_mels"] == 10
    assert "lowest neuron CF" in slot.note
    assert not dialog.coverage_label.isVisible() and not dialog.follow_button.isVisible()
    assert "90 Hz to 7,500 Hz" in dialog.range_label.text() and slot.note in dialog.range_label.text()
    assert dialog.fit_config(slot).frontend_kwargs == slot.args


def test_automatic_fits_fixed_frontends_by_ridge_draws_the_tuning_curve_and_the_table_names_the_method(session,
                                                                                                    qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    state.add_frontend("gammatone", GAMMATONE)
    view = CompareView(state, runner)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.built, timeout=10000)
    dialog = _dialog(qtbot, state, runner, method="automatic")
    assert dialog.folds_box.isEnabled() and dialog.epochs_box.isEnabled()  # automatic may use either
    drawn = []
    dialog.curves.show_report = lambda report, real=dialog.curves.show_report: (drawn.append(report), real(report))
    with qtbot.waitSignal(dialog.fitsFinished, timeout=180000):
        dialog.fit_all_button.click()
    assert dialog.message.isHidden(), dialog.message.text()
    assert [m.info["training"]["method"] for m in state.models] == ["ridge", "ridge"]
    for model in state.models:
        block = model.info["training"]["ridge"]
        assert len(block["folds"]) == 2 and len(block["chosen_lambda"]) == 3  # 2 training stimuli, 3 neurons
    assert dialog.results_label.text().count("ridge, 2-fold cross-validation") == 2
    # While each fit ran, the dialog drew its tuning curve from what the fit published (before any test
    # score existed), then the whole report of the model it wrote.
    reports = [r for r in drawn if r is not None and r.panels]
    assert all(r.method == "ridge" and r.panels[0].log_x for r in reports)
    scored = ["test cc_norm" in dict(r.lines) for r in reports]
    assert scored == [False, True, False, True]
    assert dialog.curves.plots and dialog.curves.isVisible()
    assert [row[COLUMNS.index("fitted by")] for row in view.table_text()] == ["ridge", "ridge"]


def test_choosing_ridge_turns_off_the_gradient_options_and_refuses_a_network(session, qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    dialog = _dialog(qtbot, state, runner, method="ridge (closed form)")
    assert not dialog.epochs_box.isEnabled() and not dialog.lr_box.isEnabled() and dialog.folds_box.isEnabled()
    dialog.method_box.setCurrentText("gradient descent")
    assert dialog.epochs_box.isEnabled() and not dialog.folds_box.isEnabled()
    dialog.method_box.setCurrentText("ridge (closed form)")
    dialog.model_box.setCurrentText("LN")
    dialog.fit_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=10000)
    assert "the ridge method fits Linear models only" in dialog.message.text() and state.models == []
