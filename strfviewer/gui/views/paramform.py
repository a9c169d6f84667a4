"""A form generated from a front-end's parameter schema: one editor per argument, validated on change.

The schema (``Frontend.describe()["schema"]``) gives each field's type, range, unit, choices, help and, where
a field only matters under another's value (PCEN parameters under ``compression="pcen"``), when it applies,
so no form is written by hand and a new front-end gets its form for free. Values are checked by building the
front-end; an invalid combination is not applied: the fields it names get a red border and the message as
their tooltip, and the message shows on a line the form keeps for it (so the layout never jumps).

The fields sit in a grid of as many columns as the pane's width allows, each editor no wider than a number
needs, so the form stays a few rows high and leaves the spectrogram its height.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

# Set globally for the whole session (the audio's rate and the frame period), not per pane.
_GLOBAL_FIELDS = {"audio_fs", "hop_ms", "dt_ms"}
_DEBOUNCE_MS = 300
_EDITOR_MAX_WIDTH = 120  # px: a number or a choice, not a text field
_MAX_COLUMNS = 5
_COLUMN_GAP = 18  # px between one column's editor and the next column's label
_HYSTERESIS = 40  # px: a column is added only with this much room to spare (a scroll bar cannot flip it)
_MESSAGE_LINES = 2  # lines kept for the error message, shown or not
INVALID_COLOR = "#c0392b"
# Editors sit in a frame that turns red: a rule on the editor itself would replace its native look.
_STYLE = (f'QFrame#field {{ border: 1px solid transparent; border-radius: 3px; }} '
          f'QFrame#field[invalid="true"] {{ border-color: {INVALID_COLOR}; }}')
_HINT = ("A change applies a moment after you stop editing. Greyed fields have no effect under the current "
         "choices; hover over a name for its meaning.")


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


class _MessageLine(QLabel):
    """A wrapped label of a fixed number of lines that tells layouts it has no height-for-width: a wrapped
    label otherwise makes the scrolling pane list size every pane by its preferred height, not its minimum."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2)

    def hasHeightForWidth(self) -> bool:
        return False


def named_fields(message: str, names: list[str]) -> list[str]:
    """The field names a backend message mentions (as whole words), in the order of ``names``."""
    return [name for name in names if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message)]


