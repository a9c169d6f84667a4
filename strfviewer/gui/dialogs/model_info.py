"""Ask the user what a model's files do not say, for the window to load it again with those answers.

A deepSTRF folder records no sample rate or bin width for its front-end, and a bare weights file not even
its model class. :func:`strfviewer.backend.checkpoints.load_model` then raises a
:class:`~strfviewer.backend.errors.MissingModelInfoError` whose ``missing`` dict names what is needed and
holds the guesses it could infer from tensor shapes. The dialog shows exactly those fields, pre-filled with
the guesses, refuses values that cannot work (non-positive numbers, a frame period that is not a whole
number of samples) and hands back the keyword arguments that retry ``load_model``.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import one_line


def _number_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return f"{value:g}"


class ModelInfoDialog(QDialog):
    """The fields a :class:`MissingModelInfoError` asks for, pre-filled with its guesses."""

    def __init__(self, error: Any, parent: QWidget | None = None) -> None:
        from ...backend.checkpoints import MODEL_CLASSES
        from ...backend.frontends import KINDS

        super().__init__(parent)
        self.setWindowTitle("Describe the model")
        self.error = error
        self.missing: dict[str, Any] = dict(getattr(error, "missing", {}) or {})
        self._answers: dict[str, Any] | None = None
        self.class_box: QComboBox | None = None
        self.kind_box: QComboBox | None = None
        self.audio_fs_edit: QLineEdit | None = None
        self.dt_ms_edit: QLineEdit | None = None
        self.prefilter_edit: QLineEdit | None = None

        explanation = QLabel(f"{one_line(error)}\n\nFill in what the files do not record; the guesses come from "
                             "the shapes of the stored tensors.")
        explanation.setWordWrap(True)
        form = QFormLayout()
        if "_model_class" in self.missing:
            self.class_box = QComboBox()
            self.class_box.addItems(list(MODEL_CLASSES))
            guess = self.missing.get("_model_class")
            if guess in MODEL_CLASSES:
                self.class_box.setCurrentText(guess)
            form.addRow("Model class", self.class_box)
        if "kind" in self.missing:
            self.kind_box = QComboBox()
            self.kind_box.addItems(list(KINDS))
            if self.missing.get("kind") in KINDS:
                self.kind_box.setCurrentText(self.missing["kind"])
            self.kind_box.setToolTip("The front-end (wav2spec) the model was trained with; the guess comes from "
                                     "its tensor names")
            form.addRow("Front-end", self.kind_box)
        if "audio_fs" in self.missing:
            self.audio_fs_edit = QLineEdit(_number_text(self.missing.get("audio_fs")))
            self.audio_fs_edit.setPlaceholderText("sample rate in Hz, e.g. 48000")
            form.addRow("Sample rate (Hz)", self.audio_fs_edit)
        if "dt_ms" in self.missing:
            self.dt_ms_edit = QLineEdit(_number_text(self.missing.get("dt_ms")))
            self.dt_ms_edit.setPlaceholderText("frame period in ms, e.g. 5")
            form.addRow("Bin width (ms)", self.dt_ms_edit)
        if "prefilter_kernel_size" in self.missing:
            self.prefilter_edit = QLineEdit(_number_text(self.missing.get("prefilter_kernel_size")))
            self.prefilter_edit.setPlaceholderText("frames, e.g. 651")
            self.prefilter_edit.setToolTip("The length of the prefilter's adaptation kernel in frames; deepSTRF's "
                                           "make_prefiltering gives 651 with its default lowest band (500 Hz)")
            form.addRow(f"{self.missing.get('prefilter', 'Prefilter')} kernel (frames)", self.prefilter_edit)
        modes = self.missing.get("modes")
        notes = QLabel(
            "Modes assumed for the identified front-end: "
            + (", ".join(f"{k}={v}" for k, v in modes.items()) or "none") if isinstance(modes, dict) else "")
        notes.setStyleSheet("color: gray;")
        notes.setWordWrap(True)
        notes.setVisible(isinstance(modes, dict))
        self.message = QLabel()
        self.message.setStyleSheet("color: #c0392b;")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons

        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(notes)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def load_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for ``load_model`` from the fields; raises ValueError explaining a bad value."""
        answers: dict[str, Any] = {}
        if self.class_box is not None:
            answers["description"] = {"_model_class": self.class_box.currentText()}
        audio_fs = dt_ms = None
        if self.audio_fs_edit is not None:
            audio_fs = self._positive(self.audio_fs_edit, "The sample rate")
            if not float(audio_fs).is_integer():
                raise ValueError(f"The sample rate must be a whole number of Hz (got {audio_fs:g}).")
            answers["audio_fs"] = int(audio_fs)
        if self.dt_ms_edit is not None:
            dt_ms = self._positive(self.dt_ms_edit, "The bin width")
            answers["dt_ms"] = dt_ms
        if audio_fs is not None and dt_ms is not None:
            exact = audio_fs * dt_ms / 1000.0
            if round(exact) < 1 or abs(exact - round(exact)) > 1e-6:
                whole = max(1, round(exact))
                raise ValueError(
                    f"{dt_ms:g} ms at {audio_fs:g} Hz is {exact:g} samples per frame: the hop must be a whole number "
                    f"of samples (e.g. {whole * 1000.0 / audio_fs:g} ms for {whole} samples)."
                )
        if self.prefilter_edit is not None:
            frames = self._positive(self.prefilter_edit, "The prefilter's kernel length")
            if not frames.is_integer() or frames < 2:
                raise ValueError(f"The prefilter's kernel length must be a whole number of frames, at least 2 "
                                 f"(got {frames:g}).")
            answers["prefilter_kernel_size"] = int(frames)
        if self.kind_box is not None:
            kind = self.kind_box.currentText()
            if kind == self.missing.get("kind"):
                # The identified kind: rebuilt from the tensor shapes, with the modes the identification assumed.
                answers["frontend"] = {"modes": dict(self.missing.get("modes") or {})}
            else:
                answers["frontend"] = {"kind": kind, "kwargs": {}}
        return answers

    @staticmethod
    def _positive(edit: QLineEdit, what: str) -> float:
        text = edit.text().strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{what} must be a number (got {text!r}).") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{what} must be a positive number (got {text}).")
        return value

    def accept(self) -> None:
        """Close only when every field holds a usable value; otherwise say what is wrong and stay open."""
        try:
            self._answers = self.load_kwargs()
        except ValueError as exc:
            self._answers = None
            self.message.setText(str(exc))
            self.message.setVisible(True)
            return
        self.message.setVisible(False)
        super().accept()

    def answers(self) -> dict[str, Any] | None:
        """The accepted keyword arguments, or None when the dialog was not accepted."""
        return self._answers if self.result() == QDialog.DialogCode.Accepted else None


def ask_model_info(parent: QWidget | None, error: Any) -> dict[str, Any] | None:
    """Show the dialog for ``error`` (a MissingModelInfoError); the ``load_model`` keyword arguments, or None."""
    dialog = ModelInfoDialog(error, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.answers()
