"""Microphone capture through a real audio path: a private PulseAudio daemon's virtual microphone (started by
.ci/run with scripts/virtual_mic.sh). A known signal played into it comes back whole, also across a stalled
reader, and at a device rate the front-end does not use. Without the daemon these tests skip, saying so."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable

import numpy as np
import pytest
import soundfile

from strfviewer.backend.errors import LiveInputError
from strfviewer.backend.live.capture import MicrophoneCapture, input_devices, live_input_unavailable
from strfviewer.backend.live.resample import CausalResampler, resample_causal

SINK = os.environ.get("STRFVIEWER_VIRTUAL_SINK")
pytestmark = pytest.mark.skipif(
    not SINK or shutil.which("paplay") is None or live_input_unavailable() is not None,
    reason="no virtual microphone: start one with scripts/virtual_mic.sh (as .ci/run does) to run these tests",
)


def _chirp(rate: int, seconds: float = 0.8) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * (300 * t + 2000 * t**2)) * np.hanning(t.shape[0])).astype(np.float32)


def _play(tmp_path, signal: np.ndarray, rate: int) -> subprocess.Popen:
    path = tmp_path / "played.wav"
    soundfile.write(path, signal, rate, subtype="FLOAT")
    return subprocess.Popen(["paplay", "-d", SINK, str(path)])


def _capture_while(capture: MicrophoneCapture, play: Callable[[], subprocess.Popen], stall_s: float = 0.0,
                   tail_s: float = 0.5) -> np.ndarray:
    """Everything captured while ``play()`` plays (started once the capture runs, and ``tail_s`` after), each
    read checked to start where the one before ended."""
    blocks: list[np.ndarray] = []
    capture.start()
    player = play()
    try:
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(stall_s or 0.02)  # a reader that stalls, as a busy GUI thread does
            index, block = capture.read()
            assert index == sum(b.shape[0] for b in blocks)
            blocks.append(block)
            if deadline is None and player.poll() is not None:
                deadline = time.monotonic() + tail_s
    finally:
        capture.stop()
    index, block = capture.read()
    assert index == sum(b.shape[0] for b in blocks)
    blocks.append(block)
    return np.concatenate(blocks)


def _located(captured: np.ndarray, signal: np.ndarray) -> tuple[float, float]:
    """(correlation, gain) of ``signal`` at its best alignment in ``captured``."""
    scores = np.correlate(captured, signal, mode="valid")
    start = int(np.argmax(np.abs(scores)))
    piece = captured[start:start + signal.shape[0]]
    correlation = float(np.corrcoef(piece, signal)[0, 1])
    return correlation, float(np.dot(piece, signal) / np.dot(signal, signal))


def test_the_virtual_microphone_is_listed_default_first():
    devices = input_devices()
    assert devices and devices[0].is_default and all(d.channels > 0 for d in devices)


def test_a_played_signal_comes_back_whole_across_a_stalled_reader(tmp_path):
    rate = 48000
    signal = _chirp(rate)
    capture = MicrophoneCapture(None, rate)
    captured = _capture_while(capture, lambda: _play(tmp_path, signal, rate), stall_s=0.3)
    assert capture.ring.dropped == 0 and capture.ring.overflows == 0 and capture.error is None
    correlation, gain = _located(captured, signal)
    assert correlation > 0.999 and abs(gain - 1) < 0.01


def test_a_44_1_khz_device_resampled_causally_equals_the_offline_conversion(tmp_path):
    signal = _chirp(44100)
    capture = MicrophoneCapture(None, 44100)
    converter = CausalResampler(44100, 48000)
    capture.start()
    player = _play(tmp_path, signal, 44100)
    live = []
    raw = []
    try:
        while player.poll() is None:
            time.sleep(0.05)
            _, block = capture.read()
            raw.append(block)
            live.append(converter.push(block))
        time.sleep(0.3)
    finally:
        capture.stop()
    _, block = capture.read()
    raw.append(block)
    live.append(converter.push(block))
    np.testing.assert_array_equal(np.concatenate(live), resample_causal(np.concatenate(raw), 44100, 48000))
    correlation, _ = _located(np.concatenate(raw), signal)
    assert correlation > 0.95  # PulseAudio converts it to its 48 kHz sink and back, with its own (rough) resampler


def test_an_input_that_does_not_exist_gives_a_message_not_a_crash():
    with pytest.raises(LiveInputError, match="cannot open input device 999"):
        MicrophoneCapture(999, 48000).start()
