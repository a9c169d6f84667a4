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
