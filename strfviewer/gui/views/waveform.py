"""The waveform overview: the whole sound, with a draggable region that sets the detail panes' range."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ...backend.overview import envelope
from ..state import SessionState
from .colorbar import reserve_colorbar_space
from .timeaxis import align_on_time_axis, playback_cursor


class WaveformOverview(QWidget):
    """Whole-sound waveform; the region is the state's view range, the red line its cursor."""

    def __init__(self, state: SessionState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.plot = pg.PlotWidget()
        self.plot.setMaximumHeight(110)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "time", units="s")
        self.curve = self.plot.plot(pen=pg.mkPen("#5dade2"))
        self.region = pg.LinearRegionItem()
        self.region.setZValue(10)
        self.plot.addItem(self.region)
        self.cursor = playback_cursor()
        self.plot.addItem(self.cursor, ignoreBounds=True)
        reserve_colorbar_space(self.plot)  # the panes below hold a colour bar there
        align_on_time_axis(state, self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.plot)
        self._syncing = False
        self.region.sigRegionChanged.connect(self._region_moved)
        state.audioChanged.connect(self._audio_changed)
        state.viewRangeChanged.connect(self._range_from_state)
        state.cursorChanged.connect(self.cursor.setValue)

    def _audio_changed(self) -> None:
        audio = self.state.audio
        t, y = audio.overview if audio.overview is not None else envelope(audio.samples, audio.audio_fs)
        self.curve.setData(t, y)
        self.plot.setXRange(0, audio.duration_s, padding=0)
        self.region.setBounds((0, audio.duration_s))
        self._range_from_state(*self.state.view_range)

    def _region_moved(self) -> None:
        if not self._syncing:
            start, stop = self.region.getRegion()
            self.state.set_view_range(float(start), float(stop))

    def _range_from_state(self, start: float, stop: float) -> None:
        self._syncing = True
        try:
            self.region.setRegion((start, stop))
        finally:
            self._syncing = False
