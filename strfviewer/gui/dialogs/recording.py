"""Ask how to read a lab's NWB recording: which table and column are the presentations, and the bin width.

The controller summarises the file first (in the background, with
:func:`strfviewer.backend.data.nwb.inspect_nwb`); the dialog lists the columns that name the sounds of their
rows, the reader's best guess selected, with what each would give (presentations, sounds, repeats), and hands
back an :class:`~strfviewer.backend.data.sources.ImportChoice`. It reads no file itself.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...backend.data.sources import ImportChoice

_HEADERS = ("Presentations", "Rows", "Sounds", "Repeats", "Sounds from")


class RecordingDialog(QDialog):
    """The presentation columns of an :class:`~strfviewer.backend.data.nwb.NwbSummary` and a bin width."""

    def __init__(self, summary: Any, suggested: ImportChoice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Open {summary.path.name}")
        self.summary = summary
        self.candidates = list(summary.candidates)
        n_series = len(summary.series)
        heading = QLabel(f"<b>{summary.path.name}</b>: {summary.units} units, {n_series} stimulus series"
                         f"{'' if n_series else ' (sounds from files beside it)'}.<br>Choose the table whose rows "
                         "are the presentations, and its column that names each row's sound:")
        heading.setWordWrap(True)

        self.table = QTableWidget(len(self.candidates), len(_HEADERS))
        self.table.setHorizontalHeaderLabels(_HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for row, candidate in enumerate(self.candidates):
            low, high = candidate.repeats
            guess = " (best guess)" if candidate == summary.guess else ""
            cells = (f"{candidate.label}{guess}", str(candidate.rows), str(candidate.stimuli),
                     str(low) if low == high else f"{low}–{high}",
                     "stimulus series" if candidate.kind == "series" else "files beside it")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (1, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(_HEADERS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(620)  # the heading's two lines fit above it
        self.table.resizeRowsToContents()
        shown = min(len(self.candidates), 6)  # more rows scroll
        rows_height = sum(self.table.rowHeight(r) for r in range(shown))
        self.table.setFixedHeight(header.sizeHint().height() + rows_height + 2 * self.table.frameWidth())

        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.bin_width = QDoubleSpinBox()
        self.bin_width.setRange(0.01, 1000.0)
        self.bin_width.setDecimals(2)
        self.bin_width.setSuffix(" ms")
        self.bin_width.setValue(suggested.dt_ms)
        self.bin_width.setMaximumWidth(120)
        self.bin_width.setToolTip("Spikes are counted in bins of this width from each presentation's onset; the "
                                  "exact spike times are kept for the raster")
        self.bin_width.valueChanged.connect(self._update_preview)
        form = QFormLayout()
        form.addRow("Bin width", self.bin_width)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.open_button = buttons.button(QDialogButtonBox.StandardButton.Open)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table)
        layout.addWidget(self.preview)
        layout.addLayout(form)
        layout.addWidget(buttons)

        self.table.itemSelectionChanged.connect(self._update_preview)
        chosen = [i for i, c in enumerate(self.candidates)
                  if (c.table, c.column) == (suggested.table, suggested.column)]
        self.table.selectRow(chosen[0] if chosen else 0)
        self._update_preview()

    def selected(self) -> Any:
        """The chosen presentation column (None while no row is selected)."""
        rows = self.table.selectionModel().selectedRows()
        return self.candidates[rows[0].row()] if rows else None

    def choice(self) -> ImportChoice | None:
        """What the user chose, or None while nothing is selected."""
        candidate = self.selected()
        if candidate is None:
            return None
        return ImportChoice(round(self.bin_width.value(), 6), candidate.table, candidate.column)

    def _update_preview(self) -> None:
        candidate = self.selected()
        self.open_button.setEnabled(candidate is not None)
        if candidate is None:
            self.preview.setText("Choose the presentations.")
            return
        low, high = candidate.repeats
        self.preview.setText(
            f"Gives a response set of <b>{self.summary.units} neurons × {candidate.stimuli} stimuli</b>, "
            f"up to {high} repeats{'' if low == high else ' (fewer played ones are missing, not zero)'}, in "
            f"{self.bin_width.value():g} ms bins.")


def ask_recording(parent: QWidget, summary: Any, suggested: ImportChoice) -> ImportChoice | None:
    """Show :class:`RecordingDialog`; the user's choice, or None if they cancel."""
    dialog = RecordingDialog(summary, suggested, parent)
    return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None
