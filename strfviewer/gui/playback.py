"""Audio playback for the viewer.

The app talks to one interface, :class:`Player`, so the GUI code never cares whether sound really comes out:

* :class:`QtAudioPlayer` plays through QtMultimedia's ``QAudioSink`` on the default output device and reports the
  position of what the device has actually consumed, so the cursor follows what is heard;
* :class:`NullPlayer` makes no sound and advances the position in wall-clock time. It is used on machines without a
  sound device (CI, headless servers) and in tests, so that cursors, scrubbing and "follow playback" still work.

:func:`make_player` picks one. ``PySide6.QtMultimedia`` is imported lazily inside functions because it needs system
libraries (libpulse) that may be missing; when the import fails the app falls back to :class:`NullPlayer` with a
logged warning instead of refusing to start.

End-of-audio convention (both players): when playback reaches the end, the state becomes ``"stopped"``
(``stateChanged("stopped")``), then ``finished()`` is emitted while ``position()`` still equals ``duration()``, and
afterwards the position returns to 0 (``positionChanged(0.0)``), so that the next ``play()`` starts from the beginning.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import numpy as np
from PySide6.QtCore import QBuffer, QCoreApplication, QElapsedTimer, QIODevice, QObject, Qt, QTimer, Signal

logger = logging.getLogger(__name__)

PLAYING = "playing"
PAUSED = "paused"
STOPPED = "stopped"

TICK_MS = 20  # position updates while playing: smooth enough for a cursor, cheap enough for Python


_multimedia: ModuleType | None = None
_multimedia_failed = False


def _import_multimedia() -> ModuleType | None:
    """Import PySide6.QtMultimedia once; None (with one warning) where its system libraries are missing."""
    global _multimedia, _multimedia_failed
    if _multimedia is None and not _multimedia_failed:
        try:
            from PySide6 import QtMultimedia
        except (ImportError, OSError) as exc:  # e.g. libpulse.so.0 missing
            _multimedia_failed = True
            logger.warning("QtMultimedia is unavailable (%s); audio playback will be silent", exc)
        else:
            _multimedia = QtMultimedia
    return _multimedia


def _has_qt_app() -> bool:
    """QtMultimedia's device queries need a QCoreApplication; without one they print warnings and find nothing."""
    return QCoreApplication.instance() is not None


def _resample_linear(samples: np.ndarray, from_fs: int, to_fs: int) -> np.ndarray:
    """Linear interpolation to another rate; good enough to *listen* when the device rejects the audio's rate."""
    if from_fs == to_fs or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    count = max(1, round(samples.size * to_fs / from_fs))
    t_out = np.arange(count, dtype=np.float64) * (from_fs / to_fs)
    return np.interp(t_out, np.arange(samples.size, dtype=np.float64), samples).astype(np.float32)


