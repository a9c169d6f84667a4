"""What each channel of the analysis target's front-end listens to: its filters and its tone tuning.

Two complementary pictures: the filters themselves (impulse responses, and magnitude responses on a log
frequency axis) read from the front-end's coefficients, and tone-sweep tuning curves of the whole front-end
(which also work where there are no explicit filters, such as the ICNet encoder's latent channels). A table
lists each channel's nominal centre, measured peak and -3 dB bandwidth. For learnable front-ends taken from
a loaded model, the filters they were initialised with are overlaid (dashed) on the trained ones.

The view reads the target slot, the sound's sample rate and the loaded models from the session state, runs
the computations through the job runner, and writes only the selected channel back to the state.

Made to be read: frequency axes carry round-number ticks in Hz that never collide (:class:`LogFrequencyAxis`),
channels are coloured along a rainbow map that does not wrap (channel 0 blue, the last red), the impulse
responses are stacked one above the other, each scaled to its peak, over the time where their energy arrives,
and the tuning of the selected channel says how to select one while none is.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...backend.analysis.filters import (
    FilterResult,
    FrontendBuilder,
    TuningResult,
    compute_filters,
    compute_tuning,
    models_trained_on,
)
from ...backend.errors import ConfigurationError, one_line
from ...backend.frontends import make_wav2spec
from ..export import ExportButton, ExportData
from ..jobrunner import JobRunner
from ..settings import settings
from ..state import SessionState
from ..stepwise import StagedBuild, Stepwise
from .colorbar import attach_colorbar, resolve_colormap
from .common import frequency_ticks

logger = logging.getLogger(__name__)

SETTINGS_PREFIX = "filters/"
LEVEL_MIN_DB, LEVEL_MAX_DB = -60.0, 0.0
DEFAULT_LEVEL_DB = -20.0
DEFAULT_AUDIO_FS = 48000  # what the front-end is built for before a sound is open
SETTINGS_SOURCE = "front-end settings"
DATA_MAGNITUDE, DATA_TUNING = "magnitude responses", "tuning curves"
TABLE_COLUMNS = ("ch", "centre Hz", "peak Hz", "bw Hz", "best Hz")  # short: all fit the table's width
TABLE_TOOLTIPS = ("Output channel of the front-end", "Nominal centre frequency of the channel",
                  "Frequency where the channel's filter has its largest gain",
                  "-3 dB bandwidth of the channel's filter", "Tone frequency that drives the channel most (tuning "
                  "peak of the whole front-end at the tone level)")
_MAGNITUDE_SPAN_DB = 60.0  # the magnitude plot shows this far below the strongest peak
_MAGNITUDE_POINTS = 1500  # points per drawn magnitude curve (the export keeps every FFT bin)
_BOLD_COLOUR = "#c0392b"  # the selected channel's tuning curve and heatmap row
_SELECTED_PEN = "#ffffff"  # the selected channel's filter curves: outside the channel colour map, on dark plots
CHANNEL_COLORMAP = "CET-R2"  # perceptual blue-green-yellow-red rainbow: it does not wrap back to its start
_COLORMAP_START = 0.08  # skip the darkest blue, hard to see on the plots' black background
IMPULSE_FRACTION = 0.99  # the impulse plot ends where this fraction of every filter's energy has arrived
IMPULSE_GAIN = 0.6  # half-height of a stacked impulse response, in channel rows (0.5: touching neighbours)
TUNING_UNIT = "response, 0–1 per channel"  # each row scaled from its min to its max
NICE_MANTISSAS = ((1, 2, 5), (1, 3), (1,))  # tick steps tried on log-frequency axes, densest first
_TICK_GAP_PX = 10.0  # the least room between two tick labels

def hz_label(frequency_hz: float) -> str:
    """A tick label in Hz: ``"50"``, ``"200"``, ``"1k"``, ``"2.5k"``, ``"20k"``."""
    if frequency_hz >= 1000:
        return f"{frequency_hz / 1000:g}k"
    return f"{frequency_hz:g}"


def log_frequency_ticks(low_hz: float, high_hz: float, pixels: float, text_width: Callable[[str], float]) \
        -> tuple[list[float], list[float]]:
    """Labelled and unlabelled tick frequencies of a log axis from ``low_hz`` to ``high_hz`` drawn ``pixels`` long.

    The labelled ones are the densest of the 1-2-5, 1-3 and 1 (decade) steps with two or more labels
    (``text_width(label)`` px wide) that keep ``_TICK_GAP_PX`` apart; on an axis too short even for decades, every
    other decade, and so on; within one decade, the 1..9 multiples. The unlabelled ones are the other 1..9
    multiples of each decade, for the grid.
    """
    if not (0 < low_hz < high_hz) or not math.isfinite(high_hz) or pixels <= 0:
        return [], []
    span = math.log10(high_hz) - math.log10(low_hz)
    first, last = math.floor(math.log10(low_hz)), math.ceil(math.log10(high_hz))

    def inside(values: list[float]) -> list[float]:
        return [v for v in values if low_hz * (1 - 1e-9) <= v <= high_hz * (1 + 1e-9)]

    def fits(values: list[float]) -> bool:
        x = [(math.log10(v) - math.log10(low_hz)) / span * pixels for v in values]
        w = [text_width(hz_label(v)) for v in values]
        return all(x[i + 1] - x[i] >= (w[i] + w[i + 1]) / 2 + _TICK_GAP_PX for i in range(len(x) - 1))

    everything = inside([m * 10.0 ** e for e in range(first, last + 1) for m in range(1, 10)])
    candidates = [inside([m * 10.0 ** e for e in range(first, last + 1) for m in mantissas])
                  for mantissas in NICE_MANTISSAS]
    candidates += [inside([10.0 ** e for e in range(first, last + 1) if e % every == 0]) for every in (2, 3, 5)]
    fitting = [c for c in candidates if len(c) >= 2 and fits(c)]
    if fitting:
        labelled = fitting[0]
    elif len(everything) >= 2 and fits(everything):  # a range within a decade: 300, 400, 500...
        labelled = everything
    else:  # too short for two labels: one round number
        labelled = next((c for c in [*candidates, everything] if c), [])[:1]
    chosen = set(labelled)
    return labelled, [v for v in everything if v not in chosen]


class LogFrequencyAxis(pg.AxisItem):
    """Bottom axis of a plot whose x is ``log10(frequency in Hz)``: round numbers in Hz ("200", "1k", "20k")
    that never collide at the axis's current length (:func:`log_frequency_ticks`); grid lines at the rest."""

    def __init__(self) -> None:
        super().__init__("bottom")
        self.enableAutoSIPrefix(False)
        self.setStyle(maxTextLevel=0)  # the second level holds the unlabelled grid ticks
        self._labels: dict[float, str] = {}

    def tickValues(self, min_value: float, max_value: float, size: float) -> list[tuple[float | None, list[float]]]:
        low, high = sorted((min_value, max_value))
        metrics = QFontMetricsF(self.style["tickFont"] or self.font())
        try:
            labelled, grid = log_frequency_ticks(10.0 ** low, 10.0 ** high, size, metrics.horizontalAdvance)
        except OverflowError:
            return []
        self._labels = {round(math.log10(v), 9): hz_label(v) for v in labelled}
        return [(1.0, [math.log10(v) for v in labelled]), (None, [math.log10(v) for v in grid])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self._labels.get(round(v, 9), hz_label(10.0 ** v)) for v in values]


