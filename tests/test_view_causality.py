"""The causality view through its real widgets offscreen: exact zero leak for causal front-ends, a red leak for
a centred STFT, clicked frames, a model's rows drawn as they arrive, cancel, export and remembered settings."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, QStandardPaths, Qt
from torch import nn

from strfviewer.backend.analysis.causality_display import JacobianDisplay, choose_segment
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import ICNet, Linear
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import Job, JobRunner
from strfviewer.gui.settings import settings
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.causality import CausalityView

FS = 16000
HOP = 80  # 5 ms at 16 kHz
WAIT = 30000


class CentredSpectrogram(nn.Module):
    """A deliberately non-causal front-end: STFT frames centred on each bin start (torch's default)."""

    def __init__(self, hop: int = HOP, n_fft: int = 400) -> None:
        super().__init__()
        self.hop, self.n_fft, self.out_channels, self.audio_fs = hop, n_fft, n_fft // 2 + 1, FS
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x[:, 0], self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return spec.abs()[..., : x.shape[-1] // self.hop].unsqueeze(1)


@dataclass
class FakeLoaded:
    """Just what the view reads of a backend LoadedModel."""

    model: nn.Module
    path: Path
    model_class: str = "ICNet"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def frontend(self):
        return self.model.wav2spec


def _sound(seconds: float) -> AudioDocument:
    """A synthetic call over faint noise, so that no frame sits on the log floor (whose gradient is 0)."""
    noise = 0.01 * np.random.default_rng(0).standard_normal(round(seconds * FS))
    return AudioDocument(None, (vocalization_like(FS, seconds) + noise).astype(np.float32), FS)


def _fresh_state(seconds: float) -> SessionState:
    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()
    session = SessionState()
    session.set_audio(_sound(seconds))
    return session


@pytest.fixture
def state() -> SessionState:
    return _fresh_state(0.3)


@pytest.fixture
def runner(qtbot):
    jobs = JobRunner()
    yield jobs
    jobs.shutdown(10000)


def _compute_module(view: CausalityView, monkeypatch, module: nn.Module) -> None:
    """Press Compute with any module as the target: what the target selector would hand the view."""
    monkeypatch.setattr(view, "target_module", lambda: module)
    view.compute_button.click()


def _view(qtbot, state, runner, auto: bool = True) -> CausalityView:
    settings().setValue("causality/auto_compute", auto)
    view = CausalityView(state, runner)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    return view


def _icnet() -> FakeLoaded:
    torch.manual_seed(1)
    return FakeLoaded(ICNet(FS, 3, n_filters=6, encoder_channels=8, bottleneck_channels=5).eval(), Path("icnet-small"))


def _choose(box, prefix: str) -> None:
    index = next(i for i in range(box.count()) if box.itemText(i).startswith(prefix))
    box.setCurrentIndex(index)


def test_a_mel_front_end_is_computed_automatically_and_has_an_exact_zero_leak(qtbot, state, runner):
    state.add_frontend("mel")
    view = _view(qtbot, state, runner)  # the 0.3 s segment is short: shown means computed
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    assert view.leak_label.text().endswith("0 (exact)")
    jac = view.jacobian
    assert jac.shape == (60, 60 * HOP)
    for t in range(jac.shape[0]):
        nonzero = np.flatnonzero(jac[t])
        assert nonzero.size > 0 and nonzero.max() < (t + 1) * HOP
    assert "ms" in view.rf_label.text() and "local windows" in view.method_label.text()
    x, y = view.boundary.getData()  # the staircase: frame t's row ends at (t + 1) hop
    np.testing.assert_allclose(x[:4], [HOP / FS, HOP / FS, 2 * HOP / FS, 2 * HOP / FS])
    np.testing.assert_array_equal(y[:4], [0, 1, 1, 2])
    low, high = view.image.levels
    assert low == -high and high > 0  # symmetric around 0
    lag = view.display.lag.image  # in the lag view no row has anything at positive lag
    past = lag.shape[1] - round(view.future_region.getRegion()[1] * FS / 1000)
    assert past == view.display.past
    assert np.nanmax(np.abs(lag[:, past:])) == 0 and np.nanmax(np.abs(lag[:, :past])) > 0


def test_gammatone_pcen_is_exact_with_the_whole_past_and_abs_mode_uses_positive_levels(qtbot, state, runner):
    state.add_frontend("gammatone", {"compression": "pcen", "n_filters": 10, "f_max": 7000.0})
    view = _view(qtbot, state, runner, auto=False)
    assert view.result is None  # auto-compute off
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        view.compute_button.click()
    assert view.leak_label.text().endswith("0 (exact)")
    assert "whole past" in view.rf_label.text()
    assert view.result.method == "through the recursion"
    view.mode_box.setCurrentText("abs")
    assert not view.index_spin.isEnabled()
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        view.compute_button.click()
    assert view.request.mode == "abs" and view.image.levels[0] == 0 and view.image.levels[1] > 0
    assert (view.jacobian >= 0).all()


def test_channel_mode_follows_the_selected_channel_and_recomputes(qtbot, state, runner):
    state.add_frontend("mel", {"n_mels": 12})
    view = _view(qtbot, state, runner, auto=True)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    view.mode_box.setCurrentText("channel")
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        state.set_channel(7)
    assert view.index_spin.value() == 7 and view.request.mode == "channel" and view.request.index == 7
    module = make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=12).eval()
    x = torch.tensor(state.audio.samples[: 60 * HOP]).reshape(1, 1, -1).requires_grad_(True)
    (row,) = torch.autograd.grad(module(x)[0, 0, 7, 20], x)
    np.testing.assert_allclose(view.jacobian[20], row[0, 0].numpy(), rtol=0, atol=1e-5 * row.abs().max().item())


def test_a_new_view_range_recomputes_that_segment(qtbot, state, runner):
    state.add_frontend("mel", {"n_mels": 12})
    view = _view(qtbot, state, runner, auto=True)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        state.set_view_range(0.1, 0.2)
    assert view.request.segment.start == 1600 and view.jacobian.shape == (20, 20 * HOP)
    rect = view.image.mapRectToParent(view.image.boundingRect())
    column = rect.width() / view.image.image.shape[1]  # the drawn image may overhang by less than one column
    assert rect.left() == pytest.approx(0.1) and 0.1 <= rect.width() < 0.1 + column and rect.height() == 20
    view.select_frame(0)
    assert view.trace_curve.getData()[0][0] == pytest.approx(0.1)
    assert view.end_lines[0].value() == pytest.approx(0.1 + HOP / FS)


def test_a_centred_stft_shows_a_red_leak(qtbot, state, runner, monkeypatch):
    view = _view(qtbot, state, runner, auto=False)
    assert view.mode_box.currentText() == "projection"
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        _compute_module(view, monkeypatch, CentredSpectrogram())
    text = view.leak_label.text()
    assert "LEAK" in text and "rel" in text and "0 (exact)" not in text
    assert "red" in view.leak_label.styleSheet()
    assert view.result.leak > 0 and view.result.method == "whole signal"
    lag = view.display.lag.image
    future = round(view.future_region.getRegion()[1] * FS / 1000)
    assert future >= 200 - HOP  # the shaded future reaches as far as the leak
    assert np.nanmax(np.abs(lag[:, lag.shape[1] - future :])) > 0


def test_clicking_a_row_shows_its_gradient_under_the_waveform(qtbot, state, runner):
    state.add_frontend("mel")
    view = _view(qtbot, state, runner)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    qtbot.wait(50)  # let the plots lay out before mapping a point to pixels
    vb = view.heatmap.getViewBox()
    expected = 20
    scene_point = vb.mapViewToScene(QPointF(0.15, expected + 0.5))  # mid-row, mid-segment
    pixel = view.heatmap.mapFromScene(scene_point)
    with qtbot.waitSignal(view.frameSelected, timeout=5000) as blocker:
        qtbot.mouseClick(view.heatmap.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pixel.x(), pixel.y()))
    assert blocker.args == [expected]
    x, y = view.trace_curve.getData()
    np.testing.assert_array_equal(y, view.jacobian[expected])
    assert x[0] == 0.0 and len(x) == view.jacobian.shape[1]
    view.select_frame(30)
    x, y = view.trace_curve.getData()
    np.testing.assert_array_equal(y, view.jacobian[30])
    end = 31 * HOP / FS
    assert view.end_lines[1].value() == pytest.approx(end)
    low, high = view.reach_regions[1].getRegion()
    assert high == pytest.approx(end) and low == pytest.approx(end - view.result.receptive_field / FS)
    assert np.array_equal(view.wave_curve.getData()[1], state.audio.samples[: 60 * HOP])


