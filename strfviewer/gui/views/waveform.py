"""The waveform overview: the whole sound, with a draggable region that sets the detail panes' range.

While the microphone records, it traces the recording so far instead (the time axis is the recording's).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ...backend.overview import GrowingEnvelope, envelope
from ..state import SessionState
from .colorbar import reserve_colorbar_space
from .timeaxis import align_on_time_axis, playback_cursor

LIVE_REDRAW_MS = 100  # the recording's trace is redrawn at most this often


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
        state.liveInputChanged.connect(self._live_input_changed)
        state.liveInputAdvanced.connect(self._live_input_advanced)
        self.live_trace: GrowingEnvelope | None = None
        self._live_redraw = QTimer(self, singleShot=True, interval=LIVE_REDRAW_MS)
        self._live_redraw.timeout.connect(self._draw_live)

    def _live_input_changed(self, running: bool) -> None:
        """Recording: trace the recording from nothing; stopped: the open sound again (the recording replaces
        it once it opens)."""
        self.live_trace = None
        if running:
            self.curve.setData([], [])
            self.region.setBounds((0, None))
            self._draw_live()
        elif self.state.audio is not None:
            self._audio_changed()

    def _live_input_advanced(self, seconds: float, samples: np.ndarray) -> None:
        if self.live_trace is None:
            self.live_trace = GrowingEnvelope(self.state.live_input_rate)
        self.live_trace.append(samples)
        if not self._live_redraw.isActive():
            self._live_redraw.start()

    def _draw_live(self) -> None:
        seconds = self.state.live_input_s
        if seconds is None:
            return
        if self.live_trace is not None:
            self.curve.setData(*self.live_trace.trace())
        self.plot.setXRange(0, max(seconds, self.state.live_window_s), padding=0)
        self._range_from_state(*self.state.view_range)

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
