"""The STRF view, driven through its real widgets offscreen, against the backend's own STRF functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from strfviewer.backend.analysis import strf as analysis
from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import Linear, LinearNonlinear
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.playback import NullPlayer
from strfviewer.gui.settings import settings
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.strf import GRADIENT_METHOD, LINEAR_METHOD, LagAxis, StrfView

FS = 16000
N_BANDS, N_LAGS, N_NEURONS = 10, 5, 3
IDS = ["u7", "u8", "u9"]


class RecordingPlayer(NullPlayer):
    """A silent player that remembers what it was asked to play."""

    def __init__(self) -> None:
        super().__init__()
        self.given: list[tuple[np.ndarray, int]] = []

    def set_audio(self, samples: np.ndarray, audio_fs: int) -> None:
        self.given.append((np.array(samples, copy=True), audio_fs))
        super().set_audio(samples, audio_fs)


@pytest.fixture
def runner(qtbot, tmp_path):
    """A job runner (settings are private to each test: see conftest)."""
    create_application()
    jobs = JobRunner()
    yield jobs
    jobs.shutdown(3000)


@pytest.fixture
def player():
    recording = RecordingPlayer()
    yield recording
    recording.stop()


def _frontend(kind: str):
    if kind == "mel":
        return make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=N_BANDS, f_max=7000.0)
    return make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, n_filters=N_BANDS, f_max=7000.0)


def _known_model(cls=Linear, kind="gammatone"):
    """A model with known kernels and non-trivial BatchNorm statistics, in eval mode."""
    model = cls(n_frequency_bands=N_BANDS, temporal_window_size=N_LAGS, out_neurons=N_NEURONS,
                wav2spec=_frontend(kind))
    with torch.no_grad():
        f = torch.arange(N_BANDS, dtype=torch.float32)[:, None]
        k = torch.arange(N_LAGS, dtype=torch.float32)[None, :]
        for n in range(N_NEURONS):
            model.readout.strf.kernel.weight[n, 0] = torch.sin(0.7 * (n + 1) * f + 0.3 * k) * (k + 1) / N_LAGS
        model.readout.strf.kernel.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        model.readout.bn.running_mean.copy_(torch.tensor([0.05, -0.1, 0.2]))
        model.readout.bn.running_var.copy_(torch.tensor([0.25, 4.0, 1.0]))
        model.readout.bn.weight.copy_(torch.tensor([1.5, 0.5, -2.0]))
        model.readout.bn.bias.copy_(torch.tensor([0.0, 0.4, -0.3]))
    return model.eval()


def _open(state: SessionState, model, folder, neurons=IDS):
    """Save and reload through the real checkpoint format, as the window does, and add it to the session."""
    loaded = load_model(save_model(model, folder, info={"neurons": neurons}))
    state.add_model(loaded)
    return loaded


def _view(qtbot, state, runner, player=None) -> StrfView:
    view = StrfView(state, runner, player=player)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    return view


def _folded_by_hand(model) -> np.ndarray:
    bn = model.readout.bn
    gain = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    return model.readout.strf.kernel.weight.detach().numpy()[:, 0] * gain[:, None, None]


def test_a_linear_model_shows_the_folded_kernel_of_the_selected_neuron(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    assert view.image.image is None and "Open a model" in view.message.text()
    loaded = _open(state, _known_model(), tmp_path / "lin-model")
    assert view.model_box.currentText() == "lin-model"
    assert [view.neuron_box.itemText(i) for i in range(view.neuron_box.count())] == IDS
    expected = analysis.linear_strf(loaded.model)
    assert np.array_equal(view.image.image, expected.weights[0, 0])
    # Folding really happened: the raw kernel scaled by gamma / sqrt(var + eps), not the raw kernel.
    np.testing.assert_allclose(view.image.image, _folded_by_hand(loaded.model)[0], rtol=1e-6, atol=1e-7)
    assert not np.allclose(view.image.image, loaded.model.readout.strf.kernel.weight.detach().numpy()[0, 0])
    low, high = view.image.getLevels()
    assert low == -high and high == pytest.approx(np.abs(expected.weights[0, 0]).max())
    assert view.method_label.text() == LINEAR_METHOD
    ticks = view.plot.getAxis("left")._tickLevels[0]
    centres = expected.frequencies_hz
    assert ticks[0] == (0.5, f"{centres[0]:.0f} Hz")
    assert ticks[-1][1].endswith("kHz") and ticks[-1][1] == f"{centres[int(ticks[-1][0])] / 1000:.1f} kHz"


def test_lag_zero_is_at_the_right_and_the_axis_reads_lag_in_ms(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    _open(state, _known_model(), tmp_path / "lin")
    assert view.plot.getAxis("bottom").labelText == "lag (ms)"
    assert not view.plot.getViewBox().xInverted()
    rows = view.image.image.shape[0]
    # Image column k holds lag lags[k]; the last column is lag 0 (5 ms bins: 20, 15, 10, 5, 0 ms).
    assert view.strf.lags_ms.tolist() == [20, 15, 10, 5, 0]
    centre_x = [view.image.mapToView(QPointF(k + 0.5, rows / 2)).x() for k in range(N_LAGS)]
    np.testing.assert_allclose(centre_x, [-20, -15, -10, -5, 0], atol=1e-9)
    scene_x = [view.image.mapToScene(QPointF(k + 0.5, rows / 2)).x() for k in range(N_LAGS)]
    assert scene_x == sorted(scene_x) and scene_x[-1] > scene_x[0]  # lag 0 drawn rightmost, the past leftwards
    axis = view.plot.getAxis("bottom")
    assert isinstance(axis, LagAxis)
    assert axis.tickStrings([-20.0, -10.0, 0.0], 1.0, 10.0) == ["20", "10", "0"]
    assert sorted(axis._tickLevels[0]) == [(-20.0, "20"), (-15.0, "15"), (-10.0, "10"), (-5.0, "5"), (0.0, "0")]
    low, high = view.plot.getViewBox().viewRange()[0]
    assert high == pytest.approx(2.5) and low == pytest.approx(-22.5)  # nothing drawn right of lag 0's column


def test_clicking_a_thumbnail_selects_that_neuron(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    loaded = _open(state, _known_model(), tmp_path / "lin")
    folded = analysis.linear_strf(loaded.model).weights
    model = view.thumbnail_model
    assert model.rowCount() == N_NEURONS and view.thumbnail_list.currentIndex().row() == 0
    assert [model.data(model.index(i), Qt.ItemDataRole.ToolTipRole) for i in range(N_NEURONS)] == IDS
    with qtbot.waitSignal(state.neuronChanged, timeout=2000) as signal:
        rect = view.thumbnail_list.visualRect(model.index(2))
        qtbot.mouseClick(view.thumbnail_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert signal.args == [2] and state.selected_neuron == 2
    assert np.array_equal(view.image.image, folded[2, 0])
    assert view.neuron_box.currentIndex() == 2 and view.thumbnail_list.currentIndex().row() == 2
    state.set_neuron(1)  # another view selects a neuron: this one follows
    assert np.array_equal(view.image.image, folded[1, 0]) and view.neuron_box.currentText() == IDS[1]
    view.neuron_box.activated.emit(0)  # the user picks from the combo: written back to the state
    assert state.selected_neuron == 0


def test_thousands_of_thumbnails_are_drawn_only_in_view_and_the_selected_one_is_centred_untinted(
        qtbot, runner, tmp_path):
    many = 2000
    model = Linear(n_frequency_bands=N_BANDS, temporal_window_size=N_LAGS, out_neurons=many,
                   wav2spec=_frontend("gammatone")).eval()
    state = SessionState()
    view = _view(qtbot, state, runner)
    _open(state, model, tmp_path / "many", neurons=[f"u{i}" for i in range(many)])
    listed = view.thumbnail_list
    qtbot.waitUntil(lambda: listed.visualRect(view.thumbnail_model.index(0)).isValid(), timeout=5000)
    qtbot.wait(50)
    assert view.thumbnail_model.rowCount() == many
    assert 0 < view.thumbnail_model.drawn < 200  # the ones in view, not 2,000
    state.set_neuron(1500)
    qtbot.wait(50)
    rect, viewport = listed.visualRect(view.thumbnail_model.index(1500)), listed.viewport().rect()
    assert viewport.contains(rect)
    assert abs(rect.center().y() - viewport.center().y()) < rect.height()  # in the middle, not at an edge
    # The selected picture is drawn as it is (framed), not washed with the selection colour: inside its frame
    # it looks as it does unselected.
    selected = listed.viewport().grab(rect).toImage()
    listed.selectionModel().clear()
    plain = listed.viewport().grab(rect).toImage()
    inside = [(x, y) for x in range(8, rect.width() - 8, 5) for y in range(8, rect.height() - 8, 5)]
    assert all(selected.pixelColor(x, y) == plain.pixelColor(x, y) for x, y in inside)
    frame = selected.pixelColor(3, rect.height() // 2)
    assert frame == listed.palette().highlight().color() and frame != plain.pixelColor(3, rect.height() // 2)


def test_a_neuron_the_model_lacks_is_reported_not_drawn(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    _open(state, _known_model(), tmp_path / "lin")
    state.set_neuron(7)
    assert view.image.image is None
    assert "3 neurons" in view.message.text() and not view.play_button.isEnabled()
    assert view.export_data() is None


def test_gradient_strf_of_an_ln_model_runs_as_a_job(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    loaded = _open(state, _known_model(LinearNonlinear, "mel"), tmp_path / "ln-mel")
    linear = analysis.linear_strf(loaded.model).weights
    assert np.array_equal(view.image.image, linear[0, 0])
    with qtbot.waitSignal(view.strfShown, timeout=20000):
        view.gradient_box.click()
    assert view.method_label.text() == GRADIENT_METHOD
    image = view.image.image
    assert image.shape == (N_BANDS, N_LAGS) and np.isfinite(image).all() and np.abs(image).max() > 0
    np.testing.assert_allclose(image, analysis.gradient_strf(loaded.model).weights[0, 0], rtol=1e-5, atol=1e-7)
    assert not np.allclose(image, linear[0, 0])  # the softplus slope scales the kernel
    assert settings().value("strf/gradient", False, type=bool)
    qtbot.waitUntil(lambda: not view.cancel_button.isVisible(), timeout=5000)
    # The choice is remembered: a new view starts with the gradient STRF.
    again = _view(qtbot, state, runner)
    assert again.gradient_box.isChecked()
    qtbot.waitUntil(lambda: again.strf is not None, timeout=20000)
    assert again.method == GRADIENT_METHOD


def test_a_backend_error_is_one_red_line_in_the_view(qtbot, runner, tmp_path, monkeypatch):
    def refuse(model, n_lags=None):
        raise ConfigurationError("this model cannot be differentiated\nhere")

    monkeypatch.setattr(analysis, "gradient_strf", refuse)
    state = SessionState()
    view = _view(qtbot, state, runner)
    _open(state, _known_model(), tmp_path / "lin")
    view.gradient_box.setChecked(True)
    qtbot.waitUntil(lambda: "cannot be differentiated" in view.message.text(), timeout=10000)
    assert "\n" not in view.message.text() and "c0392b" in view.message.styleSheet()
    assert view.image.image is None and view.strf is None


def test_play_gradient_sound_draws_and_plays_it_at_peak_half(qtbot, runner, tmp_path, player):
    state = SessionState()
    view = _view(qtbot, state, runner, player)
    loaded = _open(state, _known_model(), tmp_path / "lin")
    assert not view.play_button.isEnabled() and "open a sound" in view.play_note.text()
    samples = vocalization_like(FS, 0.3).astype(np.float32)
    state.set_audio(AudioDocument(None, samples, FS))
    state.set_neuron(1)
    assert view.play_button.isEnabled()
    view.reduce_box.setCurrentText("peak")
    with qtbot.waitSignal(view.gradientShown, timeout=20000):
        qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    expected = analysis.waveform_gradient_map(loaded.model, torch.from_numpy(samples), neuron=1, reduce="peak")
    expected = expected * (0.5 / np.abs(expected).max())
    x, y = view.wave_curve.xData, view.wave_curve.yData
    assert y.size == samples.size == 4800 and x[-1] == pytest.approx((samples.size - 1) / FS)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    (played, fs), = player.given
    assert fs == FS and played.size == samples.size
    assert np.abs(played).max() == pytest.approx(0.5)
    assert player.state() == "playing"
    state.set_neuron(0)  # the drawn gradient belonged to neuron 1: it is cleared
    assert view.wave_curve.yData is None or view.wave_curve.yData.size == 0


def test_play_is_disabled_when_the_sound_rate_differs_from_the_model(qtbot, runner, tmp_path, player):
    state = SessionState()
    view = _view(qtbot, state, runner, player)
    _open(state, _known_model(), tmp_path / "lin")
    state.set_audio(AudioDocument(None, vocalization_like(22050, 0.2).astype(np.float32), 22050))
    assert not view.play_button.isEnabled()
    assert "16000 Hz" in view.play_note.text() and "22050 Hz" in view.play_note.text()
    view.play_gradient()  # a stray call explains instead of computing
    assert "Cannot play" in view.message.text() and player.given == []


def test_export_writes_the_figure_and_the_matrix(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    loaded = _open(state, _known_model(), tmp_path / "lin")
    state.set_neuron(2)
    strf = analysis.linear_strf(loaded.model)
    for suffix in (".png", ".svg", ".csv"):
        path = view.export_button.export(tmp_path / f"strf{suffix}")
        assert path.exists() and path.stat().st_size > 0
    table = np.loadtxt(tmp_path / "strf.csv", delimiter=",")
    np.testing.assert_allclose(table, strf.weights[2, 0], rtol=1e-6, atol=1e-8)
    header = [line for line in (tmp_path / "strf.csv").read_text().splitlines() if line.startswith("#")]
    assert "# lags_ms: 20,15,10,5,0" in header
    freqs = next(line for line in header if line.startswith("# frequencies_hz: "))
    np.testing.assert_allclose([float(v) for v in freqs.split(": ")[1].split(",")], strf.frequencies_hz, rtol=1e-5)
    assert any(IDS[2] in line for line in header)
    npy = view.export_button.export(tmp_path / "strf.npy")
    assert np.array_equal(np.load(npy), strf.weights[2, 0])


def test_switching_and_removing_models(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    first = _open(state, _known_model(), tmp_path / "first")
    torch.manual_seed(1)
    other = _known_model()
    with torch.no_grad():
        other.readout.strf.kernel.weight.mul_(-3.0)
    second = _open(state, other, tmp_path / "second", neurons=["a", "b"])  # wrong count: indices instead
    assert view.model_box.currentText() == "second"
    assert view.neuron_box.itemText(0) == "neuron 0"
    assert np.array_equal(view.image.image, analysis.linear_strf(second.model).weights[0, 0])
    view.model_box.setCurrentIndex(0)
    assert np.array_equal(view.image.image, analysis.linear_strf(first.model).weights[0, 0])
    state.remove_model(first.path)
    assert view.model_box.count() == 1 and view.model_box.currentText() == "second"
    state.remove_model(second.path)
    assert view.image.image is None and view.thumbnail_model.rowCount() == 0 and "Open a model" in view.message.text()


def test_cancel_drops_a_running_gradient_strf(qtbot, runner, tmp_path, monkeypatch):
    import threading

    release, entered = threading.Event(), threading.Event()
    real = analysis.gradient_strf

    def slow(model, n_lags=None):
        entered.set()
        release.wait(10)
        return real(model, n_lags)

    monkeypatch.setattr(analysis, "gradient_strf", slow)
    state = SessionState()
    view = _view(qtbot, state, runner)
    _open(state, _known_model(LinearNonlinear, "mel"), tmp_path / "ln")
    view.gradient_box.setChecked(True)
    qtbot.waitUntil(lambda: entered.is_set() and view.cancel_button.isVisible() and view.progress.isVisible(),
                    timeout=5000)
    assert "computing" in view.method_label.text() and view.image.image is None
    shown = []
    view.strfShown.connect(lambda: shown.append(True))
    view.cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: not view.cancel_button.isVisible() and not view.progress.isVisible(), timeout=5000)
    qtbot.wait(50)
    assert shown == [] and view.strf is None and "cancelled" in view.method_label.text()


def test_an_icnet_gradient_strf_says_why_it_has_one_lag(qtbot, runner, tmp_path):
    from strfviewer.backend.models import ICNet

    state = SessionState()
    view = _view(qtbot, state, runner)
    model = ICNet(16000, len(IDS), n_filters=6, encoder_channels=8, bottleneck_channels=5).eval()
    _open(state, model, tmp_path / "icnet")
    qtbot.waitUntil(lambda: view.strf is not None, timeout=30000)
    assert view.strf.weights.shape[-1] == 1
    assert "one lag" in view.method_label.text() and "latent channels" in view.method_label.text()
