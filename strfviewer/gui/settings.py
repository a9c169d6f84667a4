"""The user's remembered settings (QSettings under the application's name), for every view and dialog."""

from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANISATION, APPLICATION = "strfviewer", "strfviewer"


def settings() -> QSettings:
    return QSettings(ORGANISATION, APPLICATION)
