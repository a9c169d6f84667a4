"""The window, driven through its real widgets offscreen: open, drop, edit, jobs, errors, live mode, close."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent
from PySide6.QtWidgets import QMessageBox

from strfviewer.backend.analysis.frames import compute_frames
from strfviewer.backend.session import load_session
from strfviewer.backend.synth import vocalization_like

FS = 16000


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def sound(tmp_path) -> Path:
    path = tmp_path / "call.wav"
    soundfile.write(path, vocalization_like(FS, 0.6), FS)
    return path


def _wait_for_frames(qtbot, win, slot_id):
    qtbot.waitUntil(lambda: win.panes[slot_id].frames is not None and win.panes[slot_id].status.text() == "",
                    timeout=20000)
    return win.panes[slot_id].frames.copy()


def test_open_audio_through_the_menu_action(window, qtbot, sound, monkeypatch):
    monkeypatch.setattr("strfviewer.gui.main_window.QFileDialog.getOpenFileName", lambda *a, **k: (str(sound), ""))
    window.open_action.trigger()
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    assert window.state.audio.path == sound and window.state.audio.audio_fs == FS
    assert window.windowTitle().startswith("call.wav")
    assert window.overview.curve.getData()[0].size > 0
    assert window.audio_list.count() == 1
    assert [a.text() for a in window.recent_menu.actions()] == ["call.wav"]


def test_open_audio_through_a_simulated_drop(window, qtbot, sound):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sound))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    assert window.state.audio.path == sound


def test_changing_a_parameter_recomputes_the_image(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 0.5), FS)
    slot = window.state.add_frontend("gammatone", {"f_max": 7000.0})
    before = _wait_for_frames(qtbot, window, slot.id)
    pane = window.panes[slot.id]
    pane.params_button.click()
    assert not pane.form.isHidden()
    pane.form.editor("compression").setCurrentText("pcen")
    pane.form.apply_now()
    assert window.state.slot(slot.id).args["compression"] == "pcen"
    qtbot.waitUntil(lambda: pane.frames is not None and not np.array_equal(pane.frames, before), timeout=20000)
    expected = compute_frames("gammatone", {**window.state.slot(slot.id).args}, 5.0, window.state.audio.samples, FS)
    np.testing.assert_allclose(pane.image.image, expected.frames, rtol=0, atol=1e-6)


def test_an_invalid_parameter_is_explained_and_not_applied(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 0.3), FS)
    slot = window.state.add_frontend("mel")
    pane = window.panes[slot.id]
    pane.params_button.click()
    pane.form.editor("win_ms").setValue(1.0)  # shorter than the 5 ms hop
    pane.form.apply_now()
    assert not pane.form.message.isHidden() and "win_ms" in pane.form.message.text()
    assert "win_ms" not in window.state.slot(slot.id).args


def test_job_progress_is_shown_and_cancel_stops_it(window, qtbot):
    from strfviewer.backend.jobs import check_cancel

    stopped = threading.Event()

    def slow(progress, cancel):
        try:
            for i in range(1000):
                check_cancel(cancel)
                progress(i, 1000, "working")
                time.sleep(0.01)
        finally:
            stopped.set()

    results = []
    window.runner.submit(slow, key="slow", description="slow job", on_result=results.append)
    qtbot.waitUntil(lambda: window.progress.isVisible() and window.progress.value() > 0, timeout=5000)
    assert window.job_label.text() == "slow job"
    window.cancel_button.click()
    qtbot.waitUntil(stopped.is_set, timeout=5000)
    qtbot.waitUntil(lambda: not window.progress.isVisible(), timeout=5000)
    assert results == []


def test_a_corrupt_file_shows_the_error_and_the_app_goes_on(window, qtbot, tmp_path, sound):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    window.controller.open_audio(bad)
    qtbot.waitUntil(lambda: window.reporter.last is not None, timeout=10000)
    message, details = window.reporter.last
    assert "broken.wav" in message and "\n" not in message
    assert "Traceback" in details  # the details hold what a developer needs
    assert window.state.audio is None
    window.controller.open_audio(sound)
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    assert window.state.audio.path == sound


def test_live_mode_with_the_null_player_gives_the_offline_frames(window, qtbot):
    samples = vocalization_like(FS, 0.4)
    window.controller.set_generated_audio(samples, FS)
    leaf = window.state.add_frontend("leaf", {"f_max": 7000.0, "n_filters": 12})
    pcen = window.state.add_frontend("gammatone", {"compression": "pcen", "f_max": 7000.0, "n_filters": 12})
    for slot in (leaf, pcen):
        _wait_for_frames(qtbot, window, slot.id)
    window.live_box.setChecked(True)
    assert window.state.live
    with qtbot.waitSignal(window.player.finished, timeout=10000):
        window.player.play()
    for slot in (leaf, pcen):
        pane = window.panes[slot.id]
        qtbot.waitUntil(lambda p=pane: (p._live is None or p._live.complete), timeout=10000)
        offline = compute_frames(slot.kind, slot.args, 5.0, samples, FS).frames
        assert np.isfinite(pane.frames).all()
        np.testing.assert_allclose(pane.frames, offline, rtol=0, atol=1e-5 * np.abs(offline).max())


def test_closing_the_window_while_a_job_runs_exits_cleanly(window, qtbot):
    win, reporter = window, window.reporter
    release = threading.Event()
    started = threading.Event()
    finished = threading.Event()

    def stubborn(progress, cancel):
        started.set()
        while not cancel.is_set():
            time.sleep(0.01)
        finished.set()

    delivered = []
    win.runner.submit(stubborn, key="stubborn", description="stubborn", on_result=delivered.append)
    qtbot.waitUntil(lambda: win.progress.isVisible() and started.is_set(), timeout=5000)
    assert win.close()
    assert finished.wait(5)
    release.set()
    qtbot.wait(50)
    assert delivered == [] and reporter.last is None


def test_a_session_round_trips_through_the_window(window, qtbot, tmp_path, sound):
    window.controller.open_audio(sound)
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    window.state.add_frontend("mel", {"n_mels": 20})
    window.state.set_view_range(0.1, 0.4)
    window.colormap_box.setCurrentText("magma")
    window.show_view("strf")
    path = tmp_path / "work.strfsession.json"
    window.controller.save_session(path)
    window.state.clear_frontends()
    window.show_view("spectrograms")
    window.controller.open_session(path)
    qtbot.waitUntil(lambda: window.state.audio is not None and window.state.view_range == (0.1, 0.4), timeout=10000)
    assert [(s.kind, s.args) for s in window.state.frontends] == [("mel", {"n_mels": 20})]
    assert window.state.display["colormap"] == "magma"
    assert window.current_view() == "strf"  # the tab in front is part of the session


def test_analysis_views_are_tabs_that_share_the_selected_channel(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 0.3), FS)
    slot = window.state.add_frontend("gammatone", {"f_max": 7000.0, "n_filters": 10})
    _wait_for_frames(qtbot, window, slot.id)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Spectrograms", "Filters", "Causality", "STRFs", "PSTH", "Compare"]
    assert window.views == {}  # views are built when their tab is first opened
    filters = window.show_view("filters")
    assert window.tabs.currentWidget() is filters and list(window.views) == ["filters"]
    qtbot.waitUntil(lambda: filters.channel_spin.maximum() == 9, timeout=20000)
    filters.channel_spin.setValue(3)  # the user picks channel 3 in the filter view
    assert window.state.selected_channel == 3
    pane = window.panes[slot.id]
    assert pane.highlight.isVisible() and tuple(pane.highlight.getRegion()) == (3, 4)
    assert window.target_box.currentData() == slot.id


def test_a_spectrogram_pane_exports_its_figure_and_frames(window, qtbot, tmp_path):
    window.controller.set_generated_audio(vocalization_like(FS, 0.3), FS)
    slot = window.state.add_frontend("mel")
    frames = _wait_for_frames(qtbot, window, slot.id)
    button = window.panes[slot.id].export_button
    assert button.export(tmp_path / "s.png").stat().st_size > 1000
    assert button.export(tmp_path / "s.svg").stat().st_size > 1000
    np.testing.assert_array_equal(np.load(button.export(tmp_path / "s.npy")), frames)
    table = np.loadtxt(button.export(tmp_path / "s.csv"), delimiter=",")
    np.testing.assert_allclose(table, frames, rtol=1e-6)


def test_an_open_model_predicts_rates_offline_and_live(window, qtbot, tmp_path):
    from strfviewer.backend.checkpoints import save_model
    from strfviewer.backend.frontends import make_wav2spec
    from strfviewer.backend.models import LinearNonlinear
    from strfviewer.backend.streaming import run_in_chunks

    frontend = make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, compression="pcen", n_filters=10, f_max=7000.0)
    folder = save_model(LinearNonlinear(10, 5, 4, wav2spec=frontend).eval(), tmp_path / "ln-model")
    samples = vocalization_like(FS, 0.4)
    window.controller.open_model(folder)
    qtbot.waitUntil(lambda: window.rates_pane is not None, timeout=20000)
    # With no sound open the pane says what it waits for, instead of showing empty axes.
    assert window.rates_pane.rates is None and "open a sound" in window.rates_pane.status.text()
    assert not window.rates_pane.plot.getAxis("left").autoSIPrefix  # neuron numbers read as they are
    window.controller.set_generated_audio(samples, FS)
    qtbot.waitUntil(lambda: window.rates_pane.rates is not None, timeout=20000)
    assert window.rates_pane.status.text() == ""
    expected = run_in_chunks(window.state.model.model, samples)
    np.testing.assert_allclose(window.rates_pane.rates, expected, rtol=1e-6, atol=1e-7)
    assert window.model_list.count() == 1
    window.live_box.setChecked(True)
    with qtbot.waitSignal(window.player.finished, timeout=10000):
        window.player.play()
    pane = window.rates_pane
    qtbot.waitUntil(lambda: (pane._live is None or pane._live.complete), timeout=10000)
    np.testing.assert_allclose(pane.rates, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_keyboard_actions_switch_tabs_and_step_through_the_sounds(window, qtbot, tmp_path):
    paths = []
    for index in range(3):
        paths.append(tmp_path / f"sound{index}.wav")
        soundfile.write(paths[-1], vocalization_like(FS, 0.3, seed=index), FS)
    window.state.audio_files = list(paths)
    window.controller.open_audio(paths[0])
    qtbot.waitUntil(lambda: window.state.audio is not None and window.state.audio.path == paths[0], timeout=10000)
    actions = {action.shortcut().toString(): action for action in window.findChildren(QAction)
               if not action.shortcut().isEmpty()}
    actions["Ctrl+Down"].trigger()
    qtbot.waitUntil(lambda: window.state.audio.path == paths[1], timeout=10000)
    assert window.audio_list.currentItem().text() == "sound1.wav"  # the list shows the open sound
    actions["Ctrl+Up"].trigger()
    qtbot.waitUntil(lambda: window.state.audio.path == paths[0], timeout=10000)
    actions["Ctrl+Up"].trigger()
    qtbot.waitUntil(lambda: window.state.audio.path == paths[2], timeout=10000)  # wraps around
    actions["Ctrl+5"].trigger()
    assert window.current_view() == "psth" and window.tabs.currentWidget() is window.views["psth"]
    actions["Ctrl+1"].trigger()
    assert window.current_view() == "spectrograms"
    actions["L"].trigger()
    assert window.state.live
    actions["L"].trigger()
    assert not window.state.live


def _answer(monkeypatch, button):
    asked = []
    monkeypatch.setattr("strfviewer.gui.main_window.QMessageBox.question",
                        lambda *args, **kwargs: (asked.append(args[2]), button)[1])
    return asked


def test_changes_mark_the_session_modified_until_it_is_saved(window, qtbot, tmp_path, sound):
    assert not window.controller.is_modified() and not window.isWindowModified()
    window.controller.open_audio(sound)
    assert window.controller.is_modified()  # a sound that is still loading is already part of the work
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    window.state.add_frontend("mel")
    assert window.controller.is_modified() and window.isWindowModified()
    window.controller.save_session(tmp_path / "work.strfsession.json")
    assert not window.controller.is_modified() and not window.isWindowModified()
    window.state.set_view_range(0.1, 0.2)  # looking around is not work
    window.state.set_cursor(0.15)
    window.colormap_box.setCurrentText("magma")  # a preference, remembered anyway
    assert not window.controller.is_modified()
    slot = window.state.frontends[0]
    window.state.set_frontend_args(slot.id, {**slot.args, "n_mels": 40})
    assert window.controller.is_modified() and window.isWindowModified()


def test_closing_a_modified_session_asks_and_cancel_keeps_the_window(window, qtbot, monkeypatch):
    window.confirm_close = True
    window.state.add_frontend("mel")
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert window.isVisible() and len(asked) == 1 and "closing" in asked[0]
    _answer(monkeypatch, QMessageBox.StandardButton.Discard)
    assert window.close()


def test_save_on_close_writes_the_session_and_a_cancelled_save_as_keeps_the_window(window, qtbot, monkeypatch,
                                                                                    tmp_path):
    window.confirm_close = True
    window.state.add_frontend("gammatone", {"compression": "pcen"})
    _answer(monkeypatch, QMessageBox.StandardButton.Save)
    monkeypatch.setattr("strfviewer.gui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: ("", ""))
    assert not window.close()  # no file chosen: nothing saved, nothing closed
    path = tmp_path / "kept.strfsession.json"
    monkeypatch.setattr("strfviewer.gui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(path), ""))
    assert window.close()
    saved = load_session(path)
    assert [(f.kind, f.args) for f in saved.frontends] == [("gammatone", {"compression": "pcen"})]


def test_a_session_still_loading_is_not_modified_and_saving_keeps_its_files(window, qtbot, tmp_path, sound):
    from strfviewer.backend.session import FrontendEntry, Session, save_session

    path = save_session(Session(audio=[sound], frontends=[FrontendEntry("mel")]), tmp_path / "a.strfsession.json")
    window.controller.open_session(path)
    assert not window.controller.is_modified()
    assert window.controller.session_snapshot().audio == [sound]  # already there while the sound loads
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    assert not window.controller.is_modified()


def test_the_command_line_adds_front_ends_and_sounds_to_a_session_in_order(window, qtbot, tmp_path, sound):
    from strfviewer.backend.session import FrontendEntry, Session, save_session
    from strfviewer.cli import build_gui_parser
    from strfviewer.gui.app import _open_requested

    session = save_session(Session(audio=[sound], frontends=[FrontendEntry("mel")]), tmp_path / "s.strfsession.json")
    second = tmp_path / "second.wav"
    soundfile.write(second, vocalization_like(FS, 0.3, seed=1), FS)
    _open_requested(window, build_gui_parser().parse_args(
        [str(second), str(sound), "--session", str(session), "--frontend", "leaf"]))
    assert [slot.kind for slot in window.state.frontends] == ["mel", "leaf"]  # the session's, then the option's
    qtbot.waitUntil(lambda: window.state.audio is not None and window.state.audio.path == second, timeout=10000)
    assert window.state.audio_files == [second, sound]
    assert not window.controller.is_modified()


def test_the_tab_in_front_lives_in_the_state_and_switching_it_redraws_no_view(window):
    redraws = []
    window.state.displayChanged.connect(lambda: redraws.append(True))
    window.show_view("compare")
    assert window.state.front_view == "compare" and redraws == []  # colour maps are not re-applied
    assert window.controller.session_snapshot().display["view"] == "compare"
    window.state.set_front_view("filters")  # what opening a session does
    assert window.current_view() == "filters"