class Player(QObject):
    """The playback interface the app uses; subclasses supply the clock (wall time or a sound device).

    Positions are in seconds of the audio given to :meth:`set_audio`. States are ``"playing"``, ``"paused"`` and
    ``"stopped"``. See the module docstring for what happens at the end of the audio.
    """

    positionChanged = Signal(float)  # seconds; about every 20 ms while playing, and on seek/stop
    stateChanged = Signal(str)  # "playing" / "paused" / "stopped"
    finished = Signal()  # playback reached the end of the audio
    error = Signal(str)  # one line for the user

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._samples = np.zeros(0, dtype=np.float32)
        self._audio_fs = 1
        self._state = STOPPED

    # -- audio -------------------------------------------------------------------------------------------------
    def set_audio(self, samples: np.ndarray, audio_fs: int) -> None:
        """Replace the audio (mono float32 in [-1, 1]); stops playback and rewinds to 0."""
        array = np.asarray(samples, dtype=np.float32)
        if array.ndim != 1:
            raise ValueError(f"playback expects mono audio (1-D samples), got shape {array.shape}")
        if int(audio_fs) <= 0:
            raise ValueError(f"audio_fs must be positive, got {audio_fs}")
        self.stop()
        self._samples = np.ascontiguousarray(array)
        self._audio_fs = int(audio_fs)
        self._audio_changed()

    def _audio_changed(self) -> None:
        """Hook for subclasses that prepare device data when the audio changes."""

    def duration(self) -> float:
        """Length of the current audio in seconds (0 without audio)."""
        return self._samples.size / self._audio_fs

    def _has_audio(self) -> bool:
        return self._samples.size > 0

    def _clamp(self, seconds: float) -> float:
        return min(max(float(seconds), 0.0), self.duration())

    # -- state -------------------------------------------------------------------------------------------------
    def state(self) -> str:
        """``"playing"``, ``"paused"`` or ``"stopped"``."""
        return self._state

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def toggle(self) -> None:
        """Play/pause, as the space bar does."""
        if self._state == PLAYING:
            self.pause()
        else:
            self.play()

    # -- to implement ------------------------------------------------------------------------------------------
    def play(self) -> None:
        """Start or resume playback from :meth:`position`; does nothing without audio."""
        raise NotImplementedError

    def pause(self) -> None:
        """Stop advancing but keep the position."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop and rewind to 0."""
        raise NotImplementedError

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` (clamped to [0, duration]); keeps playing if playing."""
        raise NotImplementedError

    def position(self) -> float:
        """Current position in seconds."""
        raise NotImplementedError

    def is_available(self) -> bool:
        """True only when sound really comes out of a device."""
        return False


class NullPlayer(Player):
    """A silent player that keeps wall-clock time, for machines without a sound device and for tests."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._base = 0.0  # position when the clock was (re)started, or the frozen position when not playing
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def position(self) -> float:
        if self._state == PLAYING and self._clock.isValid():
            return self._clamp(self._base + self._clock.elapsed() / 1000.0)
        return self._base

    def play(self) -> None:
        if not self._has_audio() or self._state == PLAYING:
            return
        if self._base >= self.duration():  # at the very end: start over rather than finish at once
            self._base = 0.0
        self._clock.start()
        self._timer.start()
        self._set_state(PLAYING)

    def pause(self) -> None:
        if self._state != PLAYING:
            return
        self._base = self.position()
        self._timer.stop()
        self._set_state(PAUSED)
        self.positionChanged.emit(self._base)

    def stop(self) -> None:
        self._timer.stop()
        moved = self._base != 0.0 or self._state == PLAYING
        self._base = 0.0
        self._set_state(STOPPED)
        if moved:
            self.positionChanged.emit(0.0)

    def seek(self, seconds: float) -> None:
        self._base = self._clamp(seconds)
        if self._state == PLAYING:
            self._clock.restart()
        self.positionChanged.emit(self._base)

    def _tick(self) -> None:
        position = self.position()
        self.positionChanged.emit(position)
        if position >= self.duration():
            self._timer.stop()
            self._base = position
            self._set_state(STOPPED)
            self.finished.emit()
            self._base = 0.0
            self.positionChanged.emit(0.0)


def _default_output_device() -> Any | None:
    """The default output QAudioDevice, or None when QtMultimedia or a Qt application is missing."""
    qtm = _import_multimedia()
    if qtm is None or not _has_qt_app():
        return None
    return qtm.QMediaDevices.defaultAudioOutput()


def _choose_output_format(device: Any, audio_fs: int) -> Any:
    """Mono float32 or int16 at the audio's rate if the device takes it, else the device's preferred rate.

    In the fallback the audio is resampled linearly with numpy (see :func:`_resample_linear`); positions stay in
    seconds, so the rest of the app never sees the device's rate. A null device gets the audio's own format, which
    fails cleanly with ``OpenError`` on ``start``.
    """
    qtm = _import_multimedia()
    assert qtm is not None
    sample_formats = (qtm.QAudioFormat.SampleFormat.Float, qtm.QAudioFormat.SampleFormat.Int16)

    def make(rate: int, channels: int, sample_format: Any) -> Any:
        fmt = qtm.QAudioFormat()
        fmt.setSampleRate(rate)
        fmt.setChannelCount(channels)
        fmt.setSampleFormat(sample_format)
        return fmt

    candidates = [make(audio_fs, 1, sf) for sf in sample_formats]
    preferred = device.preferredFormat()
    if preferred.isValid() and preferred.sampleRate() > 0:
        rate, channels = preferred.sampleRate(), max(1, preferred.channelCount())
        candidates += [make(rate, 1, sf) for sf in sample_formats]
        candidates += [make(rate, channels, sf) for sf in sample_formats]
    for fmt in candidates:
        if device.isFormatSupported(fmt):
            return fmt
    return candidates[0]


def _to_pcm(samples: np.ndarray, audio_fs: int, fmt: Any) -> bytes:
    """Interleaved little-endian PCM bytes of ``samples`` in ``fmt`` (float32 or int16, any channel count)."""
    qtm = _import_multimedia()
    assert qtm is not None
    data = _resample_linear(samples, audio_fs, fmt.sampleRate())
    data = np.clip(data, -1.0, 1.0)
    if fmt.sampleFormat() == qtm.QAudioFormat.SampleFormat.Int16:
        data = np.round(data * 32767.0).astype("<i2")
    else:
        data = data.astype("<f4")
    channels = max(1, fmt.channelCount())
    if channels > 1:
        data = np.repeat(data[:, None], channels, axis=1)
    return data.tobytes()


class QtAudioPlayer(Player):
    """Plays through ``QAudioSink`` on the default (or a given) output device.

    The PCM bytes are served from a ``QBuffer``; the position is the seek offset plus ``processedUSecs()`` of the
    sink, i.e. what the device has consumed, so the cursor follows the sound. Sink state and errors are polled every
    20 ms (PySide6 cannot deliver ``QAudioSink.stateChanged`` to a lambda). Any sink error emits :attr:`error` and
    leaves the player stopped at the current position.
    """

    def __init__(self, parent: QObject | None = None, device: Any | None = None) -> None:
        super().__init__(parent)
        self._qtm = _import_multimedia()
        if self._qtm is None:
            raise RuntimeError("QtMultimedia is unavailable; use NullPlayer")
        self._device = device if device is not None else self._qtm.QMediaDevices.defaultAudioOutput()
        self._format: Any = None
        self._pcm = b""
        self._sink: Any = None
        self._buffer: QBuffer | None = None
        self._offset = 0.0  # seconds at which the current sink's data starts
        self._frozen = 0.0  # the position while not playing
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def is_available(self) -> bool:
        return not self._device.isNull()

    def _audio_changed(self) -> None:
        self._format = _choose_output_format(self._device, self._audio_fs)
        self._pcm = _to_pcm(self._samples, self._audio_fs, self._format)
        if self._format.sampleRate() != self._audio_fs:
            rate = self._format.sampleRate()
            logger.info("audio output does not take %d Hz; resampled linearly to %d Hz", self._audio_fs, rate)

    def position(self) -> float:
        if self._state == PLAYING and self._sink is not None:
            return self._clamp(self._offset + self._sink.processedUSecs() / 1e6)
        return self._frozen

    def _teardown(self) -> None:
        """Drop the sink and its buffer; the next play() opens a fresh one at the frozen position."""
        self._timer.stop()
        if self._sink is not None:
            self._sink.stop()
            self._sink.deleteLater()
            self._sink = None
        if self._buffer is not None:
            self._buffer.close()
            self._buffer.deleteLater()
            self._buffer = None

    def play(self) -> None:
        if not self._has_audio() or self._state == PLAYING:
            return
        if self._device.isNull():  # Qt would quietly pick another device, or none: say there is none
            message = "There is no audio output device; playback is unavailable."
            logger.warning(message)
            self.error.emit(message)
            return
        if self._state == PAUSED and self._sink is not None:
            self._sink.resume()
        else:
            if self._frozen >= self.duration():
                self._frozen = 0.0
            self._start_sink_at(self._frozen)
        if self._check_error():
            return
        self._timer.start()
        self._set_state(PLAYING)

    def _start_sink_at(self, seconds: float) -> None:
        self._teardown()
        frame_bytes = self._format.bytesPerFrame()
        frame = min(int(seconds * self._format.sampleRate()), len(self._pcm) // frame_bytes)
        self._offset = frame / self._format.sampleRate()
        self._buffer = QBuffer(self)
        self._buffer.setData(self._pcm[frame * frame_bytes :])
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self._sink = self._qtm.QAudioSink(self._device, self._format, self)
        self._sink.start(self._buffer)

    def _check_error(self) -> bool:
        """Report a sink error to the user and fall back to stopped; True when there was one."""
        if self._sink is None:
            return False
        errors = self._qtm.QtAudio.Error
        code = self._sink.error()
        if code in (errors.NoError, errors.UnderrunError):  # an underrun is just "no data yet / any more"
            return False
        name = self._device.description() or "default device"
        message = {
            errors.OpenError: f"Could not open the audio output ({name}); playback is unavailable.",
            errors.IOError: f"The audio output ({name}) failed while playing (I/O error).",
            errors.FatalError: f"The audio output ({name}) stopped with a fatal error.",
        }.get(code, f"The audio output ({name}) reported an error ({code}).")
        logger.warning(message)
        self._frozen = self.position() if self._state == PLAYING else self._frozen
        self._teardown()
        self._set_state(STOPPED)
        self.error.emit(message)
        return True

    def pause(self) -> None:
        if self._state != PLAYING:
            return
        self._frozen = self.position()
        self._timer.stop()
        if self._sink is not None:
            self._sink.suspend()
        self._set_state(PAUSED)
        self.positionChanged.emit(self._frozen)

    def stop(self) -> None:
        moved = self._frozen != 0.0 or self._state == PLAYING
        self._teardown()
        self._frozen = 0.0
        self._set_state(STOPPED)
        if moved:
            self.positionChanged.emit(0.0)

    def seek(self, seconds: float) -> None:
        target = self._clamp(seconds)
        self._frozen = target
        if self._state == PLAYING:
            self._start_sink_at(target)
            if self._check_error():
                return
        elif self._sink is not None:  # paused: the suspended sink holds the old offset, reopen on play()
            self._teardown()
        self.positionChanged.emit(target)

    def _tick(self) -> None:
        if self._sink is None or self._check_error():
            return
        position = self.position()
        self.positionChanged.emit(position)
        states = self._qtm.QtAudio.State
        drained = self._buffer is None or self._buffer.atEnd()
        if self._sink.state() in (states.IdleState, states.StoppedState) and drained:
            self._frozen = self.duration()
            self._teardown()
            self._set_state(STOPPED)
            self.positionChanged.emit(self._frozen)
            self.finished.emit()
            self._frozen = 0.0
            self.positionChanged.emit(0.0)


def make_player(parent: QObject | None = None, prefer_null: bool = False) -> Player:
    """A QtAudioPlayer on the default output device when there is one, else a silent NullPlayer."""
    if prefer_null:
        logger.info("silent playback requested; using NullPlayer")
        return NullPlayer(parent)
    if _import_multimedia() is None:
        logger.info("QtMultimedia cannot be imported; using silent NullPlayer")
        return NullPlayer(parent)
    if not _has_qt_app():
        logger.info("no Qt application yet, audio devices cannot be queried; using silent NullPlayer")
        return NullPlayer(parent)
    device = _default_output_device()
    if device is None or device.isNull():
        logger.info("no audio output device; using silent NullPlayer")
        return NullPlayer(parent)
    logger.info("playing audio on %s", device.description())
    return QtAudioPlayer(parent, device)