def test_a_model_is_chosen_and_its_neuron_rows_arrive_progressively(qtbot, state, runner):
    view = _view(qtbot, state, runner, auto=False)
    other_rate = Linear(12, 5, 2, wav2spec=make_wav2spec("mel", audio_fs=22050, dt_ms=5.0, n_mels=12))
    state.add_model(FakeLoaded(other_rate, Path("mel-22k"), "Linear"))
    state.add_model(_icnet())
    labels = [view.target_box.itemText(i) for i in range(view.target_box.count())]
    assert labels == ["model: icnet-small (ICNet)"]
    assert "mel-22k" in view.notes_label.text() and "22050 Hz" in view.notes_label.text()
    assert [view.mode_box.itemText(i) for i in range(view.mode_box.count())] == ["neuron", "projection"]
    view.mode_box.setCurrentText("neuron")
    view.index_spin.setValue(1)
    assert state.selected_neuron == 1 and view.index_spin.maximum() == 2
    partial = []
    view.partialDrawn.connect(partial.append)
    with qtbot.waitSignal(view.resultShown, timeout=60000):
        view.compute_button.click()
    assert view.rows_delivered > 1
    assert partial and 0 < partial[0] < 60  # drawn before every row was in
    assert view.request.mode == "neuron" and view.request.index == 1
    assert not np.isnan(view.jacobian).any() and view.leak_label.text().endswith("0 (exact)")
    assert np.isfinite(view.image.image).all()  # the final image: no pending (transparent) rows left


