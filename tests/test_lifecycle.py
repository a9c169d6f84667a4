"""Closing the window while it works: playback, live mode, a fit and a Jacobian all stop, and a computation that
cannot stop in time does not keep the process alive (timings: benchmarks/lifecycle.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.fitting import FitConfig, fit_into_folder
from strfviewer.backend.model_folders import OutputFolder
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.settings import settings

FS = 16000


@pytest.fixture
def window(make_window):
    return make_window()


def _closed_cleanly(window) -> None:
    assert window.close()
    assert not window.work_abandoned
    assert window.runner.activeJobs() == []
    assert window.live.ended
    assert window.player.state() == "stopped"


def test_closing_during_playback_and_live_mode(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 3.0), FS)
    slot = window.state.add_frontend("gammatone", {"compression": "pcen", "f_max": 7000.0})
    qtbot.waitUntil(lambda: window.panes[slot.id].frames is not None, timeout=20000)
    window.live_box.setChecked(True)
    window.player.play()
    qtbot.waitUntil(lambda: window.state.cursor_s > 0.2 and window.live.running, timeout=10000)
    _closed_cleanly(window)


def test_closing_during_a_fit_cancels_it_and_writes_no_folder(window, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    sounds = [vocalization_like(FS, 0.5, seed=i) for i in range(4)]
    rs = load_response_set(save_response_set(
        tmp_path / "set", name="tiny", dt_ms=5.0,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS} for i, a in enumerate(sounds)],
        neurons=[{"id": f"n{i}"} for i in range(3)], counts=rng.poisson(1.0, (3, 4, 2, 100)).astype(np.int16),
        splits={"train": [0, 1], "val": [2], "test": [3]}))
    config = FitConfig(model="linear", frontend="leaf", audio_fs=FS, max_epochs=1000, patience=1000)
    folder = tmp_path / "model"
    target = OutputFolder.claim(folder)
    progressed = []
    window.runner.progress.connect(lambda job, done, total, message: progressed.append(done))
    window.runner.submit(lambda progress, cancel: fit_into_folder(rs, config, target, progress, cancel),
                         key="fit", description="fit", on_result=lambda value: None)
    qtbot.waitUntil(lambda: len(progressed) >= 2, timeout=30000)
    _closed_cleanly(window)
    assert not folder.exists()


def test_closing_during_a_jacobian_job(window, qtbot):
    window.controller.set_generated_audio(vocalization_like(FS, 1.0), FS)
    window.state.add_frontend("leaf", {"f_max": 7000.0})
    view = window.show_view("causality")
    view.auto_box.setChecked(False)
    view.compute()
    qtbot.waitUntil(lambda: view.request is not None and window.runner.activeJobs() != [], timeout=10000)
    _closed_cleanly(window)
    assert view.result is None


_STUBBORN = textwrap.dedent("""
    import sys, threading, time
    from PySide6.QtCore import QStandardPaths, QTimer
    from strfviewer.gui.app import create_application, finish
    from strfviewer.gui.reporter import ErrorReporter
    from strfviewer.gui.main_window import MainWindow
    from strfviewer.gui.playback import NullPlayer

    QStandardPaths.setTestModeEnabled(True)
    app = create_application()
    reporter = ErrorReporter(sys.argv[1])
    reporter.modal = False
    window = MainWindow(reporter, player=NullPlayer())
    window.show()
    started = threading.Event()

    def stubborn(progress, cancel):  # like one long torch operation: it never looks at cancel
        started.set()
        time.sleep(60)

    window.runner.submit(stubborn, key="stubborn", description="stubborn", on_result=print)
    started.wait(10)
    QTimer.singleShot(100, window.close)
    code = finish(window, app.exec())
    print("returned normally", code)
""")


def test_a_computation_that_ignores_cancel_does_not_keep_the_process_alive(tmp_path):
    """The process ends right after the window closes (not after the 60 s job), with exit code 0, and its
    log says the job was abandoned."""
    result = subprocess.run([sys.executable, "-c", _STUBBORN, str(tmp_path / "log")], capture_output=True, text=True,
                            timeout=40, env={**_environment(), "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert "returned normally" not in result.stdout  # finish() ended the process itself
    assert "abandoned" in result.stderr  # the close said so (a warning in the log)


def _environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"}


def test_settings_reach_the_disk_before_the_process_may_end(window, tmp_path):
    window.colormap_box.setCurrentText("magma")
    window.close()
    stored = Path(settings().fileName())
    assert stored.is_file() and "magma" in stored.read_text()
