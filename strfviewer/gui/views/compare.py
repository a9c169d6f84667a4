"""Front-ends side by side: every active front-end's frames of the same sound, and a table that compares them.

The question the view answers is "which front-end should I use?": the images show what each one makes of
the sound on the shared time axis, and the table puts numbers next to them: how big its output is, how fast
it runs, whether it leaks the future (the causality Jacobian of the loudest quarter second), how far back it
listens, and how well the models fitted on it predict held-out responses. Each front-end is measured in its
own background job (keyed per slot), so changing one front-end only re-measures that one.

Each strip keeps a readable height (the images scroll when there are many front-ends) and has its own colour
bar in the front-end's output unit, or in SD when the shared scale z-scores them. The cc_norm column is what
the matching model's metadata recorded when it was fitted: the median over its neurons of the test-split
cc_norm, and the header and tooltips say so and over how many neurons. What is measured and which model
matches a front-end is decided in :mod:`strfviewer.backend.analysis.compare`; this view lays it out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...backend.analysis.compare import (
    CAUSALITY_SECONDS,
    CcNormSummary,
    FrontendMeasurement,
    cc_norm_summary,
    describe_frontend_args,
    matching_model,
    measure_frontend,
    median_test_cc_norm,
)
from ...backend.analysis.fitreport import method_label
from ...backend.analysis.frames import percentile_levels, zscore
from ...backend.errors import one_line
from .. import windowing
from ..export import ExportButton, ExportData
from ..jobcontrols import job_controls, show_progress
from ..settings import settings
from ..state import FrontendSlot, SessionState
from ..stepwise import Stepwise
from .colorbar import attach_colorbar, fix_left_axis, resolve_colormap, set_colorbar_label
from .common import PLOT_MIN_HEIGHT, frequency_ticks
from .gridresults import GridResultsPanel
from .timeaxis import TimeLinkedPlot

logger = logging.getLogger(__name__)

SETTINGS_SHARED_SCALE = "compare/shared_scale"
JOB_PREFIX = "compare:"
COLUMNS = ("front-end", "parameters", "channels", "hop", "compute (s)", "× real time", "causality leak",
           "receptive field", "test cc_norm", "fitted by")
CC_NORM_HEADER = "median test cc_norm"  # what the "test cc_norm" column shows (its key stays, for readers)
ZSCORE_UNIT = "z-score (SD)"


def cc_norm_tooltip(model: Any, summary: CcNormSummary) -> str:
    """What a cc_norm cell shows, in words: whose numbers, over how many neurons, computed when."""
    over = f"its {summary.neurons} neurons" if summary.neurons is not None else "its neurons"
    return (f"{summary.median:.3f}: median over {over} of the test-split cc_norm that {Path(model.path).name} recorded "
            f"when it was fitted ({model.path}/metadata.json)")


@dataclass
class _Row:
    """One front-end's image and its last measurement."""

    box: QWidget
    title: QLabel
    plot: TimeLinkedPlot
    image: pg.ImageItem
    colorbar: pg.ColorBarItem
    result: FrontendMeasurement | None = None
    error: str | None = None
    computing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class CompareView(QWidget):
    """All active front-ends on the open sound, stacked on the shared time axis, with a comparison table."""

    resultsShown = Signal(int)  # slot id, after its image and table row were updated (tests wait on it)

    def __init__(self, state: SessionState, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner = state, runner
        self.rows: dict[int, _Row] = {}
        self._stale: set[int] = set()
        self._excerpt_note: str | None = None  # a long sound is measured on its visible part (windowing.excerpt)
        self._excerpt_start = 0.0
        self._jobs: dict[int, Any] = {}

        title = QLabel("<b>Compare front-ends</b>")
        self.shared_scale = QCheckBox("shared colour scale")
        self.shared_scale.setToolTip("Z-score each front-end's frames (mean 0, SD 1) and draw all of them with one "
                                     "colour range, so their contrast can be compared")
        self.shared_scale.setChecked(bool(settings().value(SETTINGS_SHARED_SCALE, False, type=bool)))
        self.shared_scale.toggled.connect(self._shared_toggled)
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        self.progress, self.cancel_button = job_controls(self.cancel, 160, "Stop measuring the front-ends")
        self.export_button = ExportButton(lambda: self.images_area, self.export_data, "compare")

        header = QHBoxLayout()
        for w in (title, self.status):
            header.addWidget(w)
        header.addStretch(1)
        for w in (self.progress, self.cancel_button, self.shared_scale, self.export_button):
            header.addWidget(w)

        self.message = QLabel()
        self.message.setStyleSheet("color: #c0392b;")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.scale_note = QLabel()
        self.scale_note.setStyleSheet("color: gray;")
        self.empty_note = QLabel()
        self.empty_note.setStyleSheet("color: gray;")

        self.images_area = QWidget()
        self.images_area.setStyleSheet("background: white;")
        self._images_layout = QVBoxLayout(self.images_area)
        self._images_layout.setContentsMargins(2, 2, 2, 2)
        self._images_layout.addWidget(self.empty_note)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.images_area)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        sections = self.table.horizontalHeader()
        sections.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The parameters take what the numbers leave (elided, whole in the tooltip): at a usual window width
        # every column, the method last, is in view without scrolling sideways.
        sections.setSectionResizeMode(COLUMNS.index("parameters"), QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeaderItem(COLUMNS.index("× real time")).setToolTip(
            "Seconds of sound per second of computation (offline, whole sound, this machine; frames a pane "
            "computed already are reused, with the time they took then)")
        self.table.horizontalHeaderItem(COLUMNS.index("causality leak")).setToolTip(
            f"Largest gradient of a frame with respect to samples at or after its end, on the loudest "
            f"{CAUSALITY_SECONDS:g} s (random projection over channels)")
        self.table.horizontalHeaderItem(COLUMNS.index("test cc_norm")).setText(CC_NORM_HEADER)
        self.table.horizontalHeaderItem(COLUMNS.index("test cc_norm")).setToolTip(
            "Median over its neurons of the test-split cc_norm that the latest open model fitted with this "
            "front-end recorded when it was fitted (its metadata.json); '-': no such model is open")
        self.table.horizontalHeaderItem(COLUMNS.index("fitted by")).setToolTip(
            "How that model was fitted: ridge (closed form, cross-validated lambda) or gradient (AdamW with "
            "early stopping); '-': not recorded, or no model")

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([3000, 1000])  # images first: the table needs a few rows only

        sound_page = QWidget()
        sound_layout = QVBoxLayout(sound_page)
        sound_layout.setContentsMargins(0, 0, 0, 0)
        sound_layout.addLayout(header)
        sound_layout.addWidget(self.message)
        sound_layout.addWidget(self.scale_note)
        sound_layout.addWidget(splitter, 1)
        self.grid_panel = GridResultsPanel(state)
        self.openModelRequested = self.grid_panel.openModelRequested
        self.openGridRequested = self.grid_panel.openGridRequested
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(sound_page, "Front-ends on this sound")
        self.pages.addTab(self.grid_panel, "Fit grid")
        self.pages.setTabToolTip(1, "A fit grid's results: front-end × data-set matrices of mean test cc_norm "
                                    "(strfviewer fit-grid)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.pages, 1)
        state.gridChanged.connect(self._grid_opened)
        self._grid_opened()

        state.audioChanged.connect(self._audio_changed)
        state.frontendsChanged.connect(self._sync_rows)
        state.frontendChanged.connect(self._frontend_changed)
        state.modelChanged.connect(self._fill_table)
        state.displayChanged.connect(self._apply_colormap)
        self._building = Stepwise(self)
        self._sync_rows()

    def _grid_opened(self) -> None:
        if self.state.grid is not None:
            self.pages.setCurrentWidget(self.grid_panel)

    # Rows
    @property
    def built(self) -> bool:
        """Whether every active front-end has its strip (they are built over a few event-loop turns)."""
        return not self._building.busy

    def _sync_rows(self) -> None:
        """Make one image per active front-end, in the state's order, a strip per event-loop turn (each takes
        tens of ms to build); then measure the new ones. Without new strips it is all done at once."""
        if all(slot.id in self.rows for slot in self.state.frontends):
            self._building.cancel()
            for _ in self._sync_steps():
                pass
        else:
            self._building.run(self._sync_steps())

    def _sync_steps(self) -> Iterator[None]:
        wanted = [s.id for s in self.state.frontends]
        for slot_id in [i for i in self.rows if i not in wanted]:
            self.runner.cancel(f"{JOB_PREFIX}{slot_id}")
            self._stale.discard(slot_id)
            row = self.rows.pop(slot_id)
            self._images_layout.removeWidget(row.box)
            row.box.setParent(None)
            row.box.deleteLater()
        new = [i for i in wanted if i not in self.rows]
        for slot_id in new:
            self.rows[slot_id] = self._make_row()
            yield
        for slot_id in wanted:
            self._images_layout.removeWidget(self.rows[slot_id].box)
        for slot_id in wanted:
            self._images_layout.addWidget(self.rows[slot_id].box, 1)
            self._update_title(slot_id)
        self.empty_note.setText("" if wanted else "Add front-ends to compare them on the open sound.")
        self.empty_note.setVisible(not wanted)
        self._apply_colormap()
        self._fill_table()
        self._request(new)
        self._apply_levels()

    def _make_row(self) -> _Row:
        box = QWidget()
        title = QLabel()
        plot = TimeLinkedPlot(self.state)
        plot.setMinimumHeight(PLOT_MIN_HEIGHT)  # an image of >= 120 px: many front-ends scroll, none squashes
        plot.setLabel("left", "channel")
        plot.setLabel("bottom", "time", units="s")
        fix_left_axis(plot)  # the strips' plot areas line up (each has a colour bar of the same width)
        image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(image)
        colorbar = attach_colorbar(plot, image, ZSCORE_UNIT if self.shared_scale.isChecked() else "")
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(title)
        layout.addWidget(plot, 1)
        return _Row(box, title, plot, image, colorbar)

    def _update_title(self, slot_id: int) -> None:
        slot, row = self.state.slot(slot_id), self.rows.get(slot_id)
        if slot is None or row is None:
            return
        row.title.setText(f"<b>{slot.kind}</b> {describe_frontend_args(slot.kind, slot.args)}")

    def _audio_changed(self) -> None:
        self._request([s.id for s in self.state.frontends])

    def _frontend_changed(self, slot_id: int) -> None:
        if slot_id in self.rows:
            self._update_title(slot_id)
            self._request([slot_id])

    # Jobs
    def _request(self, slot_ids: list[int]) -> None:
        """Measure these front-ends now if the view is visible, else as soon as it is shown."""
        self._stale.update(i for i in slot_ids if i in self.rows)
        if self.isVisible():
            self._flush()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._flush()

    def _flush(self) -> None:
        audio = self.state.audio
        if audio is None:
            self.status.setText("open a sound to compare front-ends" if self.rows else "")
            return
        samples, self._excerpt_note = windowing.excerpt(audio.samples, audio.audio_fs, self.state.view_range)
        self._excerpt_start = 0.0 if self._excerpt_note is None else max(0.0, self.state.view_range[0])
        for slot_id in sorted(self._stale):
            slot = self.state.slot(slot_id)
            if slot is not None:
                self._submit(slot, samples, audio.audio_fs)
        self._stale.clear()

    def _submit(self, slot: FrontendSlot, samples: np.ndarray, audio_fs: int) -> None:
        kind, args, dt_ms, slot_id = slot.kind, dict(slot.args), slot.dt_ms, slot.id
        cache = self.state.frame_cache
        row = self.rows[slot_id]
        row.computing, row.error = True, None
        self._jobs[slot_id] = job = self.runner.submit(
            lambda progress, cancel: measure_frontend(kind, args, dt_ms, samples, audio_fs, progress, cancel, cache),
            key=f"{JOB_PREFIX}{slot_id}",
            description=f"comparing {kind}",
            on_result=lambda result: self._show(slot_id, result),
            on_error=lambda exc: self._failed(slot_id, exc),
            owner=self,
        )
        job.progressed.connect(lambda done, total, message: show_progress(self.progress, done, total, message))
        job.finished.connect(lambda job=job: self._job_finished(job))
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self._update_status()
        self._fill_table()

    def cancel(self) -> None:
        """Stop every running measurement of this view; what was already shown stays."""
        for slot_id in list(self._jobs):
            self.runner.cancel(f"{JOB_PREFIX}{slot_id}")
        for row in self.rows.values():
            row.computing = False
        self._stale.clear()
        self.status.setText("cancelled")
        self._fill_table()

    def _job_finished(self, job) -> None:
        slot_id = next((i for i, j in self._jobs.items() if j is job), None)
        if slot_id is None:
            return
        del self._jobs[slot_id]
        row = self.rows.get(slot_id)
        if row is not None and job.cancelled:
            row.computing = False
        if not self._jobs:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
        if self.status.text() != "cancelled":
            self._update_status()
        self._fill_table()

    def _update_status(self) -> None:
        running = sum(1 for row in self.rows.values() if row.computing)
        text = f"measuring {running} front-end{'s' if running != 1 else ''}…" if running else ""
        if self._excerpt_note:
            text = f"{text} {self._excerpt_note}" if text else f"measured {self._excerpt_note}"
        self.status.setText(text)

    def _failed(self, slot_id: int, exc: BaseException) -> None:
        row = self.rows.get(slot_id)
        if row is None:
            return
        row.computing, row.error = False, one_line(exc)
        self._show_errors()
        self._fill_table()
        self.resultsShown.emit(slot_id)

    def _show(self, slot_id: int, result: FrontendMeasurement) -> None:
        row = self.rows.get(slot_id)
        if row is None:
            return
        row.computing, row.error, row.result = False, None, result
        channels, n_frames = result.window.frames.shape
        row.extra["rect"] = QRectF(self._excerpt_start, 0, n_frames * result.hop / result.audio_fs, channels)
        row.plot.getAxis("left").setTicks([frequency_ticks(result.window.centres, channels)])
        row.plot.setYRange(0, channels, padding=0)
        self._show_errors()
        self._draw_all()
        self._fill_table()
        self.resultsShown.emit(slot_id)

    def _show_errors(self) -> None:
        lines = []
        for slot in self.state.frontends:
            row = self.rows.get(slot.id)
            if row is not None and row.error:
                lines.append(f"{slot.kind}: {row.error}")
            elif row is not None and row.result is not None and row.result.causality_error:
                lines.append(f"{slot.kind}: no causality measure ({row.result.causality_error})")
        self.message.setText("\n".join(lines))
        self.message.setVisible(bool(lines))

    # Drawing
    def displayed_frames(self, slot_id: int) -> np.ndarray | None:
        """What the image of this front-end shows: its frames, z-scored when the colour scale is shared."""
        row = self.rows.get(slot_id)
        if row is None or row.result is None:
            return None
        frames = row.result.window.frames
        return zscore(frames) if self.shared_scale.isChecked() else frames

    def _draw_all(self) -> None:
        for slot_id, row in self.rows.items():
            shown = self.displayed_frames(slot_id)
            if shown is None or shown.size == 0:
                continue
            row.image.setImage(shown, autoLevels=False)
            row.image.setRect(row.extra["rect"])  # after setImage: the rect scales the current image's pixels
        self._apply_levels()

    def image_levels(self) -> dict[int, tuple[float, float]]:
        """The colour range of each drawn image (one common range when the scale is shared)."""
        shown = {i: self.displayed_frames(i) for i in self.rows}
        shown = {i: f for i, f in shown.items() if f is not None and f.size}
        if self.shared_scale.isChecked():
            common = percentile_levels(list(shown.values()))
            return {i: common for i in shown}
        return {i: percentile_levels([f]) for i, f in shown.items()}

    def _apply_levels(self) -> None:
        levels = self.image_levels()
        for slot_id, (low, high) in levels.items():
            row = self.rows[slot_id]
            row.colorbar.setLevels((low, high))  # the bar sets the image's levels too
            unit = ZSCORE_UNIT if self.shared_scale.isChecked() else (row.result.window.unit if row.result else "")
            set_colorbar_label(row.colorbar, unit)
        if self.shared_scale.isChecked():
            common = next(iter(levels.values()), None)
            span = f": [{common[0]:.2f}, {common[1]:.2f}] SD" if common else ""
            self.scale_note.setText("Shared colour scale: each front-end's frames are z-scored (mean 0, SD 1) and "
                                    f"all images use one colour range{span}.")
        else:
            self.scale_note.setText("Each image has its own colour range (1st to 99.5th percentile of its frames).")

    def _shared_toggled(self, on: bool) -> None:
        settings().setValue(SETTINGS_SHARED_SCALE, bool(on))
        self._draw_all()

    def _apply_colormap(self) -> None:
        colormap = resolve_colormap(self.state.display.get("colormap"))
        for row in self.rows.values():
            row.colorbar.setColorMap(colormap)  # the bar passes it on to its image

    # Table
    def _row_cells(self, slot: FrontendSlot) -> list[str]:
        row = self.rows.get(slot.id)
        cells = [slot.kind, describe_frontend_args(slot.kind, slot.args)]
        result = row.result if row is not None else None
        if row is not None and row.error:
            cells += ["-", "-", "failed", "-", "-", "-"]
        elif result is None:
            pending = "…" if row is not None and row.computing else "-"
            cells += [pending] * 6
        else:
            cells += [str(result.channels), f"{result.hop} ({result.hop_ms:g} ms)", f"{result.seconds:.3f}",
                      f"{result.rtf:.1f}", result.leak_text, result.receptive_field_text]
        model = matching_model(self.state.models, slot.kind, slot.args)
        value = median_test_cc_norm(model) if model is not None else None
        cells.append("-" if value is None else f"{value:.3f}")
        cells.append(method_label(model.info) if model is not None else "-")
        return cells

    def _fill_table(self) -> None:
        slots = [s for s in self.state.frontends if s.id in self.rows]
        self.table.setRowCount(len(slots))
        counts = set()
        for r, slot in enumerate(slots):
            model = matching_model(self.state.models, slot.kind, slot.args)
            summary = cc_norm_summary(model) if model is not None else None
            if summary is not None:
                counts.add(summary.neurons)
            for c, text in enumerate(self._row_cells(slot)):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if COLUMNS[c] == "test cc_norm" and summary is not None:
                    item.setToolTip(cc_norm_tooltip(model, summary))
                if COLUMNS[c] == "parameters":
                    item.setToolTip(text)
                self.table.setItem(r, c, item)
        (count,) = counts if len(counts) == 1 else (None,)  # one neuron count for every row: the header says it
        header = f"{CC_NORM_HEADER} ({count} neurons)" if count is not None else CC_NORM_HEADER
        self.table.horizontalHeaderItem(COLUMNS.index("test cc_norm")).setText(header)
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        """The table as tall as its rows (the images get the rest), at most half the view."""
        table = self.table
        rows = max(1, table.rowCount())  # room for one row when empty: the header alone looks broken
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
        height += rows * table.verticalHeader().defaultSectionSize() + table.horizontalScrollBar().sizeHint().height()
        table.setMaximumHeight(height)

    def table_text(self) -> list[list[str]]:
        """The table's cells as shown, row by row (what a user reads; tests read it too)."""
        return [[self.table.item(r, c).text() if self.table.item(r, c) else ""
                 for c in range(self.table.columnCount())] for r in range(self.table.rowCount())]

    def export_data(self) -> ExportData | None:
        """The table as numeric columns, one value per front-end; the header names the rows."""
        slots = [s for s in self.state.frontends if s.id in self.rows and self.rows[s.id].result is not None]
        if not slots:
            return None
        columns: dict[str, list[float]] = {k: [] for k in ("channels", "hop", "compute_s", "realtime_factor",
                                                          "leak", "receptive_field_ms", "test_cc_norm")}
        names = []
        for slot in slots:
            result = self.rows[slot.id].result
            names.append(f"{slot.kind}({describe_frontend_args(slot.kind, slot.args)})")
            rf_ms = result.receptive_field_ms
            model = matching_model(self.state.models, slot.kind, slot.args)
            cc = median_test_cc_norm(model) if model is not None else None
            columns["channels"].append(result.channels)
            columns["hop"].append(result.hop)
            columns["compute_s"].append(result.seconds)
            columns["realtime_factor"].append(result.rtf)
            columns["leak"].append(math.nan if result.leak is None else result.leak)
            columns["receptive_field_ms"].append(math.nan if rf_ms is None else rf_ms)
            columns["test_cc_norm"].append(math.nan if cc is None else cc)
        header = ("front-ends (rows): " + "; ".join(names)
                  + "\nreceptive_field_ms NaN: the whole past; test_cc_norm: median over neurons of the test-split "
                    "cc_norm the matching model recorded when fitted (NaN: no model fitted with it)")
        return {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}, header
