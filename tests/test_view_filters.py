"""The filters view, driven through its real widgets offscreen: filter plots, tuning sweep, table, channel
selection, trained-versus-initial overlay, front-ends without explicit filters, export, settings."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt

from strfviewer.backend.analysis.filters import level_rms
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.settings import settings
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.filters import LEVEL_MAX_DB, LEVEL_MIN_DB, FiltersView

FS = 16000
GAMMATONE = {"n_filters": 10, "f_max": 7000.0}
SINCNET = {"n_filters": 10, "f_max": 7000.0, "kernel_size": 101}
ICNET = {"n_filters": 6, "encoder_channels": 8, "bottleneck_channels": 5}
TIMEOUT_MS = 30000


@pytest.fixture(autouse=True)
def application():
    """The app (settings are private to each test: see conftest)."""
    create_application()


@pytest.fixture
def state(qtbot):
    state = SessionState()
    state.set_audio(AudioDocument(None, vocalization_like(FS, 0.3).astype(np.float32), FS))
    return state


@pytest.fixture
def runner():
    runner = JobRunner()
    yield runner
    runner.shutdown(10000)


def _view(qtbot, state, runner) -> FiltersView:
    view = FiltersView(state, runner)
    qtbot.addWidget(view)
    view.resize(1400, 800)
    view.show()
    return view


def _wait_done(qtbot, view: FiltersView) -> None:
    qtbot.waitUntil(lambda: view.filters is not None and view.tuning is not None, timeout=TIMEOUT_MS)


def _bold(curves) -> list[int]:
    """Indices of the curves drawn with a thick pen (the selected channel)."""
    return [i for i, curve in enumerate(curves) if curve.opts["pen"].widthF() > 1.5]


def _table_column(view: FiltersView, column: int) -> np.ndarray:
    return np.array([float(view.table.item(row, column).text()) for row in range(view.table.rowCount())])


def _row_centre(view: FiltersView, row: int) -> QPoint:
    return view.table.visualItemRect(view.table.item(row, 1)).center()


def test_gammatone_filters_and_table(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    assert view.error.isHidden() and view.status.text() == ""
    assert len(view.impulse_curves) == 10 and len(view.magnitude_curves) == 10
    centres = make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, **GAMMATONE).centre_frequencies()
    assert view.filters.bank.audio_fs == FS  # built at the sound's sample rate
    for c, curve in enumerate(view.magnitude_curves):
        freqs, gain_db = curve.xData, curve.yData
        peak = freqs[np.argmax(gain_db)]
        assert abs(peak - centres[c]) <= 0.15 * centres[c], (c, peak, centres[c])
    # Impulse responses are drawn against time in ms: the gammatone's reach is tens of ms at 16 kHz.
    assert 5.0 < view.impulse_curves[0].xData[-1] < 200.0
    assert view.table.rowCount() == 10
    np.testing.assert_allclose(_table_column(view, 1), centres, atol=0.5)
    np.testing.assert_allclose(_table_column(view, 2), centres, rtol=0.05)  # measured filter peaks
    bandwidths = _table_column(view, 3)
    assert np.all(bandwidths > 0) and np.all(np.diff(bandwidths) > 0)  # ERB widths grow with frequency


def test_tuning_curves_peak_near_each_centre(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    curves = view.tuning.curves
    assert curves.response.shape == (10, 96) and view.heatmap.image.shape == (10, 96)
    assert curves.level_rms == pytest.approx(level_rms(view.level.value()))
    centres = view.filters.centres
    ratio = curves.best_frequency_hz / centres
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5)), ratio
    np.testing.assert_allclose(_table_column(view, 4), curves.best_frequency_hz, atol=0.5)
    # Each heatmap row is scaled to its own range, so every channel's peak is 1.
    np.testing.assert_allclose(view.heatmap.image.max(axis=1), 1.0)


def test_selecting_a_channel_by_table_spin_box_plot_and_state(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    assert state.selected_channel == -1 and _bold(view.magnitude_curves) == []
    assert view.tuning_curve.xData is None or view.tuning_curve.xData.size == 0

    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=_row_centre(view, 3))
    assert state.selected_channel == 3
    assert _bold(view.impulse_curves) == [3] and _bold(view.magnitude_curves) == [3]
    np.testing.assert_array_equal(view.tuning_curve.yData, view.tuning.curves.response[3])
    assert view.channel_spin.value() == 3

    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=_row_centre(view, 7))
    assert state.selected_channel == 7 and _bold(view.magnitude_curves) == [7]

    view.channel_spin.setValue(2)
    assert state.selected_channel == 2 and _bold(view.impulse_curves) == [2]

    state.set_channel(5)  # another view selects a channel: this one follows
    assert view.table.currentRow() == 5 or view.table.selectionModel().isRowSelected(5)
    assert view.channel_spin.value() == 5 and _bold(view.magnitude_curves) == [5]

    # A click on the magnitude plot at channel 8's peak, where it stands well above its neighbours.
    curve = view.magnitude_curves[8]
    k = int(np.argmax(curve.yData))
    view_box = view.magnitude_plot.getViewBox()
    scene = view_box.mapViewToScene(QPointF(math.log10(curve.xData[k]), curve.yData[k] - 0.5))
    qtbot.mouseClick(view.magnitude_plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.magnitude_plot.mapFromScene(scene))
    assert state.selected_channel == 8 and _bold(view.magnitude_curves) == [8]

    # A click on a heatmap row selects that channel.
    heat_box = view.heatmap_plot.getViewBox()
    x_mid = float(np.mean(heat_box.viewRange()[0]))
    scene = heat_box.mapViewToScene(QPointF(x_mid, 1.5))
    qtbot.mouseClick(view.heatmap_plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.heatmap_plot.mapFromScene(scene))
    assert state.selected_channel == 1 and _bold(view.impulse_curves) == [1]


class _TrainedModel(SimpleNamespace):
    """The part of a backend LoadedModel this view reads: ``.model.wav2spec``, ``.path``, ``.frontend``."""


def _trained_sincnet() -> _TrainedModel:
    frontend = make_wav2spec("sincnet", audio_fs=FS, dt_ms=5.0, **SINCNET)
    with torch.no_grad():
        frontend.low_hz_.mul_(1.3).add_(150.0)  # as if training had moved every band up
    return _TrainedModel(model=SimpleNamespace(wav2spec=frontend), path=Path("trained-sincnet"), frontend=frontend)


def test_trained_model_shows_initial_filters_overlaid(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("sincnet", SINCNET)
    _wait_done(qtbot, view)
    assert view.source.isHidden()  # no model with a SincNet front-end yet
    assert view.filters.initial is None and view.initial_magnitude_curves == []
    assert not view.show_initial.isEnabled()

    trained = _trained_sincnet()
    state.add_model(trained)
    qtbot.waitUntil(lambda: view.source.count() == 2, timeout=TIMEOUT_MS)
    assert not view.source.isHidden() and view.source.itemText(1).startswith("trained-sincnet")
    view.source.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.filters is not None and view.filters.initial is not None, timeout=TIMEOUT_MS)
    _wait_done(qtbot, view)
    assert "trained-sincnet" in view.title.text()
    trained_centres = trained.frontend.centre_frequencies()
    np.testing.assert_allclose(_table_column(view, 1), trained_centres, atol=0.5)
    assert len(view.initial_magnitude_curves) == 10 and len(view.initial_impulse_curves) == 10
    assert view.show_initial.isEnabled() and view.show_initial.isChecked()
    assert all(curve.isVisible() for curve in view.initial_magnitude_curves)
    assert view.initial_magnitude_curves[0].opts["pen"].style() == Qt.PenStyle.DashLine
    # The dashed (initial) bands peak below the trained ones, which moved up.
    initial_peaks = np.array([c.xData[np.argmax(c.yData)] for c in view.initial_magnitude_curves])
    trained_peaks = np.array([c.xData[np.argmax(c.yData)] for c in view.magnitude_curves])
    assert np.all(initial_peaks < trained_peaks)

    view.show_initial.setChecked(False)
    assert not any(curve.isVisible() for curve in view.initial_magnitude_curves + view.initial_impulse_curves)
    assert settings().value("filters/show_initial") in (False, "false")
    assert not _view(qtbot, state, runner).show_initial.isChecked()  # remembered

    view.source.setCurrentIndex(0)  # back to the slot's settings: untrained, nothing to overlay
    qtbot.waitUntil(lambda: view.filters is not None and view.filters.initial is None and view.tuning is not None,
                    timeout=TIMEOUT_MS)
    assert view.initial_magnitude_curves == [] and not view.show_initial.isEnabled()

    state.remove_model(trained.path)
    qtbot.waitUntil(lambda: view.source.isHidden(), timeout=TIMEOUT_MS)


def test_icnet_has_tuning_curves_for_its_latent_channels(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("icnet", ICNET)
    _wait_done(qtbot, view)
    assert view.error.isHidden()
    assert view.tuning.curves.response.shape == (5, 96) and view.heatmap.image.shape == (5, 96)
    assert np.isfinite(view.tuning.curves.response).all()
    assert view.table.rowCount() == 5 and view.table.item(0, 1).text() == "—"  # latent: no centre
    assert float(view.table.item(0, 4).text()) > 0
    assert "SincNet" in view.filter_note.text() and len(view.magnitude_curves) == 6  # its first stage
    view.channel_spin.setValue(4)
    assert state.selected_channel == 4
    np.testing.assert_array_equal(view.tuning_curve.yData, view.tuning.curves.response[4])
    assert _bold(view.magnitude_curves) == []  # SincNet filters are not the output channels


def test_front_end_without_explicit_filters_still_gets_tuning_curves(qtbot, state, runner, monkeypatch):
    def no_filters(frontend):
        raise ConfigurationError(f"no filter view for {type(frontend).__name__}")

    monkeypatch.setattr("strfviewer.backend.analysis.filters.filter_bank", no_filters)
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    assert view.error.isHidden()  # not a failure: said in the filter note
    assert "No explicit filters" in view.filter_note.text() and "CausalGammatone" in view.filter_note.text()
    assert view.impulse_curves == [] and view.magnitude_curves == []
    assert view.heatmap.image.shape == (10, 96) and view.table.rowCount() == 10
    assert view.table.item(0, 2).text() == "—"
    data, _header = view.export_data()  # falls back to the tuning curves
    assert set(data) == {"frequency_hz", *(f"channel_{c}" for c in range(10))}


def test_invalid_settings_are_one_red_line(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", {"n_filters": 0})
    qtbot.waitUntil(lambda: not view.error.isHidden(), timeout=TIMEOUT_MS)
    assert "n_filters" in view.error.text() and "\n" not in view.error.text()
    assert "Traceback" not in view.error.text()
    assert view.filters is None and view.impulse_curves == []


def test_follows_the_sample_rate_and_arguments_of_the_target(qtbot, runner):
    state = SessionState()
    view = _view(qtbot, state, runner)
    assert "Add a front-end" in view.status.text()
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    assert view.filters.bank.audio_fs == 48000  # no sound yet
    state.set_audio(AudioDocument(None, np.zeros(FS // 4, dtype=np.float32), FS))
    qtbot.waitUntil(lambda: view.filters is not None and view.filters.bank.audio_fs == FS, timeout=TIMEOUT_MS)
    slot = state.target()
    state.set_frontend_args(slot.id, {**GAMMATONE, "n_filters": 6})
    qtbot.waitUntil(lambda: view.filters is not None and len(view.magnitude_curves) == 6, timeout=TIMEOUT_MS)
    other = state.add_frontend("sincnet", SINCNET)
    state.set_target(other.id)
    qtbot.waitUntil(lambda: view.filters is not None and view.filters.kind == "sincnet", timeout=TIMEOUT_MS)
    state.clear_frontends()
    qtbot.waitUntil(lambda: view.filters is None and "Add a front-end" in view.status.text(), timeout=TIMEOUT_MS)
    assert view.table.rowCount() == 0


def test_export_figure_and_data(qtbot, state, runner, tmp_path):
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    for name in ("f.png", "f.svg"):
        path = view.export_button.export(tmp_path / name)
        assert path.exists() and path.stat().st_size > 1000
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:2000]

    path = view.export_button.export(tmp_path / "f.csv")
    table = np.loadtxt(path, delimiter=",", comments="#")
    bank = view.filters.bank
    assert table.shape == (len(bank.frequencies_hz), 11)
    np.testing.assert_allclose(table[:, 0], bank.frequencies_hz, rtol=1e-6)
    np.testing.assert_allclose(table[:, 1:], bank.magnitude_db.T, rtol=1e-5, atol=1e-4)
    assert "channel_9_db" in path.read_text().splitlines()[1]

    view.data_choice.setCurrentText("tuning curves")
    path = view.export_button.export(tmp_path / "tuning.csv")
    table = np.loadtxt(path, delimiter=",", comments="#")
    assert table.shape == (96, 11)
    np.testing.assert_allclose(table[:, 1:], view.tuning.curves.response.T, rtol=1e-5, atol=1e-6)
    npy = view.export_button.export(tmp_path / "tuning.npz")
    assert np.load(npy)["channel_3"].shape == (96,)


def test_level_is_bounded_reruns_the_sweep_and_is_remembered(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    state.add_frontend("gammatone", GAMMATONE)
    _wait_done(qtbot, view)
    view.level.setValue(25.0)
    assert view.level.value() == LEVEL_MAX_DB
    view.level.setValue(-500.0)
    assert view.level.value() == LEVEL_MIN_DB
    view.level.lineEdit().selectAll()
    qtbot.keyClicks(view.level.lineEdit(), "99")
    assert LEVEL_MIN_DB <= view.level.value() <= LEVEL_MAX_DB and view.level.value() != 99.0

    view.level.setValue(-40.0)
    qtbot.waitUntil(lambda: view.tuning is not None and view.tuning.level_db == -40.0, timeout=TIMEOUT_MS)
    assert view.tuning.curves.level_rms == pytest.approx(10 ** (-40 / 20) / math.sqrt(2))
    assert float(settings().value("filters/level_db")) == -40.0

    again = _view(qtbot, state, runner)
    assert again.level.value() == -40.0
