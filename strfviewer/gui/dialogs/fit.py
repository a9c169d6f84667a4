"""Fit a Linear (or LN) encoding model on the open response set, for one front-end or for each in turn.

The dialog is a thin shell around :func:`strfviewer.backend.fitting.fit`: it turns its options into a
``FitConfig``, runs the fit through the job runner (progress bar and Cancel inside the dialog), loads the
model folder the fit wrote and adds it to the session, where every view sees it (the comparison view's
table fills its test cc_norm column from it). A cancelled or failed fit leaves no model folder behind:
``fit`` writes the folder only at its very end, and whatever a cancellation racing that write leaves is
removed again (:class:`strfviewer.backend.model_folders.OutputFolder`), both on the worker and, once the job
has ended, on the GUI thread.

The proposed output folder is never inside the response-set folder (which may be read-only or shared): it is
the user's last choice of parent folder, else strfviewer's models folder in the user data directory
(:func:`strfviewer.backend.model_folders.default_model_folder`, which ``strfviewer fit`` uses too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QStyleOptionFrame,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import one_line
from ...backend.fitting import FittedModel
from ...backend.model_folders import OutputFolder
from ...backend.model_kinds import NETWORK_ARGUMENTS
from ..settings import settings
from ..state import FrontendSlot, SessionState
from ..views.fitcurve import FitCurves

logger = logging.getLogger(__name__)

JOB_KEY = "fit"
MODEL_CHOICES = {"Linear": "linear", "LN": "ln", "NRF": "nrf", "DNet": "dnet", "ConvNet2D": "convnet2d",
                 "StateNet": "statenet", "Transformer": "transformer"}
NEURON_CHOICES = ("valid", "all")
# How each fit is done; "automatic" asks the backend per front-end (fitting.preferred_method).
METHOD_CHOICES = {"automatic": None, "ridge (closed form)": "ridge", "gradient descent": "gradient"}
_MAX_COUNT = 1_000_000


def default_audio_fs(responses: Any, fallback: int | None = None) -> int:
    """A whole-Hz rate whose samples fill the response set's bins exactly: the stimuli's own rate if it does,
    else ``fallback`` (the open sound's rate) if that does, else 48 kHz (rounded to the grid)."""
    from ...backend.data.audio import audio_info
    from ...backend.data.responses import hop_for
    from ...backend.errors import StrfviewerError

    candidates: list[float] = []
    if responses is not None and responses.stimuli:
        info = responses.stimuli[0]
        try:
            candidates.append(info.sample_rate_hz or audio_info(info.file)["sample_rate"])
        except StrfviewerError:
            logger.info("could not read the rate of stimulus %s", info.file, exc_info=True)
    if fallback:
        candidates.append(fallback)
    dt_ms = responses.dt_ms if responses is not None else 5.0
    for rate in candidates:
        if float(rate).is_integer():
            try:
                hop_for(rate, dt_ms)
                return int(rate)
            except StrfviewerError:
                continue
    per_bin = max(1, round(48000 * dt_ms / 1000))
    return max(1, round(per_bin * 1000 / dt_ms))


OUTPUT_PARENT_KEY = "fit/output_parent"  # QSettings: the parent folder of the user's last chosen output folder
_FOLDER_FIELD_CHARS = 64  # the output-folder field shows about this many characters before eliding


def default_model_folder(responses: Any, model: str, kind: str) -> Path:
    """A new folder for the next model: under the remembered parent folder, else strfviewer's models folder in
    the user data directory; never inside the response-set folder (the backend's policy)."""
    from ...backend.model_folders import default_model_folder as backend_default

    return backend_default(responses, model, kind, parent=settings().value(OUTPUT_PARENT_KEY) or None)


class PathEdit(QLineEdit):
    """A line edit for a long path: while it is not being edited it shows the path elided in the middle (both
    the start and the folder's own name stay visible), with the full path as its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * _FOLDER_FIELD_CHARS)
        self.textChanged.connect(self.setToolTip)

    def _text_area(self, option: QStyleOptionFrame) -> QRect:
        return self.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option, self).adjusted(2, 0, -2, 0)

    def shown_text(self) -> str:
        """The text as drawn: the whole path while editing or when it fits, else elided in the middle."""
        option = QStyleOptionFrame()
        self.initStyleOption(option)
        width = self._text_area(option).width()
        if self.hasFocus() or self.fontMetrics().horizontalAdvance(self.text()) <= width:
            return self.text()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, width)

    def paintEvent(self, event: QPaintEvent) -> None:
        shown = self.shown_text()
        if shown == self.text():
            super().paintEvent(event)
            return
        option = QStyleOptionFrame()
        self.initStyleOption(option)
        painter = QPainter(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelLineEdit, option, painter, self)
        painter.setPen(self.palette().text().color())
        painter.drawText(self._text_area(option), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         shown)
        painter.end()


@dataclass
class FitRecord:
    """One finished fit of the dialog: for which front-end slot, and what it wrote and scored."""

    slot_id: int
    kind: str
    fitted: FittedModel


@dataclass
class _Pending:
    """What a submitted fit's progress text and cleanup need until its outcome is delivered."""

    target: OutputFolder
    slot: FrontendSlot
    description: str


def _describe_slot(slot: FrontendSlot) -> str:
    args = ", ".join(f"{k}={v}" for k, v in slot.args.items())
    return f"{slot.kind} ({args})" if args else slot.kind


def _metric(metrics: dict[str, Any], name: str) -> str:
    value = metrics.get(name) if metrics else None
    return "-" if not isinstance(value, (int, float)) else f"{value:.3f}"


class FitDialog(QDialog):
    """Options, progress and results of fitting a Linear / LN model for the analysed front-end."""

    modelFitted = Signal(object)  # a LoadedModel, after it was added to the session
    fitsFinished = Signal()  # the run (one fit or the whole "fit all" sequence) ended, whatever the outcome

    def __init__(self, state: SessionState, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fit a model")
        self.state, self.runner = state, runner
        self.results: list[FitRecord] = []
        self._queue: list[int] = []
        self._pending: dict[int, _Pending] = {}  # by job id, until delivered
        self._folder_edited = False
        self._run_total = 0
        self._run_results: list[FitRecord] = []
        self._errors: list[str] = []
        self._single_folder = True
        self._current: int | None = None
        store = settings()

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.model_box = QComboBox()
        self.model_box.addItems(list(MODEL_CHOICES))
        self.model_box.setCurrentText(str(store.value("fit/model", "Linear")))
        self.model_box.setToolTip("Linear: STRF then BatchNorm. LN: the same followed by a per-neuron softplus. "
                                  "NRF: 20 hidden STRF units (tanh), read out linearly. DNet: the same with "
                                  "sigmoid units that each integrate their past (a learnable decay). ConvNet2D: "
                                  "three spectro-temporal convolutions. StateNet: a per-frame spectral encoder "
                                  "and a recurrent network (GRU by default). Transformer: causal self-attention "
                                  "over frequency patches of each frame.")
        self.method_box = QComboBox()
        self.method_box.addItems(list(METHOD_CHOICES))
        self.method_box.setCurrentText(str(store.value("fit/method", "automatic")))
        self.method_box.setToolTip("automatic: ridge for a Linear model on a front-end with nothing to learn, "
                                   "gradient descent for everything else. Ridge (Linear only): closed form, "
                                   "one lambda per neuron chosen by cross-validation over whole training and "
                                   "validation stimuli, in seconds. Gradient descent: AdamW with early stopping "
                                   "on the validation cc_norm (deepSTRF's recipe)")
        self.method_box.currentTextChanged.connect(lambda _: self._show_method_options())
        self.folds_box = QSpinBox()
        self.folds_box.setRange(2, 100)
        self.folds_box.setValue(int(store.value("fit/ridge_folds", 5)))
        self.folds_box.setToolTip("Ridge: cross-validation folds of whole stimuli (training and validation "
                                  "split; the test split is never seen)")
        self.arguments_edit = QLineEdit(str(store.value("fit/model_arguments", "")))
        self.arguments_edit.setToolTip("The network's constructor arguments as NAME=VALUE, separated by spaces; "
                                       "the others keep deepSTRF's defaults")
        self.model_box.currentTextChanged.connect(self._show_model_arguments)
        self._show_model_arguments()
        self.epochs_box = QSpinBox()
        self.epochs_box.setRange(1, _MAX_COUNT)
        self.epochs_box.setValue(int(store.value("fit/max_epochs", 100)))
        self.patience_box = QSpinBox()
        self.patience_box.setRange(1, _MAX_COUNT)
        self.patience_box.setValue(int(store.value("fit/patience", 30)))
        self.patience_box.setToolTip("Stop after this many epochs without a better validation cc_norm")
        self.lr_box = QDoubleSpinBox()
        self.lr_box.setDecimals(6)
        self.lr_box.setRange(1e-6, 10.0)
        self.lr_box.setSingleStep(1e-4)
        self.lr_box.setValue(float(store.value("fit/lr", 1e-3)))
        self.bins_check = QCheckBox("at most")
        self.bins_box = QSpinBox()
        self.bins_box.setRange(1, 100_000_000)
        self.bins_box.setValue(1000)
        self.bins_box.setSuffix(" bins")
        self.bins_box.setEnabled(False)
        self.bins_check.toggled.connect(self.bins_box.setEnabled)
        bins = QWidget()
        bins_row = QHBoxLayout(bins)
        bins_row.setContentsMargins(0, 0, 0, 0)
        bins_row.addWidget(self.bins_check)
        bins_row.addWidget(self.bins_box, 1)
        self.neurons_box = QComboBox()
        self.neurons_box.addItems(list(NEURON_CHOICES))
        self.neurons_box.setCurrentText(str(store.value("fit/neurons", "valid")))
        self.neurons_box.setToolTip("valid: the neurons the response set marks valid; all: every neuron")
        self.audio_fs_box = QSpinBox()
        self.audio_fs_box.setRange(1, 10_000_000)
        self.audio_fs_box.setSuffix(" Hz")
        self.audio_fs_box.setToolTip("The stimuli are resampled to this rate; its samples must fill each bin exactly")
        self.range_label = QLabel()
        self.range_label.setWordWrap(True)
        self.follow_button = QPushButton("Use the response set's range")
        self.follow_button.setToolTip("Set the front-end's frequency range from the response set's hearing range "
                                      "and its neurons' characteristic frequencies (the pane follows)")
        self.follow_button.clicked.connect(self.follow_responses)
        frequencies = QWidget()
        frequencies_row = QHBoxLayout(frequencies)
        frequencies_row.setContentsMargins(0, 0, 0, 0)
        frequencies_row.addWidget(self.range_label, 1)
        frequencies_row.addWidget(self.follow_button, 0, Qt.AlignmentFlag.AlignTop)
        self.coverage_label = QLabel()
        self.coverage_label.setWordWrap(True)
        self.coverage_label.setStyleSheet("color: #b9770e;")
        self.coverage_label.setVisible(False)
        self.folder_edit = PathEdit()
        self.folder_edit.textEdited.connect(self._folder_typed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder = QWidget()
        folder_row = QHBoxLayout(folder)
        folder_row.setContentsMargins(0, 0, 0, 0)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Model", self.model_box)
        form.addRow("Method", self.method_box)
        form.addRow("Cross-validation folds", self.folds_box)
        form.addRow("Model arguments", self.arguments_edit)
        form.addRow("Max epochs", self.epochs_box)
        form.addRow("Patience", self.patience_box)
        form.addRow("Learning rate", self.lr_box)
        form.addRow("Bins per stimulus", bins)
        form.addRow("Neurons", self.neurons_box)
        form.addRow("Audio rate", self.audio_fs_box)
        form.addRow("Frequencies", frequencies)
        form.addRow("", self.coverage_label)
        form.addRow("Output folder", folder)

        self.fit_button = QPushButton("Fit")
        self.fit_button.setDefault(True)
        self.fit_button.clicked.connect(self.start_fit)
        self.fit_all_button = QPushButton("Fit all front-ends and compare")
        self.fit_all_button.setToolTip("One fit per active front-end, in turn; each model joins the session, so "
                                       "the comparison view's table shows its test cc_norm")
        self.fit_all_button.clicked.connect(self.start_fit_all)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        actions = QHBoxLayout()
        for w in (self.fit_button, self.fit_all_button, self.cancel_button):
            actions.addWidget(w)
        actions.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        self.message = QLabel()
        self.message.setStyleSheet("color: #c0392b;")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.results_label = QLabel()
        self.results_label.setWordWrap(True)
        self.curves = FitCurves()
        self.curves.setVisible(False)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.message)
        layout.addWidget(self.results_label)
        layout.addWidget(self.curves, 1)
        layout.addWidget(close)

        self.model_box.currentTextChanged.connect(lambda _: self._refresh_defaults())
        self._show_method_options()
        self.neurons_box.currentTextChanged.connect(lambda _: self._refresh_frequencies())
        self.audio_fs_box.valueChanged.connect(lambda _: self._refresh_frequencies())
        state.targetChanged.connect(self._refresh_defaults)
        state.frontendsChanged.connect(self._refresh_defaults)
        state.frontendChanged.connect(self._frontend_changed)
        state.responsesChanged.connect(self._responses_changed)
        self._responses_changed()

    # Options
    @property
    def running(self) -> bool:
        return bool(self._pending)

    def _responses_changed(self) -> None:
        audio = self.state.audio
        self.audio_fs_box.setValue(default_audio_fs(self.state.responses, audio.audio_fs if audio else None))
        self._refresh_defaults()

    def _refresh_defaults(self) -> None:
        """Describe what will be fitted, and propose an output folder unless the user typed one."""
        slot, rs = self.state.target(), self.state.responses
        lines = [f"Front-end: <b>{_describe_slot(slot)}</b>" if slot else "Front-end: none (add one first)"]
        if rs is not None:
            lines.append(f"Response set: <b>{rs.name}</b> ({len(rs.neurons)} neurons, {len(rs.stimuli)} stimuli, "
                         f"{rs.dt_ms:g} ms bins; splits {', '.join(rs.splits) or 'none'})")
        else:
            lines.append("Response set: none (open one first)")
        self.info.setText("<br>".join(lines))
        if not self._folder_edited and slot is not None:
            self.folder_edit.setText(str(default_model_folder(rs, self._model_kind(), slot.kind)))
        self._refresh_frequencies()
        self._set_running(self.running)

    def _suggestion(self, slot: FrontendSlot) -> Any:
        """What the response set suggests for ``slot``'s frequency range (the backend's rule for new panes)."""
        from ...backend.frontends.band import suggest_frequency_range

        return suggest_frequency_range(slot.kind, responses=self.state.responses, audio_fs=self.audio_fs_box.value(),
                                       args=slot.args)

    def _refresh_frequencies(self) -> None:
        """The analysed front-end's frequency range and why, the response set's suggestion, and a warning when
        neurons to be fitted have a CF below the filterbank."""
        from ...backend.frontends.band import cf_coverage, describe_range

        slot, rs = self.state.target(), self.state.responses
        band = describe_range(slot.kind, slot.args, self.audio_fs_box.value()) if slot is not None else ""
        note = f" <span style='color: gray;'>({slot.note})</span>" if band and slot.note else ""
        self.range_label.setText(f"{band}{note}" if band else "the front-end has no frequency range")
        suggestion = self._suggestion(slot) if slot is not None and rs is not None and band else None
        differs = suggestion is not None and any(slot.args.get(k) != v for k, v in suggestion.args.items())
        self.follow_button.setVisible(differs)
        self.follow_button.setToolTip(suggestion.reason if differs else "")
        coverage = None
        if slot is not None and rs is not None:
            neurons = rs.valid_neurons() if self.neurons_box.currentText() == "valid" else None
            coverage = cf_coverage(rs, slot.kind, slot.args, neurons)
        hint = " (the button above does it)" if coverage else ""
        self.coverage_label.setText(f"Warning: {coverage.message()}{hint}" if coverage else "")
        self.coverage_label.setVisible(coverage is not None)

    def follow_responses(self) -> None:
        """Give the analysed front-end the response set's frequency range; its pane and the fit follow."""
        slot = self.state.target()
        if slot is None or self.state.responses is None:
            return
        suggestion = self._suggestion(slot)
        self.state.set_frontend_args(slot.id, {**slot.args, **suggestion.args}, note=suggestion.reason)

    def _frontend_changed(self, _slot_id: int) -> None:
        self._refresh_defaults()

    def _folder_typed(self, _text: str) -> None:
        self._folder_edited = True

    def _browse(self) -> None:
        from ...backend.model_folders import unique_folder

        start = self.folder_edit.text() or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Folder to hold the model folder", str(Path(start).parent))
        slot = self.state.target()
        if chosen and slot is not None:
            name = Path(self.folder_edit.text()).name or f"{self._model_kind()}-{slot.kind}"
            self.folder_edit.setText(str(unique_folder(Path(chosen) / name)))
            self._folder_edited = True

    def _model_kind(self) -> str:
        return MODEL_CHOICES[self.model_box.currentText()]

    def _show_method_options(self) -> None:
        """Options that the chosen method ignores are off: epochs, patience and learning rate for ridge, the
        folds for gradient descent (automatic may use either)."""
        method = METHOD_CHOICES[self.method_box.currentText()]
        for box in (self.epochs_box, self.patience_box, self.lr_box):
            box.setEnabled(method != "ridge")
        self.folds_box.setEnabled(method != "gradient")

    def _show_model_arguments(self) -> None:
        """Only networks take arguments: the field names the chosen kind's, and is off for the others."""
        names = NETWORK_ARGUMENTS.get(self._model_kind(), ())
        self.arguments_edit.setEnabled(bool(names))
        self.arguments_edit.setPlaceholderText(" ".join(f"{n}=…" for n in names) if names else "none for this model")

    def _model_arguments(self) -> dict[str, Any]:
        """The field's NAME=VALUE items (ConfigurationError for a malformed one); none for a kind without any."""
        from ...backend.named_values import parse_named_values, split_named_values

        if self._model_kind() not in NETWORK_ARGUMENTS:
            return {}
        return parse_named_values(split_named_values(self.arguments_edit.text()), "Model arguments")

    def fit_config(self, slot: FrontendSlot) -> Any:
        """The backend ``FitConfig`` for ``slot`` with the dialog's options (validated)."""
        from ...backend.data.responses import hop_for
        from ...backend.errors import ConfigurationError
        from ...backend.fitting import FitConfig, preferred_method

        rs = self.state.responses
        neurons = None
        if self.neurons_box.currentText() == "valid":
            neurons = rs.valid_neurons()
            if not neurons:
                raise ConfigurationError("fit: the response set marks no neuron valid; choose all neurons")
        hop_for(self.audio_fs_box.value(), rs.dt_ms)  # a rate that does not fill the bins is explained now
        config = FitConfig(
            model=self._model_kind(), frontend=slot.kind, frontend_kwargs=dict(slot.args),
            audio_fs=self.audio_fs_box.value(), neurons=neurons,
            n_bins=self.bins_box.value() if self.bins_check.isChecked() else None,
            lr=self.lr_box.value(), max_epochs=self.epochs_box.value(), patience=self.patience_box.value(),
            network_kwargs=self._model_arguments(), ridge_folds=self.folds_box.value(),
        )
        config.method = METHOD_CHOICES[self.method_box.currentText()] or preferred_method(config, rs.dt_ms)
        config.validate()
        return config

    # Running
    def start_fit(self) -> None:
        """Fit the analysed front-end (``state.target()``) into the output folder."""
        slot = self.state.target()
        if not self._ready(slot):
            return
        self._start([slot.id], single_folder=True)

    def start_fit_all(self) -> None:
        """Fit every active front-end in turn, each into its own new folder beside the output folder."""
        slots = list(self.state.frontends)
        if not self._ready(slots[0] if slots else None):
            return
        self._start([s.id for s in slots], single_folder=False)

    def _ready(self, slot: FrontendSlot | None) -> bool:
        if self.running:
            return False
        if self.state.responses is None:
            self._error("Open a response set first (File ▸ Open response set).")
            return False
        if slot is None:
            self._error("Add a front-end first: the model is fitted on its frames.")
            return False
        return True

    def _start(self, slot_ids: list[int], single_folder: bool) -> None:
        store = settings()
        for key, value in (("model", self.model_box.currentText()), ("method", self.method_box.currentText()),
                           ("ridge_folds", self.folds_box.value()), ("max_epochs", self.epochs_box.value()),
                           ("patience", self.patience_box.value()), ("lr", self.lr_box.value()),
                           ("neurons", self.neurons_box.currentText()),
                           ("model_arguments", self.arguments_edit.text())):
            store.setValue(f"fit/{key}", value)
        text = self.folder_edit.text().strip()
        if self._folder_edited and text:  # the user's choice of place becomes the next default's parent
            store.setValue(OUTPUT_PARENT_KEY, str(Path(text).expanduser().parent))
        self.message.clear()
        self.message.setVisible(False)
        self.results_label.clear()
        self._errors = []
        self._single_folder = single_folder
        self._queue = list(slot_ids)
        self._run_total = len(slot_ids)
        self._run_results = []
        self._next()

    def _output_folder(self, slot: FrontendSlot) -> Path:
        """The single fit's folder as shown; for "fit all", a new folder per front-end beside it."""
        from ...backend.model_folders import model_folder_name, unique_folder

        text = self.folder_edit.text().strip()
        if self._single_folder and text:
            return Path(text).expanduser()
        if not text or not self._folder_edited:
            return default_model_folder(self.state.responses, self._model_kind(), slot.kind)
        name = model_folder_name(self.state.responses, self._model_kind(), slot.kind)
        return unique_folder(Path(text).expanduser().parent / name)

    def _next(self) -> None:
        """Start the next fit of the run, or end the run."""
        from ...backend.errors import StrfviewerError

        while self._queue:
            slot = self.state.slot(self._queue.pop(0))
            if slot is None:
                continue
            try:
                config = self.fit_config(slot)
                target = OutputFolder.claim(self._output_folder(slot))
            except StrfviewerError as exc:
                self._errors.append(f"{_describe_slot(slot)}: {one_line(exc)}")
                self._show_errors()
                continue
            self._submit(slot, config, target)
            return
        self._set_running(False)
        done = len(self._run_results)
        self.status.setText(f"{done} of {self._run_total} fit{'s' if self._run_total != 1 else ''} done"
                            if self._run_total > 1 else ("done" if done else "not fitted"))
        self.fitsFinished.emit()

    def _submit(self, slot: FrontendSlot, config: Any, target: OutputFolder) -> None:
        from ...backend.fitting import fit_into_folder

        rs = self.state.responses
        position = self._run_total - len(self._queue)
        label = f"[{position}/{self._run_total}] " if self._run_total > 1 else ""
        how = "ridge" if config.method == "ridge" else "gradient descent"
        description = f"{label}fitting {config.model} on {slot.kind} ({how})"
        job = self.runner.submit(
            lambda progress, cancel, publish: fit_into_folder(rs, config, target, progress, cancel, publish),
            key=JOB_KEY,
            description=description,
            on_result=lambda outcome, sid=slot.id: self._fitted(sid, outcome),
            on_error=self._failed,
            publishes=True,
            owner=self,
        )
        job.progressed.connect(lambda done, total, message, job=job: self._job_progress(job, done, total, message))
        job.partial.connect(self._show_curves)
        self.curves.show_report(None)
        self.curves.setVisible(True)
        job.finished.connect(lambda job=job: self._job_finished(job))
        self._pending[job.id] = _Pending(target, slot, description)
        self._current = job.id
        self._set_running(True)
        self.progress.setRange(0, config.max_epochs)
        self.progress.setValue(0)
        self.status.setText(f"{description}: loading stimuli…")

    def _show_curves(self, block: dict) -> None:
        """The running fit's curves so far (its epochs; a ridge fit's tuning curves once cross-validated)."""
        from ...backend.analysis.fitreport import fit_report

        self.curves.show_report(fit_report(block))

    def _fitted(self, slot_id: int, fitted: FittedModel) -> None:
        from ...backend.analysis.fitreport import fit_report

        self._pending.pop(self._current, None)
        self.curves.show_report(fit_report(fitted.loaded.info))  # the whole fit, as its model card shows it
        self.state.add_model(fitted.loaded)
        slot = self.state.slot(slot_id)
        record = FitRecord(slot_id, slot.kind if slot else "?", fitted)
        self.results.append(record)
        self._run_results.append(record)
        self._show_results()
        self._refresh_defaults()  # the proposed folder is taken now: propose a new one for the next fit
        self.modelFitted.emit(fitted.loaded)
        self._next()

    def _failed(self, exc: BaseException) -> None:
        from ...backend.errors import StrfviewerError

        info = self._pending.pop(self._current, None)
        what = _describe_slot(info.slot) if info else "fit"
        text = one_line(exc) if isinstance(exc, StrfviewerError) else f"unexpected error: {one_line(exc)}"
        self._errors.append(f"{what}: {text}")
        self._show_errors()
        self._next()

    def cancel(self) -> None:
        """Stop the running fit and the rest of the run; no model folder is left behind."""
        self._queue.clear()
        self.runner.cancel(JOB_KEY)
        self.status.setText("cancelling…")

    def _job_progress(self, job, done: int, total: int, message: str) -> None:
        info = self._pending.get(job.id)
        if info is None:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.status.setText(f"{info.description}: {message}")

    def _job_finished(self, job) -> None:
        """A job of ours ended without delivering (cancelled): remove anything it wrote, end the run."""
        info = self._pending.pop(job.id, None)
        if info is None:
            return
        info.target.discard()
        self._queue.clear()
        self._set_running(False)
        self.status.setText("Cancelled: no model was written.")
        self.fitsFinished.emit()

    # Display
    def _set_running(self, running: bool) -> None:
        ready = self.state.responses is not None and self.state.target() is not None
        self.fit_button.setEnabled(not running and ready)
        self.fit_all_button.setEnabled(not running and ready and bool(self.state.frontends))
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)

    def _error(self, text: str) -> None:
        self._errors = [text]
        self._show_errors()

    def _show_errors(self) -> None:
        self.message.setText("\n".join(self._errors))
        self.message.setVisible(bool(self._errors))

    def _show_results(self) -> None:
        lines = []
        for record in self._run_results:
            result = record.fitted.result
            test, val = result.test_metrics, result.val_metrics
            test_text = (f"test cc_norm {_metric(test, 'cc_norm_mean')} (median {_metric(test, 'cc_norm_median')})"
                         if test else "no test split")
            if result.diagnostics is not None:
                folds = len(result.diagnostics["folds"])
                how = f"ridge, {folds}-fold cross-validation"
            else:
                how = f"gradient descent, {result.epochs_run} epochs (best {result.best_epoch})"
            lines.append(
                f"<b>{record.kind}</b>: validation cc_norm {_metric(val, 'cc_norm_mean')} "
                f"(median {_metric(val, 'cc_norm_median')}), {test_text}; {how}, {result.seconds:.1f} s "
                f"→ {result.folder}"
            )
        self.results_label.setText("<br>".join(lines))

    def done(self, result: int) -> None:
        """Closing the dialog stops a running fit (which then leaves nothing behind)."""
        if self.running:
            self.cancel()
        super().done(result)
