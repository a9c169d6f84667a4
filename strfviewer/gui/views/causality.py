"""The causality view: how each output frame of a front-end or model depends on every audio sample.

A strictly causal front-end must give frame ``t`` no gradient at or after the end of its bin; this view
shows the frames x samples Jacobian of the visible segment with that boundary drawn on it, the same rows
aligned on the frame end (lag view, where the boundary is one vertical line), the measured future leak and
receptive field, and, for a clicked frame, its gradient under the waveform it reads. The Jacobian comes
from :func:`strfviewer.backend.analysis.causality.frame_jacobian`, always through the job runner, which also
prepares what is drawn (:mod:`strfviewer.backend.analysis.causality_display`): the GUI thread only picks the
visible part at screen resolution and sets images. Gradients span decades, so the colour scale is a signed log
by default (or linear up to a percentile), with a colour bar labelled in real gradient values. Slow modules
(the ICNet encoder) hand their rows out as they finish and the view draws them as they arrive.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...backend.analysis.causality import receptive_field_text
from ...backend.analysis.causality_display import (
    DEFAULT_PERCENTILE,
    DEFAULT_SCALE,
    FRONTEND_MODES,
    MAX_SEGMENT_S,
    MODEL_MODES,
    SCALES,
    ColourScale,
    JacobianDisplay,
    ProgressiveDisplay,
    Segment,
    ShownJacobian,
    choose_segment,
    compute_display,
    gradient_label,
    heat_tile,
    lag_tile,
)
from ...backend.errors import StrfviewerError, one_line
from ...backend.frontends import make_wav2spec
from ...backend.frontends.modules import audio_mismatch, hop_of, is_model, n_outputs
from ..export import ExportButton, ExportData
from ..jobcontrols import show_progress
from ..settings import settings
from ..state import SessionState
from ..stepwise import StagedBuild
from .colorbar import attach_colorbar, set_colorbar_label

log = logging.getLogger(__name__)

KEY = "causality"
SETTINGS_PREFIX = "causality/"
AUTO_MAX_S = 1.0  # segments at most this long are recomputed automatically when the request changes
AUTO_DECADES = 0  # the decades spin box's "auto" value
_DIVERGING, _SEQUENTIAL = "CET-D1", "inferno"
_BOUNDARY_PEN = {"diverging": pg.mkPen("#00e676", width=2), "sequential": pg.mkPen("#00e5ff", width=2)}
_FUTURE_BRUSH = pg.mkBrush(255, 80, 80, 45)
_REACH_BRUSH = pg.mkBrush(46, 204, 113, 50)
_FRAME_END_PEN = pg.mkPen("#e74c3c", width=1.5, style=Qt.PenStyle.DashLine)
_ROW_PEN = pg.mkPen("#f1c40f", width=1, style=Qt.PenStyle.DashLine)
_EMPTY_LAG_MS = (-20.0, 5.0)  # the lag axis before anything is computed, when there is no segment either
_TARGET_TIP = "The analysis target front-end, or a model that takes this sound's rate"


@dataclass
class _Request:
    """One computation: what it studies, on which segment, how."""

    number: int
    label: str
    segment: Segment
    mode: str  # channel / projection / abs / neuron
    index: int | None
    absolute: bool
    is_model: bool

    def describe(self) -> str:
        return f"{self.label} · {self.mode}{'' if self.index is None else f' {self.index}'}"


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
        self.jacobian: np.ndarray | None = None  # the result's, or rows so far (NaN: pending); never copied here
        self.display: JacobianDisplay | None = None  # what is drawn, prepared in the job
        self.scale: ColourScale | None = None
        self.request: _Request | None = None
        self.selected_frame: int | None = None
        self.rows_delivered = 0
        self._number = 0
        self.job = None  # the runner's handle of the computation in progress
        self._partial: ProgressiveDisplay | None = None
        self._modules: dict[str, Any] = {}  # built front-ends, by their arguments
        self._auto_pending = False
        self._updating = False

        self._build_header()
        self._build_plots()
        self._auto_timer = QTimer(self, singleShot=True, interval=150)
        self._auto_timer.timeout.connect(self.compute)
        self._redraw_timer = QTimer(self, singleShot=True, interval=60)
        self._redraw_timer.timeout.connect(self._draw_partial)
        self._zoom_timer = QTimer(self, singleShot=True, interval=15)  # coalesces range and size changes
        self._zoom_timer.timeout.connect(self._refresh_images)
        for plot in (self.heatmap, self.lag_plot):
            view = plot.getViewBox()
            view.sigRangeChanged.connect(lambda *_: self._zoom_timer.start())
            view.sigResized.connect(lambda *_: self._zoom_timer.start())

        state.audioChanged.connect(self._audio_changed)
        state.viewRangeChanged.connect(lambda *_: self._request_changed())
        for signal in (state.frontendsChanged, state.targetChanged, state.modelChanged):
            signal.connect(self._targets_changed)
        state.frontendChanged.connect(self._frontend_changed)
        state.channelChanged.connect(self._channel_changed)
        state.neuronChanged.connect(self._neuron_changed)
        self._targets_changed()
        self._show_empty_axes()

    # Layout
    def _build_header(self) -> None:
        self.target_box = QComboBox()
        self.target_box.setToolTip(_TARGET_TIP)
        self.target_box.currentTextChanged.connect(
            lambda text: self.target_box.setToolTip(f"{text}\n{_TARGET_TIP}" if text else _TARGET_TIP))
        # Long model names must not widen the view: the box keeps a fixed width, its list shows them whole.
        self.target_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target_box.setMinimumContentsLength(20)
        self.mode_box = QComboBox()
        self.mode_box.setToolTip("channel: one channel · projection: a fixed random mix of channels (or neurons) · "
                                 "abs: sum of absolute per-channel gradients · neuron: one neuron's rate")
        self.index_label = QLabel("channel")
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 0)
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip(f"Compute the Jacobian of the visible segment (at most {MAX_SEGMENT_S:g} s)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.auto_box = QCheckBox(f"auto-compute (segments ≤ {AUTO_MAX_S:g} s)")
        self.auto_box.setToolTip(f"Recompute when the target, mode, selection or visible segment changes, for "
                                 f"segments of at most {AUTO_MAX_S:g} s; Compute covers up to {MAX_SEGMENT_S:g} s")
        self.auto_box.setChecked(settings().value(SETTINGS_PREFIX + "auto_compute", True, type=bool))
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setVisible(False)
        self.export_what = QComboBox()
        self.export_what.addItems(["Jacobian", "clicked frame"])
        self.export_what.setToolTip("What Export ▸ Data writes")
        self.export_button = ExportButton(lambda: self.figure_area, self.export_data, KEY, self)

        self.scale_box = QComboBox()
        self.scale_box.addItems(SCALES)
        self.scale_box.setToolTip("signed log: sign(g)·log10(1 + |g| / floor), so gradients over several decades "
                                  "all show · linear: the gradient itself, clipped at a percentile of |g|")
        saved = settings().value(SETTINGS_PREFIX + "scale", DEFAULT_SCALE)
        self.scale_box.setCurrentText(saved if saved in SCALES else DEFAULT_SCALE)
        self.decades_spin = QSpinBox()
        self.decades_spin.setRange(AUTO_DECADES, 12)
        self.decades_spin.setSpecialValueText("auto")
        self.decades_spin.setSuffix(" decades")
        self.decades_spin.setToolTip("How many decades below the largest gradient still show colour (auto: from "
                                     "the spread of the gradients, 2 to 6)")
        self.decades_spin.setValue(settings().value(SETTINGS_PREFIX + "decades", AUTO_DECADES, type=int))
        self.percentile_spin = QDoubleSpinBox()
        self.percentile_spin.setRange(50.0, 100.0)
        self.percentile_spin.setDecimals(1)
        self.percentile_spin.setSingleStep(0.5)
        self.percentile_spin.setPrefix("clip at ")
        self.percentile_spin.setSuffix(" %")
        self.percentile_spin.setToolTip("The colour range ends at this percentile of the nonzero |gradient|")
        self.percentile_spin.setValue(settings().value(SETTINGS_PREFIX + "percentile", DEFAULT_PERCENTILE,
                                                       type=float))

        self.target_box.currentIndexChanged.connect(self._target_chosen)
        self.mode_box.currentIndexChanged.connect(self._mode_chosen)
        self.index_spin.valueChanged.connect(self._index_chosen)
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button.clicked.connect(self.cancel)
        self.auto_box.toggled.connect(self._auto_toggled)
        self.scale_box.currentIndexChanged.connect(self._scale_chosen)
        self.decades_spin.valueChanged.connect(self._scale_chosen)
        self.percentile_spin.valueChanged.connect(self._scale_chosen)

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
                  self.compute_button, self.cancel_button, self.progress):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(QLabel("data:"))
        row.addWidget(self.export_what)
        row.addWidget(self.export_button)
        info = QHBoxLayout()
        for w in (self.auto_box, self.leak_label, self.rf_label, self.method_label):
            info.addWidget(w)
        info.addStretch(1)
        caption = QHBoxLayout()
        caption.addWidget(self.segment_label, 1)
        for w in (QLabel("colour:"), self.scale_box, self.decades_spin, self.percentile_spin):
            caption.addWidget(w)
        self._header = QVBoxLayout()
        self._header.addLayout(row)
        self._header.addLayout(info)
        self._header.addLayout(caption)
        self._header.addWidget(self.message)
        self._header.addWidget(self.notes_label)
        self._show_scale_controls()

    def _build_plots(self) -> None:
        self.heatmap = pg.PlotWidget()
        self.heatmap.setLabel("bottom", "sample time", units="s")
        self.heatmap.setLabel("left", "frame")
        self.heatmap.getAxis("left").enableAutoSIPrefix(False)  # frame numbers, never "(x0.001)"
        self.heatmap.setTitle("∂ frame / ∂ sample (green: end of each frame)")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.heatmap.addItem(self.image)
        self.boundary = pg.PlotDataItem(pen=_BOUNDARY_PEN["diverging"])
        self.heatmap.addItem(self.boundary)
        self.row_marker = pg.InfiniteLine(angle=0, movable=False, pen=_ROW_PEN)
        self.row_marker.setVisible(False)
        self.heatmap.addItem(self.row_marker, ignoreBounds=True)

        self.lag_plot = pg.PlotWidget()
        self.lag_plot.setLabel("bottom", "lag after frame end (ms)")  # values in ms: no SI prefix on top
        self.lag_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.lag_plot.setLabel("left", "frame")
        self.lag_plot.getAxis("left").enableAutoSIPrefix(False)
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
        # One bar for both images: they share the scale.
        self.colorbar = attach_colorbar(self.lag_plot, [self.image, self.lag_item], "gradient",
                                        pg.colormap.get(_DIVERGING), (-1.0, 1.0))

        self.figure_area = QWidget()
        figure_layout = QHBoxLayout(self.figure_area)
        figure_layout.setContentsMargins(0, 0, 0, 0)
        figure_layout.addWidget(self.heatmap, 3)
        figure_layout.addWidget(self.lag_plot, 2)

        self.trace_title = QLabel("Click a frame (a row of the image) to see its gradient.")
        self.trace_title.setStyleSheet("color: gray;")
        below = QWidget()
        self._below_layout = QVBoxLayout(below)
        self._below_layout.setContentsMargins(0, 0, 0, 0)
        self._below_layout.addWidget(self.trace_title)
        # The waveform and gradient trace are built on the next event-loop turn (or when first needed): the
        # first visit of the tab then builds and paints half the plots at a time.
        self.waveform: pg.PlotWidget | None = None
        self._staged = StagedBuild(self, [self._build_traces])

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

    def _build_traces(self) -> None:
        """The waveform and the clicked frame's gradient trace below the images (built after the view)."""
        self.waveform = pg.PlotWidget()
        self.waveform.setLabel("left", "audio")
        self.waveform.setMaximumHeight(130)
        self.wave_curve = self.waveform.plot(pen=pg.mkPen("#5dade2"))
        self.waveform.getAxis("left").enableAutoSIPrefix(False)
        self.waveform.getAxis("bottom").setStyle(showValues=False)  # the trace below carries the time axis
        self.trace = pg.PlotWidget()
        self.trace.setLabel("bottom", "sample time", units="s")
        self.trace.setLabel("left", "gradient")
        self.trace.setXLink(self.waveform)
        # One sample-time range: zooming the heatmap zooms the traces (not setXLink, which would align the
        # narrower heatmap with the traces on screen rather than match their ranges).
        self.heatmap.getViewBox().sigXRangeChanged.connect(
            lambda _view, xs: self.waveform.setXRange(*xs, padding=0))
        self.waveform.setXRange(*self.heatmap.getViewBox().viewRange()[0], padding=0)
        self.trace_curve = self.trace.plot(pen=pg.mkPen("#f39c12"))
        self.trace.getAxis("left").enableAutoSIPrefix(False)
        for curve in (self.wave_curve, self.trace_curve):  # sample-rate curves: peaks kept when zoomed out
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
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
        # Share the height so that neither is squashed to a strip on a 800 px screen: the trace (what a click
        # shows) gets the larger part, the waveform at most 130 px.
        self.waveform.setMinimumHeight(60)
        self.trace.setMinimumHeight(90)
        self._below_layout.addWidget(self.waveform, 1)
        self._below_layout.addWidget(self.trace, 2)
        if self.request is not None:  # a computation started before they existed: show its sound
            self._show_segment_audio(self.request.segment)

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
            mismatch = audio_mismatch(getattr(loaded, "model", None), fs)
            if mismatch is not None:
                notes.append(f"{name}: {mismatch}")
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
            self._forget()  # the leak, receptive field and caption described the previous target
            self._request_changed()
        elif current is None and not entries:
            self._set_message("Add a front-end, or open a model that takes audio, to see its causality Jacobian.")

    def _fill_modes(self) -> None:
        kind = self._target_kind()
        modes = MODEL_MODES if kind == "model" else FRONTEND_MODES
        current = [self.mode_box.itemText(i) for i in range(self.mode_box.count())]
        if current == list(modes):
            return
        # A model starts on the session's neuron, a front-end on a projection over all its channels.
        default = "neuron" if kind == "model" else "projection"
        saved = settings().value(f"{SETTINGS_PREFIX}{'model' if kind == 'model' else 'frontend'}_mode", default)
        self._updating = True
        try:
            self.mode_box.clear()
            self.mode_box.addItems(modes)
            self.mode_box.setCurrentText(saved if saved in modes else default)
        finally:
            self._updating = False

    def _target_kind(self) -> str | None:
        data = self.target_box.currentData()
        return data.partition(":")[0] if data else None

    def choose_model_target(self) -> bool:
        """Make the first model that takes this sound the target (``render --model`` shows a model's
        causality); returns whether there was one."""
        keys = [self.target_box.itemData(i) for i in range(self.target_box.count())]
        index = next((i for i, key in enumerate(keys) if key and key.startswith("model:")), None)
        if index is not None:
            self.target_box.setCurrentIndex(index)
        return index is not None

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
        count = n_outputs(module) if module is not None else None
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
        self._forget()  # nothing shown may describe the previous target
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
            self._forget()  # its parameters changed: the old Jacobian is of another module
            self._fill_index()
            self._request_changed()

    def _audio_changed(self) -> None:
        self._forget()
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
            segment = self._segment(hop_of(self.target_module()))
        except StrfviewerError as exc:
            self._set_message(one_line(exc), error=True)
            return
        if self.request is None:
            self._show_empty_axes(segment)
        if self.auto_box.isChecked() and segment.duration_s <= AUTO_MAX_S:
            if self.isVisible():
                self._auto_timer.start()
            else:
                self._auto_pending = True  # computed when the tab is shown
        elif self.result is not None or self.request is not None:
            self._set_message("The segment or target changed: press Compute to update.")
        else:
            self._set_message(f"Press Compute to see the Jacobian of the visible segment (Compute covers at most "
                              f"{MAX_SEGMENT_S:g} s; auto-compute runs for segments ≤ {AUTO_MAX_S:g} s).")

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

    def _start(self, module: Any, label: str, mode: str, index: int) -> None:
        try:
            segment = self._segment(hop_of(module))
        except StrfviewerError as exc:
            self._set_message(one_line(exc), error=True)
            return
        self._number += 1
        number = self._number
        absolute = mode == "abs"
        index = index if mode in ("channel", "neuron") else None
        self.request = _Request(number, label, segment, mode, index, absolute, is_model(module))
        self.result = self.jacobian = self.display = self._partial = None
        self.rows_delivered = 0
        self._prepare_axes(segment, absolute)
        self._show_labels_pending()
        samples = np.ascontiguousarray(self.state.audio.samples[segment.start : segment.start + segment.n_samples],
                                       dtype=np.float32)

        def job(progress, cancel, publish) -> ShownJacobian:
            return compute_display(module, samples, mode, index, rows_ready=lambda first, partial: publish(
                (first, partial)), progress=progress, cancel=cancel)

        self._set_message(f"Computing the Jacobian of {self.request.describe()}…")
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.job = job = self.runner.submit(job, key=KEY, description=f"causality Jacobian of {label}",
                                            on_error=lambda exc, number=number: self._failed(number, exc),
                                            publishes=True, owner=self)
        job.progressed.connect(lambda done, total, _message: show_progress(self.progress, done, total))
        job.partial.connect(lambda rows, number=number: self._rows_arrived(number, *rows))
        job.succeeded.connect(lambda value, number=number: self._show_result(number, value))
        job.finished.connect(lambda job=job: self._job_finished(job))

    def cancel(self) -> None:
        """Stop the running computation; rows still in flight are dropped."""
        if self.job is not None and not self.job.done:
            self.runner.cancel(KEY)
            self._number += 1  # rows from the cancelled job no longer match
            self._set_message("Cancelled.")
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)

    # Job callbacks (GUI thread)
    def _job_finished(self, job) -> None:
        if job is self.job:
            self.job = None
            self.cancel_button.setEnabled(False)
            self.progress.setVisible(False)

    def _rows_arrived(self, number: int, first: int, partial: ProgressiveDisplay) -> None:
        if self.request is None or number != self.request.number or self.result is not None:
            return
        self._partial, self.jacobian = partial, partial.jacobian
        self.rows_delivered += 1
        self.rowsShown.emit(first)
        if self.display is None:
            self._draw_partial()  # the first rows at once; later ones coalesced
        elif not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _show_result(self, number: int, shown: ShownJacobian) -> None:
        if self.request is None or number != self.request.number:
            return
        result, display = shown.result, shown.display
        self._redraw_timer.stop()
        self.result, self.jacobian, self._partial = result, result.jacobian, None
        self._show_display(display)
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
    def _show_empty_axes(self, segment: Segment | None = None) -> None:
        """Before anything is computed: the axes of the segment Compute would use (else a second of audio), in
        their real units, with no image."""
        if segment is None and self.state.audio is not None and self.target_box.currentData() is not None:
            try:
                segment = self._segment(hop_of(self.target_module()))
            except StrfviewerError:
                segment = None
        if segment is not None:
            start, end, frames = segment.start_s, segment.start_s + segment.duration_s, segment.n_frames
            lag = segment.preview_lag_ms()
        else:
            start, end, frames, lag = 0.0, 1.0, 1, _EMPTY_LAG_MS
        for view in (self.heatmap.getViewBox(), self.lag_plot.getViewBox()):
            view.setLimits(xMin=None, xMax=None, yMin=None, yMax=None)
        self.heatmap.setXRange(start, end, padding=0)
        self.heatmap.setYRange(0, frames, padding=0)
        self.lag_plot.setXRange(*lag, padding=0)
        self.future_region.setRegion((0.0, lag[1]))
        self.colorbar.getAxis("right").setTicks(None)
        self.colorbar.setLevels((-1.0, 1.0))
        set_colorbar_label(self.colorbar, "gradient (not computed yet)")

    def _prepare_axes(self, segment: Segment, absolute: bool) -> None:
        kind = "sequential" if absolute else "diverging"
        self.colorbar.setColorMap(pg.colormap.get(_SEQUENTIAL if absolute else _DIVERGING))
        for item in (self.image, self.lag_item):
            item.clear()
        self.boundary.setPen(_BOUNDARY_PEN[kind])
        self.lag_boundary.setPen(_BOUNDARY_PEN[kind])
        self.boundary.setData(*segment.frame_boundary())
        end = segment.start_s + segment.duration_s
        self.heatmap.getViewBox().setLimits(xMin=segment.start_s, xMax=end, yMin=0, yMax=segment.n_frames)
        self.heatmap.setXRange(segment.start_s, end, padding=0)
        self.heatmap.setYRange(0, segment.n_frames, padding=0)
        self._show_segment_audio(segment)
        for item in (self.row_marker, self.lag_row_marker):
            item.setVisible(False)
        self.selected_frame = None
        self.trace_title.setText("Click a frame (a row of the image) to see its gradient.")

    def _show_segment_audio(self, segment: Segment) -> None:
        """The segment's waveform under the images, no frame selected (once the traces exist)."""
        if self.waveform is None:
            return
        samples = self.state.audio.samples[segment.start : segment.start + segment.n_samples]
        self.wave_curve.setData(segment.times(), samples)
        self.trace_curve.setData([], [])
        for item in (*self.reach_regions, *self.end_lines):
            item.setVisible(False)

    def _draw_partial(self) -> None:
        """Rows so far (progressive modules); pending rows are transparent."""
        if self.request is None or self._partial is None or self.result is not None:
            return
        began = time.perf_counter()
        self._show_display(self._partial.display())
        # Large Jacobians take a while to draw: redraw less often so the GUI stays responsive.
        self._redraw_timer.setInterval(max(60, round(4000 * (time.perf_counter() - began))))
        self.partialDrawn.emit(self._partial.rows_done)

    def _show_display(self, display: JacobianDisplay) -> None:
        """Draw a prepared Jacobian: the lag view's range, the colour scale, then the visible images."""
        first = self.display is None
        self.display = display
        segment = self.request.segment
        past, future = display.lag_range_ms(segment.audio_fs)
        self.future_region.setRegion((0, future))
        lag_view = self.lag_plot.getViewBox()
        lag_view.setLimits(xMin=past, xMax=future, yMin=0, yMax=segment.n_frames)
        if first or self.result is not None:
            self.lag_plot.setXRange(past, future, padding=0)
        self._apply_scale()

    def _chosen_scale(self, display: JacobianDisplay) -> ColourScale:
        """The colour scale the controls ask for."""
        if self.scale_box.currentText() == "linear":
            return display.scale("linear", percentile=self.percentile_spin.value())
        decades = self.decades_spin.value()
        return display.scale("signed log", decades=None if decades == AUTO_DECADES else float(decades))

    def _scale_chosen(self, *_args) -> None:
        settings().setValue(SETTINGS_PREFIX + "scale", self.scale_box.currentText())
        settings().setValue(SETTINGS_PREFIX + "decades", self.decades_spin.value())
        settings().setValue(SETTINGS_PREFIX + "percentile", self.percentile_spin.value())
        self._show_scale_controls()
        if self.display is not None:
            self._apply_scale()

    def _show_scale_controls(self) -> None:
        log_scale = self.scale_box.currentText() == "signed log"
        self.decades_spin.setVisible(log_scale)
        self.percentile_spin.setVisible(not log_scale)

    def _apply_scale(self) -> None:
        """Colour scale from the controls: the bar's levels, its ticks in real gradient values, its unit."""
        self.scale = self._chosen_scale(self.display)
        axis = self.colorbar.getAxis("right")
        axis.setTicks([self.scale.ticks()])
        set_colorbar_label(self.colorbar, gradient_label(self.request.mode, self.request.is_model))
        self.colorbar.setLevels(self.scale.levels)
        self.heatmap.setTitle(f"∂ frame / ∂ sample, {self.scale.kind} colour (green: end of each frame)")
        self._refresh_images()

    def _refresh_images(self) -> None:
        """Draw the visible part of both images at the resolution of the screen (full resolution when the
        visible samples fit the pixels): cheap, and run on every zoom, pan and resize."""
        if self.display is None or self.scale is None or self.request is None:
            return
        segment = self.request.segment
        view, lag_view = self.heatmap.getViewBox(), self.lag_plot.getViewBox()
        x_range, y_range = view.viewRange()
        # Both views show the same frames: rows are reduced to the pixels of the heatmap's visible frames.
        for item, tile in (
            (self.image, heat_tile(self.display, segment, x_range, y_range, view.width(), view.height())),
            (self.lag_item, lag_tile(self.display, segment, lag_view.viewRange()[0], y_range, lag_view.width(),
                                     lag_view.height())),
        ):
            item.setImage(self.scale.transform(tile.image), autoLevels=False)
            item.setRect(QRectF(tile.x, 0, tile.width, tile.rows))

    def _show_labels_pending(self) -> None:
        self.leak_label.setText("future leak: …")
        self.leak_label.setStyleSheet("")
        self.rf_label.setText("receptive field: …")
        self.method_label.setText("")
        segment = self.request.segment
        text = (f"{self.request.describe()} · segment {segment.start_s:.3f}–{segment.start_s + segment.duration_s:.3f}"
                f" s, {segment.n_frames} frames of {segment.hop} samples")
        if segment.notes:
            text += " — " + "; ".join(segment.notes)
        self.segment_label.setText(text)
        self.segment_label.setStyleSheet("color: #d35400;" if segment.notes else "color: gray;")

    def _show_labels(self, result: Any) -> None:
        if result.leak_is_exactly_zero:
            self.leak_label.setText("future leak: 0 (exact)")
            self.leak_label.setStyleSheet("color: #27ae60;")
        else:
            self.leak_label.setText(f"future leak: LEAK {result.leak:.1e} (rel {result.largest_relative_leak:.1e})")
            self.leak_label.setStyleSheet("color: red; font-weight: bold;")
        segment = self.request.segment
        field = receptive_field_text(result.receptive_field, result.method, segment.audio_fs, segment.duration_s)
        self.rf_label.setText(f"receptive field: {field}")
        self.method_label.setText(f"{result.method}, {result.seconds:.2f} s")

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
        self._staged.ensure()
        segment = self.request.segment
        self.selected_frame = frame
        self.trace_curve.setData(segment.times(), self.jacobian[frame])
        end = segment.frame_end_s(frame)
        rf = self.result.receptive_field if self.result is not None else None
        start = segment.reach_start_s(frame, rf)
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
        what = request.describe()
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

    def _forget(self) -> None:
        """A new sound, target or front-end setting: stop and forget the old Jacobian and all that described it."""
        if self.job is not None:
            self.cancel()
        self._number += 1
        self._redraw_timer.stop()
        self.result = self.jacobian = self.request = self.display = self.scale = self._partial = None
        self.selected_frame = None
        for item in (self.image, self.lag_item):
            item.clear()
        self.boundary.setData([], [])
        if self.waveform is not None:
            self.trace_curve.setData([], [])
            self.wave_curve.setData([], [])
            for item in (*self.reach_regions, *self.end_lines):
                item.setVisible(False)
        for item in (self.row_marker, self.lag_row_marker):
            item.setVisible(False)
        self.leak_label.setText("future leak: –")
        self.leak_label.setStyleSheet("")
        self.rf_label.setText("receptive field: –")
        self.method_label.setText("")
        self.segment_label.setText("")
        self.trace_title.setText("Click a frame (a row of the image) to see its gradient.")
        self._show_empty_axes()