def column_count(width: int, cell_width: int, current: int) -> int:
    """How many columns of ``cell_width`` fit in ``width``; one more than ``current`` only with room to spare."""
    fits = max(1, min(_MAX_COLUMNS, width // max(1, cell_width)))
    if fits > current and width < fits * cell_width + _HYSTERESIS:
        fits -= 1
    return max(1, fits)


class ParamForm(QWidget):
    """Editors for a front-end's arguments; emits ``argsChanged`` with the full argument dict (debounced).

    ``problemChanged`` carries why the values in the form are not applied ("" once they are valid again), and
    ``reflowed`` tells the pane that the form's height changed (its fields were rearranged in columns).
    """

    argsChanged = Signal(dict)
    problemChanged = Signal(str)
    reflowed = Signal()

    def __init__(self, schema: list[dict[str, Any]], values: dict[str, Any], validate, parent=None) -> None:
        super().__init__(parent)
        self._validate = validate
        self._editors: dict[str, Any] = {}
        self._frames: dict[str, QFrame] = {}
        self._labels: dict[str, QLabel] = {}
        self._help: dict[str, str] = {}
        self._applies: dict[str, dict[str, Any]] = {}
        self._defaults = {field["name"]: field["default"] for field in schema}
        self.problem = ""
        self.setStyleSheet(_STYLE)
        for field in schema:
            if field["name"] in _GLOBAL_FIELDS:
                continue
            name = field["name"]
            self._editor(field, values.get(name, field["default"]))
            label = QLabel(name + (f" ({field['unit']})" if field["unit"] else ""))
            label.setToolTip(field["help"])
            self._labels[name], self._help[name] = label, field["help"]
            self._frames[name] = self._framed(self._editors[name])
            self.field_widget(name).setToolTip(field["help"])
            if field.get("applies_when"):
                self._applies[name] = field["applies_when"]
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(3)
        self.message = _MessageLine(_MESSAGE_LINES)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(3)
        layout.addLayout(self._grid)
        layout.addWidget(self.message)
        self._columns = 0
        self._arrange(3)
        self._update_applicable()
        self._mark("")
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
            number.setMaximumWidth(_EDITOR_MAX_WIDTH - (50 if field["optional"] else 0))
            fallback = field["default"] if field["default"] is not None else max(low, 0)
            number.setValue(value if value is not None else fallback)
            if field["optional"]:
                editor = _OptionalNumber(number, value)
                editor.changed.connect(self._changed)
            else:
                editor = number
                number.valueChanged.connect(self._changed)
        if not isinstance(editor, QCheckBox):
            editor.setMaximumWidth(_EDITOR_MAX_WIDTH + (30 if field["optional"] else 0))
        self._editors[name] = editor
        return editor

    @staticmethod
    def _framed(editor: QWidget) -> QFrame:
        frame = QFrame()
        frame.setObjectName("field")
        layout = QHBoxLayout(frame)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(editor)
        frame.setMaximumWidth(editor.maximumWidth() + 2 if editor.maximumWidth() < 10_000 else editor.maximumWidth())
        return frame

    # Layout
    def _cell_width(self) -> int:
        label = max((w.sizeHint().width() for w in self._labels.values()), default=0)
        editor = max((min(w.sizeHint().width(), w.maximumWidth()) for w in self._frames.values()), default=0)
        return label + editor + self._grid.horizontalSpacing() + _COLUMN_GAP

    def _arrange(self, columns: int) -> None:
        """Lay the fields out row by row in ``columns`` (label, editor) pairs, the columns packed to the left."""
        if columns == self._columns:
            return
        self._columns = columns
        for name in self._editors:
            self._grid.removeWidget(self._labels[name])
            self._grid.removeWidget(self._frames[name])
        for col in range(self._grid.columnCount()):
            self._grid.setColumnStretch(col, 0)
            self._grid.setColumnMinimumWidth(col, 0)
        for index, name in enumerate(self._editors):
            row, col = divmod(index, columns)
            self._grid.addWidget(self._labels[name], row, 3 * col)
            self._grid.addWidget(self._frames[name], row, 3 * col + 1)
            if col < columns - 1:
                self._grid.setColumnMinimumWidth(3 * col + 2, _COLUMN_GAP)
        self._grid.setColumnStretch(3 * columns, 1)  # spare width goes right of the last column
        self._grid.invalidate()
        self.layout().invalidate()
        self.updateGeometry()  # the pane's layout must not keep the old height
        self.reflowed.emit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        margins = self.layout().contentsMargins()
        width = event.size().width() - margins.left() - margins.right()
        self._arrange(column_count(width, self._cell_width(), self._columns))

    def rows(self) -> int:
        """How many rows the fields take now."""
        return -(-len(self._editors) // max(1, self._columns))

    # Values
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

    def field_widget(self, name: str) -> QWidget:
        """The widget that holds ``name``'s value (the number box of an optional number)."""
        editor = self._editors[name]
        return editor.editor if isinstance(editor, _OptionalNumber) else editor

    def is_marked(self, name: str) -> bool:
        """Whether ``name`` is marked invalid (its frame is red)."""
        return bool(self._frames[name].property("invalid"))

    def _current(self, name: str) -> Any:
        editor = self._editors.get(name)
        if isinstance(editor, QComboBox):
            return editor.currentText()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        return editor.value() if editor is not None else self._defaults.get(name)

    def _update_applicable(self) -> None:
        """Disable the fields that do not apply under the current choices (and say under which they do)."""
        for name, rule in self._applies.items():
            allowed = list(rule["values"])
            applies = self._current(rule["field"]) in allowed
            shown = " or ".join(str(v) for v in allowed)
            hint = "" if applies else f"\n(applies only when {rule['field']} is {shown})"
            for widget in (self._labels[name], self._editors[name]):
                widget.setEnabled(applies)
            self._labels[name].setToolTip(self._help[name] + hint)

    def _changed(self, *_: Any) -> None:
        self._update_applicable()
        self._timer.start()

    def apply_now(self) -> None:
        """Apply pending edits without waiting for the debounce (tests, Enter key)."""
        self._timer.stop()
        self._apply()

    def _apply(self) -> None:
        args = self.values()
        problem = self._validate(args) or ""
        self._mark(problem)
        if problem != self.problem:
            self.problem = problem
            self.problemChanged.emit(problem)
        if not problem:
            self.argsChanged.emit(args)

    def _mark(self, problem: str) -> None:
        """Red border and the message as tooltip on the fields ``problem`` names; the message on its line."""
        self.message.setText(problem or _HINT)
        self.message.setToolTip(problem)
        self.message.setStyleSheet(f"color: {INVALID_COLOR};" if problem else "color: gray;")
        marked = set(named_fields(problem, list(self._editors))) if problem else set()
        for name, frame in self._frames.items():
            invalid = name in marked
            if bool(frame.property("invalid")) != invalid:
                frame.setProperty("invalid", invalid)
                frame.style().unpolish(frame)
                frame.style().polish(frame)
                frame.update()
            tip = f"{problem}\n\n{self._help[name]}" if invalid else self._help[name]
            self.field_widget(name).setToolTip(tip)