def test_cancel_stops_a_running_computation(qtbot, runner, monkeypatch):
    from strfviewer.backend.analysis import causality_display

    batches = []  # row batches the worker produced (on its own thread)
    real = causality_display.frame_jacobian

    def counting(*args, rows_ready=None, **kwargs):
        def counted(first, rows):
            batches.append(first)
            rows_ready(first, rows)

        return real(*args, rows_ready=counted if rows_ready is not None else None, **kwargs)

    monkeypatch.setattr(causality_display, "frame_jacobian", counting)
    state = _fresh_state(1.0)
    view = _view(qtbot, state, runner, auto=False)
    state.add_model(_icnet())
    _choose(view.target_box, "model:")
    view.mode_box.setCurrentText("neuron")
    results = []
    view.resultShown.connect(lambda: results.append(1))
    with qtbot.waitSignal(view.rowsShown, timeout=60000):
        view.compute_button.click()
    job = view.job
    assert view.cancel_button.isEnabled()
    view.cancel_button.click()
    qtbot.waitUntil(lambda: job.done and not runner.activeJobs(), timeout=30000)
    assert job.cancelled and results == [] and view.result is None
    assert view.message.text() == "Cancelled." and not view.cancel_button.isEnabled()
    assert 0 < len(batches) < 25  # a full run hands out 200 frames in 25 batches of 8
    assert np.isnan(view.jacobian).all(axis=1).any()  # rows never computed stay pending


def test_export_writes_the_figure_the_jacobian_and_a_clicked_trace(qtbot, state, runner, tmp_path):
    state.add_frontend("mel")
    view = _view(qtbot, state, runner)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    for suffix in (".png", ".svg"):
        path = view.export_button.export(tmp_path / f"causality{suffix}")
        assert path.stat().st_size > 0
    path = view.export_button.export(tmp_path / "causality.npy")
    np.testing.assert_array_equal(np.load(path), view.jacobian)
    csv = view.export_button.export(tmp_path / "causality.csv").read_text()
    assert "rows = frames 0..59" in csv.splitlines()[0] and "columns = samples 0..4799" in csv.splitlines()[0]
    view.select_frame(12)
    view.export_what.setCurrentText("clicked frame")
    path = view.export_button.export(tmp_path / "trace.npy")
    with np.load(path) as saved:
        np.testing.assert_array_equal(saved["gradient"], view.jacobian[12])
        assert saved["time_s"].shape == (60 * HOP,)


