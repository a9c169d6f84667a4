"""The time-aligned panes on screen: one time axis to the pixel, colour bars with units, the playback cursor,
and a parameter form that stays compact, marks what is wrong and disables what does not apply."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from strfviewer.backend.synth import vocalization_like

FS = 16000


@pytest.fixture
def window(make_window):
    return make_window()


def _frames_shown(win, slot_id) -> bool:
    pane = win.panes[slot_id]
    return pane.frames is not None and pane.status.text() == ""


def _demo_like(win, qtbot, tmp_path):
    """Waveform overview, a mel and a gammatone pane and the predicted-rates pane of an open model."""
    from strfviewer.backend.checkpoints import save_model
    from strfviewer.backend.frontends import make_wav2spec
    from strfviewer.backend.models import LinearNonlinear

    frontend = make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, compression="pcen", n_filters=10, f_max=7000.0)
    folder = save_model(LinearNonlinear(10, 5, 4, wav2spec=frontend).eval(), tmp_path / "ln-model")
    win.controller.set_generated_audio(vocalization_like(FS, 0.6), FS)
    slots = [win.state.add_frontend("mel", {"f_max": 7000.0}),
             win.state.add_frontend("gammatone", {"compression": "pcen", "f_max": 7000.0})]
    win.controller.open_model(folder)
    qtbot.waitUntil(lambda: win.rates_pane is not None and win.rates_pane.rates is not None, timeout=20000)
    for slot in slots:
        qtbot.waitUntil(lambda s=slot: _frames_shown(win, s.id), timeout=20000)
    return slots


def _plots(win):
    return {"overview": win.overview.plot, "rates": win.rates_pane.plot,
            **{win.state.slot(i).kind: pane.plot for i, pane in win.panes.items()}}


def _screen_x(plot, seconds: float) -> float:
    """Where time ``seconds`` is drawn on the screen, in global pixels."""
    view = plot.getViewBox()
    scene = view.mapViewToScene(QPointF(seconds, 0.0))
    return float(plot.mapToGlobal(plot.mapFromScene(scene)).x())


def _plot_area(plot) -> tuple[float, float]:
    """Left edge and width of a plot's view box on the screen, in global pixels."""
    view = plot.getViewBox()
    rect = view.mapRectToScene(view.boundingRect())
    return float(plot.mapToGlobal(plot.mapFromScene(rect.topLeft())).x()), rect.width()


@pytest.mark.parametrize("size", [(1400, 860), (1024, 700)])
def test_every_pane_puts_a_time_at_the_same_screen_x(window, qtbot, tmp_path, size):
    _demo_like(window, qtbot, tmp_path)
    window.resize(*size)
    plots = _plots(window)

    def aligned() -> bool:
        QApplication.processEvents()
        areas = [_plot_area(p) for p in plots.values()]
        return (max(a[0] for a in areas) - min(a[0] for a in areas) <= 1
                and max(a[1] for a in areas) - min(a[1] for a in areas) <= 1)

    qtbot.waitUntil(aligned, timeout=5000)
    areas = {name: _plot_area(plot) for name, plot in plots.items()}
    assert all(width > 300 for _, width in areas.values()), areas
    for seconds in (0.0, 0.3, 0.6):  # an onset sits at one x in every pane
        xs = {name: _screen_x(plot, seconds) for name, plot in plots.items()}
        assert max(xs.values()) - min(xs.values()) <= 1, (seconds, xs)
    # The panes below the tabs cannot scroll sideways away from the overview.
    assert window.tabs.widget(0).horizontalScrollBar().maximum() == 0


def test_heatmaps_have_colour_bars_with_units_that_follow_levels_and_colour_map(window, qtbot, tmp_path):
    mel_slot, gammatone_slot = _demo_like(window, qtbot, tmp_path)
    mel, gammatone = window.panes[mel_slot.id], window.panes[gammatone_slot.id]
    assert mel.colorbar.getAxis("left").labelText == "log mel (a.u.)"
    assert gammatone.colorbar.getAxis("left").labelText == "PCEN (a.u.)"
    assert window.rates_pane.colorbar.getAxis("left").labelText == "spikes / 5 ms bin"
    np.testing.assert_allclose(mel.colorbar.levels(), mel.current_levels())  # auto levels
    np.testing.assert_allclose(mel.image.levels, mel.current_levels())
    mel.auto_levels.setChecked(False)
    mel.level_low.setValue(-3.0)
    mel.level_high.setValue(1.5)
    assert mel.colorbar.levels() == (-3.0, 1.5)
    np.testing.assert_allclose(mel.image.levels, (-3.0, 1.5))
    high = float(np.nanpercentile(window.rates_pane.rates, 99.5))
    assert window.rates_pane.colorbar.levels() == pytest.approx((0.0, high))
    window.colormap_box.setCurrentText("magma")
    for pane in (mel, gammatone):
        assert pane.colorbar.colorMap().name == "magma"
        np.testing.assert_array_equal(pane.image.getColorMap().getLookupTable(nPts=16),
                                      pane.colorbar.colorMap().getLookupTable(nPts=16))


