"""The progress bar and Cancel button a view shows while its background job runs (hidden otherwise)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QProgressBar, QToolButton


def job_controls(on_cancel: Callable[[], object], width: int, tooltip: str = "") -> tuple[QProgressBar, QToolButton]:
    """A hidden progress bar at most ``width`` pixels wide and a hidden Cancel button calling ``on_cancel``."""
    progress = QProgressBar()
    progress.setMaximumWidth(width)
    progress.setVisible(False)
    cancel = QToolButton(text="Cancel")
    if tooltip:
        cancel.setToolTip(tooltip)
    cancel.setVisible(False)
    cancel.clicked.connect(on_cancel)
    return progress, cancel


def show_progress(progress: QProgressBar, done: int, total: int, message: str = "") -> None:
    """``done`` of ``total`` steps (an unknown total shows as one step), with the job's message on hover."""
    progress.setRange(0, max(total, 1))
    progress.setValue(min(done, max(total, 1)))
    progress.setToolTip(message)