def test_long_views_are_capped_and_wait_for_compute(qtbot, runner):
    state = _fresh_state(2.5)
    state.add_frontend("mel", {"n_mels": 8})
    view = _view(qtbot, state, runner, auto=True)
    qtbot.wait(400)
    # 2 s is too long to compute on its own
    assert view.job is None and not runner.activeJobs() and "Compute" in view.message.text()
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        view.compute_button.click()
    assert view.jacobian.shape == (400, 32000)
    assert "capped" in view.segment_label.text()
    segment = choose_segment((0.1, 0.1001), 4000, FS, HOP)
    assert segment.n_frames == 1 and "widened to one frame" in segment.notes


def test_errors_are_one_line_messages(qtbot, state, runner, monkeypatch):
    view = _view(qtbot, state, runner, auto=False)
    _compute_module(view, monkeypatch, nn.Linear(2, 2))
    assert "has no hop" in view.message.text() and "\n" not in view.message.text()
    assert view.result is None


def test_mode_and_auto_compute_are_remembered(qtbot, state, runner):
    state.add_frontend("mel", {"n_mels": 8})
    view = _view(qtbot, state, runner, auto=True)
    view.mode_box.setCurrentText("abs")
    view.auto_box.setChecked(False)
    assert settings().value("causality/frontend_mode") == "abs"
    assert settings().value("causality/auto_compute", type=bool) is False
    again = CausalityView(state, runner)
    qtbot.addWidget(again)
    assert again.mode_box.currentText() == "abs" and not again.auto_box.isChecked()


