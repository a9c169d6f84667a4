"""A form generated from a front-end's parameter schema: one editor per argument, validated on change.

The schema (``Frontend.describe()["schema"]``) gives each field's type, range, unit, choices and help, so
no form is written by hand and a new front-end gets its form for free. Values are checked by building the
front-end; an invalid combination shows the backend's message under the form and is not applied.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

# Set globally for the whole session (the audio's rate and the frame period), not per pane.
_GLOBAL_FIELDS = {"audio_fs", "hop_ms", "dt_ms"}
_DEBOUNCE_MS = 300


class _FloatBox(QDoubleSpinBox):
    """A float editor that shows values such as 1e-06 as written instead of rounding them to 0.0000."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int):
        from PySide6.QtGui import QValidator

        try:
            float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, position
        return QValidator.State.Acceptable, text, position


class _OptionalNumber(QWidget):
    """A number with an "auto" tick box for optional fields (None = the front-end's own default)."""

    changed = Signal()

    def __init__(self, editor: QSpinBox | QDoubleSpinBox, value: Any) -> None:
        super().__init__()
        self.editor = editor
        self.auto = QCheckBox("auto")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(editor, 1)
        layout.addWidget(self.auto)
        self.auto.setChecked(value is None)
        editor.setEnabled(value is not None)
        self.auto.toggled.connect(lambda on: (editor.setEnabled(not on), self.changed.emit()))
        editor.valueChanged.connect(self.changed.emit)

    def value(self) -> Any:
        return None if self.auto.isChecked() else self.editor.value()


class ParamForm(QWidget):
    """Editors for a front-end's arguments; emits ``argsChanged`` with the full argument dict (debounced)."""

    argsChanged = Signal(dict)

    def __init__(self, schema: list[dict[str, Any]], values: dict[str, Any], validate, parent=None) -> None:
        super().__init__(parent)
        self._validate = validate
        self._editors: dict[str, Any] = {}
        self._defaults = {field["name"]: field["default"] for field in schema}
        layout = QFormLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for field in schema:
            if field["name"] in _GLOBAL_FIELDS:
                continue
            editor = self._editor(field, values.get(field["name"], field["default"]))
            label = field["name"] + (f" ({field['unit']})" if field["unit"] else "")
            editor.setToolTip(field["help"])
            layout.addRow(label, editor)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c0392b;")
        self.message.hide()
        layout.addRow(self.message)
        self._timer = QTimer(self, singleShot=True, interval=_DEBOUNCE_MS)
        self._timer.timeout.connect(self._apply)

    def _editor(self, field: dict[str, Any], value: Any) -> QWidget:
        name, kind = field["name"], field["type"]
        if field["choices"]:
            editor = QComboBox()
            editor.addItems(field["choices"])
            editor.setCurrentText(str(value))
            editor.currentTextChanged.connect(self._changed)
        elif kind == "bool":
            editor = QCheckBox()
            editor.setChecked(bool(value))
            editor.toggled.connect(self._changed)
        else:
            number = QSpinBox() if kind == "int" else _FloatBox()
            low = field["minimum"] if field["minimum"] is not None else -1e9
            high = field["maximum"] if field["maximum"] is not None else 1e9
            if kind == "int":
                number.setRange(int(low) + (1 if field["exclusive_minimum"] else 0), int(min(high, 2**31 - 1)))
            else:
                number.setRange(low, high)
            number.setKeyboardTracking(False)
            fallback = field["default"] if field["default"] is not None else max(low, 0)
            number.setValue(value if value is not None else fallback)
            if field["optional"]:
                editor = _OptionalNumber(number, value)
                editor.changed.connect(self._changed)
            else:
                editor = number
                number.valueChanged.connect(self._changed)
        self._editors[name] = editor
        return editor

    def values(self) -> dict[str, Any]:
        """The arguments that differ from the front-end's defaults."""
        out = {}
        for name, editor in self._editors.items():
            if isinstance(editor, QComboBox):
                out[name] = editor.currentText()
            elif isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            else:
                out[name] = editor.value()
        return {name: value for name, value in out.items() if value != self._defaults[name]}

    def editor(self, name: str) -> QWidget:
        return self._editors[name]

    def _changed(self, *_: Any) -> None:
        self._timer.start()

    def apply_now(self) -> None:
        """Apply pending edits without waiting for the debounce (tests, Enter key)."""
        self._timer.stop()
        self._apply()

    def _apply(self) -> None:
        args = self.values()
        problem = self._validate(args)
        self.message.setVisible(problem is not None)
        self.message.setText(problem or "")
        if problem is None:
            self.argsChanged.emit(args)
