"""An image that measures capture-to-pixel latency while a live input feeds it.

The pane says which sample its newest frame ends at when it sets the image; the first paint after that
asks the session's live timeline when that sample was captured and reports the difference. Painting is the
last step strfviewer controls (the screen's refresh comes after), so this is what the app adds to the delay.
"""

from __future__ import annotations

import time

import pyqtgraph as pg

from ..state import SessionState


class LatencyImage(pg.ImageItem):
    """``pg.ImageItem`` that reports, on its first paint after :meth:`mark`, the latency of the marked sample."""

    def __init__(self, state: SessionState, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state
        self._marked: int | None = None  # the newest sample drawn, at the live input's rate

    def mark(self, end_sample: int) -> None:
        """The image now holds frames up to sample ``end_sample`` of the live input (exclusive)."""
        self._marked = end_sample if self.state.live_timeline is not None else None

    def paint(self, painter, *args) -> None:
        super().paint(painter, *args)
        sample, self._marked = self._marked, None
        timeline = self.state.live_timeline
        if sample is None or timeline is None:
            return
        captured = timeline.captured_at(sample - 1)
        if captured is not None:
            self.state.report_live_latency(time.monotonic() - captured)
