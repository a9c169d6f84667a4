"""The PSTH view: recorded responses of one neuron to one stimulus next to every open model's prediction.

It answers "how well does each model predict this neuron?" at three scales: one stimulus (raster, mean PSTH
with its SEM band and the predicted rates), one neuron (cc, cc_norm and cc_max over the test split in the
legend) and the population (a sortable neuron table, cc_norm against cc_max, a cc_norm histogram).

Predictions of all stimuli by all models are computed once per (model, response set) in one background job
and cached; the computing and scoring is the backend's (:mod:`strfviewer.backend.prediction`, the numbers
``strfviewer fit`` reports). A model that cannot predict the open response set (other bin width, sample rate
or neurons) is listed with the reason instead of failing the view.

Nothing is drawn over the data: the legend has its own strip under the PSTH, the raster shows every repeat's row
whole (numbered 1..R at the row centres), the histogram says what its red line is, and the neuron table's
columns (one per model, headed by the model's name) fit beside the plots without sideways scrolling.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import one_line
from ...backend.metrics import MIN_CC_MAX, SIGNIFICANCE_LEVEL
from ...backend.prediction import (
    ModelResult,
    PredictionRun,
    ResponseStats,
    compute_predictions,
    mean_and_sem,
    metric_split,
    trial_counts,
)
from ..export import ExportButton, ExportData
from ..jobcontrols import job_controls, show_progress
from ..settings import settings
from ..state import SessionState
from ..stepwise import StagedBuild
from .neurontable import NeuronTable, format_score
from .timeaxis import TimeLinkedPlot

if TYPE_CHECKING:
    from ...backend.data.responses import ResponseSet

JOB_KEY = "psth-predict"
SETTINGS_PREFIX = "psth/"
# One colour per model, in the order the models were opened.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# Counts on the plots' dark background: no spike is background, the most spikes white.
_RASTER_COLORMAP = pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])
# Repeats that were not recorded (a unit not recording then, a sound played fewer times): a grey band, so a
# missing trial never reads as a silent one.
_MISSING_LUT = np.array([[0, 0, 0, 0], [110, 110, 110, 150]], dtype=np.uint8)
_RECORDED_PEN = "#ecf0f1"
_SELECTED_COLOUR = "#e74c3c"  # the selected neuron in the population plots
_LEFT_AXIS_WIDTH = 56  # px: the raster's and the PSTH's, so their linked x ranges line up exactly
_LEGEND_TEXT = "8pt"
_LEGEND_ROW_HEIGHT = 14  # px of a legend line's sample (pyqtgraph's are 20 px tall)
_LEGEND_SPACING = -6  # px between legend lines: their labels' boxes have that much blank around the text
_RASTER_MAX_TICKS = 10
_HEADER_LINE = 8  # characters per line of a model's name in the table header
_SIDE_MAX_SHARE = 0.6  # the side pane may grow to this share of the view to show the whole table
_SORT_INDICATOR_ROOM = 22  # px a header section needs beside its text for padding and the sort arrow


def header_lines(name: str, width: int = _HEADER_LINE) -> str:
    """A model name broken after ``-``, ``_`` or ``.`` into lines of about ``width`` characters, for a narrow
    table column: ``"linear-gammatone-pcen"`` becomes ``"linear-\ngammatone-\npcen"``."""
    parts = re.findall(r"[^-_.]+[-_.]?|[-_.]", name) or [name]
    lines = [""]
    for part in parts:
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


def raster_ticks(n_repeats: int) -> list[tuple[float, str]]:
    """Left-axis ticks of the raster: repeat ``r`` (row ``[r, r + 1)``) labelled ``r + 1`` at its centre."""
    step = max(1, math.ceil(n_repeats / _RASTER_MAX_TICKS))
    return [(r + 0.5, str(r + 1)) for r in range(0, n_repeats, step)]


def scatter_style(points: int) -> tuple[float, Any]:
    """Point size and outline for ``points`` neurons: outlined discs for a few dozen, small unoutlined ones for a
    probe's thousands, whose translucent overlap then shows where the neurons are dense."""
    if points <= 300:
        return 8.0, pg.mkPen("#34495e")
    return (5.0 if points <= 2000 else 3.5), None


def _column_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "model"


class _StripLegend(pg.LegendItem):
    """A legend in a strip of its own: sized by its layout (line spacing included), kept where it was put
    (pyqtgraph's ``updateSize`` moves it to the origin and counts every line 20 px tall)."""

    def updateSize(self) -> None:
        hint = self.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize)
        self.setGeometry(QRectF(self.pos(), QSizeF(hint.width(), hint.height())))


