"""The causality view: how each output frame of a front-end or model depends on every audio sample.

A strictly causal front-end must give frame ``t`` no gradient at or after the end of its bin; this view
shows the frames x samples Jacobian of the visible segment with that boundary drawn on it, the same rows
aligned on the frame end (lag view, where the boundary is one vertical line), the measured future leak and
receptive field, and, for a clicked frame, its gradient under the waveform it reads. The Jacobian comes
from :func:`strfviewer.backend.analysis.causality.frame_jacobian`, always through the job runner; slow
modules (the ICNet encoder) hand their rows out as they finish and the view draws them as they arrive.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import ConfigurationError, StrfviewerError
from ..app import one_line, settings
from ..export import ExportButton, ExportData
from ..jobcontrols import show_progress
from ..state import SessionState

log = logging.getLogger(__name__)

KEY = "causality"
SETTINGS_PREFIX = "causality/"
MAX_SEGMENT_S = 2.0  # the Jacobian is frames x samples: longer segments cost memory and time for little insight
AUTO_MAX_S = 1.0  # segments at most this long are recomputed automatically when the request changes
FRONTEND_MODES = ("channel", "projection", "abs")
MODEL_MODES = ("neuron", "projection")
LEVEL_PERCENTILE = 99.5
# Front-end kinds whose Jacobian takes long enough that rows are drawn as they finish.
PROGRESSIVE_KINDS = ("icnet",)
_LEVEL_SAMPLES = 1_000_000  # |J| values the level percentile looks at (a strided subsample beyond that)
_DIVERGING, _SEQUENTIAL = "CET-D1", "inferno"
_BOUNDARY_PEN = {"diverging": pg.mkPen("#00e676", width=2), "sequential": pg.mkPen("#00e5ff", width=2)}
_FUTURE_BRUSH = pg.mkBrush(255, 80, 80, 45)
_REACH_BRUSH = pg.mkBrush(46, 204, 113, 50)
_FRAME_END_PEN = pg.mkPen("#e74c3c", width=1.5, style=Qt.PenStyle.DashLine)
_ROW_PEN = pg.mkPen("#f1c40f", width=1, style=Qt.PenStyle.DashLine)


@dataclass(frozen=True)
class Segment:
    """The audio the Jacobian covers: ``n_samples`` (whole frames) from sample ``start`` at ``audio_fs``."""

    start: int
    n_samples: int
    audio_fs: int
    hop: int
    notes: tuple[str, ...] = ()

    @property
    def start_s(self) -> float:
        return self.start / self.audio_fs

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.audio_fs

    @property
    def n_frames(self) -> int:
        return self.n_samples // self.hop

    def times(self) -> np.ndarray:
        """Time in the sound (seconds) of each sample of the segment."""
        return (self.start + np.arange(self.n_samples)) / self.audio_fs

    def frame_end_s(self, frame: int) -> float:
        return (self.start + (frame + 1) * self.hop) / self.audio_fs


def choose_segment(view_range: tuple[float, float], n_total: int, audio_fs: int, hop: int,
                   max_s: float = MAX_SEGMENT_S) -> Segment:
    """The whole frames of ``view_range`` (seconds), capped to ``max_s`` and widened to at least one frame."""
    if n_total < hop:
        raise ConfigurationError(f"the sound is shorter than one frame ({hop} samples)")
    duration = n_total / audio_fs
    a = min(max(0.0, float(view_range[0])), duration)
    b = min(max(a, float(view_range[1])), duration)
    start = min(round(a * audio_fs), n_total - 1)
    n = round(b * audio_fs) - start
    notes = []
    cap = int(max_s * audio_fs)
    if n > cap:
        n = cap
        notes.append(f"capped to the first {max_s:g} s of the visible {b - a:.2f} s")
    frames = n // hop
    if frames < 1:
        frames = 1
        notes.append("widened to one frame")
    n = frames * hop
    start = max(0, min(start, n_total - n))
    return Segment(start, n, audio_fs, hop, tuple(notes))


def symmetric_levels(jacobian: np.ndarray, absolute: bool = False) -> tuple[float, float]:
    """``(-p, p)`` with ``p`` a high percentile of the nonzero ``|J|`` (``(0, p)`` for the abs mode), so a
    few large gradients do not wash the rest out and 0 sits in the middle of a diverging colour map."""
    values = np.abs(jacobian[np.isfinite(jacobian)])
    values = values[values > 0]
    if values.size > _LEVEL_SAMPLES:
        values = values[:: values.size // _LEVEL_SAMPLES]
    top = float(np.percentile(values, LEVEL_PERCENTILE)) if values.size else 0.0
    top = top if top > 0 else 1e-12
    return (0.0, top) if absolute else (-top, top)


def lag_extent(jacobian: np.ndarray, hop: int, receptive_field: int | None) -> tuple[int, int]:
    """Samples of past and future lag the lag view shows: the receptive field (or the whole segment) and
    the reach of any future gradient, with a margin of a few frames either side."""
    n_frames, n_samples = jacobian.shape
    past = n_samples if receptive_field is None else min(n_samples, max(receptive_field, hop) + 2 * hop)
    reach = 0
    for t in range(n_frames):
        future = jacobian[t, (t + 1) * hop:]
        nonzero = np.flatnonzero(np.nan_to_num(future) != 0)
        if nonzero.size:
            reach = max(reach, int(nonzero[-1]) + 1)
    future = max(hop, min(n_samples, max(4 * hop, reach + hop)))
    return past, future


def lag_image(jacobian: np.ndarray, hop: int, past: int, future: int) -> np.ndarray:
    """Rows re-indexed by lag = sample minus frame end: column ``j`` is lag ``j - past`` samples (NaN where
    the lag falls outside the segment)."""
    n_frames, n_samples = jacobian.shape
    out = np.full((n_frames, past + future), np.nan, dtype=np.float32)
    for t in range(n_frames):
        end = (t + 1) * hop
        a, b = max(0, end - past), min(n_samples, end + future)
        out[t, a - end + past : b - end + past] = jacobian[t, a:b]
    return out


def _display(jacobian: np.ndarray, hop: int, receptive_field: int | None, absolute: bool) -> dict[str, Any]:
    """What drawing needs beyond the Jacobian; computed in the job for the final result."""
    past, future = lag_extent(jacobian, hop, receptive_field)
    return {"levels": symmetric_levels(jacobian, absolute), "lag": lag_image(jacobian, hop, past, future),
            "past": past, "future": future}


def _frontend_of(module: Any) -> Any:
    """The module's front-end (itself, or its ``wav2spec``), or None."""
    from ...backend.frontends import Frontend

    if isinstance(module, Frontend):
        return module
    wav2spec = getattr(module, "wav2spec", None)
    return wav2spec if isinstance(wav2spec, Frontend) else None


