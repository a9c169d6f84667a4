"""Microphone capture with sounddevice (PortAudio), off the GUI thread, into a :class:`SampleRing`.

Chosen with evidence: under a 0.3 s stall of the reading thread, Qt's QAudioSource
with a small buffer lost samples silently, while sounddevice's callback, which runs on PortAudio's own thread
and only copies each block into the ring, lost none over 5 s stalls and reports the device's overflows per
block. sounddevice is an optional dependency (``pip install 'strfviewer[live]'``, and the system's PortAudio):
without it :func:`input_devices` lists nothing and :func:`live_input_unavailable` says why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigurationError, LiveInputError, one_line
from .ring import SampleRing

BLOCK_S = 0.01  # 10 ms callbacks: the latency floor, and cheap enough on any machine
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


def input_devices(strict: bool = False) -> list[InputDevice]:
    """The inputs, the default first; [] when there are none or PortAudio is missing (``strict``: raise)."""
    try:
        sd = _sounddevice()
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
        self._stream: Any = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Open and start the stream; LiveInputError says why it cannot."""
        sd = _sounddevice()
        self._stopping.clear()
        try:
            self._stream = sd.InputStream(device=self.device, channels=1, samplerate=self.rate, dtype="float32",
                                          blocksize=self.block, latency="low", callback=self._callback,
                                          finished_callback=self._finished)
            self._stream.start()
        except Exception as exc:  # PortAudioError, ValueError for an unknown device, ...
            self._stream = None
            which = "the default input" if self.device is None else f"input device {self.device}"
            raise LiveInputError(f"cannot open {which} at {self.rate} Hz: {one_line(exc)}. Choose another device "
                                 "or rate.") from None

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self.ring.write(indata[:, 0], overflowed=bool(status.input_overflow))

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
        if stream is not None:
            try:
                stream.stop()
            except Exception:  # an already failed stream has nothing left to stop; it is still closed below
                pass
            finally:
                stream.close()