def _log_plot(title: str, bottom: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title, axisItems={"bottom": LogFrequencyAxis()})
    plot.setLogMode(x=True, y=False)
    plot.setLabel("bottom", f"{bottom} (Hz)")
    plot.setLabel("left", left)
    plot.showGrid(x=True, y=True, alpha=0.2)
    return plot


def _centre_line(plot: pg.PlotWidget) -> pg.InfiniteLine:
    """A hidden vertical dotted line at the selected channel's centre frequency."""
    line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#7f8c8d", width=1, style=Qt.PenStyle.DotLine))
    line.setVisible(False)
    plot.addItem(line, ignoreBounds=True)
    return line


def channel_colours(n: int, alpha: int = 255) -> list[Any]:
    """One colour per channel, sampled evenly along :data:`CHANNEL_COLORMAP`: neighbours look alike, the first
    and the last channel do not (hue cycling made channel 0 and channel n-1 both red)."""
    colormap = pg.colormap.get(CHANNEL_COLORMAP)
    positions = np.linspace(_COLORMAP_START, 1.0, n) if n > 1 else np.array([0.5])
    colours = colormap.map(positions, mode="qcolor")
    for colour in colours:
        colour.setAlpha(alpha)
    return list(colours)


def _settings_float(key: str, default: float) -> float:
    try:
        return float(settings().value(key, default))
    except (TypeError, ValueError):
        return default


