"""The model card: what a loaded model is, how it was fitted, how well it scored, and its fit report's curves."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from ...backend.analysis.compare import model_frontend
from ...backend.analysis.fitreport import fit_report
from ..views.fitcurve import FitCurves


class ModelCardDialog(QDialog):
    """Read-only card of one loaded model (opened from the session's model list)."""

    def __init__(self, loaded: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {loaded.path.name}")
        self.report = fit_report(loaded.info)
        form = QFormLayout()
        named = model_frontend(loaded)
        rows = [("model", loaded.model_class), ("folder", str(loaded.path)),
                ("front-end", named.kind if named is not None else "not recorded")]
        rows += self.report.lines
        if not self.report.lines:
            rows.append(("fitted by", "not recorded in its metadata"))
        self.fields: dict[str, QLabel] = {}
        for label, value in rows:
            text = QLabel(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            form.addRow(label, text)
            self.fields[label] = text
        self.curves = FitCurves()
        self.curves.show_report(self.report)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.curves, 1)
        layout.addWidget(buttons)
        self.resize(720, 300 + 240 * max(1, len(self.report.panels)))