class PsthView(QWidget):
    """Recorded raster and PSTH against the models' predicted rates, a neuron table and population scores."""

    predictionsShown = Signal()  # after job results were merged and drawn (tests wait on it)

    def __init__(self, state: SessionState, runner: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner = state, runner
        self._cache: dict[int, ModelResult] = {}  # id(LoadedModel) -> result, for the open response set
        self._stats: ResponseStats | None = None
        self._stats_for: Any = None  # the response set _stats and _cache belong to
        self._job: Any = None
        self._job_covers: set[int] = set()
        self._syncing = False  # the stimulus and model boxes are being set from the state, not by the user
        self._filling = False  # the stimulus box is being filled: its caller draws
        self._bins_cache: dict[int, int] = {}
        self._shown: dict[str, Any] | None = None  # what the PSTH plot shows (the export's data)
        self._range_for: tuple[int, int, bool] | None = None  # (response set, stimulus, linked) the x range is for
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._psth_items: list[tuple[pg.PlotWidget, Any]] = []
        self._psth_drawn: tuple[int, tuple[str, ...]] | None = None  # (plot, curve names) the items are for
        self.raster_mode = "none"  # "spikes" | "counts" | "none"
        self.missing_repeats: list[int] = []  # rows of the raster that were not recorded (drawn grey)

        self._build_header()
        self._build_figure()
        self._build_side()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.figure)
        splitter.addWidget(self.side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter
        self._fitted_columns = 0  # the table's column count the side pane was last widened for
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(self.header)
        layout.addWidget(self.status)
        layout.addWidget(self.mismatch_label)
        layout.addWidget(splitter, 1)

        # [ and ] step through the neuron table from anywhere in the view.
        self.previous_shortcut = QShortcut(QKeySequence("["), self)
        self.next_shortcut = QShortcut(QKeySequence("]"), self)
        for shortcut, step in ((self.previous_shortcut, -1), (self.next_shortcut, 1)):
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda step=step: self.step_neuron(step))

        state.responsesChanged.connect(self._responses_changed)
        state.modelChanged.connect(self._models_changed)
        state.neuronChanged.connect(self._neuron_changed)
        state.stimulusChanged.connect(self._stimulus_changed)
        state.audioChanged.connect(self._draw_stimulus)
        # What the session holds is drawn on the next event-loop turn: building the view and drawing the response set
        # of a large probe in one turn froze the window for half a second on the tab's first visit.
        if state.responses is None:
            self._responses_changed()  # nothing to draw but what to open
        else:
            self._staged = StagedBuild(self, [self._responses_changed])

    # Construction
    def _build_header(self) -> None:
        self.title = QLabel("<b>PSTH</b>")
        self.stimulus_box = QComboBox()
        self.stimulus_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.stimulus_box.setToolTip("Stimulus shown in the raster and PSTH ([test]: in the test split)")
        self.stimulus_box.currentIndexChanged.connect(self._stimulus_chosen)
        self.smooth_box = QCheckBox("Hann-smoothed")
        self.smooth_box.setToolTip("Show the recorded PSTH smoothed with the 5-tap Hann window the fitting uses")
        self.smooth_box.setChecked(settings().value(f"{SETTINGS_PREFIX}smooth", True, type=bool))
        self.smooth_box.toggled.connect(self._smooth_toggled)
        self.progress, self.cancel_button = job_controls(lambda: self.runner.cancel(JOB_KEY), 160,
                                                         "Stop computing the predictions")
        self.predict_button = QToolButton(text="Predict")
        self.predict_button.setToolTip("Compute the predictions that are missing (after a cancel)")
        self.predict_button.clicked.connect(self.request_predictions)
        self.export_button = ExportButton(figure=lambda: self.figure, data=self.export_data, name="psth")
        self.header = QHBoxLayout()
        for widget in (self.title, QLabel("stimulus"), self.stimulus_box, self.smooth_box):
            self.header.addWidget(widget)
        self.header.addStretch(1)
        for widget in (self.progress, self.cancel_button, self.predict_button, self.export_button):
            self.header.addWidget(widget)
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        self.status.setWordWrap(True)
        self.mismatch_label = QLabel()
        self.mismatch_label.setStyleSheet("color: #c0392b;")
        self.mismatch_label.setVisible(False)

    def _build_figure(self) -> None:
        self.figure = QWidget()
        self.raster_plot = pg.PlotWidget()
        self.raster_plot.setLabel("left", "repeat")
        self.raster_plot.setMouseEnabled(x=True, y=False)
        self.raster_plot.getAxis("bottom").setStyle(showValues=False)
        self.raster_image = pg.ImageItem(axisOrder="row-major")
        self.raster_image.setColorMap(_RASTER_COLORMAP)
        self.raster_ticks = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(_RECORDED_PEN, width=1))
        self.raster_missing = pg.ImageItem(axisOrder="row-major")
        self.raster_missing.setLookupTable(_MISSING_LUT)
        self.raster_plot.addItem(self.raster_image)
        self.raster_plot.addItem(self.raster_missing)
        self.raster_plot.addItem(self.raster_ticks)
        self.linked_plot = TimeLinkedPlot(self.state)
        self.plain_plot = pg.PlotWidget()
        self.plain_plot.setMouseEnabled(x=True, y=False)
        for plot in (self.linked_plot, self.plain_plot):
            plot.setLabel("bottom", "time", units="s")
            plot.setLabel("left", "spikes / bin")
            plot.getAxis("left").enableAutoSIPrefix(False)  # 0.5 spikes per bin, not 500 x 0.001
        for plot in (self.raster_plot, self.linked_plot, self.plain_plot):
            plot.getAxis("left").setWidth(_LEFT_AXIS_WIDTH)
        # The legend has a strip of its own under the PSTH (one line per curve), so it never covers a trace;
        # clicking a line's sample still hides or shows that curve.
        self.legend_view = pg.GraphicsView()
        self._legend = _StripLegend(labelTextSize=_LEGEND_TEXT, frame=False, verSpacing=_LEGEND_SPACING)
        self.legend_view.addItem(self._legend)
        self._legend.setPos(4, 2)  # from the left edge, not the axis: long lines keep their scores in view
        self.legend_view.setFixedHeight(0)
        self.psth_stack = QStackedWidget()
        self.psth_stack.addWidget(self.plain_plot)
        self.psth_stack.addWidget(self.linked_plot)
        self.raster_plot.setXLink(self.plain_plot)
        layout = QVBoxLayout(self.figure)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.raster_plot, 2)
        layout.addWidget(self.psth_stack, 3)
        layout.addWidget(self.legend_view)

    def _build_side(self) -> None:
        self.side = QSplitter(Qt.Orientation.Vertical)
        self.table = NeuronTable()
        self.table.setToolTip("Click a header to sort; [ and ] step through the rows in this order")
        self.table_caption = QLabel()
        self.table_caption.setStyleSheet("color: gray;")
        self.table_caption.setWordWrap(True)
        self.table.selectionModel().selectionChanged.connect(self._row_selected)
        self.table.neuron_model.layoutChanged.connect(lambda: self._select_row(self.neuron()))
        population = QWidget()
        box = QVBoxLayout(population)
        box.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("population model"))
        self.population_box = QComboBox()
        self.population_box.currentIndexChanged.connect(self._population_model_chosen)
        row.addWidget(self.population_box, 1)
        box.addLayout(row)
        self.scatter_plot = pg.PlotWidget()
        self.scatter_plot.setLabel("bottom", "cc_max")
        self.scatter_plot.setLabel("left", "cc_norm")
        self.scatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen("#34495e"), brush=pg.mkBrush(52, 152, 219, 160))
        self.scatter.sigClicked.connect(self._points_clicked)
        self.scatter_highlight = pg.ScatterPlotItem(size=14, pen=pg.mkPen(_SELECTED_COLOUR, width=2), brush=None)
        self.scatter_plot.addItem(self.scatter)
        self.scatter_plot.addItem(self.scatter_highlight)
        self.histogram_plot = pg.PlotWidget()
        self.histogram_plot.setLabel("bottom", "cc_norm")
        self.histogram_plot.setLabel("left", "neurons")
        self.histogram = pg.BarGraphItem(x0=[], x1=[], height=[], brush="#95a5a6")
        self.histogram_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(_SELECTED_COLOUR, width=1.5))
        self.histogram_plot.addItem(self.histogram)
        self.histogram_plot.addItem(self.histogram_line, ignoreBounds=True)
        for plot in (self.scatter_plot, self.histogram_plot):
            for side in ("bottom", "left"):
                plot.getAxis(side).enableAutoSIPrefix(False)  # scores read as they are, not in milli-units
        plots = QHBoxLayout()
        plots.addWidget(self.scatter_plot)
        plots.addWidget(self.histogram_plot)
        box.addLayout(plots, 1)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(2)
        table_layout.addWidget(self.table_caption)
        table_layout.addWidget(self.table, 1)
        self.side.addWidget(table_box)
        self.side.addWidget(population)
        self.side.setSizes([1, 1])  # the table and the population plots share the height

    # What is selected
    @property
    def psth_plot(self) -> pg.PlotWidget:
        """The PSTH plot in use: on the shared time axis when the stimulus is the open sound."""
        return self.psth_stack.currentWidget()

    @property
    def legend(self) -> pg.LegendItem:
        """The PSTH's legend, in its own strip under the plot."""
        return self._legend

    def legend_texts(self) -> list[str]:
        """The legend's lines, in order (recorded first, then one per model)."""
        return [label.text for _, label in self.legend.items]

    def stimulus(self) -> int:
        return max(0, self.state.selected_stimulus)

    def neuron(self) -> int:
        rs = self.state.responses
        return 0 if rs is None else min(max(0, self.state.selected_neuron), len(rs.neurons) - 1)

    def results(self) -> list[ModelResult]:
        """Results of the open models, in their order (only those computed already)."""
        return [self._cache[id(m)] for m in self.state.models if id(m) in self._cache]

    def valid_results(self) -> list[ModelResult]:
        return [r for r in self.results() if r.ok]

    def shown_metrics(self) -> dict[str, dict[str, float]]:
        """Per model name, cc / cc_norm / cc_max of the selected neuron over the metric split."""
        n = self.neuron()
        return {r.name: {"cc": float(r.cc[n]), "cc_norm": float(r.cc_norm[n]), "cc_max": float(r.cc_max[n])}
                for r in self.valid_results()}

    def step_neuron(self, delta: int) -> None:
        """Select the neuron ``delta`` rows away in the neuron table's current (sorted) order."""
        if self.state.responses is None or self.table.rowCount() == 0:
            return
        row = self.table.neuron_model.row_of(self.neuron())
        row = min(max(0, (row if row is not None else 0) + delta), self.table.rowCount() - 1)
        self.state.set_neuron(self.table.neuron_model.neuron_at(row))

    # State changes
    def _responses_changed(self) -> None:
        rs = self.state.responses
        self._bins_cache = {}
        if rs is not self._stats_for:
            self._cache, self._stats, self._stats_for = {}, None, rs
        self._fill_stimuli()
        if rs is None:
            self._set_status("Open a response set (File ▸ Open response set) to compare recorded and predicted "
                             "responses.")
        self._refresh_all()
        self.request_predictions()

    def _models_changed(self) -> None:
        present = {id(m) for m in self.state.models}
        self._cache = {k: v for k, v in self._cache.items() if k in present}
        self._fill_population_models()
        self._refresh_all()
        self.request_predictions()

    def _neuron_changed(self, _index: int = 0) -> None:
        self._select_row(self.neuron())
        self._draw_stimulus()
        self._draw_population_highlight()

    def _stimulus_chosen(self, index: int) -> None:
        """The user chose a stimulus: remembered for this response set, and shown through the state."""
        rs = self.state.responses
        if self._syncing or rs is None or index < 0:
            return
        store = settings()
        store.setValue(f"{SETTINGS_PREFIX}stimulus", index)
        store.setValue(f"{SETTINGS_PREFIX}stimulus_set", rs.name)
        self.state.set_stimulus(index)

    def _stimulus_changed(self, index: int) -> None:
        self._syncing = True
        try:
            self.stimulus_box.setCurrentIndex(index)
        finally:
            self._syncing = False
        if not self._filling:
            self._draw_stimulus(reset_range=True)

    def _smooth_toggled(self, checked: bool) -> None:
        settings().setValue(f"{SETTINGS_PREFIX}smooth", checked)
        self._draw_stimulus()

    def _population_model_chosen(self, index: int) -> None:
        if self._syncing or index < 0:
            return
        settings().setValue(f"{SETTINGS_PREFIX}population_model", self.population_box.itemData(index))
        self._draw_population()

    # The job
    def request_predictions(self) -> None:
        """Submit the job for what is missing: the response set's statistics and uncached models."""
        rs = self.state.responses
        if rs is None:
            return
        models = [m for m in self.state.models if id(m) not in self._cache]
        with_stats = self._stats is None
        if not models and not with_stats:
            return
        wanted = {id(m) for m in models} | ({0} if with_stats else set())
        if self._job_covers and wanted <= self._job_covers and not self._job.cancelled:
            return  # the job in flight already computes all of it
        self._job_covers = wanted
        self._set_status(f"predicting {len(models)} model(s)…" if models else "reading the responses…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self._job = self.runner.submit(
            lambda progress, cancel: compute_predictions(rs, models, with_stats, progress, cancel),
            key=JOB_KEY,
            description=f"PSTH predictions ({rs.name})",
            on_result=self._show_results,
            on_error=self._failed,
            owner=self,
        )
        self._job.progressed.connect(lambda done, total, message: show_progress(self.progress, done, total, message))
        self._job.finished.connect(lambda job=self._job: self._job_finished(job))

    def _job_finished(self, job: Any) -> None:
        if job is not self._job:
            return
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._job_covers = set()
        if job.cancelled:
            self._set_status("Predictions cancelled: press Predict to compute them.")

    def _failed(self, exc: BaseException) -> None:
        self._set_status(f"Could not compute the predictions: {one_line(exc)}", error=True)

    def _show_results(self, run: PredictionRun) -> None:
        if run.responses is not self.state.responses:
            return  # a response set opened since: its own job follows
        if run.stats is not None:
            self._stats = run.stats
        present = {id(m) for m in self.state.models}
        for item in run.results:
            if id(item.model) in present:
                self._cache[id(item.model)] = item
        self._fill_population_models()
        self._refresh_all()
        self.predictionsShown.emit()

    # Drawing
    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "color: gray;")

    def _refresh_all(self) -> None:
        self._update_status()
        self._update_mismatches()
        self._fill_table()
        self._draw_stimulus()
        self._draw_population()

    def _update_status(self) -> None:
        rs = self.state.responses
        if rs is None:
            return
        busy = self._job is not None and not self._job.done and not self._job.cancelled
        if busy:
            return
        parts = [f"{rs.name}: {len(rs.neurons)} neurons, {len(rs.stimuli)} stimuli"]
        if self._stats is not None:
            split = ", ".join(str(s) for s in self._stats.split)
            parts.append(f"scores over the {self._stats.split_name} split (stimuli {split})"
                         if self._stats.split_name == "test" else "no test split: scores over all stimuli")
            if self._stats.spikes_note:
                parts.append(self._stats.spikes_note)
        if not self.state.models:
            parts.append("no model open: only the recorded responses are shown")
        for r in self.valid_results():
            parts.extend(f"{r.name}: {note}" for note in r.notes)
        self._set_status(" · ".join(parts))

    def _update_mismatches(self) -> None:
        lines = [f"{r.name} is not shown: {r.reason}" for r in self.results() if not r.ok]
        self.mismatch_label.setText("\n".join(lines))
        self.mismatch_label.setVisible(bool(lines))

    def _fill_stimuli(self) -> None:
        rs = self.state.responses
        self._syncing = True
        try:
            self.stimulus_box.clear()
            if rs is None:
                return
            test = set(rs.splits.get("test") or [])
            for i, info in enumerate(rs.stimuli):
                label = f" ({info.label})" if info.label else ""
                self.stimulus_box.addItem(f"{i}: {info.id}{label}{' [test]' if i in test else ''}", i)
        finally:
            self._syncing = False
        if rs is None:
            return
        self._filling = True  # the caller draws once everything is filled
        try:
            if 0 <= self.state.selected_stimulus < len(rs.stimuli):
                self._stimulus_changed(self.state.selected_stimulus)
            else:
                self.state.set_stimulus(_default_stimulus(rs))
        finally:
            self._filling = False

    def _fill_population_models(self) -> None:
        valid = self.valid_results()
        current = self.population_box.currentData()
        wanted = current if current is not None else settings().value(f"{SETTINGS_PREFIX}population_model")
        self._syncing = True
        try:
            self.population_box.clear()
            for r in valid:
                self.population_box.addItem(r.name, str(r.model.path))
            index = self.population_box.findData(wanted) if wanted is not None else -1
            self.population_box.setCurrentIndex(index if index >= 0 else len(valid) - 1)
        finally:
            self._syncing = False

    def _population_result(self) -> ModelResult | None:
        path = self.population_box.currentData()
        return next((r for r in self.valid_results() if str(r.model.path) == path), None)

    def _fill_table(self) -> None:
        """One row per neuron, kept in the order the user sorted by."""
        rs, model = self.state.responses, self.table.neuron_model
        self._syncing = True
        try:
            if rs is None:
                model.set_table([], np.zeros(0, dtype=bool), np.zeros(0), [], header_lines, "")
                self.table_caption.setText("")
                return
            results = self.valid_results()
            split = self._stats.split_name if self._stats is not None else metric_split(rs)[0]
            cc_max = self._stats.cc_max if self._stats is not None else np.full(len(rs.neurons), np.nan)
            model.set_table([n.id for n in rs.neurons], np.array([not n.valid for n in rs.neurons]), cc_max,
                            results, header_lines, split)
        finally:
            self._syncing = False
        self.table_caption.setText(
            f"Scores over the {split} split: cc_max, then each model's cc_norm (grey n.s.: not significant "
            f"against circular shifts, p ≥ {SIGNIFICANCE_LEVEL:g}; italic: cc_max below {MIN_CC_MAX:g}, "
            "cc_norm unreliable)" if results else f"cc_max over the {split} split")
        self._fit_columns()
        self._select_row(self.neuron())

    def _fit_columns(self) -> None:
        """Each column as wide as its cells or its header's longest line (Qt measures a multi-line header as one
        line), and, when models were added, the side pane widened so the table needs no sideways scrolling."""
        table, header = self.table, self.table.horizontalHeader()
        metrics = header.fontMetrics()
        for column in range(table.columnCount()):
            lines = table.header_text(column).split("\n")
            text = max(metrics.horizontalAdvance(line) for line in lines) + _SORT_INDICATOR_ROOM
            header.resizeSection(column, max(table.column_width(column), text))
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if table.columnCount() == self._fitted_columns or total <= 0:
            return
        self._fitted_columns = table.columnCount()
        needed = header.length() + 2 * table.frameWidth() + table.verticalScrollBar().sizeHint().width() + 2
        if sizes[1] < needed:
            side = min(needed, int(_SIDE_MAX_SHARE * total))
            self.splitter.setSizes([total - side, side])

    def _select_row(self, neuron: int) -> None:
        row = self.table.neuron_model.row_of(neuron)
        if row is None:
            return
        self._syncing = True
        try:
            index = self.table.neuron_model.index(row, 0)
            # Centred with its neighbours unless in view already (asked before selecting, which scrolls it just
            # into view, at an edge).
            in_view = self.table.viewport().rect().contains(self.table.visualRect(index))
            self.table.selectRow(row)
            if not in_view:
                self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        finally:
            self._syncing = False

    def _row_selected(self) -> None:
        if self._syncing:
            return
        rows = self.table.selected_rows()
        if len(rows) == 1:
            self.state.set_neuron(self.table.neuron_model.neuron_at(rows.pop()))

    def _stimulus_is_open_audio(self, rs: ResponseSet, stimulus: int) -> bool:
        audio = self.state.audio
        if audio is None or audio.path is None:
            return False
        try:
            return Path(audio.path).resolve() == Path(rs.stimuli[stimulus].file).resolve()
        except OSError:
            return False

    def _n_bins(self, rs: ResponseSet, stimulus: int) -> int:
        if stimulus not in self._bins_cache:
            self._bins_cache[stimulus] = rs.n_bins(stimulus)
        return self._bins_cache[stimulus]

    def _use_plot(self, linked: bool) -> pg.PlotWidget:
        wanted = self.linked_plot if linked else self.plain_plot
        if self.psth_stack.currentWidget() is not wanted:
            self._clear_psth()
            self.psth_stack.setCurrentWidget(wanted)
            self.raster_plot.setXLink(wanted)
        return wanted

    def _clear_psth(self) -> None:
        """Remove what this view drew (not plot.clear(): that would also drop the shared cursor line)."""
        for plot, item in self._psth_items:
            plot.removeItem(item)
        self._psth_items = []
        self._psth_drawn = None
        self._legend.clear()
        self.legend_view.setFixedHeight(0)

    def _add(self, plot: pg.PlotWidget, item: Any, name: str | None = None) -> Any:
        plot.addItem(item)
        self._psth_items.append((plot, item))
        if name is not None:
            self._legend.addItem(item, name)
            sample, _label = self._legend.items[-1]
            sample.setFixedHeight(_LEGEND_ROW_HEIGHT)
            self._legend.updateSize()
            self.legend_view.setFixedHeight(math.ceil(self._legend.geometry().bottom()) + 6)
        return item

    def _draw_stimulus(self, reset_range: bool = False) -> None:
        rs = self.state.responses
        self._shown = None
        if rs is None or self.stimulus_box.count() == 0:
            self.curves = {}
            self._clear_psth()
            self.raster_image.clear()
            self.raster_missing.clear()
            self.raster_ticks.setData([], [])
            self.raster_mode = "none"
            return
        s, n = self.stimulus(), self.neuron()
        linked = self._stimulus_is_open_audio(rs, s)
        plot = self._use_plot(linked)
        dt_s = rs.dt_ms / 1000.0
        n_bins = self._n_bins(rs, s)
        counts = trial_counts(rs, n, s)[:, :n_bins]
        self._draw_raster(rs, counts, n, s, dt_s)
        smooth = self.smooth_box.isChecked()
        recorded = mean_and_sem(counts, smooth)
        t = (np.arange(n_bins) + 0.5) * dt_s
        band = np.nan_to_num(recorded.sem)
        lines = [("recorded", _RECORDED_PEN, 2.0, t, recorded.mean,
                  f"recorded mean ± SEM ({recorded.n_repeats} repeats{', smoothed' if smooth else ''})")]
        data: dict[str, np.ndarray] = {"time_s": t, "recorded_mean": recorded.mean, "recorded_sem": recorded.sem}
        for index, model in enumerate(self.state.models):
            result = self._cache.get(id(model))
            if result is None or not result.ok:
                continue
            prediction = result.predictions[s][n] if s < len(result.predictions) else None
            if prediction is None or not np.isfinite(prediction).any():
                continue
            text = (f"{result.name} · cc {format_score(result.cc[n])} · cc_norm {format_score(result.cc_norm[n])} · "
                    f"cc_max {format_score(result.cc_max[n])}")
            lines.append((result.name, PALETTE[index % len(PALETTE)], 1.5, t[: prediction.shape[0]], prediction, text))
            data[f"pred_{_column_name(result.name)}"] = prediction.astype(np.float64)
        self._draw_lines(plot, t, recorded.mean - band, recorded.mean + band, lines)
        info, neuron = rs.stimuli[s], rs.neurons[n]
        self._shown = {"data": data, "header": (
            f"neuron {neuron.id}; stimulus {info.id}; {rs.dt_ms:g} ms bins, spike counts per bin"
            f"{' (Hann-smoothed)' if smooth else ''}; time_s is the bin centre; {rs.name}")}
        self.title.setText(f"<b>PSTH</b> neuron {neuron.id}")
        plot.enableAutoRange(axis="y")
        shown = (id(rs), s, linked)
        if reset_range or shown != self._range_for:  # a new stimulus: show all of it (or the shared range)
            self._range_for = shown
            start, stop = self.state.view_range if linked else (0.0, n_bins * dt_s)
            plot.setXRange(start, stop, padding=0)

    def _draw_lines(self, plot: pg.PlotWidget, t: np.ndarray, low: np.ndarray, high: np.ndarray,
                    lines: list[tuple[str, str, float, np.ndarray, np.ndarray, str]]) -> None:
        """The SEM band and one curve per line (name, colour, width, x, y, legend text). Stepping neurons keeps
        the same curves: their data and legend texts are replaced in place, which costs a fraction of making
        them anew (a 5,000-neuron probe is stepped through a neuron at a time)."""
        drawn = (id(plot), tuple(name for name, *_ in lines))
        if drawn == self._psth_drawn:
            band_low, band_high = self._psth_items[0][1], self._psth_items[1][1]
            band_low.setData(t, low)
            band_high.setData(t, high)
            for (name, _colour, _width, x, y, text), (_sample, label) in zip(lines, self._legend.items,
                                                                             strict=True):
                self.curves[name].setData(x, y)
                if label.text != text:
                    label.setText(text)
            self._legend.updateSize()
            return
        self.curves = {}
        self._clear_psth()
        self._psth_drawn = drawn
        band_low = pg.PlotCurveItem(t, low, pen=pg.mkPen(None))
        band_high = pg.PlotCurveItem(t, high, pen=pg.mkPen(None))
        for item in (band_low, band_high, pg.FillBetweenItem(band_low, band_high, brush=pg.mkBrush(189, 195, 199, 80))):
            self._add(plot, item)
        for name, colour, width, x, y, text in lines:
            self.curves[name] = self._add(plot, pg.PlotDataItem(x, y, pen=pg.mkPen(colour, width=width)), text)

    def _draw_raster(self, rs: ResponseSet, counts: np.ndarray, n: int, s: int, dt_s: float) -> None:
        n_repeats, n_bins = counts.shape
        spikes = self._stats.spikes if self._stats is not None else None
        if spikes is not None:
            xs, ys = [], []
            for r in range(n_repeats):
                times = spikes.times(n, s, r)
                times = times[(times >= 0) & (times < n_bins * dt_s)]
                xs.append(np.repeat(times, 2))
                ys.append(np.tile([r + 0.1, r + 0.9], times.size))
            self.raster_image.clear()
            self.raster_ticks.setData(np.concatenate(xs) if xs else [], np.concatenate(ys) if ys else [])
            self.raster_mode = "spikes"
        else:
            self.raster_ticks.setData([], [])
            image = np.nan_to_num(counts)
            self.raster_image.setImage(image, levels=(0.0, max(1.0, float(image.max(initial=0.0)))))
            self.raster_image.setRect(0.0, 0.0, n_bins * dt_s, n_repeats)
            self.raster_mode = "counts"
        missing = np.isnan(counts).all(axis=1) if n_bins else np.ones(n_repeats, dtype=bool)
        self.missing_repeats = [int(r) for r in np.flatnonzero(missing)]
        if missing.any():
            self.raster_missing.setImage(missing[:, None].astype(np.uint8), levels=(0, 1))
            self.raster_missing.setRect(0.0, 0.0, n_bins * dt_s, n_repeats)
        else:
            self.raster_missing.clear()
        self.raster_plot.setToolTip(f"repeats {', '.join(str(r + 1) for r in self.missing_repeats)} not recorded "
                                    "(grey)" if self.missing_repeats else "")
        # Every row whole, with a margin so the top and bottom rows visibly end inside the plot.
        rows = max(1, n_repeats)
        self.raster_plot.setYRange(0, rows, padding=0.02)
        self.raster_plot.getAxis("left").setTicks([raster_ticks(rows)])

    def _draw_population(self) -> None:
        rs, result = self.state.responses, self._population_result()
        if rs is None or result is None or self._stats is None:
            self.scatter.setData([])
            self.histogram.setOpts(x0=[], x1=[], height=[])
            self._draw_population_highlight()
            return
        x, y = self._stats.cc_max, result.cc_norm
        keep = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        size, pen = scatter_style(keep.size)
        self.scatter.setData(x=x[keep], y=y[keep], data=keep.tolist(), size=size, pen=pen)
        finite = y[np.isfinite(y)]
        median = float(np.median(finite)) if finite.size else None
        # Short titles: a title wider than its plot pushes the plot out of the widget (the model is named above).
        self.scatter_plot.setTitle(f"median cc_norm {format_score(median)} ({finite.size} neurons)", size="9pt")
        if finite.size:
            edges = np.linspace(min(0.0, float(finite.min())), max(1.0, float(finite.max())), 21)
            heights, _ = np.histogram(finite, bins=edges)
            self.histogram.setOpts(x0=edges[:-1], x1=edges[1:], height=heights)
        else:
            self.histogram.setOpts(x0=[], x1=[], height=[])
        self._draw_population_highlight()

    def _draw_population_highlight(self) -> None:
        rs, result = self.state.responses, self._population_result()
        n = self.neuron()
        if rs is None or result is None or self._stats is None:
            self.scatter_highlight.setData([])
            self.histogram_line.setVisible(False)
            self.histogram_plot.setTitle(None)
            return
        x, y = self._stats.cc_max[n], result.cc_norm[n]
        if np.isfinite(x) and np.isfinite(y):
            self.scatter_highlight.setData(x=[x], y=[y])
        else:
            self.scatter_highlight.setData([])
        self.histogram_line.setVisible(bool(np.isfinite(y)))
        if np.isfinite(y):
            self.histogram_line.setValue(float(y))
            self.histogram_plot.setTitle(f"<span style='color:{_SELECTED_COLOUR}'>red line</span>: selected neuron",
                                         size="9pt")
        else:
            self.histogram_plot.setTitle("selected neuron: no cc_norm", size="9pt")

    def _points_clicked(self, _item: Any, points: Any, _event: Any = None) -> None:
        """A click on the population scatter selects the neuron of the (first) point under the mouse."""
        if points is not None and len(points) > 0:
            self.state.set_neuron(int(points[0].data()))

    # Export
    def export_data(self) -> ExportData | None:
        """Time, recorded mean and SEM, and each model's prediction for the shown neuron and stimulus."""
        if self._shown is None:
            return None
        return dict(self._shown["data"]), self._shown["header"]


def _default_stimulus(rs: ResponseSet) -> int:
    """The stimulus a response set opens on: the one chosen last time for a set of that name, else its first
    test stimulus, else its first."""
    store = settings()
    saved = store.value(f"{SETTINGS_PREFIX}stimulus")
    if saved is not None and store.value(f"{SETTINGS_PREFIX}stimulus_set") == rs.name:
        try:
            if 0 <= int(saved) < len(rs.stimuli):
                return int(saved)
        except (TypeError, ValueError):
            pass
    return rs.splits["test"][0] if rs.splits.get("test") else 0
