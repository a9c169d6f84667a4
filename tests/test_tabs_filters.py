"""The filters tab read as a user reads it (issue 13, item 9): log-frequency ticks that are round numbers and never
collide, channel colours that do not wrap, stacked impulse responses over the time where they live, a colour bar
on the tuning heatmap, a placeholder instead of an empty selected-channel panel, and a view that fits 1024 px."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from strfviewer.backend.analysis.filters import FilterBank, filter_bank
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.filters import (
    IMPULSE_FRACTION,
    IMPULSE_GAIN,
    TUNING_UNIT,
    FiltersView,
    LogFrequencyAxis,
    channel_colours,
    hz_label,
    log_frequency_ticks,
)

FS = 48000
GAMMATONE = {"n_filters": 34}  # the demo's bank: 34 channels, 500 Hz to 20 kHz
NICE = {hz_label(m * 10.0 ** e) for e in range(0, 5) for m in (1, 2, 3, 5)}
TIMEOUT_MS = 60000


@pytest.fixture
def state(qtbot):
    create_application()
    state = SessionState()
    state.set_audio(AudioDocument(None, vocalization_like(FS, 0.2).astype(np.float32), FS))
    return state


@pytest.fixture
def runner():
    runner = JobRunner()
    yield runner
    runner.shutdown(10000)


def _view(qtbot, state, runner, width=1024, height=700) -> FiltersView:
    view = FiltersView(state, runner)
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    state.add_frontend("gammatone", GAMMATONE)
    qtbot.waitUntil(lambda: view.filters is not None and view.tuning is not None, timeout=TIMEOUT_MS)
    qtbot.wait(50)
    return view


def _drawn_labels(axis) -> list[tuple[QRectF, str]]:
    """The tick labels the axis draws now, with their rectangles (what a user sees)."""
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _flags, text in texts]


def test_log_frequency_axes_show_round_hz_labels_that_never_collide_at_1024_px(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    for plot in (view.magnitude_plot, view.heatmap_plot, view.tuning_plot):
        axis = plot.getAxis("bottom")
        assert isinstance(axis, LogFrequencyAxis) and axis.labelText.endswith("(Hz)")
    state.set_channel(5)  # the selected channel's plot is shown too
    qtbot.wait(50)
    for plot in (view.magnitude_plot, view.heatmap_plot, view.tuning_plot):
        labels = _drawn_labels(plot.getAxis("bottom"))
        texts = [text for _rect, text in labels]
        assert len(texts) >= 3, texts
        assert set(texts) <= NICE, texts  # "200", "1k", "20k": no "0.6" or "10¹" mixed in
        rects = sorted((rect for rect, _text in labels), key=QRectF.left)
        for left, right in itertools.pairwise(rects):
            assert left.right() + 4 <= right.left(), texts


def test_tick_choice_thins_to_what_fits_and_labels_within_a_decade():
    def width(text: str) -> float:
        return 7.0 * len(text)

    wide, grid = log_frequency_ticks(100, 20000, 800, width)
    assert wide == [100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    assert 300 in grid and 1000 not in grid
    narrow, _ = log_frequency_ticks(100, 20000, 150, width)
    assert narrow == [100, 300, 1000, 3000, 10000]  # 1-3 steps: 1-2-5 labels would touch
    narrow_px = [(math.log10(v) - 2) / math.log10(200) * 150 for v in narrow]
    assert min(np.diff(narrow_px)) >= 7.0 * 3 + 10
    decades, _ = log_frequency_ticks(100, 20000, 60, width)
    assert decades in ([100, 1000, 10000], [100, 10000])
    within, _ = log_frequency_ticks(310, 880, 300, width)
    assert within == [400, 500, 600, 700, 800]
    assert log_frequency_ticks(100, 100, 300, width) == ([], [])
    assert [hz_label(v) for v in (50, 200, 1000, 2500, 20000)] == ["50", "200", "1k", "2.5k", "20k"]


def test_channel_colours_run_one_way_and_do_not_wrap(qtbot, state, runner):
    colours = channel_colours(34)
    rgb = np.array([c.getRgb()[:3] for c in colours], dtype=float)
    first_last = np.linalg.norm(rgb[0] - rgb[-1])
    assert first_last > 200  # channel 0 and channel 33 look nothing alike (they were both red)
    assert np.linalg.norm(np.diff(rgb, axis=0), axis=1).max() < first_last / 3  # neighbours look alike
    view = _view(qtbot, state, runner)
    pens = [curve.opts["pen"].color().getRgb()[:3] for curve in view.magnitude_curves]
    assert np.linalg.norm(np.subtract(pens[0], pens[-1])) > 200


def test_impulse_responses_are_stacked_scaled_and_zoomed_to_where_they_live(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    bank = view.filters.bank
    assert len(view.impulse_curves) == 34
    for c, curve in enumerate(view.impulse_curves):
        offset = np.asarray(curve.yData) - (c + 0.5)
        assert np.abs(offset).max() == pytest.approx(IMPULSE_GAIN, rel=1e-4)  # each scaled to its peak, in its own row
    low, high = view.impulse_plot.getViewBox().viewRange()[0]
    extent = float(bank.arrival_ms(IMPULSE_FRACTION).max())
    assert high == pytest.approx(1.05 * extent) and high < 0.9 * bank.times_ms[-1]
    assert low <= 0.0
    bottom, top = view.impulse_plot.getViewBox().viewRange()[1]
    assert bottom <= 0 and top >= 34
    ticks = view.impulse_plot.getAxis("left")._tickLevels[0]
    assert ticks[0] == (0.5, "500 Hz")


def test_arrival_time_is_where_the_energy_has_arrived():
    bank = filter_bank(make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, **GAMMATONE))
    arrival = bank.arrival_ms(0.99)
    assert arrival.shape == (34,) and np.all(arrival > 0) and np.all(arrival < bank.times_ms[-1])
    assert arrival[0] > arrival[-1]  # low channels ring longer
    energy = np.abs(bank.impulse_responses) ** 2
    k = round(arrival[0] * FS / 1000)
    assert energy[0, : k + 1].sum() >= 0.99 * energy[0].sum() > energy[0, :k].sum()
    silent = FilterBank(np.zeros((2, 8)), FS, bank.frequencies_hz, bank.magnitude_db[:2], bank.peak_hz[:2],
                        bank.bandwidth_hz[:2])
    assert silent.arrival_ms().tolist() == [0.0, 0.0]
    with pytest.raises(ConfigurationError, match="fraction"):
        bank.arrival_ms(0.0)


def test_the_tuning_heatmap_has_a_colour_bar_with_its_unit(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    bar = view.heatmap_colorbar
    assert bar.scene() is view.heatmap_plot.scene()
    assert bar.getAxis("left").labelText == TUNING_UNIT
    assert bar.levels() == (0.0, 1.0) and tuple(view.heatmap.getLevels()) == (0.0, 1.0)
    # The bar lies inside its plot widget: a wide title once pushed it out of sight.
    inside = view.heatmap_plot.mapFromScene(bar.mapRectToScene(bar.boundingRect())).boundingRect()
    assert view.heatmap_plot.rect().contains(inside)


def test_the_selected_channel_panel_says_how_to_select_one(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    assert state.selected_channel == -1
    assert view.tuning_stack.currentWidget() is view.tuning_placeholder and view.tuning_placeholder.isVisible()
    assert "Select a channel" in view.tuning_placeholder.text() and not view.tuning_plot.isVisible()
    state.set_channel(3)
    assert view.tuning_stack.currentWidget() is view.tuning_plot and view.tuning_plot.isVisible()
    np.testing.assert_array_equal(view.tuning_curve.yData, view.tuning.curves.response[3])
    state.set_channel(-1)
    assert view.tuning_stack.currentWidget() is view.tuning_placeholder


def test_the_view_fits_1024_px_with_a_trained_model_as_source(qtbot, state, runner):
    view = _view(qtbot, state, runner)
    frontend = make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, **GAMMATONE)
    trained = SimpleNamespace(model=SimpleNamespace(wav2spec=frontend), frontend=frontend,
                              path=Path("linear-gammatone-with-a-long-folder-name"))
    state.add_model(trained)
    qtbot.waitUntil(lambda: not view.source.isHidden(), timeout=TIMEOUT_MS)
    view.source.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "trained in" in view.title.text(), timeout=TIMEOUT_MS)
    assert view.minimumSizeHint().width() <= 1024


def test_the_bank_plots_paint_again_once_their_curves_are_drawn(qtbot, state, runner):
    """The curves are added with painting suspended; it must come back, also when a run is cut short."""
    view = _view(qtbot, state, runner)
    assert view.impulse_plot.updatesEnabled() and view.magnitude_plot.updatesEnabled()
    steps = view._filter_steps(view.filters)  # a drawing run, stepped by hand
    next(steps)
    next(steps)
    assert not view.impulse_plot.updatesEnabled() and len(view.impulse_curves) == 1
    view._clear()  # cut short, as a new sound or target does
    assert view.impulse_plot.updatesEnabled() and view.magnitude_plot.updatesEnabled()


def test_the_tuning_plots_are_built_after_the_view_and_at_once_when_needed(qtbot, state, runner):
    view = FiltersView(state, runner)
    qtbot.addWidget(view)
    assert view.heatmap_plot is None and view.tuning_plot is None  # the first turn builds two plots only
    qtbot.waitUntil(lambda: view.tuning_plot is not None, timeout=5000)
    assert view.heatmap_plot is not None and view.heatmap_cell.layout().indexOf(view.heatmap_plot) >= 0
    early = FiltersView(state, runner)
    qtbot.addWidget(early)
    early._staged.ensure()  # what a tuning result arriving first does
    assert early.heatmap_plot is not None and early.tuning_plot is not None
