"""The PSTH view's neuron table: one row per neuron (its id, cc_max, each model's cc_norm), sortable by any column.

A model over the score arrays, not a widget of cells: a 5,000-unit probe's table is made in no time (a cell per
item was 25,000 Python objects, half a second to make and 15-20 ms more in every full garbage collection), a row
is drawn only when it is in view, and sorting is one numpy argsort instead of a Python comparison per pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QAbstractItemView, QTableView, QWidget

from ...backend.metrics import MIN_CC_MAX, SIGNIFICANCE_LEVEL
from ...backend.prediction import ModelResult

CAUTION = QColor("#b9770e")  # a score to read with care (as the fit dialog's coverage warning)
NOT_SIGNIFICANT = QColor("#8a8a8a")
CELL_PADDING = 14  # px a cell needs beside its text (margins, focus frame), italic overhang included
_Index = QModelIndex | QPersistentModelIndex


def format_score(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


@dataclass(frozen=True)
class TableColumn:
    """One column: its header (lines), tooltip, and per neuron the number it sorts by."""

    header: str
    tooltip: str
    keys: np.ndarray  # (neurons,) float
    result: ModelResult | None = None  # a model's cc_norm column; None for the neuron and cc_max columns


@dataclass(frozen=True)
class CellView:
    """What a cell shows, as the view reads it from the model (for tests and tools)."""

    text: str
    key: float
    neuron: int
    tooltip: str
    foreground: QColor | None
    italic: bool


class NeuronTableModel(QAbstractTableModel):
    """Neuron ids, cc_max and models' cc_norm, in a sortable row order; texts and colours made when drawn."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._ids: list[str] = []
        self._invalid: np.ndarray = np.zeros(0, dtype=bool)
        self._cc_max: np.ndarray = np.zeros(0)
        self._columns: list[TableColumn] = []
        self._order = np.zeros(0, dtype=np.int64)  # row -> neuron
        self._row_of = np.zeros(0, dtype=np.int64)  # neuron -> row
        self._sort: tuple[int, Qt.SortOrder] = (0, Qt.SortOrder.AscendingOrder)
        self._italic = QFont()
        self._italic.setItalic(True)

    def set_table(self, ids: list[str], invalid: np.ndarray, cc_max: np.ndarray, results: list[ModelResult],
                  header_of: Callable[[str], str], split: str) -> None:
        """Every neuron's row, sorted as the table was; ``header_of`` makes a model's header from its name."""
        self.beginResetModel()
        n = len(ids)
        self._ids, self._invalid, self._cc_max = list(ids), np.asarray(invalid, dtype=bool), np.asarray(cc_max)
        self._columns = [
            TableColumn("neuron", "Neuron id (click a header to sort)", np.arange(n, dtype=np.float64)),
            TableColumn("cc_max", f"cc_max over the {split} split: how well the recorded repeats predict each other",
                        self._cc_max.astype(np.float64)),
            *(TableColumn(header_of(r.name), f"cc_norm of {r.name} over the {split} split",
                          np.asarray(r.cc_norm, dtype=np.float64), r) for r in results)]
        self._reorder()
        self.endResetModel()

    # Qt's model interface
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() or not self._ids else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].header
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._columns[section].tooltip
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if index.isValid() else Qt.ItemFlag.NoItemFlags

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        neuron, column = int(self._order[index.row()]), index.column()
        if role == Qt.ItemDataRole.UserRole:
            return neuron
        if column == 0:
            return self._neuron_data(neuron, role)
        if column == 1:
            return self._cc_max_data(neuron, role)
        return self._score_data(self._columns[column].result, neuron, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Rows by ``column`` (stable; NaN last in both orders), the selection kept on its neurons."""
        self._sort = (column, order)
        if not self._ids:
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        neurons = [int(self._order[i.row()]) for i in persistent]
        self._reorder()
        self.changePersistentIndexList(persistent, [self.index(int(self._row_of[n]), i.column())
                                                    for n, i in zip(neurons, persistent, strict=True)])
        self.layoutChanged.emit()

    # Reading it
    def neuron_at(self, row: int) -> int:
        return int(self._order[row])

    def row_of(self, neuron: int) -> int | None:
        return int(self._row_of[neuron]) if 0 <= neuron < len(self._row_of) else None

    def cell(self, row: int, column: int) -> CellView:
        index = self.index(row, column)
        foreground = self.data(index, Qt.ItemDataRole.ForegroundRole)
        font = self.data(index, Qt.ItemDataRole.FontRole)
        return CellView(self.data(index), float(self._columns[column].keys[self.neuron_at(row)]),
                        self.neuron_at(row), self.data(index, Qt.ItemDataRole.ToolTipRole) or "", foreground,
                        font is not None and font.italic())

    def widest_texts(self, column: int) -> list[str]:
        """The texts that decide ``column``'s width (the longest ids, the longest scores), so that the view sizes
        a column by measuring a few strings instead of asking for every row's text."""
        if column == 0:
            return sorted(self._ids, key=len)[-20:]
        keys = self._columns[column].keys
        finite = keys[np.isfinite(keys)]
        texts = [format_score(float(v)) for v in (finite.min(), finite.max())] if finite.size else ["–"]
        result = self._columns[column].result
        if result is not None and result.p_value is not None and np.any(result.p_value >= SIGNIFICANCE_LEVEL):
            texts = [t + " n.s." for t in texts]
        return texts

    # Inside
    def _reorder(self) -> None:
        """The row order (and its inverse) of the sort asked for last."""
        column, order = self._sort
        if 0 <= column < len(self._columns):
            keys = self._columns[column].keys
            finite = np.flatnonzero(~np.isnan(keys))
            signed = keys[finite] if order == Qt.SortOrder.AscendingOrder else -keys[finite]
            self._order = np.concatenate([finite[np.argsort(signed, kind="stable")], np.flatnonzero(np.isnan(keys))])
        else:
            self._order = np.arange(len(self._ids))
        self._row_of = np.argsort(self._order)

    def _neuron_data(self, neuron: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._ids[neuron]
        if role == Qt.ItemDataRole.ToolTipRole and self._invalid[neuron]:
            return "not in the response set's default (valid) subset"
        return None

    def _cc_max_data(self, neuron: int, role: int) -> Any:
        value = float(self._cc_max[neuron])
        low = bool(np.isfinite(value) and value < MIN_CC_MAX)
        if role == Qt.ItemDataRole.DisplayRole:
            return format_score(value)
        if role == Qt.ItemDataRole.ForegroundRole and low:
            return CAUTION
        if role == Qt.ItemDataRole.ToolTipRole and low:
            return (f"cc_max {value:.3f} is below {MIN_CC_MAX:g}: the recorded repeats agree too little for "
                    "cc_norm to mean much (it divides by a noise estimate this uncertain, and may exceed 1)")
        return None

    def _score_data(self, result: ModelResult, neuron: int, role: int) -> Any:
        """A model's cc_norm: grey with "n.s." when the shift test does not find it significant, italic when
        cc_max is too low for cc_norm to be trusted; the tooltip gives the p-value and why."""
        value = float(result.cc_norm[neuron])
        p = float(result.p_value[neuron]) if result.p_value is not None else math.nan
        significant = not np.isfinite(p) or p < SIGNIFICANCE_LEVEL
        cc_max = float(self._cc_max[neuron])
        unreliable = bool(np.isfinite(cc_max) and cc_max < MIN_CC_MAX)
        if role == Qt.ItemDataRole.DisplayRole:
            return format_score(value) + ("" if significant else " n.s.")
        if role == Qt.ItemDataRole.ForegroundRole and not significant:
            return NOT_SIGNIFICANT
        if role == Qt.ItemDataRole.FontRole and unreliable:
            return self._italic
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = [f"{result.name}: cc_norm {format_score(value)}"]
            if np.isfinite(p):
                tip.append(f"p = {p:.3g} against {result.significance_shifts} circular shifts of the prediction"
                           + ("" if significant else f": not significant at {SIGNIFICANCE_LEVEL:g}"))
            if unreliable:
                tip.append(f"cc_max below {MIN_CC_MAX:g}: the repeats agree too little for cc_norm to be trusted")
            return "\n".join(tip)
        return None


class NeuronTable(QTableView):
    """The table view: whole rows selected one at a time, sorted by clicking a header, no editing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.neuron_model = NeuronTableModel(self)
        self.setModel(self.neuron_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        # Rows as tall as their text (Qt's default is about twice that): three times as many neurons in view.
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)
        self.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.horizontalHeader().setHighlightSections(False)  # bold headers of the selected row: wider

    def rowCount(self) -> int:
        return self.neuron_model.rowCount()

    def columnCount(self) -> int:
        return self.neuron_model.columnCount()

    def currentRow(self) -> int:
        return self.currentIndex().row()

    def header_text(self, column: int) -> str:
        return self.neuron_model.headerData(column, Qt.Orientation.Horizontal)

    def header_tooltip(self, column: int) -> str:
        return self.neuron_model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)

    def cell(self, row: int, column: int) -> CellView:
        return self.neuron_model.cell(row, column)

    def column_width(self, column: int) -> int:
        """Wide enough for the column's longest text, in the italic that unreliable scores use."""
        font = self.font()
        font.setItalic(True)
        metrics = QFontMetrics(font)
        return max(metrics.horizontalAdvance(t) for t in self.neuron_model.widest_texts(column)) + CELL_PADDING

    def selected_rows(self) -> set[int]:
        return {index.row() for index in self.selectionModel().selectedRows()}
