"""Opening an NWB file in the window: the dialog shows what the file holds with the best guess selected, the
user's choice is what gets binned, cancelling opens nothing, and a saved session reopens the file the same
way without asking."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from test_nwb import DT_MS, _write

from strfviewer.backend.data.nwb import read_nwb
from strfviewer.gui.dialogs.recording import RecordingDialog

pytest.importorskip("pynwb", reason="pynwb (the nwb extra) is not installed")


def _answer(qtbot, act) -> list:
    """Run ``act(dialog)`` on the recording dialog once it is shown (modal: the test cannot call it directly)."""
    seen = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, RecordingDialog):
            seen.append(dialog)
            act(dialog)
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)
    return seen


def test_the_dialog_previews_the_best_guess_and_opens_the_chosen_table(make_window, qtbot, tmp_path):
    _write(tmp_path / "rec.nwb")
    window = make_window()
    shown = {}

    def choose_second(dialog: RecordingDialog) -> None:
        shown["rows"] = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
        shown["first preview"] = dialog.preview.text()
        dialog.table.selectRow(1)
        dialog.bin_width.setValue(2.5)
        shown["second preview"] = dialog.preview.text()
        dialog.open_button.click()

    seen = _answer(qtbot, choose_second)
    window.controller.open_responses(tmp_path / "rec.nwb")
    qtbot.waitUntil(lambda: window.state.responses is not None, timeout=20000)
    assert seen and shown["rows"] == ["trials.stimulus (best guess)", "playback_trials.sound"]
    assert "4 neurons × 3 stimuli" in shown["first preview"] and "up to 4 repeats" in shown["first preview"]
    assert "2.5 ms bins" in shown["second preview"]
    responses = window.state.responses
    direct = read_nwb(tmp_path / "rec.nwb", 2.5, "playback_trials", "sound")
    np.testing.assert_array_equal(responses.counts, direct.binned.counts)
    assert responses.dt_ms == 2.5 and responses.source == tmp_path / "rec.nwb"

    window.controller.save_session(tmp_path / "s.strfsession.json")
    document = json.loads((tmp_path / "s.strfsession.json").read_text())
    assert document["response_sets"] == ["rec.nwb"]
    assert document["import_choices"] == [{"dt_ms": 2.5, "table": "playback_trials", "column": "sound"}]

    reopened = make_window()
    reopened.controller.ask_import = lambda *_: pytest.fail("a session's recording opens without asking")
    reopened.controller.open_session(tmp_path / "s.strfsession.json")
    qtbot.waitUntil(lambda: reopened.state.responses is not None, timeout=20000)
    np.testing.assert_array_equal(reopened.state.responses.counts, direct.binned.counts)
    assert not reopened.controller.is_modified()


def test_cancelling_the_dialog_opens_nothing_and_the_window_stays_unmodified(make_window, qtbot, tmp_path):
    _write(tmp_path / "rec.nwb")
    window = make_window()
    seen = _answer(qtbot, lambda dialog: dialog.reject())
    window.controller.open_responses(tmp_path / "rec.nwb")
    qtbot.waitUntil(lambda: bool(seen) and not window.runner.activeJobs(), timeout=20000)
    qtbot.wait(100)
    assert window.state.responses is None and not window.controller.is_modified()
    assert window.controller.session_snapshot().response_sets == []


def test_a_file_without_presentations_is_explained_without_a_dialog(make_window, qtbot, tmp_path):
    from datetime import datetime, timezone

    import pynwb

    nwbfile = pynwb.NWBFile(session_description="no trials", identifier="t",
                            session_start_time=datetime(2026, 12, 3, tzinfo=timezone.utc))
    nwbfile.add_unit(spike_times=[0.1, 0.2])
    with pynwb.NWBHDF5IO(str(tmp_path / "bare.nwb"), "w") as io:
        io.write(nwbfile)
    window = make_window()
    window.controller.ask_import = lambda *_: pytest.fail("nothing to choose: no dialog")
    window.controller.open_responses(tmp_path / "bare.nwb")
    qtbot.waitUntil(lambda: window.reporter.last is not None, timeout=20000)
    message = window.reporter.last[0]
    assert "Could not open bare.nwb" in message and "no table column names the sounds" in message
    assert window.state.responses is None


def test_the_command_line_choices_open_a_recording_without_asking(make_window, qtbot, tmp_path):
    from strfviewer.backend.data.sources import ImportChoice
    from strfviewer.gui.app import open_inputs

    _write(tmp_path / "rec.nwb")
    window = make_window()
    window.controller.ask_import = lambda *_: pytest.fail("the command line said how")
    open_inputs(window, dataset=tmp_path / "rec.nwb", dataset_choice=ImportChoice(DT_MS, "playback_trials"))
    qtbot.waitUntil(lambda: window.state.responses is not None, timeout=20000)
    assert sum(window.state.responses.counts[0, :, :, 0].ravel() >= 0) == 3  # the table of 3 presentations
