"""Test configuration: headless Qt, deterministic torch on a small machine."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _private_settings(tmp_path_factory):
    """Each test gets its own QSettings folder: parallel test runs on one machine never share preferences."""
    from PySide6.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("settings"))
    scope = QSettings.Scope.UserScope
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, scope, folder)
    yield


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Builds real main windows offscreen: fresh app and settings, a silent player, no save-on-close question
    (it has its own tests), errors reported without dialogs; their jobs and threads stop at teardown."""
    from PySide6.QtCore import QStandardPaths

    from strfviewer.gui.app import create_application
    from strfviewer.gui.main_window import MainWindow
    from strfviewer.gui.playback import NullPlayer
    from strfviewer.gui.reporter import ErrorReporter
    from strfviewer.gui.settings import settings

    windows = []

    def make():
        QStandardPaths.setTestModeEnabled(True)
        create_application()
        settings().clear()
        reporter = ErrorReporter(tmp_path / "strfviewer.log")
        reporter.modal = False
        window = MainWindow(reporter, player=NullPlayer())
        window.confirm_close = False
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.runner.shutdown(3000)
        window.live.shutdown()
