"""What an installation gives the user around the window: a log folder named once, the icon on the window and
a desktop entry, and the demo as package data (so a wheel install has ``--demo`` too)."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

from PySide6.QtGui import QImage

import strfviewer
from strfviewer.gui.app import create_application
from strfviewer.gui.reporter import log_folder
from strfviewer.resources import RESOURCES, demo_session, icon_path

ROOT = Path(__file__).resolve().parents[1]


def test_the_log_folder_names_the_application_once(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    folder = log_folder()
    assert folder.is_relative_to(tmp_path)
    parts = folder.relative_to(tmp_path).parts
    assert parts.count("strfviewer") == 1, folder


def test_the_window_has_the_icon_and_the_desktop_entry_names_it(qtbot):
    app = create_application()
    assert not app.windowIcon().isNull()
    image = QImage(str(icon_path()))
    assert (image.width(), image.height()) == (256, 256)
    assert image.pixelColor(128, 128).alpha() == 255 and image.pixelColor(0, 0).alpha() == 0  # rounded corners
    assert icon_path(".svg").read_text().lstrip().startswith("<svg")
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "resources" / "strfviewer.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Exec"].split()[0] == "strfviewer"
    assert desktop["Icon"] == icon_path().stem == app.desktopFileName()


def test_the_demo_and_the_icon_are_package_data():
    """Every file under strfviewer/resources is matched by the package-data globs that put it into the wheel."""
    assert demo_session().is_file() and demo_session().is_relative_to(Path(strfviewer.__file__).parent)
    # tomllib is Python 3.11+, and the project supports 3.10: read the one line.
    line = re.search(r'^"strfviewer\.resources" = (\[.*\])$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    patterns = ast.literal_eval(line.group(1))
    shipped = {p for pattern in patterns for p in RESOURCES.glob(pattern) if p.is_file()}
    files = {p for p in RESOURCES.rglob("*") if p.is_file() and "__pycache__" not in p.parts
             and p.suffix != ".py"}
    assert demo_session() in files and icon_path() in files
    assert files <= shipped, sorted(str(p.relative_to(RESOURCES)) for p in files - shipped)
