"""The window as a demo audience uses it: browsing is not work to save, the bundled session is never overwritten,
an error does not leave a finished progress bar behind, and a repeated error is reported once."""

from __future__ import annotations

import pytest

from strfviewer.backend.session import load_session
from strfviewer.cli import build_gui_parser
from strfviewer.gui.app import _open_requested
from strfviewer.resources import demo_session

needs_demo = pytest.mark.skipif(not demo_session().is_file(), reason="the bundled demo is not in this checkout")


def _open_demo(window, qtbot):
    _open_requested(window, build_gui_parser().parse_args(["--demo"]))
    session = load_session(demo_session())
    qtbot.waitUntil(lambda: window.state.audio is not None and window.state.responses is not None
                    and len(window.state.models) == len(session.models), timeout=60000)
    qtbot.waitUntil(lambda: not window.runner.activeJobs(), timeout=120000)


@needs_demo
def test_browsing_the_demo_is_not_unsaved_work(make_window, qtbot):
    window = make_window()
    _open_demo(window, qtbot)
    assert not window.controller.is_modified()
    window.state.set_neuron(window.state.selected_neuron + 1)
    window.show_view("strf")
    window.state.set_view_range(0.5, 1.0)
    assert not window.controller.is_modified()


def test_an_error_that_repeats_opens_one_dialog_not_a_stack(tmp_path, qapp, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from strfviewer.gui.reporter import ErrorReporter

    monkeypatch.setattr(QMessageBox, "open", lambda box: None)  # shown, and never blocking the caller
    reporter = ErrorReporter(tmp_path / "strfviewer.log")
    for _ in range(50):  # a live stream failing on every frame
        reporter.report("could not broadcast input array")
    assert reporter.dialogs_shown == 1
    assert reporter.dialog.informativeText().startswith("49 more error(s)")
    reporter.dialog.done(0)  # the user presses OK
    for _ in range(20):  # the same fault again right after
        reporter.report("could not broadcast input array")
    assert reporter.dialogs_shown == 1
    reporter.report("a different problem")
    assert reporter.dialogs_shown == 2


@needs_demo
def test_save_after_the_demo_asks_where_instead_of_overwriting_the_bundled_session(make_window, qtbot,
                                                                                    monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    window = make_window()
    before = demo_session().read_bytes()
    _open_demo(window, qtbot)
    target = tmp_path / "mine.strfsession.json"
    asked = []

    def ask(*_args, **_kwargs):
        asked.append(True)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", ask)
    window.save_session()
    assert asked and target.is_file()
    assert demo_session().read_bytes() == before
    assert load_session(target).models == load_session(demo_session()).models


def test_a_failed_job_leaves_no_progress_bar_while_its_error_is_shown(make_window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    monkeypatch.setattr(QMessageBox, "open", lambda box: None)
    window.reporter.modal = True

    def fails(progress, cancel):
        progress(10, 10, "")
        raise RuntimeError("disk on fire")

    window.runner.submit(fails, key="boom", description="a failing job", on_result=lambda _v: None)
    qtbot.waitUntil(lambda: window.reporter.dialog is not None, timeout=10000)
    qtbot.waitUntil(lambda: not window.runner.activeJobs(), timeout=10000)
    assert window.reporter.dialog is not None  # the error is still on screen
    assert not window.progress.isVisible() and not window.cancel_button.isVisible()
    window.reporter.dialog.done(0)


def test_a_sound_opened_without_frontend_is_shown_with_the_default_one(make_window, qtbot, tmp_path):
    import numpy as np
    import soundfile

    from strfviewer.gui.app import DEFAULT_FRONTEND, open_inputs

    path = tmp_path / "tone.wav"
    t = np.arange(48000) / 48000
    soundfile.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000)
    window = make_window()
    open_inputs(window, audio=[path])
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=30000)
    assert [slot.kind for slot in window.state.frontends] == [DEFAULT_FRONTEND]


def test_the_empty_pane_area_says_what_to_do_next(make_window, qtbot):
    import numpy as np

    window = make_window()
    assert "Open a sound" in window.placeholder.text()
    window.controller.set_generated_audio(np.zeros(48000, dtype=np.float32), 48000)
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    assert "Open a sound" not in window.placeholder.text() and "Add a front-end" in window.placeholder.text()
