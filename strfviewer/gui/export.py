"""Export from any view: PNG and SVG that look like the screen, and the data shown as CSV or NPY.

Figures are drawn by the widget itself (``QWidget.render``) into a QImage at a chosen scale, or into
``QSvgGenerator`` for vector output, so text stays crisp and what is saved is what is seen. pyqtgraph's own
SVG exporter is not used: it fails on Qt >= 6.11.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton, QWidget

# Data a view exports: named arrays (1-D columns or a 2-D table), plus a header line for CSV.
ExportData = tuple[dict[str, np.ndarray], str]


def _render(widget: QWidget, painter: QPainter) -> None:
    # The unbound call with an explicit target offset: PySide6 6.10 rejects ``widget.render(painter)`` for
    # plain QWidgets (it resolves the QGraphicsView overload only for graphics views).
    QWidget.render(widget, painter, QPoint())


def save_png(widget: QWidget, path: str | Path, scale: float = 2.0) -> Path:
    """The widget as it looks on screen, at ``scale`` times its pixel size (2: sharp on slides)."""
    path = Path(path)
    size = widget.size()
    image = QImage(QSize(round(size.width() * scale), round(size.height() * scale)), QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        _render(widget, painter)
    finally:
        painter.end()
    if not image.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def save_svg(widget: QWidget, path: str | Path, title: str = "strfviewer") -> Path:
    """The widget as vector graphics (text and lines as vectors, images embedded)."""
    path = Path(path)
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    generator.setTitle(title)
    painter = QPainter(generator)
    try:
        _render(widget, painter)
    finally:
        painter.end()
    if not path.exists() or path.stat().st_size == 0:
        raise OSError(f"could not write {path}")
    return path


def save_data(data: ExportData, path: str | Path) -> Path:
    """``.npy`` (one array) / ``.npz`` (several) / ``.csv`` (columns side by side, or one 2-D table)."""
    arrays, header = data
    path = Path(path)
    if path.suffix == ".npy" and len(arrays) == 1:
        np.save(path, next(iter(arrays.values())))
    elif path.suffix in (".npy", ".npz"):
        path = path.with_suffix(".npz")
        np.savez(path, **arrays)
    else:
        path = path.with_suffix(".csv")
        values = list(arrays.values())
        if len(values) == 1 and values[0].ndim == 2:
            table, names = values[0], header
        else:
            length = max(v.shape[0] for v in values)
            table = np.full((length, len(values)), np.nan)
            for i, v in enumerate(values):
                table[: v.shape[0], i] = v.reshape(-1)[:length]
            names = ",".join(arrays)
            names = f"{header}\n{names}" if header else names
        np.savetxt(path, table, delimiter=",", header=names, comments="# ", fmt="%.8g")
    return path


class ExportButton(QToolButton):
    """A toolbar button with PNG / SVG / CSV / NPY entries for one view."""

    def __init__(self, figure: Callable[[], QWidget], data: Callable[[], ExportData | None], name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText("Export")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._figure, self._data, self._name = figure, data, name
        menu = QMenu(self)
        menu.addAction("Figure as PNG…", lambda: self._ask("PNG image (*.png)", ".png"))
        menu.addAction("Figure as SVG…", lambda: self._ask("SVG drawing (*.svg)", ".svg"))
        menu.addAction("Data as CSV…", lambda: self._ask("CSV table (*.csv)", ".csv"))
        menu.addAction("Data as NPY…", lambda: self._ask("NumPy array (*.npy *.npz)", ".npy"))
        self.setMenu(menu)

    def export(self, path: str | Path) -> Path:
        """Write by suffix: .png, .svg, .csv, .npy/.npz. Raises ValueError when the view has no data yet."""
        path = Path(path)
        if path.suffix == ".png":
            return save_png(self._figure(), path)
        if path.suffix == ".svg":
            return save_svg(self._figure(), path, self._name)
        data = self._data()
        if data is None:
            raise ValueError(f"The {self._name} view has nothing to export yet.")
        return save_data(data, path)

    def _ask(self, file_filter: str, suffix: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {self._name}", f"{self._name}{suffix}", file_filter)
        if path:
            try:
                self.export(path)
            except (OSError, ValueError) as exc:
                from ..backend.errors import one_line

                window = self.window()
                reporter = getattr(window, "reporter", None)
                if reporter is not None:
                    reporter.report(f"Could not export: {one_line(exc)}")