def _is_model(module: Any) -> bool:
    from ...backend.frontends import Frontend

    return not isinstance(module, Frontend) and _frontend_of(module) is not None


def _hop_of(module: Any) -> int:
    frontend = _frontend_of(module)
    hop = getattr(frontend, "hop", None) or getattr(module, "hop", None)
    if not isinstance(hop, int) or hop < 1:
        raise ConfigurationError(f"{type(module).__name__} has no hop (samples per frame)")
    return hop


def _n_outputs(module: Any) -> int | None:
    value = getattr(module, "O", None) if _is_model(module) else getattr(module, "out_channels", None)
    return value if isinstance(value, int) and value > 0 else None


class _RowsBridge(QObject):
    """Created on the GUI thread: the worker emits finished rows on it, and Qt queues them to the view."""

    rowsReady = Signal(int, int, object)  # computation number, first frame, rows (a copy)


@dataclass
class _Request:
    """One computation: what it studies, on which segment, how."""

    number: int
    label: str
    segment: Segment
    mode: str  # channel / projection / abs / neuron
    index: int | None
    absolute: bool


class CausalityView(QWidget):
    """Frames x samples Jacobian of the analysis target front-end or a model, with its future leak."""

    resultShown = Signal()  # a finished Jacobian is drawn
    rowsShown = Signal(int)  # rows that arrived early were stored (first frame)
    partialDrawn = Signal(int)  # rows drawn before the result (count of finished rows)
    frameSelected = Signal(int)

    def __init__(self, state: SessionState, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner = state, runner
        self.result: Any = None  # the last CausalityResult
        self.jacobian: np.ndarray | None = None  # what is drawn: the result's, or rows so far (NaN: pending)
        self.request: _Request | None = None
        self.selected_frame: int | None = None
        self.rows_delivered = 0
        self._number = 0
        self.job = None  # the runner's handle of the computation in progress
        self._partial_drawn = False
        self._modules: dict[str, Any] = {}  # built front-ends, by their arguments
        self._auto_pending = False
        self._updating = False
        self._bridge = _RowsBridge(self)
        self._bridge.rowsReady.connect(self._rows_arrived, Qt.ConnectionType.QueuedConnection)

        self._build_header()
        self._build_plots()
        self._auto_timer = QTimer(self, singleShot=True, interval=150)
        self._auto_timer.timeout.connect(self.compute)
        self._redraw_timer = QTimer(self, singleShot=True, interval=60)
        self._redraw_timer.timeout.connect(self._draw_partial)

        runner.progress.connect(self._job_progress)
        runner.finished.connect(self._job_finished)
        state.audioChanged.connect(self._audio_changed)
        state.viewRangeChanged.connect(lambda *_: self._request_changed())
        for signal in (state.frontendsChanged, state.targetChanged, state.modelChanged):
            signal.connect(self._targets_changed)
        state.frontendChanged.connect(self._frontend_changed)
        state.channelChanged.connect(self._channel_changed)
        state.neuronChanged.connect(self._neuron_changed)
        self._targets_changed()

    # Layout
    def _build_header(self) -> None:
        self.target_box = QComboBox()
        self.target_box.setToolTip("The analysis target front-end, or a model that takes this sound's rate")
        self.target_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.mode_box = QComboBox()
        self.mode_box.setToolTip("channel: one channel · projection: a fixed random mix of channels (or neurons) · "
                                 "abs: sum of absolute per-channel gradients · neuron: one neuron's rate")
        self.index_label = QLabel("channel")
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 0)
        self.compute_button = QPushButton("Compute")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.auto_box = QCheckBox(f"auto (≤ {AUTO_MAX_S:g} s)")
        self.auto_box.setToolTip("Recompute when the target, mode or selection changes, for short segments")
        self.auto_box.setChecked(settings().value(SETTINGS_PREFIX + "auto_compute", True, type=bool))
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setVisible(False)
        self.export_what = QComboBox()
        self.export_what.addItems(["Jacobian", "clicked frame"])
        self.export_what.setToolTip("What Export ▸ Data writes")
        self.export_button = ExportButton(lambda: self.figure_area, self.export_data, KEY, self)

        self.target_box.currentIndexChanged.connect(self._target_chosen)
        self.mode_box.currentIndexChanged.connect(self._mode_chosen)
        self.index_spin.valueChanged.connect(self._index_chosen)
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button.clicked.connect(self.cancel)
        self.auto_box.toggled.connect(self._auto_toggled)

        self.leak_label = QLabel("future leak: –")
        self.rf_label = QLabel("receptive field: –")
        self.method_label = QLabel("")
        self.method_label.setStyleSheet("color: gray;")
        self.segment_label = QLabel("")
        self.segment_label.setStyleSheet("color: gray;")
        self.segment_label.setWordWrap(True)  # a long note must wrap, not widen the window
        self.message = QLabel("")
        self.message.setStyleSheet("color: gray;")
        self.message.setWordWrap(True)
        self.notes_label = QLabel("")
        self.notes_label.setStyleSheet("color: gray;")
        self.notes_label.setVisible(False)

        row = QHBoxLayout()
        for w in (QLabel("<b>Causality</b>"), self.target_box, self.mode_box, self.index_label, self.index_spin,
                  self.compute_button, self.cancel_button, self.auto_box, self.progress):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(QLabel("data:"))
        row.addWidget(self.export_what)
        row.addWidget(self.export_button)
        info = QHBoxLayout()
        for w in (self.leak_label, self.rf_label, self.method_label, self.segment_label):
            info.addWidget(w)
        info.addStretch(1)
        self._header = QVBoxLayout()
        self._header.addLayout(row)
        self._header.addLayout(info)
        self._header.addWidget(self.message)
        self._header.addWidget(self.notes_label)

    def _build_plots(self) -> None:
        self.heatmap = pg.PlotWidget()
        self.heatmap.setLabel("bottom", "sample time", units="s")
        self.heatmap.setLabel("left", "frame")
        self.heatmap.setTitle("∂ frame / ∂ sample (line: end of each frame)")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.heatmap.addItem(self.image)
        self.boundary = pg.PlotDataItem(pen=_BOUNDARY_PEN["diverging"])
        self.heatmap.addItem(self.boundary)
        self.row_marker = pg.InfiniteLine(angle=0, movable=False, pen=_ROW_PEN)
        self.row_marker.setVisible(False)
        self.heatmap.addItem(self.row_marker, ignoreBounds=True)

        self.lag_plot = pg.PlotWidget()
        self.lag_plot.setLabel("bottom", "lag after frame end", units="ms")
        self.lag_plot.setLabel("left", "frame")
        self.lag_plot.setTitle("by lag (shaded: future)")
        self.lag_item = pg.ImageItem(axisOrder="row-major")
        self.lag_plot.addItem(self.lag_item)
        self.future_region = pg.LinearRegionItem((0, 1), movable=False, brush=_FUTURE_BRUSH)
        self.future_region.setZValue(5)
        self.lag_plot.addItem(self.future_region, ignoreBounds=True)
        self.lag_boundary = pg.InfiniteLine(0, angle=90, movable=False, pen=_BOUNDARY_PEN["diverging"])
        self.lag_boundary.setZValue(6)
        self.lag_plot.addItem(self.lag_boundary, ignoreBounds=True)
        self.lag_row_marker = pg.InfiniteLine(angle=0, movable=False, pen=_ROW_PEN)
        self.lag_row_marker.setVisible(False)
        self.lag_plot.addItem(self.lag_row_marker, ignoreBounds=True)
        self.lag_plot.setYLink(self.heatmap)

        self.figure_area = QWidget()
        figure_layout = QHBoxLayout(self.figure_area)
        figure_layout.setContentsMargins(0, 0, 0, 0)
        figure_layout.addWidget(self.heatmap, 3)
        figure_layout.addWidget(self.lag_plot, 2)

        self.waveform = pg.PlotWidget()
        self.waveform.setLabel("left", "audio")
        self.waveform.setMaximumHeight(130)
        self.wave_curve = self.waveform.plot(pen=pg.mkPen("#5dade2"))
        self.waveform.getAxis("left").enableAutoSIPrefix(False)
        self.trace = pg.PlotWidget()
        self.trace.setLabel("bottom", "sample time", units="s")
        self.trace.setLabel("left", "gradient")
        self.trace.setXLink(self.waveform)
        self.trace_curve = self.trace.plot(pen=pg.mkPen("#f39c12"))
        self.trace.getAxis("left").enableAutoSIPrefix(False)
        self.reach_regions, self.end_lines = [], []
        for plot in (self.waveform, self.trace):
            region = pg.LinearRegionItem((0, 0), movable=False, brush=_REACH_BRUSH)
            region.setVisible(False)
            plot.addItem(region, ignoreBounds=True)
            line = pg.InfiniteLine(angle=90, movable=False, pen=_FRAME_END_PEN)
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self.reach_regions.append(region)
            self.end_lines.append(line)
        self.trace_title = QLabel("Click a frame (a row of the image) to see its gradient.")
        self.trace_title.setStyleSheet("color: gray;")
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.addWidget(self.trace_title)
        below_layout.addWidget(self.waveform)
        below_layout.addWidget(self.trace, 1)

        for plot in (self.heatmap, self.lag_plot):
            plot.scene().sigMouseClicked.connect(lambda event, plot=plot: self._clicked(plot, event))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.figure_area)
        splitter.addWidget(below)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(self._header)
        layout.addWidget(splitter, 1)

    # Targets and modes
    def _targets_changed(self) -> None:
        """Rebuild the target list: the analysis target front-end, then every model taking this sound's rate."""
        current = self.target_box.currentData()
        entries, notes = [], []
        slot = self.state.target()
        if slot is not None:
            entries.append((f"front-end: {slot.kind} (analysis target)", f"frontend:{slot.id}"))
        fs = self.state.audio.audio_fs if self.state.audio is not None else None
        for loaded in self.state.models:
            name = Path(getattr(loaded, "path", "model")).name
            frontend = _frontend_of(getattr(loaded, "model", None))
            if frontend is None:
                notes.append(f"{name}: takes a spectrogram, not audio")
            elif fs is not None and frontend.audio_fs != fs:
                notes.append(f"{name}: takes {frontend.audio_fs} Hz audio (this sound is {fs} Hz)")
            else:
                kind = getattr(loaded, "model_class", type(loaded.model).__name__)
                entries.append((f"model: {name} ({kind})", f"model:{loaded.path}"))
        self.notes_label.setText("Skipped: " + "; ".join(notes) if notes else "")
        self.notes_label.setVisible(bool(notes))
        self._updating = True
        try:
            self.target_box.clear()
            for label, data in entries:
                self.target_box.addItem(label, data)
            keys = [data for _, data in entries]
            # Keep the model chosen; a new analysis target replaces the previous front-end entry.
            if current in keys:
                self.target_box.setCurrentIndex(keys.index(current))
            elif current and current.startswith("frontend:") and keys and keys[0].startswith("frontend:"):
                self.target_box.setCurrentIndex(0)
        finally:
            self._updating = False
        self._fill_modes()
        self._fill_index()
        if self.target_box.currentData() != current:
            self._request_changed()
        elif current is None and not entries:
            self._set_message("Add a front-end, or open a model that takes audio, to see its causality Jacobian.")

    def _fill_modes(self) -> None:
        kind = self._target_kind()
        modes = MODEL_MODES if kind == "model" else FRONTEND_MODES
        current = [self.mode_box.itemText(i) for i in range(self.mode_box.count())]
        if current == list(modes):
            return
        saved = settings().value(f"{SETTINGS_PREFIX}{'model' if kind == 'model' else 'frontend'}_mode", "projection")
        self._updating = True
        try:
            self.mode_box.clear()
            self.mode_box.addItems(modes)
            self.mode_box.setCurrentText(saved if saved in modes else "projection")
        finally:
            self._updating = False

    def _target_kind(self) -> str | None:
        data = self.target_box.currentData()
        return data.partition(":")[0] if data else None

    def target_module(self) -> Any:
        """The module the target selector names (built for front-ends); None when there is none."""
        data = self.target_box.currentData()
        if not data:
            return None
        kind, _, name = data.partition(":")
        if kind == "model":
            loaded = next((m for m in self.state.models if str(m.path) == name), None)
            return loaded.model if loaded is not None else None
        slot, audio = self.state.slot(int(name)), self.state.audio
        if slot is None:
            return None
        from ...backend.frontends import make_wav2spec

        fs = audio.audio_fs if audio is not None else 48000
        key = repr((slot.kind, sorted(slot.args.items()), slot.dt_ms, fs))
        if key not in self._modules:
            self._modules = {key: make_wav2spec(slot.kind, audio_fs=fs, dt_ms=slot.dt_ms, **slot.args).eval()}
        return self._modules[key]

    def _fill_index(self) -> None:
        """The channel or neuron spin box: its label, range and value for the current target and mode."""
        mode = self.mode_box.currentText()
        neuron = self._target_kind() == "model"
        self.index_label.setText("neuron" if neuron else "channel")
        try:
            module = self.target_module()
        except StrfviewerError as exc:
            self._set_message(f"Cannot build the front-end: {one_line(exc)}", error=True)
            module = None
        count = _n_outputs(module) if module is not None else None
        self._updating = True
        try:
            self.index_spin.setRange(0, max(0, (count or 1) - 1))
            wanted = self.state.selected_neuron if neuron else self.state.selected_channel
            if wanted >= 0:
                self.index_spin.setValue(min(wanted, self.index_spin.maximum()))
        finally:
            self._updating = False
        self.index_spin.setEnabled(mode in ("channel", "neuron"))

    def _target_chosen(self, _index: int) -> None:
        if self._updating:
            return
        self._fill_modes()
        self._fill_index()
        self._request_changed()

    def _mode_chosen(self, _index: int) -> None:
        if self._updating:
            return
        kind = "model" if self._target_kind() == "model" else "frontend"
        settings().setValue(f"{SETTINGS_PREFIX}{kind}_mode", self.mode_box.currentText())
        self._fill_index()
        self._request_changed()

    def _index_chosen(self, value: int) -> None:
        if self._updating:
            return
        if self._target_kind() == "model":
            self.state.set_neuron(value)  # the neuron is a session-wide selection
        if self.mode_box.currentText() in ("channel", "neuron"):
            self._request_changed()

    def _channel_changed(self, channel: int) -> None:
        if self._target_kind() == "frontend" and channel >= 0 and channel <= self.index_spin.maximum():
            self.index_spin.setValue(channel)

    def _neuron_changed(self, neuron: int) -> None:
        if self._target_kind() == "model" and neuron <= self.index_spin.maximum():
            self.index_spin.setValue(neuron)

    def _frontend_changed(self, slot_id: int) -> None:
        data = self.target_box.currentData()
        if data == f"frontend:{slot_id}":
            self._fill_index()
            self._request_changed()

    def _audio_changed(self) -> None:
        self._clear()
        self._targets_changed()
        self._request_changed()

    def _auto_toggled(self, on: bool) -> None:
        settings().setValue(SETTINGS_PREFIX + "auto_compute", on)
        if on:
            self._request_changed()

    # Requests
    def _request_changed(self) -> None:
        """The target, mode, selection or segment changed: recompute now for short segments, else say so."""
        if self.state.audio is None or self.target_box.currentData() is None:
            return
        try:
            segment = self._segment(_hop_of(self.target_module()))
        except StrfviewerError as exc:
            self._set_message(one_line(exc), error=True)
            return
        if self.auto_box.isChecked() and segment.duration_s <= AUTO_MAX_S:
            if self.isVisible():
                self._auto_timer.start()
            else:
                self._auto_pending = True  # computed when the tab is shown
        elif self.result is not None or self.request is not None:
            self._set_message("The segment or target changed: press Compute to update.")
        else:
            self._set_message("Press Compute to see the Jacobian of the visible segment "
                              f"(at most {MAX_SEGMENT_S:g} s).")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._auto_pending:
            self._auto_pending = False
            self._auto_timer.start()

    def _segment(self, hop: int) -> Segment:
        audio = self.state.audio
        return choose_segment(self.state.view_range, audio.samples.shape[0], audio.audio_fs, hop)

    def compute(self) -> None:
        """Compute the Jacobian of the selected target over the visible segment (the Compute button)."""
        self._auto_timer.stop()
        self._auto_pending = False
        if self.state.audio is None:
            self._set_message("Open a sound first.")
            return
        try:
            module = self.target_module()
        except StrfviewerError as exc:
            self._set_message(f"Cannot build the front-end: {one_line(exc)}", error=True)
            return
        if module is None:
            self._set_message("Add a front-end, or open a model that takes audio, to see its causality Jacobian.")
            return
        self._start(module, self.target_box.currentText(), self.mode_box.currentText(), self.index_spin.value())

    def compute_for(self, module: Any, mode: str | None = None, index: int | None = None,
                    label: str | None = None) -> None:
        """Compute the Jacobian of any module (a front-end, a model with a front-end, or any ``nn.Module``
        with ``hop``, ``out_channels`` and ``audio_fs``) over the visible segment. ``mode`` and ``index``
        (channel or neuron) default to the view's selectors."""
        self._auto_timer.stop()
        self._auto_pending = False
        if self.state.audio is None:
            self._set_message("Open a sound first.")
            return
        modes = MODEL_MODES if _is_model(module) else FRONTEND_MODES
        mode = mode or self.mode_box.currentText()
        mode = mode if mode in modes else "projection"
        index = self.index_spin.value() if index is None else index
        self._start(module, label or f"module: {type(module).__name__}", mode, index)

    def _start(self, module: Any, label: str, mode: str, index: int) -> None:
        from ...backend.analysis.causality import frame_jacobian

        try:
            hop = _hop_of(module)
            segment = self._segment(hop)
        except StrfviewerError as exc:
            self._set_message(one_line(exc), error=True)
            return
        self._number += 1
        number = self._number
        absolute = mode == "abs"
        self.request = _Request(number, label, segment, mode, index if mode in ("channel", "neuron") else None,
                                absolute)
        self.result = None
        self.rows_delivered = 0
        self._partial_drawn = False
        self.jacobian = np.full((segment.n_frames, segment.n_samples), np.nan, dtype=np.float32)
        self._prepare_axes(segment, absolute)
        self._show_labels_pending(label, segment)
        samples = np.ascontiguousarray(self.state.audio.samples[segment.start : segment.start + segment.n_samples],
                                       dtype=np.float32)
        kwargs = {"mode": "projection" if mode == "neuron" else mode,
                  "channel": index if mode == "channel" else None,
                  "neuron": index if mode == "neuron" else None}
        frontend = _frontend_of(module)
        progressive = getattr(frontend, "kind", None) in PROGRESSIVE_KINDS
        bridge = self._bridge

        def rows_ready(first: int, rows: np.ndarray) -> None:  # on the worker thread
            try:
                bridge.rowsReady.emit(number, first, np.array(rows, dtype=np.float32, copy=True))
            except RuntimeError:  # the view is gone
                log.debug("causality view deleted; dropped rows from a worker")

        def job(progress, cancel) -> tuple[Any, dict[str, Any]]:
            result = frame_jacobian(module, samples, progress=progress, cancel=cancel,
                                    rows_ready=rows_ready if progressive else None, **kwargs)
            return result, _display(result.jacobian, result.hop, result.receptive_field, absolute)

        self._set_message(f"Computing the Jacobian of {label} ({mode}"
                          f"{'' if kwargs['channel'] is None and kwargs['neuron'] is None else f' {index}'})…")
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.job = self.runner.submit(
            job, key=KEY, description=f"causality Jacobian of {label}",
            on_result=lambda value, number=number: self._show_result(number, value),
            on_error=lambda exc, number=number: self._failed(number, exc),
        )

    def cancel(self) -> None:
        """Stop the running computation; rows still in flight are dropped."""
        if self.job is not None and not self.job.done:
            self.runner.cancel(KEY)
            self._number += 1  # rows from the cancelled job no longer match
            self._set_message("Cancelled.")
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)

    # Job callbacks (GUI thread)
    def _job_progress(self, job, done: int, total: int, _message: str) -> None:
        if job is self.job:
            show_progress(self.progress, done, total)

    def _job_finished(self, job) -> None:
        if job is self.job:
            self.job = None
            self.cancel_button.setEnabled(False)
            self.progress.setVisible(False)

    def _rows_arrived(self, number: int, first: int, rows: np.ndarray) -> None:
        if self.request is None or number != self.request.number or self.jacobian is None or self.result is not None:
            return
        self.jacobian[first : first + rows.shape[0]] = rows
        self.rows_delivered += 1
        self.rowsShown.emit(first)
        if not self._partial_drawn:
            self._draw_partial()  # the first rows at once; later ones coalesced
        elif not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _show_result(self, number: int, value: tuple[Any, dict[str, Any]]) -> None:
        if self.request is None or number != self.request.number:
            return
        result, display = value
        self._redraw_timer.stop()
        self.result, self.jacobian = result, result.jacobian
        self._draw(display)
        self._show_labels(result)
        self._set_message("")
        if self.selected_frame is not None and self.selected_frame < result.jacobian.shape[0]:
            self.select_frame(self.selected_frame)
        self.resultShown.emit()

    def _failed(self, number: int, exc: BaseException) -> None:
        if self.request is not None and number != self.request.number:
            return
        if not isinstance(exc, StrfviewerError):
            log.error("causality Jacobian failed", exc_info=exc)
            self._set_message(f"Unexpected error: {one_line(exc)}", error=True)
        else:
            self._set_message(f"Could not compute: {one_line(exc)}", error=True)

    # Drawing
    def _prepare_axes(self, segment: Segment, absolute: bool) -> None:
        kind = "sequential" if absolute else "diverging"
        colormap = pg.colormap.get(_SEQUENTIAL if absolute else _DIVERGING)
        for item in (self.image, self.lag_item):
            item.clear()
            item.setColorMap(colormap)
        self.boundary.setPen(_BOUNDARY_PEN[kind])
        self.lag_boundary.setPen(_BOUNDARY_PEN[kind])
        t = np.arange(segment.n_frames)
        ends = np.array([segment.frame_end_s(k) for k in t])
        self.boundary.setData(np.repeat(ends, 2), np.column_stack([t, t + 1]).reshape(-1))
        self.heatmap.setXRange(segment.start_s, segment.start_s + segment.duration_s, padding=0)
        self.heatmap.setYRange(0, segment.n_frames, padding=0)
        samples = self.state.audio.samples[segment.start : segment.start + segment.n_samples]
        self.wave_curve.setData(segment.times(), samples)
        self.waveform.setXRange(segment.start_s, segment.start_s + segment.duration_s, padding=0)
        self.trace_curve.setData([], [])
        for item in (*self.reach_regions, *self.end_lines, self.row_marker, self.lag_row_marker):
            item.setVisible(False)
        self.selected_frame = None
        self.trace_title.setText("Click a frame (a row of the image) to see its gradient.")

    def _draw_partial(self) -> None:
        """Rows so far (progressive modules); pending rows are transparent."""
        if self.request is None or self.jacobian is None or self.result is not None:
            return
        began = time.perf_counter()
        self._draw(_display(self.jacobian, self.request.segment.hop, None, self.request.absolute))
        # Large Jacobians take a while to draw: redraw less often so the GUI stays responsive.
        self._redraw_timer.setInterval(max(60, round(4000 * (time.perf_counter() - began))))
        self._partial_drawn = True
        self.partialDrawn.emit(int(np.isfinite(self.jacobian).all(axis=1).sum()))

    def _draw(self, display: dict[str, Any]) -> None:
        segment = self.request.segment
        self.image.setImage(self.jacobian, autoLevels=False, autoDownsample=True)
        self.image.setRect(QRectF(segment.start_s, 0, segment.duration_s, segment.n_frames))
        self.image.setLevels(display["levels"])
        past, future = display["past"], display["future"]
        ms = 1000.0 / segment.audio_fs
        self.lag_item.setImage(display["lag"], autoLevels=False, autoDownsample=True)
        self.lag_item.setRect(QRectF(-past * ms, 0, (past + future) * ms, segment.n_frames))
        self.lag_item.setLevels(display["levels"])
        self.future_region.setRegion((0, future * ms))
        self.lag_plot.setXRange(-past * ms, future * ms, padding=0)

    def _show_labels_pending(self, label: str, segment: Segment) -> None:
        self.leak_label.setText("future leak: …")
        self.leak_label.setStyleSheet("")
        self.rf_label.setText("receptive field: …")
        self.method_label.setText("")
        text = (f"{label} · segment {segment.start_s:.3f}–{segment.start_s + segment.duration_s:.3f} s, "
                f"{segment.n_frames} frames of {segment.hop} samples")
        if segment.notes:
            text += " — " + "; ".join(segment.notes)
        self.segment_label.setText(text)
        self.segment_label.setStyleSheet("color: #d35400;" if segment.notes else "color: gray;")

    def _show_labels(self, result: Any) -> None:
        if result.leak_is_exactly_zero:
            self.leak_label.setText("future leak: 0 (exact)")
            self.leak_label.setStyleSheet("color: #27ae60;")
        else:
            rel = result.leak_rel.max() if result.leak_rel.size else 0.0
            self.leak_label.setText(f"future leak: LEAK {result.leak:.1e} (rel {rel:.1e})")
            self.leak_label.setStyleSheet("color: red; font-weight: bold;")
        self.rf_label.setText(f"receptive field: {self.receptive_field_text(result)}")
        self.method_label.setText(f"{result.method}, {result.seconds:.2f} s")

    def receptive_field_text(self, result: Any) -> str:
        """The receptive field in ms, or why it has no finite value."""
        if result.receptive_field is not None:
            return f"{1000.0 * result.receptive_field / self.request.segment.audio_fs:.1f} ms"
        if result.method == "through the recursion":
            return "whole past (recursive)"
        if result.method == "whole signal":
            return "whole past (not bounded for this module)"
        return "longer than the segment (rows reach its start)"

    # Frames
    def _clicked(self, plot: pg.PlotWidget, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.jacobian is None:
            return
        view = plot.getViewBox()
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        frame = int(np.floor(view.mapSceneToView(event.scenePos()).y()))
        if 0 <= frame < self.jacobian.shape[0]:
            self.select_frame(frame)

    def select_frame(self, frame: int) -> None:
        """Show frame ``frame``'s gradient under the waveform, with its receptive field and frame end."""
        if self.jacobian is None or self.request is None or not 0 <= frame < self.jacobian.shape[0]:
            return
        segment = self.request.segment
        self.selected_frame = frame
        self.trace_curve.setData(segment.times(), self.jacobian[frame])
        end = segment.frame_end_s(frame)
        rf = self.result.receptive_field if self.result is not None else None
        start = max(segment.start_s, end - rf / segment.audio_fs) if rf is not None else segment.start_s
        for region, line in zip(self.reach_regions, self.end_lines, strict=True):
            region.setRegion((start, end))
            region.setVisible(True)
            line.setValue(end)
            line.setVisible(True)
        for marker in (self.row_marker, self.lag_row_marker):
            marker.setValue(frame + 0.5)
            marker.setVisible(True)
        reach = "receptive field shaded" if rf is not None else "whole past shaded"
        self.trace_title.setText(f"Frame {frame} (ends at {end:.4f} s; dashed line), {reach}")
        self.trace_title.setStyleSheet("")
        self.frameSelected.emit(frame)

    # Export and messages
    def export_data(self) -> ExportData | None:
        """The Jacobian (rows: frames, columns: samples) or the clicked frame's gradient trace."""
        if self.jacobian is None or self.request is None:
            return None
        segment, request = self.request.segment, self.request
        what = f"{request.label}, {request.mode}{'' if request.index is None else f' {request.index}'}"
        if self.export_what.currentText() == "clicked frame" and self.selected_frame is not None:
            t = self.selected_frame
            return ({"time_s": segment.times(), "gradient": self.jacobian[t].astype(np.float64)},
                    f"gradient of frame {t} (ends at {segment.frame_end_s(t):.6f} s) of {what}")
        header = (f"causality Jacobian of {what}: rows = frames 0..{segment.n_frames - 1} (frame t ends at sample "
                  f"(t+1)*{segment.hop}); columns = samples 0..{segment.n_samples - 1} of the segment starting at "
                  f"{segment.start_s:.6f} s, {segment.audio_fs} Hz")
        return {"jacobian": self.jacobian}, header

    def _set_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b;" if error else "color: gray;")

    def _clear(self) -> None:
        """A new sound: forget the old Jacobian."""
        if self.job is not None:
            self.cancel()
        self._number += 1
        self.result = self.jacobian = self.request = None
        self.selected_frame = None
        for item in (self.image, self.lag_item):
            item.clear()
        self.boundary.setData([], [])
        self.trace_curve.setData([], [])
        self.wave_curve.setData([], [])
        for item in (*self.reach_regions, *self.end_lines, self.row_marker, self.lag_row_marker):
            item.setVisible(False)
        self.leak_label.setText("future leak: –")
        self.leak_label.setStyleSheet("")
        self.rf_label.setText("receptive field: –")
        self.method_label.setText("")
        self.segment_label.setText("")
