"""The toolbar's microphone: choose an input, record, and the recording becomes a sound of the session.

Capture runs on PortAudio's thread (``backend.live.capture``); a GUI timer only moves what arrived from the
ring into a :class:`~strfviewer.backend.live.recording.Recording` and updates the level meter and the
counters. Stopping (or a failing device, or closing the window) writes the recording whole to a FLAC file in
the user data folder and hands its path on, so every view works on it and the session keeps it.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

log = logging.getLogger(__name__)

POLL_MS = 50  # how often the GUI takes what the microphone delivered
RECORD_RATE = 48000  # the front-ends' usual rate; PortAudio (or the sound server) converts from the device's


def recordings_home() -> Path:
    """Where recordings are written: ``<user data>/strfviewer/recordings``."""
    from ..backend.model_folders import models_home

    return models_home().parent / "recordings"


class MicrophoneBar(QWidget):
    """Input device, Record/Stop, a level meter and what was captured (seconds, dropped, overflows)."""

    recorded = Signal(object)  # Path of the finished recording
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.capture = None
        self.recording = None
        self.device_box = QComboBox()
        self.device_box.setToolTip("The audio input to record from")
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._toggled)
        self.level = QProgressBar()
        self.level.setRange(0, 60)
        self.level.setTextVisible(False)
        self.level.setFixedWidth(80)
        self.level.setToolTip("Input level: 0 to -60 dBFS")
        self.status = QLabel()
        self.device_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.status.setMinimumWidth(self.status.fontMetrics().horizontalAdvance("000.0 s · 00000 samples dropped"))
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("Input"), self.device_box, self.record_button, self.level, self.status):
            layout.addWidget(widget)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self.unsaved = None  # a recording that could not be written, kept for another try
        QTimer.singleShot(0, self.refresh_devices)  # PortAudio starts after the window shows, not before

    def refresh_devices(self) -> None:
        """List the inputs, the default first; without any, the controls are off and the tooltip says why."""
        from ..backend.live.capture import input_devices, live_input_unavailable

        current = self.device_box.currentData()
        self.device_box.clear()
        for device in input_devices():
            self.device_box.addItem(device.label, device.index)
        reason = live_input_unavailable() if self.device_box.count() == 0 else None
        self.device_box.setEnabled(reason is None)
        self.device_box.setVisible(reason is None)
        self.level.setVisible(reason is None)
        self.record_button.setEnabled(reason is None or self.record_button.isChecked())
        self.record_button.setToolTip(reason or "Record from the chosen input; the recording opens as a sound")
        if current is not None and self.device_box.findData(current) >= 0:
            self.device_box.setCurrentIndex(self.device_box.findData(current))

    @property
    def available(self) -> bool:
        return self.device_box.count() > 0

    def _toggled(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        from ..backend.errors import LiveInputError
        from ..backend.live.capture import MicrophoneCapture
        from ..backend.live.recording import Recording

        capture = MicrophoneCapture(self.device_box.currentData(), RECORD_RATE)
        try:
            capture.start()
        except LiveInputError as exc:
            self.record_button.setChecked(False)
            self.failed.emit(str(exc))
            return
        self.capture, self.recording = capture, Recording(RECORD_RATE)
        self.record_button.setText("Stop")
        self.device_box.setEnabled(False)
        self._timer.start()

    def poll(self) -> None:
        """Move what arrived into the recording; show the level and the counters; stop on a failed device."""
        if self.capture is None:
            return
        _, samples = self.capture.read()
        self.recording.append(samples)
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        self.level.setValue(0 if peak <= 0 else max(0, 60 + round(20 * math.log10(peak))))
        ring = self.capture.ring
        lost = f" · {ring.dropped} samples dropped" if ring.dropped else ""
        over = f" · {ring.overflows} device overflows" if ring.overflows else ""
        self.status.setText(f"{self.recording.seconds:.1f} s{lost}{over}")
        if self.capture.error is not None:
            message = self.capture.error
            self.record_button.setChecked(False)  # stops and keeps what was recorded
            self.failed.emit(message)

    def stop(self) -> Path | None:
        """Stop capturing and write the recording (if any) to a new FLAC file; its path, announced by
        ``recorded``."""
        capture, recording = self.capture, self.recording
        self.capture = self.recording = None
        self._timer.stop()
        self.record_button.setText("Record")
        self.device_box.setEnabled(self.available)
        self.level.setValue(0)
        if capture is None:
            return None
        capture.stop()
        recording.append(capture.read()[1])
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
