"""A spectrogram pane: one active front-end's frames over the shared time axis, with its parameter form.

The pane owns no data of its own beyond the last frames computed: it reads the sound and its front-end
slot from the session state, asks the job runner for the frames (off the GUI thread, the older request
dropped when arguments change again), and writes the visible time range and cursor back to the state.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...backend.analysis.frames import FrameWindow, percentile_levels
from ...backend.errors import StrfviewerError
from ..export import ExportButton
from ..live import PaneFrames
from ..state import LiveStream, SessionState
from ..windowing import ViewWindow
from .colorbar import LEFT_AXIS_WIDTH, attach_colorbar, resolve_colormap, set_colorbar_label
from .common import PLOT_MIN_HEIGHT, ElidedLabel, frequency_ticks, value_unit, window_header
from .liveimage import LatencyImage
from .paramform import INVALID_COLOR, ParamForm
from .timeaxis import TimeLinkedPlot, align_on_time_axis


class SpectrogramPane(QWidget):
    """One front-end slot drawn as an image; x in seconds, y in channels labelled at their centre frequency."""

    removeRequested = Signal(int)
    framesShown = Signal(int)  # slot id, after an image is set (tests and benchmarks wait on it)

    def __init__(self, state: SessionState, runner, slot_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner, self.slot_id = state, runner, slot_id
        self.frames: np.ndarray | None = None
        self.hop = 1
        self.audio_fs = 1
        self.centres: np.ndarray | None = None
        self.first_frame = 0  # index of self.frames' first column on the sound's frame axis
        self._live: PaneFrames | None = None  # while a live stream fills the pane
        self._live_levels: tuple[float, float] | None = None  # kept through a scrolling stream
        self._closed_minimum: int | None = None  # the pane's minimum height with the form closed
        self._job_key = f"spectrogram:{slot_id}"
        self.window = ViewWindow(state, self)
        self.window.recomputeNeeded.connect(self.recompute)
        slot = state.slot(slot_id)
        self.title = QLabel()
        self.args_label = ElidedLabel()
        self.status = QLabel()
        self.status.setStyleSheet("color: gray;")
        self.note = ElidedLabel()  # which window of a long sound is computed, and whether it is warmed up
        self.note.setStyleSheet("color: gray;")
        self.slot_note = ElidedLabel()  # why strfviewer chose this slot's arguments (e.g. its frequency range)
        self.slot_note.setStyleSheet("color: gray; font-size: 11px;")
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.auto_levels = QCheckBox("auto levels")
        self.auto_levels.setChecked(True)
        self.level_low, self.level_high = QDoubleSpinBox(), QDoubleSpinBox()
        for box, end in ((self.level_low, "min"), (self.level_high, "max")):
            box.setRange(-1e6, 1e6)
            box.setDecimals(3)
            box.setEnabled(False)
            box.setPrefix(f"{end} ")
            box.setToolTip(f"The colour scale's {'lowest' if end == 'min' else 'highest'} level (untick auto levels "
                           "to set it)")
            box.setMaximumWidth(110)
            box.valueChanged.connect(self._apply_levels)
        self.auto_levels.toggled.connect(self._levels_mode_changed)
        self.params_button = QToolButton(text="Parameters", checkable=True)
        remove = QToolButton(text="✕")
        remove.setToolTip("Remove this front-end")
        remove.clicked.connect(lambda: self.removeRequested.emit(self.slot_id))

        header = QHBoxLayout()
        for w in (self.title, self.args_label, self.status, self.note, self.slot_note):
            header.addWidget(w)
        header.addStretch(1)
        self.export_button = ExportButton(lambda: self.plot, self.export_data, f"{slot.kind}-spectrogram")
        for w in (self.auto_levels, self.level_low, self.level_high, self.params_button, self.export_button, remove):
            header.addWidget(w)

        from ...backend.frontends import frontend_class  # torch loads behind the window, not before it

        schema = [spec.to_dict() for spec in frontend_class(slot.kind).schema]
        self.form = ParamForm(schema, slot.args, self._validate)
        self.form.setVisible(False)
        self.params_button.toggled.connect(self._show_form)
        self.form.reflowed.connect(self._fit_height)
        self.form.problemChanged.connect(self._show_problem)
        self.form.argsChanged.connect(lambda args: self.state.set_frontend_args(self.slot_id, args))

        self.plot = TimeLinkedPlot(state)
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setLabel("left", "channel")
        self.image = LatencyImage(state, axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = attach_colorbar(self.plot, self.image, value_unit(slot.kind, slot.args),
                                        resolve_colormap(state.display.get("colormap")))
        align_on_time_axis(state, self.plot)
        # The selected channel (state.selected_channel), outlined across the whole time axis.
        self.highlight = pg.LinearRegionItem(orientation="horizontal", movable=False,
                                             brush=pg.mkBrush(255, 255, 255, 40), pen=pg.mkPen("w", width=1))
        self.highlight.setVisible(False)
        self.plot.addItem(self.highlight, ignoreBounds=True)
        self.plot.scene().sigMouseClicked.connect(self._select_channel)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        # Over the image while the form holds values that cannot be applied: the image is of the old ones.
        self.not_applied = ElidedLabel(parent=self.plot)
        self.not_applied.setStyleSheet(f"color: white; background: {INVALID_COLOR}; padding: 1px 6px; "
                                       "border-radius: 3px;")
        self.not_applied.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.form)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.readout)

        self._redraw_timer = QTimer(self, singleShot=True, interval=30)
        self._redraw_timer.timeout.connect(self._draw)
        state.audioChanged.connect(self.recompute)
        state.frontendChanged.connect(lambda sid: sid == self.slot_id and self.recompute())
        state.displayChanged.connect(self._apply_colormap)
        state.channelChanged.connect(self._show_channel)
        state.liveStreamStarted.connect(self._live_stream_started)
        state.liveFramesArrived.connect(self._live_frames_arrived)
        state.liveChanged.connect(self._live_changed)
        state.liveInputChanged.connect(self._live_input_changed)
        self._update_title()
        self.recompute()

    # Parameter form
    def _show_form(self, visible: bool) -> None:
        self.form.setVisible(visible)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow the pane by what the open form needs, so the plot keeps at least :data:`PLOT_MIN_HEIGHT`.

        The window may have set a minimum height of its own (kept while the form is closed); an explicit minimum
        hides the layout's, so the pane sets the larger of the two itself."""
        if self._closed_minimum is None:
            self._closed_minimum = self.minimumHeight()
        layout = self.layout()
        layout.invalidate()
        needed = layout.minimumSize().height() if self.form.isVisibleTo(self) else 0
        self.setMinimumHeight(max(self._closed_minimum, needed))

    def _show_problem(self, problem: str) -> None:
        """Mark the image as not showing the form's values while they are invalid."""
        reason = re.sub(r"^\w+: ", "", " ".join(problem.split()))  # without the class name the form shows
        self.not_applied.setText(f"not applied: {reason}" if problem else "")
        self.not_applied.setVisible(bool(problem))
        self._place_not_applied()

    def _place_not_applied(self) -> None:
        if self.not_applied.isHidden():
            return
        room = max(80, self.plot.width() - 2 * LEFT_AXIS_WIDTH - 16)
        self.not_applied.resize(min(self.not_applied.sizeHint().width(), room), self.not_applied.sizeHint().height())
        self.not_applied.move(LEFT_AXIS_WIDTH + 8, 6)
        self.not_applied.raise_()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_not_applied()

    # Computation
    def _validate(self, args: dict[str, Any]) -> str | None:
        from ...backend.frontends import make_wav2spec

        slot = self.state.slot(self.slot_id)
        fs = self.state.audio.audio_fs if self.state.audio is not None else 48000
        try:
            make_wav2spec(slot.kind, audio_fs=fs, dt_ms=slot.dt_ms, **args)
        except StrfviewerError as exc:
            return str(exc)
        return None

    def recompute(self) -> None:
        slot, audio = self.state.slot(self.slot_id), self.state.audio
        self._update_title()
        if slot is None or audio is None:
            return
        self.status.setText("computing…")
        kind, args, dt_ms = slot.kind, dict(slot.args), slot.dt_ms
        samples, fs = audio.samples, audio.audio_fs
        span, cache = self.window.plan(), self.state.frame_cache
        self.runner.submit(
            lambda progress, cancel: cache.frames(kind, args, dt_ms, samples, fs, progress, cancel, span),
            key=self._job_key,
            description=f"{kind} spectrogram",
            on_result=self._show,
            on_error=self._failed,
            owner=self,
        )

    def _failed(self, exc: BaseException) -> None:
        self.window.failed()
        self.status.setText("failed")
        self.readout.setText(f"Could not compute: {' '.join(str(exc).split())}")

    def _show(self, result: FrameWindow) -> None:
        self.frames, self.first_frame = result.frames, result.first
        self.hop, self.audio_fs, self.centres = result.hop, result.audio_fs, result.centres
        self.window.computed_as(result.span)
        self.note.setText(result.note)
        self.status.setText("")
        set_colorbar_label(self.colorbar, result.unit)
        self._live = self._live_levels = None
        self._set_axes()
        self._draw()
        self._show_channel(self.state.selected_channel)

    def export_data(self):
        """The frames computed (channels x frames), with the frame times and centre frequencies in the header.

        For a long sound that is the computed window only, not the whole sound; the header says where it starts.
        """
        if self.frames is None:
            return None
        slot = self.state.slot(self.slot_id)
        centres = "latent" if self.centres is None else " ".join(f"{f:.1f}" for f in self.centres)
        header = (f"{slot.kind} {slot.args}; rows: channels (centre Hz: {centres}); columns: frames of "
                  f"{self.hop} samples at {self.audio_fs} Hz (frame t ends at (t+1)*{self.hop} samples)")
        return {"frames": self.frames}, header + window_header(self.first_frame, self.hop, self.audio_fs,
                                                               self.window.computed, self.note.text())

    # Live mode
    def _live_stream_started(self, stream_id: int, stream: LiveStream) -> None:
        """This pane's live stream opened: blank the image; its frames then arrive as the sound plays (an
        offline computation still running would replace them: it is cancelled). A scrolling stream keeps the
        colour scale the pane had, so colours mean what they meant for the sound shown before."""
        if stream_id != self.slot_id:
            return
        self.runner.cancel(self._job_key)
        had_frames = self.frames is not None and np.isfinite(self.frames).any()
        self._live_levels = self.current_levels() if stream.scrolling and had_frames else None
        self.hop, self.audio_fs, self.centres = stream.hop, stream.audio_fs, stream.centres
        self._live = PaneFrames(stream, self.state.live_window_s)
        self.frames, self.first_frame = self._live.frames, self._live.first
        self.window.live_started()
        self.note.setText("")
        self.status.setText("live")
        self._set_axes()
        self._draw()

    def _live_frames_arrived(self, stream_id: int, first: int, frames: np.ndarray) -> None:
        if stream_id != self.slot_id or self._live is None or not self._live.write(first, frames):
            return
        self.frames, self.first_frame = self._live.frames, self._live.first
        if self._live.scroll is not None and self._live_levels is None and self._live.seconds >= 1.0:
            self._live_levels = percentile_levels([self.frames])  # fixed from the first second on
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _live_changed(self, live: bool) -> None:
        """Live mode ended before the sound did: compute the frames it left blank (the frame cache usually
        holds them from before the stream), or, after a scrolling stream, the view's window."""
        if not live and self.window.paused and self._live is not None and not self._live.complete:
            self.recompute()

    def _live_input_changed(self, running: bool) -> None:
        """The microphone stopped: show the open sound again (the recording, once it opens, replaces it)."""
        if not running and self._live is not None:
            self.recompute()

    # Drawing
    def _set_axes(self) -> None:
        channels = self.frames.shape[0]
        self.plot.getAxis("left").setTicks([frequency_ticks(self.centres, channels)])
        self.plot.setYRange(0, channels, padding=0)

    def _draw(self) -> None:
        if self.frames is None or self.frames.size == 0:
            return
        self.image.setImage(self.frames, autoLevels=False)
        channels, n_frames = self.frames.shape
        seconds = self.hop / self.audio_fs
        self.image.setRect(QRectF(self.first_frame * seconds, 0, n_frames * seconds, channels))  # after setImage
        if self._live is not None:
            self.image.mark(self._live.end * self.hop)
        self._apply_levels()
        self.framesShown.emit(self.slot_id)

    def _levels_mode_changed(self, auto: bool) -> None:
        self.level_low.setEnabled(not auto)
        self.level_high.setEnabled(not auto)
        self._apply_levels()

    def current_levels(self) -> tuple[float, float]:
        if not self.auto_levels.isChecked():
            return self.level_low.value(), self.level_high.value()
        if self._live_levels is not None:
            return self._live_levels
        return percentile_levels([] if self.frames is None else [self.frames])

    def _apply_levels(self) -> None:
        if self.frames is None:
            return
        low, high = self.current_levels()
        if self.auto_levels.isChecked():
            for box, value in ((self.level_low, low), (self.level_high, high)):
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)
        self.colorbar.setLevels((low, high))  # the bar sets the image's levels too

    def _apply_colormap(self) -> None:
        self.colorbar.setColorMap(resolve_colormap(self.state.display.get("colormap")))  # and the image's

    def _update_title(self) -> None:
        slot = self.state.slot(self.slot_id)
        if slot is None:
            return
        shown = ", ".join(f"{k}={v}" for k, v in slot.args.items() if k in ("compression", "n_filters", "n_mels"))
        self.title.setText(f"<b>{slot.kind}</b>")
        self.args_label.setText(shown)
        self.slot_note.setText(getattr(slot, "note", "") or "")
        self.slot_note.setVisible(bool(self.slot_note.text()))
        set_colorbar_label(self.colorbar, value_unit(slot.kind, slot.args))

    def _show_channel(self, channel: int) -> None:
        visible = self.frames is not None and 0 <= channel < self.frames.shape[0]
        self.highlight.setVisible(visible)
        if visible:
            self.highlight.setRegion((channel, channel + 1))

    def _select_channel(self, event) -> None:
        """A double click selects the channel under the mouse (for the filter view and the causality view)."""
        if not event.double() or self.frames is None or not self.plot.sceneBoundingRect().contains(event.scenePos()):
            return
        channel = math.floor(self.plot.getViewBox().mapSceneToView(event.scenePos()).y())
        if 0 <= channel < self.frames.shape[0]:
            self.state.set_channel(channel)

    def _mouse_moved(self, position) -> None:
        if self.frames is None or not self.plot.sceneBoundingRect().contains(position):
            return
        point = self.plot.getViewBox().mapSceneToView(position)
        t, y = point.x(), point.y()
        frame, channel = int(t * self.audio_fs // self.hop), math.floor(y)
        column = frame - self.first_frame
        channels, n_frames = self.frames.shape
        if not (0 <= column < n_frames and 0 <= channel < channels):
            self.readout.setText(" ")
            return
        hz = f"{self.centres[channel]:.0f} Hz" if self.centres is not None else "latent"
        value = self.frames[channel, column]
        self.readout.setText(f"t = {t:.3f} s · frame {frame} · channel {channel} ({hz}) · value {value:.4g}")
