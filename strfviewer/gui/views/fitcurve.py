"""The fit report's plots: a ridge fit's lambda tuning curves, a gradient fit's validation and loss curves.

It draws a backend :class:`~strfviewer.backend.analysis.fitreport.FitReport` as it is given: the model card
and the fit dialog (while a fit runs) feed it the same report.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ...backend.analysis.fitreport import FitReport, Panel

_FAINT = (150, 150, 150, 60)
_LINE = (31, 119, 180)
_MARKER = (214, 39, 40)
_PANEL_HEIGHT = 150  # px each plot needs for readable ticks, labels and title (the dialog fits 768 px)


class FitCurves(pg.GraphicsLayoutWidget):
    """One plot per panel of a report, stacked; empty (with a line saying so) when the report has none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.plots: list[pg.PlotItem] = []
        self._lines: list[list[pg.PlotDataItem]] = []  # per plot, one item per curve
        self._markers: list[pg.InfiniteLine] = []
        self._layout: list[tuple[str, int]] | None = None  # (title, curves) of each plot shown
        self.show_report(None)

    def show_report(self, report: FitReport | None) -> None:
        panels = report.panels if report is not None else []
        if panels and self._layout == [(p.title, len(p.curves)) for p in panels]:
            self._update(panels)  # a growing fit: new data in the same lines, no rebuild
            return
        self.clear()
        self.plots, self._lines = [], []
        self._layout = [(p.title, len(p.curves)) for p in panels]
        self.setMinimumHeight(_PANEL_HEIGHT * max(1, len(panels)))
        if not panels:
            self.addLabel("No fit curves recorded for this model" if report is not None else "", color="#666")
            return
        self._markers = []
        for row, panel in enumerate(panels):
            self.plots.append(self._plot(panel, row))

    def _update(self, panels: list[Panel]) -> None:
        for panel, lines, marker in zip(panels, self._lines, self._markers, strict=True):
            for curve, line in zip(panel.curves, lines, strict=True):
                line.setData(*_finite(curve.x, curve.y, panel.log_x))
            if panel.marker is not None:
                marker.setValue(np.log10(panel.marker) if panel.log_x else panel.marker)
            marker.setVisible(panel.marker is not None)

    def _plot(self, panel: Panel, row: int) -> pg.PlotItem:
        plot = self.addPlot(row=row, col=0, title=panel.title)
        plot.setLabel("bottom", panel.x_label)
        plot.setLabel("left", panel.y_label)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setLogMode(x=panel.log_x, y=False)
        for side in ("left", "bottom"):
            plot.getAxis(side).enableAutoSIPrefix(False)  # cc_norm is read as 0.4, never as "400 (x0.001)"
        plot.getAxis("left").setWidth(64)  # stacked panels keep their x axes aligned
        if any(c.faint for c in panel.curves):  # the summary line needs naming only beside the neurons' lines
            plot.addLegend(offset=(-10, -10))
        lines = []
        for curve in panel.curves:
            x, y = _finite(curve.x, curve.y, panel.log_x)
            if curve.faint:
                lines.append(plot.plot(x, y, pen=pg.mkPen(_FAINT, width=1)))
            else:
                lines.append(plot.plot(x, y, pen=pg.mkPen(_LINE, width=2.5), symbol="o", symbolSize=5,
                                       symbolBrush=_LINE, name=curve.label))
        self._lines.append(lines)
        position = panel.marker if panel.marker is not None else 1.0
        marker = pg.InfiniteLine(np.log10(position) if panel.log_x else position, angle=90,
                                 pen=pg.mkPen(_MARKER, width=1.5, style=Qt.PenStyle.DashLine),
                                 label=panel.marker_label,
                                 labelOpts={"position": 0.12, "color": _MARKER, "fill": (255, 255, 255, 220)})
        marker.setVisible(panel.marker is not None)
        plot.addItem(marker)
        self._markers.append(marker)
        plot.setMouseEnabled(x=False, y=False)
        return plot


def _finite(x: np.ndarray, y: np.ndarray, log_x: bool) -> tuple[np.ndarray, np.ndarray]:
    """The points a plot can draw: finite, and with a positive x on a log axis."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log_x else True)
    return x[keep], y[keep]