class KnownField(nn.Module):
    """A causal test module whose rows are known: frame t reads the ``reach`` samples before its end with
    weights that fall over four decades (and alternate in sign), so most of its receptive field is small."""

    def __init__(self, reach: int = 800, hop: int = HOP) -> None:
        super().__init__()
        self.hop, self.out_channels, self.audio_fs, self.reach = hop, 1, FS, reach
        signs = torch.tensor([1.0, -1.0]).repeat(reach // 2 + 1)[:reach]
        weights = signs * torch.logspace(0, -4, reach)  # weights[j]: j samples before the frame end
        self.register_buffer("taps", weights.flip(0).reshape(1, 1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (self.reach - 1, 0)), self.taps)
        return y[..., self.hop - 1 :: self.hop].unsqueeze(1)  # (B, 1, 1, T)


def _drawn_pixels(item) -> tuple[np.ndarray, QRectF]:
    """The item's image after levels and colour map (RGBA per pixel) and the rectangle it covers."""
    import pyqtgraph as pg

    item.render()
    pixels = pg.functions.ndarray_from_qimage(item.qimage)
    if pixels.ndim == 2:  # an indexed image: the colour map is the QImage's colour table
        table = np.array(item.qimage.colorTable(), dtype=np.uint32)
        argb = table[pixels]
        pixels = np.stack([(argb >> shift) & 0xFF for shift in (16, 8, 0, 24)], axis=-1)
    return pixels.astype(int), item.mapRectToParent(item.boundingRect())


def test_a_known_receptive_field_stands_out_of_the_background_after_the_colour_map(qtbot, state, runner,
                                                                                       monkeypatch):
    view = _view(qtbot, state, runner, auto=False)
    module = KnownField()
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        _compute_module(view, monkeypatch, module)
    pixels, rect = _drawn_pixels(view.image)
    rows, columns = pixels.shape[:2]
    frames = view.jacobian.shape[0]
    # Each pixel's span of samples and frame; "inside" pixels lie wholly in their row's receptive field,
    # "outside" pixels wholly before it (exact zeros there).
    left = (rect.left() + rect.width() * np.arange(columns) / columns) * FS
    right = (rect.left() + rect.width() * np.arange(1, columns + 1) / columns) * FS
    inside, outside = [], []
    for r in range(rows):
        frame = int((r + 0.5) * rect.height() / rows)  # image row 0 is frame 0
        if frame >= frames:
            continue
        end = (frame + 1) * HOP
        inside.append(pixels[r, (left >= end - module.reach) & (right <= end)])
        outside.append(pixels[r, right <= end - module.reach - HOP])
    inside, outside = np.concatenate(inside), np.concatenate(outside)
    assert len(inside) > 1000 and len(outside) > 1000
    background = np.median(outside, axis=0)
    assert (np.abs(outside - background).max(axis=1) < 8).mean() > 0.99  # exact zeros: one colour
    distance = np.abs(inside - background).max(axis=1)
    # Nearly every pixel of the field is visibly coloured, down to gradients 10^4 below the largest.
    assert (distance > 40).mean() > 0.9, f"only {(distance > 40).mean():.0%} of the field stands out"


def _label(plot, side: str) -> str:
    return plot.getAxis(side).labelString()


def test_axes_read_their_units_before_and_after_a_two_second_jacobian(qtbot, runner):
    state = _fresh_state(2.5)
    state.add_frontend("mel", {"n_mels": 8})
    view = _view(qtbot, state, runner, auto=False)
    qtbot.wait(50)
    # Before computing: the segment Compute would use, in its units, never "(x0.001)" nor a bare -1..1.
    for plot in (view.heatmap, view.lag_plot):
        assert "frame" in _label(plot, "left") and "x0.001" not in _label(plot, "left")
    assert "lag after frame end (ms)" in _label(view.lag_plot, "bottom")
    assert view.heatmap.getViewBox().viewRange()[0] == pytest.approx([0.0, 2.0])
    assert view.heatmap.getViewBox().viewRange()[1] == pytest.approx([0.0, 400.0])
    assert "sample time (s)" in _label(view.heatmap, "bottom")
    with qtbot.waitSignal(view.resultShown, timeout=60000):
        view.compute_button.click()
    qtbot.wait(50)
    lag_label = _label(view.lag_plot, "bottom")
    assert "lag after frame end (ms)" in lag_label and "mms" not in lag_label and "kms" not in lag_label
    assert "sample time (s)" in _label(view.heatmap, "bottom") and "x0.001" not in _label(view.heatmap, "left")
    low, high = view.lag_plot.getViewBox().viewRange()[0]
    rf_ms = 1000.0 * view.result.receptive_field / FS
    assert -rf_ms - 20.0 <= low < -rf_ms and high >= 4 * 5.0  # the field plus a visible future, not 2 s
    assert view.colorbar.getAxis("left").labelText == "∂ frame / ∂ sample"  # the unit: frame value per sample


def test_the_colour_bar_is_labelled_in_gradient_values_and_the_scale_is_the_users(qtbot, state, runner):
    state.add_frontend("mel")
    view = _view(qtbot, state, runner)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    assert view.scale_box.currentText() == "signed log" and view.decades_spin.text() == "auto"
    ticks = dict((label, value) for value, label in view.colorbar.getAxis("right")._tickLevels[0])
    decades = [label for label in ticks if label.startswith("1e-") or label in ("0.01", "0.1", "1")]
    assert len(decades) >= 2 and "0" in ticks
    for label in decades:  # each decade's tick sits where that gradient's colour is
        assert ticks[label] == pytest.approx(view.scale.position(float(label)))
        assert ticks[f"-{label}"] == pytest.approx(-ticks[label])
    assert view.image.levels[1] == pytest.approx(view.scale.levels[1])
    view.decades_spin.setValue(2)
    assert view.scale.decades == pytest.approx(2.0) and len(view.colorbar.getAxis("right")._tickLevels[0]) <= 5
    view.scale_box.setCurrentText("linear")
    assert view.percentile_spin.isVisible() and not view.decades_spin.isVisible()
    assert view.scale.kind == "linear" and tuple(view.image.levels) == pytest.approx(view.scale.levels)
    np.testing.assert_allclose(view.image.image, np.asarray(view.display.heat.window(
        0, view.jacobian.shape[1], view.heatmap.getViewBox().width(), view.heatmap.getViewBox().height()).image))
    assert settings().value("causality/scale") == "linear" and settings().value("causality/decades", type=int) == 2
    again = CausalityView(state, runner)
    qtbot.addWidget(again)
    assert again.scale_box.currentText() == "linear" and again.decades_spin.value() == 2


def test_zooming_draws_the_visible_samples_at_full_resolution(qtbot, state, runner):
    state.add_frontend("mel")
    view = _view(qtbot, state, runner)
    qtbot.waitUntil(lambda: view.result is not None, timeout=WAIT)
    qtbot.wait(50)
    assert view.image.image.shape[1] <= view.heatmap.getViewBox().width()  # 4,800 samples squeezed by max |g|
    view.heatmap.setXRange(0.1, 0.1 + 200 / FS, padding=0)
    qtbot.waitUntil(lambda: view.image.image.shape[1] == 200, timeout=5000)
    np.testing.assert_array_equal(view.image.image, view.scale.transform(view.jacobian[:, 1600:1800]))
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert rect.left() == pytest.approx(0.1) and rect.width() == pytest.approx(200 / FS)


def test_switching_the_target_clears_what_described_the_previous_one(qtbot, state, runner):
    state.add_frontend("mel", {"n_mels": 12})
    state.add_model(FakeLoaded(Linear(12, 3, 2, wav2spec=make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=12)),
                               Path("mel-linear"), "Linear"))
    view = _view(qtbot, state, runner, auto=False)
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        view.compute_button.click()
    assert view.leak_label.text().endswith("0 (exact)") and "front-end: mel" in view.segment_label.text()
    _choose(view.target_box, "model:")
    # At once, before anything is recomputed: nothing on screen describes the mel front-end any more.
    assert view.leak_label.text() == "future leak: –" and view.rf_label.text() == "receptive field: –"
    assert view.segment_label.text() == "" and view.method_label.text() == ""
    assert view.result is None and view.jacobian is None and view.image.image is None
    assert "press Compute" in view.message.text() or "Press Compute" in view.message.text()
    with qtbot.waitSignal(view.resultShown, timeout=WAIT):
        view.compute_button.click()
    assert "model: mel-linear" in view.segment_label.text() and view.request.mode == "neuron"