class FiltersView(QWidget):
    """Impulse, magnitude and tuning responses of the target front-end's channels, with a per-channel table."""

    filtersShown = Signal()  # after the filter plots and table were drawn (tests wait on it)
    tuningShown = Signal()  # after the tuning curves were drawn

    def __init__(self, state: SessionState, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner = state, runner
        self.filters: FilterResult | None = None
        self.tuning: TuningResult | None = None
        self._signature: tuple | None = None
        self._source_models: list[Any] = []
        self.impulse_curves: list[pg.PlotDataItem] = []
        self.magnitude_curves: list[pg.PlotDataItem] = []
        self.initial_impulse_curves: list[pg.PlotDataItem] = []
        self.initial_magnitude_curves: list[pg.PlotDataItem] = []
        self._colours: list[Any] = []  # channel_colours of the last channel count drawn
        key = f"filters:{id(self)}"
        self._bank_key, self._tuning_key = f"{key}:bank", f"{key}:tuning"

        self._build_header()
        self._build_plots()
        self._build_table()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plots)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1080, 320])  # room for the table's five (short) columns
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(self._header)
        layout.addWidget(self.error)
        layout.addWidget(splitter, 1)

        self._drawing = Stepwise(self)  # the bank's curves, a few per event-loop turn
        self._refresh_timer = QTimer(self, singleShot=True, interval=0)  # coalesces bursts of state signals
        self._refresh_timer.timeout.connect(self._refresh)
        self._tuning_timer = QTimer(self, singleShot=True, interval=150)  # while the level is being spun
        self._tuning_timer.timeout.connect(self._submit_tuning)
        for signal in (state.targetChanged, state.frontendsChanged, state.audioChanged, state.modelChanged):
            signal.connect(self._schedule)
        state.frontendChanged.connect(self._schedule)
        state.channelChanged.connect(self._apply_channel)
        state.displayChanged.connect(self._apply_colormap)
        self._refresh()

    # Construction
    def _build_header(self) -> None:
        self.title = QLabel()
        self.title.setMinimumWidth(80)  # a long model name is cut rather than widening the view; the tooltip has it
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        self.source_label = QLabel("source")
        self.source = QComboBox()
        self.source.setToolTip("Show the filters of the front-end settings, or the trained filters of a model")
        self.source.addItem(SETTINGS_SOURCE, None)
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(16)  # long model names elide; the tooltip and the list show them
        self.source.currentIndexChanged.connect(self._schedule)
        self.channel_spin = QSpinBox()
        self.channel_spin.setRange(-1, 0)
        self.channel_spin.setSpecialValueText("none")
        self.channel_spin.setToolTip("The selected channel, highlighted in every view")
        self.channel_spin.valueChanged.connect(self.state.set_channel)
        self.level = QDoubleSpinBox()
        self.level.setRange(LEVEL_MIN_DB, LEVEL_MAX_DB)
        self.level.setDecimals(1)
        self.level.setSingleStep(5.0)
        self.level.setSuffix(" dBFS")
        self.level.setToolTip("Tone level of the tuning sweep, in dB re full scale (0 dBFS: a full-scale sine)")
        self.level.setValue(min(LEVEL_MAX_DB, max(LEVEL_MIN_DB, _settings_float(
            SETTINGS_PREFIX + "level_db", DEFAULT_LEVEL_DB))))
        self.level.valueChanged.connect(self._level_changed)
        self.show_initial = QCheckBox("initial filters")
        self.show_initial.setToolTip("Overlay (dashed) the filters a learnable front-end started from")
        self.show_initial.setChecked(settings().value(SETTINGS_PREFIX + "show_initial", True, type=bool))
        self.show_initial.setEnabled(False)
        self.show_initial.toggled.connect(self._overlay_toggled)
        self.data_choice = QComboBox()
        self.data_choice.addItems([DATA_MAGNITUDE, DATA_TUNING])
        self.data_choice.setToolTip("What the CSV / NPY export contains")
        self.data_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data_choice.setMinimumContentsLength(12)
        saved = settings().value(SETTINGS_PREFIX + "export_data", DATA_MAGNITUDE)
        if saved in (DATA_MAGNITUDE, DATA_TUNING):
            self.data_choice.setCurrentText(saved)
        self.data_choice.currentTextChanged.connect(
            lambda text: settings().setValue(SETTINGS_PREFIX + "export_data", text))
        self.export_button = ExportButton(lambda: self.plots, self.export_data, "filters", self)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(False)
        self.error.setVisible(False)

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        for widget in (self.source_label, self.source, QLabel("channel"), self.channel_spin, QLabel("tone level"),
                       self.level, self.show_initial, QLabel("data"), self.data_choice, self.export_button):
            header.addWidget(widget)
        self._header = header
        self.source_label.setVisible(False)
        self.source.setVisible(False)

    def _build_plots(self) -> None:
        self.plots = QWidget()
        self.filter_note = QLabel(" ")
        self.filter_note.setStyleSheet("color: gray;")
        self.impulse_plot = pg.PlotWidget(title="impulse responses (peak-scaled)")
        self.impulse_plot.setLabel("bottom", "time after the impulse (ms)")
        self.impulse_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.impulse_plot.setLabel("left", "channel")
        self.impulse_plot.showGrid(x=True, y=False, alpha=0.2)
        self.impulse_plot.setMouseEnabled(x=True, y=False)
        self.magnitude_plot = _log_plot("magnitude responses", "frequency", "gain (dB)")
        self.magnitude_centre = _centre_line(self.magnitude_plot)
        # The tone-tuning heatmap and the selected channel's tuning plot are built on the next event-loop turn
        # (or when first needed), so the first visit builds and paints half the plots at a time.
        self.heatmap_plot: pg.PlotWidget | None = None
        self.tuning_plot: pg.PlotWidget | None = None
        self.heatmap_cell = QWidget()
        QVBoxLayout(self.heatmap_cell).setContentsMargins(0, 0, 0, 0)
        # While no channel is selected the panel says how to select one, instead of showing empty axes.
        self.tuning_placeholder = QLabel("<b>Tuning of the selected channel</b><br>Select a channel to see its "
                                         "tone tuning: click a row of the table, a filter curve or a row of the "
                                         "tone-tuning heatmap, or set “channel” above.")
        self.tuning_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tuning_placeholder.setWordWrap(True)
        self.tuning_placeholder.setStyleSheet("color: gray; border: 1px dashed #bdc3c7;")
        self.tuning_stack = QStackedWidget()
        self.tuning_stack.addWidget(self.tuning_placeholder)
        self._staged = StagedBuild(self, [self._build_heatmap, self._build_tuning_plot])
        grid = QGridLayout(self.plots)
        grid.setContentsMargins(0, 0, 0, 0)
        notes = QHBoxLayout()  # what is shown and what is being computed, under the header (it fits 1024 px)
        notes.addWidget(self.filter_note)
        notes.addStretch(1)
        notes.addWidget(self.status)
        grid.addLayout(notes, 0, 0, 1, 2)
        grid.addWidget(self.impulse_plot, 1, 0)
        grid.addWidget(self.magnitude_plot, 1, 1)
        grid.addWidget(self.heatmap_cell, 2, 0)
        grid.addWidget(self.tuning_stack, 2, 1)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)

    def _build_heatmap(self) -> None:
        """The tone-tuning heatmap (built after the view, see ``StagedBuild``)."""
        # Short titles: a title wider than the plot pushes its colour bar out of the widget.
        self.heatmap_plot = _log_plot("tone tuning", "tone frequency", "channel")
        self.heatmap_plot.showGrid(x=False, y=False)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap_plot.addItem(self.heatmap)
        self.heatmap_colorbar = attach_colorbar(self.heatmap_plot, self.heatmap, TUNING_UNIT, levels=(0.0, 1.0))
        self.heatmap_plot.setToolTip("Each channel's mean output to tones at the tone level, scaled from its "
                                     "minimum (0) to its maximum (1) over the sweep; click a row to select it")
        self.heatmap_band = pg.LinearRegionItem(orientation="horizontal", movable=False,
                                                brush=pg.mkBrush(0, 0, 0, 0), pen=pg.mkPen(_BOLD_COLOUR, width=2))
        self.heatmap_band.setVisible(False)
        self.heatmap_band.setZValue(10)
        self.heatmap_plot.addItem(self.heatmap_band, ignoreBounds=True)
        self.heatmap_plot.scene().sigMouseClicked.connect(self._heatmap_clicked)
        self.heatmap_cell.layout().addWidget(self.heatmap_plot)

    def _build_tuning_plot(self) -> None:
        """The selected channel's tuning plot, the last plot built: tuning and colours drawn once it is there."""
        self.tuning_plot = _log_plot("tuning of the selected channel", "tone frequency", "mean output")
        self.tuning_plot.getAxis("left").enableAutoSIPrefix(False)  # outputs as they are, not "(x0.001)"
        self.tuning_curve = self.tuning_plot.plot(pen=pg.mkPen(_BOLD_COLOUR, width=2))
        self.tuning_centre = _centre_line(self.tuning_plot)
        self.tuning_stack.addWidget(self.tuning_plot)
        self._apply_colormap()
        if self.tuning is not None:
            self._draw_tuning(self.tuning)
        self._apply_channel(self.state.selected_channel)

    def _build_table(self) -> None:
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        for column, tip in enumerate(TABLE_TOOLTIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._table_selection_changed)

    # What to compute
    def _matching_models(self) -> list[Any]:
        """Loaded models whose front-end is of the target's kind: their trained filters can be shown."""
        slot = self.state.target()
        return models_trained_on(self.state.models, slot.kind) if slot is not None else []

    def _refresh_sources(self) -> None:
        models = self._matching_models()
        chosen = self.source.currentData()
        self.source.blockSignals(True)
        try:
            self.source.clear()
            self.source.addItem(SETTINGS_SOURCE, None)
            for model in models:
                self.source.addItem(f"{model.path.name} (trained)", str(model.path))
            index = self.source.findData(chosen) if chosen is not None else 0
            self.source.setCurrentIndex(max(0, index))
        finally:
            self.source.blockSignals(False)
        self._source_models = models
        self.source.setVisible(bool(models))
        self.source_label.setVisible(bool(models))

    def _source_model(self) -> Any:
        index = self.source.currentIndex()
        return self._source_models[index - 1] if 0 < index <= len(self._source_models) else None

    def _audio_fs(self) -> int:
        return self.state.audio.audio_fs if self.state.audio is not None else DEFAULT_AUDIO_FS

    def _current_signature(self) -> tuple | None:
        slot = self.state.target()
        if slot is None:
            return None
        model = self._source_model()
        if model is not None:
            return ("model", slot.id, id(model), str(model.path))
        return ("settings", slot.id, slot.kind, repr(sorted(slot.args.items())), slot.dt_ms, self._audio_fs())

    def builder(self) -> FrontendBuilder | None:
        """A callable giving a fresh front-end for one job: built from the slot, or a copy of a model's."""
        slot = self.state.target()
        if slot is None:
            return None
        model = self._source_model()
        if model is not None:
            frontend = copy.deepcopy(model.frontend)  # the job gets its own: tuning_curves toggles eval/train
            return lambda: frontend
        kind, args, dt_ms, audio_fs = slot.kind, dict(slot.args), slot.dt_ms, self._audio_fs()

        def build():
            return make_wav2spec(kind, audio_fs=audio_fs, dt_ms=dt_ms, **args)

        return build

    def _schedule(self, *_args: Any) -> None:
        self._refresh_timer.start()

    def _refresh(self) -> None:
        """Recompute when what the view studies changed (target, its arguments, sample rate, source)."""
        self._refresh_sources()
        self._update_title()
        signature = self._current_signature()
        if signature is None:
            self._signature = None
            self.runner.cancel(self._bank_key)
            self.runner.cancel(self._tuning_key)
            self._clear()
            self.status.setText("Add a front-end to see its filters.")
            return
        if signature != self._signature:
            self.recompute()

    def recompute(self) -> None:
        """Drop what is shown and compute the filters and the tuning curves of the current source."""
        self._signature = self._current_signature()
        build = self.builder()
        if build is None:
            return
        self._clear()
        self._set_error("")
        self.status.setText("computing…")
        self.runner.submit(
            lambda progress, cancel: compute_filters(build, progress, cancel),
            key=self._bank_key,
            description="filter responses",
            on_result=self._show_filters,
            on_error=lambda exc: self._failed("filters", exc),
            owner=self,
        )
        self._submit_tuning()

    def _submit_tuning(self) -> None:
        build = self.builder()
        if build is None:
            return
        level_db = self.level.value()
        self.status.setText(f"tone sweep at {level_db:g} dBFS…")
        self.runner.submit(
            lambda progress, cancel: compute_tuning(build, level_db, progress, cancel),
            key=self._tuning_key,
            description="tone-sweep tuning curves",
            on_result=self._show_tuning,
            on_error=lambda exc: self._failed("tuning curves", exc),
            owner=self,
        )

    def _failed(self, what: str, exc: BaseException) -> None:
        self.status.setText("")
        if isinstance(exc, ConfigurationError):  # raised while building the front-end: both jobs say the same
            self._set_error(f"Invalid front-end settings: {one_line(exc)}")
        else:
            self._set_error(f"Could not compute the {what}: {one_line(exc)}")

    def _set_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    # Controls
    def _level_changed(self, value: float) -> None:
        settings().setValue(SETTINGS_PREFIX + "level_db", float(value))
        if self._signature is not None:
            self._tuning_timer.start()

    def _overlay_toggled(self, shown: bool) -> None:
        settings().setValue(SETTINGS_PREFIX + "show_initial", bool(shown))
        self._apply_overlay()

    def _table_selection_changed(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if rows:
            self.state.set_channel(min(rows))

    def _heatmap_clicked(self, event) -> None:
        if self.tuning is None or self.heatmap_plot is None or event.button() != Qt.MouseButton.LeftButton:
            return
        view = self.heatmap_plot.getViewBox()
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        row = math.floor(view.mapSceneToView(event.scenePos()).y())
        if 0 <= row < self.tuning.curves.response.shape[0]:
            self.state.set_channel(row)

    # Drawing
    def _clear(self) -> None:
        self._drawing.cancel()
        self.filters, self.tuning = None, None
        self._clear_filter_curves()
        if self.tuning_plot is not None:
            self.heatmap.clear()
            self.tuning_curve.setData([], [])
        self.table.setRowCount(0)
        self.filter_note.setText(" ")
        self.show_initial.setEnabled(False)
        self._apply_channel(self.state.selected_channel)

    def _paint_bank_plots(self, enabled: bool) -> None:
        for plot in (self.impulse_plot, self.magnitude_plot):
            plot.setUpdatesEnabled(enabled)

    def _clear_filter_curves(self) -> None:
        self._paint_bank_plots(True)  # a drawing run cut short leaves them suspended
        for plot, curves in ((self.impulse_plot, self.impulse_curves), (self.magnitude_plot, self.magnitude_curves),
                             (self.impulse_plot, self.initial_impulse_curves),
                             (self.magnitude_plot, self.initial_magnitude_curves)):
            for curve in curves:
                plot.removeItem(curve)
            curves.clear()

    def _show_filters(self, result: FilterResult) -> None:
        """Draw the bank a few curves per event-loop turn (one curve per channel is too slow to draw at once);
        ``filters`` is set, and ``filtersShown`` emitted, once every curve is there."""
        self._drawing.run(self._filter_steps(result))

    def _filter_steps(self, result: FilterResult) -> Iterator[None]:
        self._clear_filter_curves()
        self.filter_note.setText(result.note)
        bank = result.bank
        if bank is not None:
            self._set_bank_ranges(result)  # before the curves: a range change later would revisit every curve
            yield
            # Painted once, when every curve is there: repainting both plots after each step's few curves
            # would cost more than drawing the curves.
            self._paint_bank_plots(False)
            yield from self._draw_bank(bank, self.impulse_curves, self.magnitude_curves, dashed=False)
            if result.initial is not None:
                yield from self._draw_bank(result.initial, self.initial_impulse_curves,
                                           self.initial_magnitude_curves, dashed=True)
            self._paint_bank_plots(True)
            if result.filters_are_channels:
                n = len(self.impulse_curves)
                for i, curve in enumerate(self.impulse_curves + self.magnitude_curves):
                    curve.setCurveClickable(True, width=6)
                    curve.sigClicked.connect(lambda _item, _event, c=i % n: self.state.set_channel(c))
                yield
        self.filters = result
        self.show_initial.setEnabled(result.initial is not None)
        self._apply_overlay()
        self._fill_table()
        self._update_status()
        self._apply_channel(self.state.selected_channel)
        self.filtersShown.emit()

    def _set_bank_ranges(self, result: FilterResult) -> None:
        """Axes of the impulse and magnitude plots for ``result``'s bank (fixed ranges: no auto-range)."""
        bank = result.bank
        db = bank.magnitude_db[:, 1:]
        top = float(np.max(db)) if db.size else 0.0
        self.magnitude_plot.setYRange(top - _MAGNITUDE_SPAN_DB, top + 3.0, padding=0)
        nyquist = bank.audio_fs / 2.0
        lowest = max(float(np.min(bank.peak_hz)) / 4.0, float(bank.frequencies_hz[1]), 10.0)
        self.magnitude_plot.setXRange(math.log10(min(lowest, nyquist / 10)), math.log10(nyquist), padding=0)
        n = bank.impulse_responses.shape[0]
        labels = result.centres if result.filters_are_channels and result.centres is not None else bank.peak_hz
        self.impulse_plot.getAxis("left").setTicks([frequency_ticks(labels, n)])
        self.impulse_plot.setLabel("left", "channel" if result.filters_are_channels else "filter (peak)")
        reach = IMPULSE_GAIN + 0.05  # the lowest and the highest response whole, with a sliver of margin
        self.impulse_plot.setYRange(0.5 - reach, n - 0.5 + reach, padding=0)
        end = max(float(np.max(bank.arrival_ms(IMPULSE_FRACTION))), float(bank.times_ms[min(1, n - 1)]))
        self.impulse_plot.setXRange(-0.02 * end, 1.05 * end, padding=0)

    def _draw_bank(self, bank: Any, impulse: list, magnitude: list, dashed: bool) -> Iterator[None]:
        """Magnitude responses overlaid; impulse responses stacked, filter ``c`` centred on row ``c + 0.5``
        (a step per filter)."""
        h = np.real(bank.impulse_responses)
        times = bank.times_ms
        shown = _log_spaced_bins(len(bank.frequencies_hz))  # no DC bin on a log axis
        freqs = bank.frequencies_hz[shown]
        peaks = np.max(np.abs(h), axis=-1)
        for c in range(h.shape[0]):
            pen = self._pen(c, h.shape[0], bold=False, dashed=dashed)
            scaled = h[c] / peaks[c] if peaks[c] > 0 else h[c]
            impulse.append(self.impulse_plot.plot(times, c + 0.5 + IMPULSE_GAIN * scaled, pen=pen))
            magnitude.append(self.magnitude_plot.plot(freqs, bank.magnitude_db[c, shown], pen=pen))
            yield

    def _show_tuning(self, result: TuningResult) -> None:
        self._staged.ensure()
        self.tuning = result
        self._draw_tuning(result)
        self.channel_spin.setMaximum(result.curves.response.shape[0] - 1)
        self._fill_table()
        self._update_status()
        self._apply_channel(self.state.selected_channel)
        self.tuningShown.emit()

    def _draw_tuning(self, result: TuningResult) -> None:
        curves = result.curves
        log_f = np.log10(curves.frequencies_hz)
        step = (log_f[-1] - log_f[0]) / max(1, len(log_f) - 1)
        channels = curves.response.shape[0]
        self.heatmap.setImage(curves.scaled_rows(), autoLevels=False, levels=(0.0, 1.0))
        self.heatmap.setRect(QRectF(log_f[0] - step / 2, 0, log_f[-1] - log_f[0] + step, channels))
        self.heatmap_plot.getAxis("left").setTicks([frequency_ticks(result.centres, channels)])
        self.heatmap_plot.setXRange(log_f[0] - step / 2, log_f[-1] + step / 2, padding=0)
        self.heatmap_plot.setYRange(0, channels, padding=0)

    def _update_status(self) -> None:
        waiting = [name for name, value in (("filters", self.filters), ("tone sweep", self.tuning)) if value is None]
        self.status.setText(f"computing {' and '.join(waiting)}…" if waiting else "")

    def _fill_table(self) -> None:
        """One row per output channel; columns fill in as the filter and tuning results arrive."""
        filters, tuning = self.filters, self.tuning
        if filters is not None:
            channels, centres = filters.out_channels, filters.centres
        elif tuning is not None:
            channels, centres = tuning.curves.response.shape[0], tuning.centres
        else:
            return
        bank = filters.bank if filters is not None and filters.filters_are_channels else None
        best = tuning.curves.best_frequency_hz if tuning is not None else None
        self.table.blockSignals(True)
        self.table.setUpdatesEnabled(False)  # one layout and repaint for the whole table, not one per cell
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        try:
            self.table.setRowCount(channels)
            for c in range(channels):
                values = (
                    str(c),
                    _hz(centres, c),
                    _hz(bank.peak_hz if bank is not None else None, c),
                    _hz(bank.bandwidth_hz if bank is not None else None, c),
                    _hz(best, c),
                )
                for column, text in enumerate(values):
                    item = QTableWidgetItem(text)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(c, column, item)
        finally:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            self.table.setUpdatesEnabled(True)
            self.table.blockSignals(False)
        self.channel_spin.setMaximum(channels - 1)

    def _pen(self, c: int, n: int, bold: bool, dashed: bool) -> Any:
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        if bold:
            return pg.mkPen(_SELECTED_PEN, width=2.5 if not dashed else 2.0, style=style)
        if len(self._colours) != n:
            self._colours = channel_colours(n, alpha=170)
        return pg.mkPen(self._colours[c], width=1, style=style)

    def _apply_overlay(self) -> None:
        shown = self.show_initial.isChecked() and self.show_initial.isEnabled()
        for curve in self.initial_impulse_curves + self.initial_magnitude_curves:
            curve.setVisible(shown)

    def _apply_channel(self, channel: int) -> None:
        """Bold the selected channel's filter, mark its tuning row, follow it in the table and spin box."""
        filters_selected = self.filters is not None and self.filters.filters_are_channels
        for curves, dashed in ((self.impulse_curves, False), (self.magnitude_curves, False),
                               (self.initial_impulse_curves, True), (self.initial_magnitude_curves, True)):
            for c, curve in enumerate(curves):
                bold = filters_selected and c == channel
                curve.setPen(self._pen(c, len(curves), bold, dashed))
                curve.setZValue(10 if bold else 0)
        n_channels = self.table.rowCount()
        valid = 0 <= channel < n_channels
        self.channel_spin.blockSignals(True)
        self.channel_spin.setValue(channel if valid else -1)
        self.channel_spin.blockSignals(False)
        self.table.blockSignals(True)
        if valid:
            self.table.selectRow(channel)
            item = self.table.item(channel, 0)
            if item is not None:
                self.table.scrollToItem(item)
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)
        centres = self.filters.centres if self.filters is not None else (
            self.tuning.centres if self.tuning is not None else None)
        centre = float(centres[channel]) if valid and centres is not None and channel < len(centres) else None
        lines = [self.magnitude_centre] + ([self.tuning_centre] if self.tuning_plot is not None else [])
        for line in lines:
            line.setVisible(centre is not None and centre > 0)
            if centre is not None and centre > 0:
                line.setValue(math.log10(centre))
        if self.tuning_plot is not None:
            self._apply_tuning_channel(channel)

    def _apply_tuning_channel(self, channel: int) -> None:
        """Show ``channel``'s tuning curve and mark its heatmap row (the placeholder when it has none)."""
        tuning_valid = self.tuning is not None and 0 <= channel < self.tuning.curves.response.shape[0]
        if tuning_valid:
            self.tuning_curve.setData(self.tuning.curves.frequencies_hz, self.tuning.curves.response[channel])
            self.tuning_plot.setTitle(f"tuning of channel {channel}")
            self.heatmap_band.setRegion((channel, channel + 1))
        else:
            self.tuning_curve.setData([], [])
            self.tuning_plot.setTitle("tuning of the selected channel (none)")
        self.tuning_stack.setCurrentWidget(self.tuning_plot if tuning_valid else self.tuning_placeholder)
        self.heatmap_band.setVisible(tuning_valid)

    def _apply_colormap(self) -> None:
        if self.heatmap_plot is not None:  # else the heatmap gets it when it is built
            # the bar passes it on to the heatmap
            self.heatmap_colorbar.setColorMap(resolve_colormap(self.state.display.get("colormap")))

    def _update_title(self) -> None:
        slot = self.state.target()
        if slot is None:
            self.title.setText("<b>Filters</b>")
            return
        model = self._source_model()
        source = f" · trained in {model.path.name}" if model is not None else ""
        self.title.setText(f"<b>{slot.kind}</b> filters{source}")
        self.title.setToolTip(f"{slot.kind} filters{source}")

    # Export
    def export_data(self) -> ExportData | None:
        """The magnitude responses (frequency + one column per filter) or the tuning curves, as chosen."""
        if self.data_choice.currentText() == DATA_TUNING:
            return self._tuning_data() or self._magnitude_data()
        return self._magnitude_data() or self._tuning_data()

    def _magnitude_data(self) -> ExportData | None:
        if self.filters is None or self.filters.bank is None:
            return None
        bank = self.filters.bank
        prefix = "channel" if self.filters.filters_are_channels else "filter"
        arrays = {"frequency_hz": bank.frequencies_hz}
        arrays.update({f"{prefix}_{c}_db": row for c, row in enumerate(bank.magnitude_db)})
        return arrays, f"magnitude responses in dB of the {self._source_text()}"

    def _tuning_data(self) -> ExportData | None:
        if self.tuning is None:
            return None
        curves = self.tuning.curves
        arrays = {"frequency_hz": curves.frequencies_hz}
        arrays.update({f"channel_{c}": row for c, row in enumerate(curves.response)})
        return arrays, (f"mean output of the {self._source_text()} to tones at {self.tuning.level_db:g} dBFS "
                        f"(level_rms {curves.level_rms:.6g})")

    def _source_text(self) -> str:
        slot, model = self.state.target(), self._source_model()
        kind = slot.kind if slot is not None else "?"
        return f"{kind} front-end trained in {model.path.name}" if model is not None else f"{kind} front-end"


def _log_spaced_bins(n_bins: int, points: int = _MAGNITUDE_POINTS) -> np.ndarray:
    """Indices of FFT bins 1.. evenly spread on a log axis: the plot looks the same, with far fewer points."""
    if n_bins - 1 <= points:
        return np.arange(1, n_bins)
    return np.unique(np.round(np.geomspace(1, n_bins - 1, points)).astype(int))


def _hz(values: np.ndarray | None, c: int) -> str:
    if values is None or c >= len(values) or not np.isfinite(values[c]):
        return "—"
    return f"{float(values[c]):.0f}"
