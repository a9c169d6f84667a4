"""Microphone capture with sounddevice (PortAudio), off the GUI thread, into a :class:`SampleRing`.

Chosen with evidence: under a 0.3 s stall of the reading thread, Qt's QAudioSource
with a small buffer lost samples silently, while sounddevice's callback, which runs on PortAudio's own thread
and only copies each block into the ring, lost none over 5 s stalls and reports the device's overflows per
block. sounddevice is an optional dependency (``pip install 'strfviewer[live]'``, and the system's PortAudio):
without it :func:`input_devices` lists nothing and :func:`live_input_unavailable` says why.
"""

from __future__ import annotations

import bisect
import threading
import time as clock
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigurationError, LiveInputError, one_line
from .ring import SampleRing

BLOCK_S = 0.01  # 10 ms callbacks: the latency floor, and cheap enough on any machine
ARRIVALS_KEPT = 2000  # callbacks remembered for latency: 20 s of 10 ms blocks
_PORTAUDIO = threading.Lock()  # a rescan restarts PortAudio: no stream may open meanwhile
_OPEN_STREAMS: set[int] = set()  # ids of the captures with a stream open (no rescan while there are any)
RING_S = 10.0  # seconds the ring holds: how long the GUI may stall before a sample is dropped


@dataclass(frozen=True)
class InputDevice:
    """An audio input as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    channels: int
    default_rate: float
    is_default: bool

    @property
    def label(self) -> str:
        return f"{self.name} ({self.host_api})" + (" — default" if self.is_default else "")


def _sounddevice() -> Any:
    """The sounddevice module, or LiveInputError saying what to install."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the module is there but PortAudio is not
        raise LiveInputError(
            f"live input needs the sounddevice package and the system's PortAudio library ({one_line(exc)}); "
            "install them with pip install 'strfviewer[live]' and your system's libportaudio2"
        ) from None
    return sounddevice


def live_input_unavailable() -> str | None:
    """Why no microphone can be used here, or None when at least one input exists."""
    try:
        devices = input_devices(strict=True)
    except LiveInputError as exc:
        return str(exc)
    return None if devices else "no audio input device is connected (PortAudio lists none)"


def input_devices(strict: bool = False, rescan: bool = False) -> list[InputDevice]:
    """The inputs, the default first; [] when there are none or PortAudio is missing (``strict``: raise).

    PortAudio lists the devices it found when it started; ``rescan`` restarts it first so that inputs
    plugged in or removed since are seen (sounddevice's documented way). Only call it with no stream open."""
    try:
        sd = _sounddevice()
        with _PORTAUDIO:
            if rescan and not _OPEN_STREAMS:  # a restart would stop them
                sd._terminate()
                sd._initialize()
            listed = sd.query_devices()
            apis = sd.query_hostapis()
            default_input = sd.default.device[0]
    except LiveInputError:
        if strict:
            raise
        return []
    except Exception as exc:  # PortAudio fails in its own ways when the audio system is broken
        if strict:
            raise LiveInputError(f"the audio system cannot list its devices: {one_line(exc)}") from None
        return []
    devices = [InputDevice(i, str(d["name"]), str(apis[d["hostapi"]]["name"]), int(d["max_input_channels"]),
                           float(d["default_samplerate"]), i == default_input)
               for i, d in enumerate(listed) if int(d["max_input_channels"]) > 0]
    return sorted(devices, key=lambda d: not d.is_default)


class MicrophoneCapture:
    """One mono input stream at ``rate`` Hz; :meth:`read` hands over what arrived since the last call.

    The PortAudio callback only copies blocks into the ring, so a busy GUI thread loses nothing for up to
    ``ring_s`` seconds; a stream that ends without :meth:`stop` (an unplugged device) sets :attr:`error`.
    """

    def __init__(self, device: int | None, rate: int, block_s: float = BLOCK_S, ring_s: float = RING_S) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ConfigurationError(f"the capture rate must be a positive whole number of Hz (got {rate!r})")
        self.device, self.rate = device, rate
        self.block = max(1, round(rate * block_s))
        self.ring = SampleRing(max(self.block * 4, round(rate * ring_s)))
        self.error: str | None = None
        # (samples written after a callback, monotonic seconds of that callback): when each sample arrived.
        self.arrivals: deque[tuple[int, float]] = deque(maxlen=ARRIVALS_KEPT)
        self._stream: Any = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Open and start the stream; LiveInputError says why it cannot."""
        sd = _sounddevice()
        self._stopping.clear()
        try:
            with _PORTAUDIO:
                self._stream = sd.InputStream(device=self.device, channels=1, samplerate=self.rate,
                                              dtype="float32", blocksize=self.block, latency="low",
                                              callback=self._callback, finished_callback=self._finished)
                self._stream.start()
                _OPEN_STREAMS.add(id(self))
        except Exception as exc:  # PortAudioError, ValueError for an unknown device, ...
            self._stream = None
            which = "the default input" if self.device is None else f"input device {self.device}"
            raise LiveInputError(f"cannot open {which} at {self.rate} Hz: {one_line(exc)}. Choose another device "
                                 "or rate.") from None

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self.ring.write(indata[:, 0], overflowed=bool(status.input_overflow))
        self.arrivals.append((self.ring.written, clock.monotonic()))

    def arrival_time(self, sample: int) -> float | None:
        """When sample ``sample`` (counted from the start) reached strfviewer, in ``time.monotonic`` seconds:
        the time of the callback that delivered it, less the samples after it in that block (a block is
        handed over once its last sample is in). None when it has not arrived or is no longer remembered.

        This is the start of the capture-to-pixel latency the app measures; what the device and the sound
        server add before the callback is :attr:`input_latency_s`."""
        arrivals = list(self.arrivals)
        at = bisect.bisect_right(arrivals, sample, key=lambda arrival: arrival[0])
        if at == len(arrivals) or (at == 0 and len(arrivals) == self.arrivals.maxlen):  # not yet, or forgotten
            return None
        written, when = arrivals[at]
        return when - (written - 1 - sample) / self.rate

    @property
    def input_latency_s(self) -> float | None:
        """PortAudio's estimate of the delay before a sample reaches the callback (device and server)."""
        stream = self._stream
        return None if stream is None else float(stream.latency)

    def _finished(self) -> None:
        if not self._stopping.is_set():
            self.error = "the audio input stopped delivering (was the device unplugged?); what was recorded is kept"

    @property
    def running(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def read(self) -> tuple[int, np.ndarray]:
        """(index of the first sample since the start, the samples that arrived since the last read)."""
        return self.ring.read()

    def stop(self) -> None:
        """Stop and close the stream (idempotent); what the ring holds can still be read."""
        self._stopping.set()
        stream, self._stream = self._stream, None
        with _PORTAUDIO:
            _OPEN_STREAMS.discard(id(self))
        if stream is not None:
            try:
                stream.stop()
            except Exception:  # an already failed stream has nothing left to stop; it is still closed below
                pass
            finally:
                stream.close()
