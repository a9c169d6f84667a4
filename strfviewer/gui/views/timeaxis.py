"""A plot on the session's shared time axis: its x range and cursor follow the state and write it back.

Every time-aligned pane uses it, so zooming or panning one moves them all through the state, never by
one view calling another.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from ..state import SessionState


class TimeLinkedPlot(pg.PlotWidget):
    """``PlotWidget`` whose x range is the state's view range and whose red line is the state's cursor."""

    def __init__(self, state: SessionState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self._syncing = False
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#e74c3c", width=1.5))
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
