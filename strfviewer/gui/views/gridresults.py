"""A fit grid's results in the Compare tab: front-end × data-set matrices of mean test cc_norm, and each
neuron's score behind every entry.

The matrix answers "which front-end predicts best, on which data?" at a glance: each entry is the mean over
its finished seeds of the cells' mean test cc_norm, coloured on a fixed 0 to 1 scale so that two grids, or
two matrices, compare by colour. A mean hides the spread, so the plot beside it shows every neuron of the
chosen data set, one column per front-end (median and quartiles drawn over the points). Double-clicking an
entry opens the model of its best seed. What a grid holds is read by :mod:`strfviewer.backend.grid`; this
panel lays it out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..export import ExportButton, ExportData
from ..state import SessionState
from .colorbar import resolve_colormap

LEVELS = (0.0, 1.0)  # the matrix's colour scale, fixed: colours mean the same in every grid
COLORMAP = "viridis"
SELECTED = (230, 120, 20)
OTHERS = (70, 110, 170)
FAILED = "#c0392b"
ROW_HEIGHT = 44  # px: an entry is a colour patch, not a line of text
MAX_POINTS = 3000  # per front-end in the plot: past that a fixed random subset is drawn (the box uses all)


class _EntryDelegate(QStyledItemDelegate):
    """Draws an entry in its own colour, selected or not (a selection colour would hide the score's), and
    outlines the selected one."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        background = index.data(Qt.ItemDataRole.BackgroundRole)
        painter.save()
        if isinstance(background, QBrush):
            painter.fillRect(option.rect, background)
        foreground = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setPen(foreground.color() if isinstance(foreground, QBrush) else QColor("black"))
        painter.drawText(option.rect, Qt.AlignmentFlag.AlignCenter, str(index.data() or ""))
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(QPen(QColor(*SELECTED), 3))
            painter.drawRect(option.rect.adjusted(1, 1, -2, -2))
        painter.restore()


def _luminance(colour: QColor) -> float:
    """Perceived brightness (Rec. 601 weights): dark text on light patches, light text on dark ones."""
    return 0.299 * colour.redF() + 0.587 * colour.greenF() + 0.114 * colour.blueF()


def _box_stats(values: np.ndarray) -> tuple[float, float, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(median), float(q3)


class GridResultsPanel(QWidget):
    """The open grid's matrices (one per model kind, method and recipe) and per-neuron distributions."""

    openModelRequested = Signal(object)  # Path of a cell's model folder
    openGridRequested = Signal()  # the user wants to choose a grid folder

    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._colormap = resolve_colormap(COLORMAP)
        self.title = QLabel("<b>Fit grid</b>")
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        # The folder's path can be long: the status takes the room left, never widens the tab.
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.matrix_choice = QComboBox()
        self.matrix_choice.setToolTip("One matrix per model kind, fit method and recipe of the grid")
        self.matrix_choice.currentIndexChanged.connect(self._show_matrix)
        self.open_button = QPushButton("Open grid folder…")
        self.open_button.setToolTip("A folder written by 'strfviewer fit-grid GRID.toml --out FOLDER'")
        self.open_button.clicked.connect(self.openGridRequested)
        self.model_button = QPushButton("Open model")
        self.model_button.setToolTip("Open the model of the selected entry's best seed (or double-click it)")
        self.model_button.clicked.connect(self._open_selected)
        self.export_button = ExportButton(lambda: self.splitter, self.export_data, "grid")
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.status, 1)
        for w in (QLabel("matrix:"), self.matrix_choice, self.model_button, self.open_button, self.export_button):
            header.addWidget(w)

        self.empty_note = QLabel("No fit grid is open. Run 'strfviewer fit-grid GRID.toml --out FOLDER', then open "
                                 "that folder here (File ▸ Open fit grid, or drop the folder on the window).")
        self.empty_note.setStyleSheet("color: gray;")
        self.empty_note.setWordWrap(True)

        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.setItemDelegate(_EntryDelegate(self.table))
        self.table.cellDoubleClicked.connect(lambda r, c: self.open_entry(r, c))
        self.table.currentCellChanged.connect(lambda r, c, *_: self._show_distribution())
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color: #333;")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("mean test cc_norm (front-ends down, data sets across)"))
        left_layout.addWidget(self.table)
        left_layout.addWidget(self.legend)
        left_layout.addWidget(self.detail)
        left_layout.addStretch(1)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(220)
        self.plot.setLabel("left", "test cc_norm (each neuron, mean over seeds)")
        self.plot.showGrid(y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=True)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.plot)
        self.splitter.setSizes([1000, 1000])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.empty_note)
        layout.addWidget(self.splitter, 1)
        state.gridChanged.connect(self._grid_changed)
        self._grid_changed()

    # Reading the state
    @property
    def grid(self) -> Any:
        return self.state.grid

    @property
    def matrix(self) -> Any:
        index = self.matrix_choice.currentIndex()
        if self.grid is None or not 0 <= index < len(self.grid.matrices):
            return None
        return self.grid.matrices[index]

    def _grid_changed(self) -> None:
        grid = self.grid
        self.empty_note.setVisible(grid is None)
        self.splitter.setVisible(grid is not None)
        for w in (self.matrix_choice, self.model_button, self.export_button):
            w.setEnabled(grid is not None)
        self.matrix_choice.blockSignals(True)
        self.matrix_choice.clear()
        if grid is not None:
            self.matrix_choice.addItems([m.label for m in grid.matrices])
            self.title.setText(f"<b>Fit grid {grid.name}</b>")
            parts = [f"{grid.count('done')} of {len(grid.cells)} cells done"]
            parts += [f"{grid.count(s)} {word}" for s, word in (("failed", "failed"), ("pending", "not run"))
                      if grid.count(s)]
            self.status.setText(", ".join(parts) + f" — {grid.root}")
            self.status.setToolTip(str(grid.root))
        else:
            self.title.setText("<b>Fit grid</b>")
            self.status.setText("")
        self.matrix_choice.blockSignals(False)
        self._show_matrix()

    # The matrix
    def _entry_text(self, matrix: Any, f: int, d: int, mean: float) -> tuple[str, str]:
        counts = matrix.counts(f, d)
        seeds = sum(counts.values())
        where = f"{matrix.frontends[f]} on {matrix.datasets[d]} ({matrix.label})"
        if not counts["done"]:
            errors = {c.error for c in matrix.cells[f][d] if c.error}
            if counts["failed"]:
                return "failed", f"{where}: every seed failed: {'; '.join(sorted(errors))}"
            return "not run", f"{where}: not fitted yet; rerun the grid to fit it"
        values = matrix.neuron_values(f, d)
        text = "-" if not math.isfinite(mean) else f"{mean:.3f}"
        if seeds > 1:
            text += f"  ({counts['done']}/{seeds} seeds)" if counts["done"] < seeds else f"  ({seeds} seeds)"
        best = matrix.best(f, d)
        means = ", ".join(f"{c.mean_cc_norm:.3f}" for c in matrix.cells[f][d] if c.status == "done")
        tip = (f"{where}: mean test cc_norm {text.split()[0]} over {values.size} neurons, mean of the seeds' means "
               f"({means}).\nDouble-click to open the best seed's model: {best.model_folder}")
        if counts["failed"]:
            tip += f"\n{counts['failed']} seed(s) failed: " + "; ".join(sorted({c.error for c in matrix.cells[f][d]
                                                                                  if c.error}))
        return text, tip

    def _show_matrix(self) -> None:
        matrix = self.matrix
        self.table.clear()
        if matrix is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self._show_distribution()
            return
        mean = matrix.mean()
        self.table.setRowCount(len(matrix.frontends))
        self.table.setColumnCount(len(matrix.datasets))
        self.table.setHorizontalHeaderLabels(list(matrix.datasets))
        self.table.setVerticalHeaderLabels(list(matrix.frontends))
        for f in range(len(matrix.frontends)):
            for d in range(len(matrix.datasets)):
                text, tip = self._entry_text(matrix, f, d, mean[f, d])
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(tip)
                if math.isfinite(mean[f, d]):
                    colour = self.colour(mean[f, d])
                    item.setBackground(QBrush(colour))
                    item.setForeground(QBrush(QColor("black" if _luminance(colour) > 0.5 else "white")))
                elif text == "failed":
                    item.setForeground(QBrush(QColor(FAILED)))
                self.table.setItem(f, d, item)
        self._fit_table_height()
        self.legend.setText(self._legend_html())
        self.legend.setMinimumWidth(100)
        best = np.nanargmax(mean) if np.isfinite(mean).any() else 0
        self.table.setCurrentCell(*np.unravel_index(best, mean.shape))
        self._show_distribution()

    def _fit_table_height(self) -> None:
        """The matrix as tall as its rows, at most the panel: its legend sits right below it."""
        table = self.table
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
        height += table.rowCount() * ROW_HEIGHT
        table.setFixedHeight(min(height, max(120, self.height() - 80)))

    def colour(self, value: float) -> QColor:
        """An entry's background: ``value`` on the fixed scale :data:`LEVELS` (clipped)."""
        low, high = LEVELS
        return self._colormap.map(float(np.clip((value - low) / (high - low), 0.0, 1.0)), mode="qcolor")

    def _legend_html(self) -> str:
        low, high = (self.colour(v).name() for v in LEVELS)
        return (f"colour: mean test cc_norm on a fixed scale, <span style='background:{low}; color:white'>"
                f"&nbsp;{LEVELS[0]:g}&nbsp;</span> to <span style='background:{high}'>&nbsp;{LEVELS[1]:g}&nbsp;</span>"
                " (values outside are clipped); double-click an entry to open its model")

    # The distributions
    def selected(self) -> tuple[int, int] | None:
        if self.matrix is None or self.table.currentRow() < 0 or self.table.currentColumn() < 0:
            return None
        return self.table.currentRow(), self.table.currentColumn()

    def _show_distribution(self) -> None:
        self.plot.clear()
        self.empty_labels: list[str] = []  # what the columns without points say (tests read it)
        matrix, chosen = self.matrix, self.selected()
        if matrix is None or chosen is None:
            self.plot.setTitle("")
            self.detail.setText("")
            return
        f_sel, d = chosen
        self.detail.setText(self._entry_text(matrix, f_sel, d, matrix.mean()[f_sel, d])[1])
        rng = np.random.default_rng(0)  # the same jitter every time: the picture does not flicker
        ticks, empty, lowest = [], [], math.inf
        for f, name in enumerate(matrix.frontends):
            values = matrix.neuron_values(f, d)
            ticks.append((f, name))
            if not values.size:
                empty.append(f)
                continue
            lowest = min(lowest, float(np.min(values)))
            colour = SELECTED if f == f_sel else OTHERS
            shown = values if values.size <= MAX_POINTS else rng.choice(values, MAX_POINTS, replace=False)
            jitter = f + rng.uniform(-0.18, 0.18, shown.size)
            self.plot.addItem(pg.ScatterPlotItem(jitter, shown, size=7, pen=None, brush=pg.mkBrush(*colour, 150)))
            q1, median, q3 = _box_stats(values)
            box = pg.PlotDataItem([f - 0.3, f + 0.3, f + 0.3, f - 0.3, f - 0.3], [q1, q1, q3, q3, q1],
                                  pen=pg.mkPen(40, 40, 40, width=1.5))
            self.plot.addItem(box)
            self.plot.addItem(pg.PlotDataItem([f - 0.3, f + 0.3], [median, median], pen=pg.mkPen(0, 0, 0, width=3)))
        for f in empty:  # a front-end with no points says why, instead of leaving its column blank
            word, _ = self._entry_text(matrix, f, d, math.nan)
            label = pg.TextItem(word, color=FAILED if word == "failed" else "#7f8c8d", anchor=(0.5, 1.0))
            label.setPos(f, lowest if math.isfinite(lowest) else 0.5)
            self.plot.addItem(label)
            self.empty_labels.append(word)
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.6, len(matrix.frontends) - 0.4, padding=0)
        self.plot.setTitle(f"{matrix.datasets[d]}: every neuron (box: quartiles, bar: median)", color="#333",
                           size="10pt")

    # Opening models
    def open_entry(self, f: int, d: int) -> Path | None:
        """Ask for the model of entry (f, d)'s best seed; returns its folder, None when no seed finished."""
        matrix = self.matrix
        best = matrix.best(f, d) if matrix is not None else None
        if best is None:
            return None
        self.openModelRequested.emit(best.model_folder)
        return best.model_folder

    def _open_selected(self) -> None:
        chosen = self.selected()
        if chosen is not None:
            self.open_entry(*chosen)

    # Export
    def export_data(self) -> ExportData | None:
        matrix = self.matrix
        if matrix is None:
            return None
        header = (f"mean test cc_norm, {matrix.label}; rows (front-ends): {', '.join(matrix.frontends)}; "
                  f"columns (data sets): {', '.join(matrix.datasets)}; NaN: no finished seed")
        return {"mean_test_cc_norm": matrix.mean()}, header
