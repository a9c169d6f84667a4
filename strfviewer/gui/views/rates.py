"""Predicted rates: the open model's response to the open sound, one row per neuron, on the shared time axis.

This is the lab-demo pane: computed offline when a model or a sound is opened, and, in live mode, frame by
frame as the sound plays (the live engine streams the model itself). The selected neuron is outlined.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...backend.analysis.frames import FrameWindow, frames_for_span
from ...backend.frontends.modules import audio_mismatch
from ..export import ExportButton
from ..live import PaneFrames
from ..state import MODEL_STREAM, LiveStream, SessionState
from ..windowing import ViewWindow
from .colorbar import attach_colorbar, set_colorbar_label
from .common import PLOT_MIN_HEIGHT, ElidedLabel, window_header
from .liveimage import LatencyImage
from .timeaxis import TimeLinkedPlot, align_on_time_axis

_JOB_KEY = "predicted-rates"


def rate_unit(hop: int, audio_fs: int) -> str:
    """The colour bar's label: models predict the PSTH they were fitted on, spike counts per response bin."""
    return f"spikes / {1000.0 * hop / audio_fs:.3g} ms bin"


class RatesPane(QWidget):
    """Image of the predicted rates of every neuron of ``state.model`` for ``state.audio``."""

    ratesShown = Signal()

    def __init__(self, state: SessionState, runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner = state, runner
        self.rates: np.ndarray | None = None
        self.hop, self.audio_fs = 1, 1
        self.first_frame = 0  # index of self.rates' first column on the sound's frame axis
        self._live: PaneFrames | None = None  # while a live stream fills the pane
        self._live_high: float | None = None  # the colour scale's top, kept through a scrolling stream
        self.window = ViewWindow(state, self)
        self.window.recomputeNeeded.connect(self.recompute)
        self.title = QLabel()
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        self.note = ElidedLabel()  # which window of a long sound is computed, and whether it is warmed up
        self.note.setStyleSheet("color: gray;")
        self.export_button = ExportButton(lambda: self.plot, self.export_data, "predicted-rates")
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.status)
        header.addWidget(self.note, 1)
        header.addWidget(self.export_button)
        self.plot = TimeLinkedPlot(state)
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setLabel("left", "neuron")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # neuron 3000, not 3 x 1000
        # More neurons than pixel rows (a probe's thousands): each pixel shows the mean of its rows, not one of them.
        self.image = LatencyImage(state, axisOrder="row-major", autoDownsample=True)
        self.plot.addItem(self.image)
        self.colorbar = attach_colorbar(self.plot, self.image, "spikes / bin", pg.colormap.get("inferno"))
        align_on_time_axis(state, self.plot)
        self.selected = pg.LinearRegionItem(orientation="horizontal", movable=False,
                                            brush=pg.mkBrush(255, 255, 255, 40), pen=pg.mkPen("w"))
        self.plot.addItem(self.selected, ignoreBounds=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self._redraw = QTimer(self, singleShot=True, interval=30)
        self._redraw.timeout.connect(self._draw)
        state.audioChanged.connect(self.recompute)
        state.modelChanged.connect(self.recompute)
        state.neuronChanged.connect(self._show_neuron)
        state.liveStreamStarted.connect(self._live_stream_started)
        state.liveFramesArrived.connect(self._live_frames_arrived)
        state.liveChanged.connect(self._live_changed)
        state.liveInputChanged.connect(self._live_input_changed)
        self.recompute()

    def recompute(self) -> None:
        loaded, audio = self.state.model, self.state.audio
        if loaded is None:
            return
        self.title.setText(f"<b>predicted rates</b> {loaded.path.name}")
        if audio is None:
            self.status.setText("open a sound to see every neuron's predicted response to it")
            return
        problem = audio_mismatch(loaded.model, audio.audio_fs)
        if problem is not None:
            self.status.setText(f"the model {problem}")
            return
        self.status.setText("computing…")
        model, samples, fs = loaded.model, audio.samples, audio.audio_fs
        self.hop, self.audio_fs = loaded.frontend.hop, audio.audio_fs
        span = self.window.plan()
        self.runner.submit(lambda progress, cancel: frames_for_span(model, samples, fs, span, progress, cancel),
                           key=_JOB_KEY, description="predicted rates", on_result=self._show,
                           on_error=self._failed, owner=self)

    def _failed(self, exc: BaseException) -> None:
        self.window.failed()
        self.status.setText(f"Could not predict: {exc}")

    def _show(self, result: FrameWindow) -> None:
        self.rates, self.first_frame = result.frames, result.first
        self.window.computed_as(result.span)
        self.note.setText(result.note)
        self._live = self._live_high = None
        self.status.setText("")
        self._draw()

    def _live_stream_started(self, stream_id: int, stream: LiveStream) -> None:
        """The model's live stream opened: blank the image for the rates it sends (cancelling an offline
        computation of them). A scrolling stream keeps the colour scale of the rates shown before."""
        if stream_id != MODEL_STREAM:
            return
        self.runner.cancel(_JOB_KEY)
        had_rates = self.rates is not None and np.isfinite(self.rates).any()
        self._live_high = self._top_level() if stream.scrolling and had_rates else None
        self.hop, self.audio_fs = stream.hop, stream.audio_fs
        self._live = PaneFrames(stream, self.state.live_window_s)
        self.rates, self.first_frame = self._live.frames, self._live.first
        self.window.live_started()
        self.note.setText("")
        self.status.setText("live")
        self._draw()

    def _live_changed(self, live: bool) -> None:
        """Live mode ended before the sound did: compute the rates it left blank."""
        if not live and self.window.paused and self._live is not None and not self._live.complete:
            self.recompute()

    def _live_input_changed(self, running: bool) -> None:
        """The microphone stopped: show the open sound's rates again (until the recording opens)."""
        if not running and self._live is not None:
            self.recompute()

    def _live_frames_arrived(self, stream_id: int, first: int, rates: np.ndarray) -> None:
        if stream_id != MODEL_STREAM or self._live is None or not self._live.write(first, rates):
            return
        self.rates, self.first_frame = self._live.frames, self._live.first
        if self._live.scroll is not None and self._live_high is None and self._live.seconds >= 1.0:
            self._live_high = self._top_level()  # fixed from the first second on
        if not self._redraw.isActive():
            self._redraw.start()

    def _top_level(self) -> float:
        """The colour scale's top: the 99.5th percentile of the rates shown (the bottom is 0)."""
        finite = self.rates[np.isfinite(self.rates)]
        return max(float(np.percentile(finite, 99.5)) if finite.size else 1.0, 1e-6)

    def _draw(self) -> None:
        if self.rates is None or self.rates.size == 0:
            return
        neurons, frames = self.rates.shape
        self.image.setImage(self.rates, autoLevels=False)
        seconds = self.hop / self.audio_fs
        self.image.setRect(QRectF(self.first_frame * seconds, 0, frames * seconds, neurons))
        if self._live is not None:
            self.image.mark(self._live.end * self.hop)
        high = self._live_high if self._live_high is not None else self._top_level()
        self.colorbar.setLevels((0.0, high))  # the bar sets the image's levels too
        set_colorbar_label(self.colorbar, rate_unit(self.hop, self.audio_fs))
        self.plot.setYRange(0, neurons, padding=0)
        self._show_neuron(self.state.selected_neuron)
        self.ratesShown.emit()

    def _show_neuron(self, neuron: int) -> None:
        visible = self.rates is not None and 0 <= neuron < self.rates.shape[0]
        self.selected.setVisible(visible)
        if visible:
            self.selected.setRegion((neuron, neuron + 1))

    def export_data(self):
        if self.rates is None:
            return None
        header = (f"rows: neurons of {self.state.model_path}; columns: frames of {self.hop} samples at "
                  f"{self.audio_fs} Hz")
        return {"rates": self.rates}, header + window_header(self.first_frame, self.hop, self.audio_fs,
                                                             self.window.computed, self.note.text())
