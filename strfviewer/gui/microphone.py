"""The toolbar's microphone: choose an input, record, and the recording becomes a sound of the session.

Capture runs on PortAudio's thread (``backend.live.capture``) at the device's own rate; a GUI timer moves
what arrived from the ring through the causal resampler (to the rate the views need) into a
:class:`~strfviewer.backend.live.recording.Recording`, hands it on (``captured``: the window streams it into
the live panes) and updates the level meter and the counters. Stopping (or a failing device, or closing the
window) writes the recording whole to a FLAC file in the user data folder and hands its path on, so every
view works on it and the session keeps it. The device list is rescanned off the GUI thread while idle.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

log = logging.getLogger(__name__)

POLL_MS = 10  # how often the GUI takes what the microphone delivered: part of the live views' latency
RESCAN_MS = 3000  # how often the device list is rescanned while not recording
COLLECT_MS = 50  # how often a running scan is checked for its result
DEFAULT_RATE = 48000  # the views' rate when nothing open asks for another


def recordings_home() -> Path:
    """Where recordings are written: ``<user data>/strfviewer/recordings``."""
    from ..backend.model_folders import models_home

    return models_home().parent / "recordings"


class _DeviceScanner:
    """Lists the inputs on a short-lived thread (PortAudio's rescan can take a while). The thread touches no
    Qt object: the GUI collects what it found with :meth:`result`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: tuple[list, str | None] | None = None

    def scan(self, rescan: bool) -> bool:
        """Start a scan; False when one is still running (the next tick tries again)."""
        if self._thread is not None and self._thread.is_alive():
            return False
        self._thread = threading.Thread(target=self._run, args=(rescan,), name="strfviewer-devices", daemon=True)
        self._thread.start()
        return True

    def _run(self, rescan: bool) -> None:
        from ..backend.live.capture import input_devices, live_input_unavailable

        devices = input_devices(rescan=rescan)
        found = (devices, None if devices else live_input_unavailable())
        with self._lock:
            self._result = found

    def result(self) -> tuple[list, str | None] | None:
        """(devices, why none can be used or None) of the last finished scan, once; None before."""
        with self._lock:
            found, self._result = self._result, None
        return found


class MicrophoneBar(QWidget):
    """Input device, Record/Stop, a level meter and what was captured (seconds, dropped, overflows, latency).

    ``stream_rate`` says at which rate the views want the samples; ``started`` (rate, timeline), ``captured``
    (samples at that rate, seconds so far) and ``stopped`` let the window stream them into the panes."""

    recorded = Signal(object)  # Path of the finished recording
    failed = Signal(str)
    started = Signal(int, object)  # the views' rate, the backend InputTimeline of the capture
    captured = Signal(object, float)  # float32 samples at that rate, seconds recorded so far
    stopped = Signal()

    def __init__(self, parent: QWidget | None = None, folder: Path | None = None,
                 block_s: float | None = None, scan: bool = True) -> None:
        super().__init__(parent)
        self.folder = folder
        self.block_s = block_s
        self.stream_rate: Callable[[], int] = lambda: DEFAULT_RATE
        self.capture = None
        self.recording = None
        self.resampler = None
        self.devices: dict[int, object] = {}  # index -> backend InputDevice
        self.device_box = QComboBox()
        self.device_box.setToolTip("The audio input to record from")
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.record_button.setEnabled(False)
        self.record_button.setToolTip("Looking for audio inputs…")
        self.record_button.toggled.connect(self._toggled)
        self.level = QProgressBar()
        self.level.setRange(0, 60)
        self.level.setTextVisible(False)
        self.level.setFixedWidth(80)
        self.level.setToolTip("Input level: 0 to -60 dBFS")
        self.status = QLabel()
        self.status.setToolTip("Recorded seconds, samples lost, and the time from capture to the screen "
                               "(median of the last two seconds; the device adds its own input latency)")
        self.device_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.status.setMinimumWidth(self.status.fontMetrics().horizontalAdvance("000.0 s · latency 000 ms"))
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("Input"), self.device_box, self.record_button, self.level, self.status):
            layout.addWidget(widget)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self.latencies: list[tuple[float, float]] = []  # (when, seconds) measured over the last two seconds
        self.unsaved = None  # a recording that could not be written, kept for another try
        self._scanner = _DeviceScanner()
        self._collect = QTimer(self)
        self._collect.setInterval(COLLECT_MS)
        self._collect.timeout.connect(self._collect_scan)
        self._rescan = QTimer(self)
        self._rescan.setInterval(RESCAN_MS)
        self._rescan.timeout.connect(lambda: self.capture is None and self._scan(rescan=True))
        if scan:
            QTimer.singleShot(0, lambda: self._scan(rescan=False))  # PortAudio starts after the window shows
            self._rescan.start()
        else:
            self._show_devices([], "This window does not use audio inputs")

    def _scan(self, rescan: bool) -> None:
        if self._scanner.scan(rescan) and not self._collect.isActive():
            self._collect.start()

    def _collect_scan(self) -> None:
        found = self._scanner.result()
        if found is not None:
            self._collect.stop()
            self._show_devices(*found)

    def refresh_devices(self, rescan: bool = False) -> None:
        """List the inputs now, on the calling thread (``rescan``: ask PortAudio to look for new ones)."""
        from ..backend.live.capture import input_devices, live_input_unavailable

        devices = input_devices(rescan=rescan)
        self._show_devices(devices, None if devices else live_input_unavailable())

    def _show_devices(self, devices: list, reason: str | None) -> None:
        """Show the inputs, the default first; without any, the controls are off and the tooltip says why.
        While recording, the list waits (the open stream keeps its device)."""
        if self.capture is not None:
            return
        listed = [(d.label, d.index) for d in devices]
        shown = [(self.device_box.itemText(i), self.device_box.itemData(i)) for i in range(self.device_box.count())]
        self.devices = {d.index: d for d in devices}
        if listed != shown:
            current = self.device_box.currentData()
            self.device_box.clear()
            for label, index in listed:
                self.device_box.addItem(label, index)
            if current is not None and self.device_box.findData(current) >= 0:
                self.device_box.setCurrentIndex(self.device_box.findData(current))
        available = bool(devices)
        self.device_box.setEnabled(available)
        self.device_box.setVisible(available)
        self.level.setVisible(available)
        self.record_button.setEnabled(available or self.record_button.isChecked())
        self.record_button.setToolTip(reason or "Record from the chosen input: the panes follow it live, and "
                                      "the recording opens as a sound when you stop")

    @property
    def available(self) -> bool:
        return self.device_box.count() > 0

    def _toggled(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def _open(self, index: int | None, rate: int):
        """A started capture of input ``index`` at its own default rate when the resampler can convert it to
        ``rate``, else at ``rate`` (the sound server converting); LiveInputError when neither opens."""
        from ..backend.errors import ConfigurationError, LiveInputError
        from ..backend.live.capture import BLOCK_S, MicrophoneCapture
        from ..backend.live.resample import CausalResampler

        rates = [rate]
        device = self.devices.get(index)
        if device is not None and device.default_rate >= 1:
            try:
                CausalResampler(int(device.default_rate), rate)
                rates.insert(0, int(device.default_rate))
            except ConfigurationError:
                pass  # an odd device rate: the sound server converts instead
        error = None
        for device_rate in dict.fromkeys(rates):
            capture = MicrophoneCapture(index, device_rate, block_s=self.block_s or BLOCK_S)
            try:
                capture.start()
                return capture
            except LiveInputError as exc:
                error = exc
        raise error

    def start(self) -> None:
        from ..backend.errors import LiveInputError
        from ..backend.live.recording import Recording
        from ..backend.live.resample import CausalResampler
        from ..backend.live.timeline import InputTimeline

        rate = self.stream_rate()
        try:
            capture = self._open(self.device_box.currentData(), rate)
        except LiveInputError as exc:
            self.record_button.setChecked(False)
            self.failed.emit(str(exc))
            return
        resampler = CausalResampler(capture.rate, rate)
        self.capture, self.recording, self.resampler = capture, Recording(rate), resampler
        self.latencies = []
        self.record_button.setText("Stop")
        self.device_box.setEnabled(False)
        self._timer.start()
        self.started.emit(rate, InputTimeline(capture, rate, resampler.delay_s))

    @staticmethod
    def _converted(resampler, samples: np.ndarray) -> np.ndarray:
        """Captured samples at the views' rate, within full scale: a float device path (or the resampler's
        ringing) can exceed 1.0, which the FLAC file would clip, so the live panes see what the file holds."""
        return np.clip(resampler.push(samples), -1.0, 1.0)

    def note_latency(self, seconds: float) -> None:
        """A capture-to-pixel latency measured by a live pane."""
        now = time.monotonic()
        self.latencies = [(t, s) for t, s in self.latencies if now - t <= 2.0] + [(now, seconds)]

    def poll(self) -> None:
        """Move what arrived into the recording and on to the views; show the level and the counters; stop
        on a failed device."""
        if self.capture is None:
            return
        samples = self._converted(self.resampler, self.capture.read()[1])
        self.recording.append(samples)
        if samples.size:
            self.captured.emit(samples, self.recording.seconds)
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        self.level.setValue(0 if peak <= 0 else max(0, 60 + round(20 * math.log10(peak))))
        ring = self.capture.ring
        lost = f" · {ring.dropped} samples dropped" if ring.dropped else ""
        over = f" · {ring.overflows} device overflows" if ring.overflows else ""
        latency = f" · latency {1000 * float(np.median([s for _, s in self.latencies])):.0f} ms" \
            if self.latencies else ""
        self.status.setText(f"{self.recording.seconds:.1f} s{latency}{lost}{over}")
        if self.capture.error is not None:
            message = self.capture.error
            self.record_button.setChecked(False)  # stops and keeps what was recorded
            self.failed.emit(message)

    def stop(self) -> Path | None:
        """Stop capturing and write the recording (if any) to a new FLAC file; its path, announced by
        ``recorded``."""
        capture, recording, resampler = self.capture, self.recording, self.resampler
        self.capture = self.recording = self.resampler = None
        self._timer.stop()
        self.record_button.setText("Record")
        self.device_box.setEnabled(self.available)
        self.level.setValue(0)
        if capture is None:
            return None
        capture.stop()
        recording.append(self._converted(resampler, capture.read()[1]))
        self.stopped.emit()
        if len(recording) == 0:
            return None
        folder = self.folder or recordings_home()
        path = folder / time.strftime("recording-%Y%m%d-%H%M%S.flac")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            recording.save(path)
        except Exception as exc:  # a full disk or a read-only folder: say so, and keep the recording
            self.unsaved = recording
            self.failed.emit(f"could not write the recording to {path}: {exc}")
            return None
        recording.discard()
        self.status.setText(f"recorded {recording.seconds:.1f} s → {path.name}")
        self.recorded.emit(path)
        return path
