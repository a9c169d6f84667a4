"""Plots on the session's shared time axis: x range and cursor follow the state, and plot areas line up.

Every time-aligned pane uses :class:`TimeLinkedPlot`, so zooming or panning one moves them all through the
state, never by one view calling another. The panes of the main window (waveform overview, spectrograms,
predicted rates) also join :func:`align_on_time_axis`, so a time sits at the same screen x in all of them.
"""

from __future__ import annotations

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer

from ..state import SessionState
from .colorbar import fix_left_axis

CURSOR_Z = 100  # above images, regions and curves: the playback cursor is always visible
_PLOT_ITEM_MARGIN = 1  # pyqtgraph's own margin around a PlotItem's layout


def playback_cursor() -> pg.InfiniteLine:
    """The red line that marks the playback position, drawn above everything else of its plot."""
    line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#e74c3c", width=1.5))
    line.setZValue(CURSOR_Z)
    return line


class TimeLinkedPlot(pg.PlotWidget):
    """``PlotWidget`` whose x range is the state's view range and whose red line is the state's cursor."""

    def __init__(self, state: SessionState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self._syncing = False
        self.cursor = playback_cursor()
        self.addItem(self.cursor, ignoreBounds=True)
        view = self.getViewBox()
        view.setMouseEnabled(x=True, y=False)
        view.sigXRangeChanged.connect(self._range_from_view)
        self.scene().sigMouseClicked.connect(self._clicked)
        state.viewRangeChanged.connect(self._range_from_state)
        state.cursorChanged.connect(self.cursor.setValue)
        self._range_from_state(*state.view_range)
        self.cursor.setValue(state.cursor_s)

    def _range_from_view(self, _view, x_range) -> None:
        if not self._syncing:
            self.state.set_view_range(float(x_range[0]), float(x_range[1]))

    def _range_from_state(self, start: float, stop: float) -> None:
        self._syncing = True
        try:
            self.setXRange(start, stop, padding=0)
        finally:
            self._syncing = False

    def _clicked(self, event) -> None:
        """A plain left click puts the cursor (and playback position) at that time."""
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        if not self.sceneBoundingRect().contains(event.scenePos()):
            return
        point = self.getViewBox().mapSceneToView(event.scenePos())
        if self.state.audio is not None:
            self.state.set_cursor(min(max(0.0, point.x()), self.state.audio.duration_s))


class _TimeAxisAligner(QObject):
    """Gives every visible plot of one session the same horizontal extent on screen.

    The panes sit in different containers (the overview above the tabs, the others in a scrolling list with
    its own frame and scroll bar), so equal axis widths alone leave them offset. Each plot gets extra left /
    right margins inside its PlotItem so that all widgets span the common part of their screen extents; the
    widgets' own geometry is never changed, so this cannot feed back into the layout.
    """

    def __init__(self, state: SessionState) -> None:
        super().__init__(state)
        self._plots: list[pg.PlotWidget] = []
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.align)

    def add(self, plot: pg.PlotWidget) -> None:
        self._plots.append(plot)
        plot.installEventFilter(self)
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Move, QEvent.Type.Show, QEvent.Type.ParentChange):
            self._timer.start()
        return False

    def align(self) -> None:
        self._plots = [p for p in self._plots if shiboken6.isValid(p)]
        shown = [p for p in self._plots if p.isVisible() and p.width() > 0]
        if len(shown) < 2:
            return  # nothing to line up with: keep the last margins (the panes' tab is not in front)
        window = shown[0].window()
        shown = [p for p in shown if p.window() is window]
        lefts = [p.mapTo(window, QPoint(0, 0)).x() for p in shown]
        rights = [left + p.width() for left, p in zip(lefts, shown, strict=True)]
        start, stop = max(lefts), min(rights)
        for plot, left, right in zip(shown, lefts, rights, strict=True):
            layout = plot.getPlotItem().layout
            _left, top, _right, bottom = layout.getContentsMargins()
            wanted = (_PLOT_ITEM_MARGIN + start - left, _PLOT_ITEM_MARGIN + right - stop)
            if (_left, _right) != wanted:
                layout.setContentsMargins(wanted[0], top, wanted[1], bottom)


def align_on_time_axis(state: SessionState, plot: pg.PlotWidget) -> None:
    """Put ``plot`` on the session's shared time axis: the shared left-axis width, and a plot area at the same
    screen x and width as every other plot that joined (the pane adds a colour bar or its blank on the right)."""
    fix_left_axis(plot)
    aligner = state.findChild(_TimeAxisAligner)
    if aligner is None:
        aligner = _TimeAxisAligner(state)
    aligner.add(plot)