def test_auto_compute_and_compute_say_the_same_limits(qtbot, runner):
    state = _fresh_state(2.5)
    state.add_frontend("mel", {"n_mels": 8})
    view = _view(qtbot, state, runner, auto=True)
    qtbot.wait(300)
    assert view.auto_box.text() == "auto-compute (segments ≤ 1 s)"
    assert "Compute covers at most 2 s" in view.message.text() and "≤ 1 s" in view.message.text()


class _HeldRunner(QObject):
    """A runner that keeps submitted jobs instead of running them, to see what the GUI thread itself does."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[tuple[Any, Job]] = []

    def submit(self, fn, *, key, description, on_result=None, on_error=None, publishes=False, owner=None):
        job = Job(key, description, self)
        self.jobs.append((fn, job))
        return job

    def cancel(self, key) -> bool:
        return True


def test_compute_allocates_and_prepares_nothing_large_on_the_gui_thread(qtbot):
    state = _fresh_state(2.5)
    state.add_frontend("mel", {"n_mels": 8})
    held = _HeldRunner()
    view = _view(qtbot, state, held, auto=False)
    qtbot.wait(50)
    tracemalloc.start()
    try:
        view.compute()  # 400 frames x 32,000 samples: a 49 MiB Jacobian
        assert tracemalloc.get_traced_memory()[1] < 4 << 20
        assert view.jacobian is None and len(held.jobs) == 1
        fn, job = held.jobs[0]
        value = fn(None, None, lambda _rows: None)  # the job: the Jacobian and everything drawn from it
        assert isinstance(value.display, JacobianDisplay)
        held_now = tracemalloc.get_traced_memory()[0]  # the job's result is alive: count only what comes on top
        tracemalloc.reset_peak()
        job.succeeded.emit(value)  # back on the GUI thread: only the visible part is picked and set
        assert tracemalloc.get_traced_memory()[1] - held_now < 8 << 20
    finally:
        tracemalloc.stop()
    assert view.result is not None and view.image.image.shape[1] <= view.heatmap.getViewBox().width()
