"""The STRF tab as a user first sees it (issue 13, item 8): a model with a kernel first, a colour bar that names
the values, the explanation across the view's width and a placeholder, not empty axes, for the gradient sound."""

from __future__ import annotations

import numpy as np
import pytest
from test_view_strf import _known_model, _open, _view

from strfviewer.backend.models import ICNet
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.playback import NullPlayer
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.strf import (
    GRADIENT_METHOD,
    GRADIENT_UNIT,
    LINEAR_METHOD,
    LINEAR_UNIT,
)

FS = 16000


@pytest.fixture
def runner(qtbot):
    create_application()
    jobs = JobRunner()
    yield jobs
    jobs.shutdown(3000)


def _icnet(state, folder):
    return _open(state, ICNet(FS, 3, n_filters=6, encoder_channels=8, bottleneck_channels=5).eval(), folder)


def test_the_tab_opens_on_a_model_with_a_kernel_not_on_a_later_gradient_model(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    linear = _open(state, _known_model(), tmp_path / "linear")
    _icnet(state, tmp_path / "icnet")  # opened last, as the demo session does
    assert view.loaded is linear and view.model_box.currentText() == "linear"
    assert view.method == LINEAR_METHOD and view.strf.weights.shape[-1] > 1
    view.model_box.setCurrentIndex(1)  # the user can still pick the gradient model
    qtbot.waitUntil(lambda: view.method == GRADIENT_METHOD, timeout=30000)


def test_every_strf_image_has_a_symmetric_colour_bar_that_names_its_values(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)
    _open(state, _known_model(), tmp_path / "linear")
    bar = view.colorbar
    assert bar.scene() is view.plot.scene() and bar.isVisible()
    assert bar.getAxis("left").labelText == LINEAR_UNIT
    low, high = bar.levels()
    assert low == -high and high == pytest.approx(np.abs(view.current_matrix()).max())
    assert tuple(view.image.getLevels()) == pytest.approx((low, high))
    with qtbot.waitSignal(view.strfShown, timeout=20000):
        view.gradient_box.click()
    assert bar.getAxis("left").labelText == GRADIENT_UNIT
    low, high = bar.levels()
    assert low == -high and high == pytest.approx(np.abs(view.current_matrix()).max())


def test_the_explanation_spans_the_view_instead_of_a_narrow_column(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner)  # 900 px wide
    _icnet(state, tmp_path / "icnet")
    qtbot.waitUntil(lambda: "one lag" in view.method_label.text(), timeout=30000)
    qtbot.wait(20)
    assert view.method_label.width() >= 0.9 * view.width()
    lines = view.method_label.height() / view.method_label.fontMetrics().lineSpacing()
    assert lines < 2.5  # the note reads as one or two lines, not five


def test_the_gradient_panel_shows_a_placeholder_until_a_gradient_sound_is_drawn(qtbot, runner, tmp_path):
    state = SessionState()
    view = _view(qtbot, state, runner, NullPlayer())
    _open(state, _known_model(), tmp_path / "linear")
    assert view.wave_stack.currentWidget() is view.wave_placeholder and not view.wave_plot.isVisible()
    assert "open a sound" in view.wave_placeholder.text()
    state.set_audio(AudioDocument(None, vocalization_like(FS, 0.3).astype(np.float32), FS))
    assert "Play gradient sound" in view.wave_placeholder.text() and view.wave_placeholder.isVisible()
    with qtbot.waitSignal(view.gradientShown, timeout=20000):
        view.play_button.click()
    assert view.wave_stack.currentWidget() is view.wave_plot and view.wave_plot.isVisible()
    state.set_neuron(1)  # the drawn gradient belonged to another neuron: back to the placeholder
    assert view.wave_stack.currentWidget() is view.wave_placeholder