def _red_at(plot, seconds: float) -> bool:
    """Whether the playback cursor's red shows at ``seconds`` halfway up the plot's image."""
    image = plot.grab().toImage()
    view = plot.getViewBox()
    scene = view.mapViewToScene(QPointF(seconds, view.viewRange()[1][0] * 0.5 + view.viewRange()[1][1] * 0.5))
    point = plot.mapFromScene(scene)
    ratio = image.devicePixelRatio()
    for dx in (-1, 0, 1):
        color = image.pixelColor(round((point.x() + dx) * ratio), round(point.y() * ratio))
        if color.red() > 180 and color.green() < 110 and color.blue() < 110:
            return True
    return False


def test_the_playback_cursor_shows_over_every_pane_without_live_mode(window, qtbot, tmp_path):
    _demo_like(window, qtbot, tmp_path)
    assert not window.state.live
    window.resize(1400, 860)
    window.state.set_cursor(0.31)  # where a click or playback puts it
    for name, plot in _plots(window).items():
        assert plot is window.overview.plot or plot.cursor.value() == pytest.approx(0.31)
        assert _red_at(plot, 0.31), f"no cursor drawn over the {name} pane"
    window.player.play()
    qtbot.waitUntil(lambda: window.state.cursor_s > 0.1, timeout=5000)
    window.player.pause()
    for plot in _plots(window).values():
        assert _red_at(plot, window.state.cursor_s)


def test_the_parameter_form_is_compact_and_leaves_the_plot_its_height(window, qtbot):
    window.resize(1280, 800)
    window.controller.set_generated_audio(vocalization_like(FS, 0.4), FS)
    slots = [window.state.add_frontend(kind) for kind in ("gammatone", "mel", "leaf")]
    pane = window.panes[slots[0].id]
    qtbot.waitUntil(lambda: _frames_shown(window, slots[0].id), timeout=20000)
    pane.params_button.click()
    qtbot.waitUntil(lambda: pane.form.isVisible() and pane.form.rows() < 8, timeout=5000)
    QApplication.processEvents()
    view = pane.plot.getViewBox()
    assert view.boundingRect().height() >= 120
    assert pane.form.rows() <= 6  # 15 fields in columns, not one tall list
    assert all(pane.form.field_widget(name).width() <= 150 for name in pane.form._editors)


def test_an_invalid_value_is_marked_on_its_field_and_on_the_pane_without_a_layout_jump(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 0.3), FS)
    slot = window.state.add_frontend("mel")
    pane = window.panes[slot.id]
    qtbot.waitUntil(lambda: _frames_shown(window, slot.id), timeout=20000)
    pane.params_button.click()
    QApplication.processEvents()
    form_height = pane.form.height()
    pane.form.editor("win_ms").setValue(1.0)  # shorter than the 5 ms hop
    pane.form.apply_now()
    QApplication.processEvents()
    assert pane.form.is_marked("win_ms") and not pane.form.is_marked("n_mels")
    assert "hop_ms" in pane.form.field_widget("win_ms").toolTip()
    assert pane.not_applied.isVisible() and pane.not_applied.text().startswith("not applied: win_ms")
    assert pane.form.height() == form_height  # the message has its line already
    assert "win_ms" not in window.state.slot(slot.id).args
    pane.form.editor("win_ms").setValue(20.0)
    pane.form.apply_now()
    assert not pane.form.is_marked("win_ms") and not pane.not_applied.isVisible()
    assert window.state.slot(slot.id).args["win_ms"] == 20.0


def test_parameters_that_do_not_apply_are_disabled(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 0.3), FS)
    gammatone = window.panes[window.state.add_frontend("gammatone", {}).id].form
    pcen = ("pcen_s", "pcen_alpha", "pcen_delta", "pcen_r", "pcen_eps")
    assert not any(gammatone.editor(name).isEnabled() for name in pcen)
    assert gammatone.editor("log_floor").isEnabled()
    gammatone.editor("compression").setCurrentText("pcen")
    assert all(gammatone.editor(name).isEnabled() for name in pcen)
    assert not gammatone.editor("log_floor").isEnabled()
    sincnet = window.panes[window.state.add_frontend("sincnet", {}).id].form
    assert not sincnet.editor("env_window_ms").isEnabled()
    sincnet.editor("envelope").setChecked(True)
    assert sincnet.editor("env_window_ms").isEnabled()


def test_the_slots_note_shows_in_its_header(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 0.3), FS)
    slot = window.state.add_frontend("mel", {})
    pane = window.panes[slot.id]
    assert pane.slot_note.isHidden()
    slot.note = "f_min 50 Hz: the sound's band"
    window.state.set_frontend_args(slot.id, {"n_mels": 20})
    assert not pane.slot_note.isHidden()
    assert pane.slot_note.text() == pane.slot_note.toolTip() == "f_min 50 Hz: the sound's band"
