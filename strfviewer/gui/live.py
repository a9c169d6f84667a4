"""Live mode: the streaming engine computes each front-end's frames as the sound plays, off the GUI thread.

The GUI tells the engine how far playback has got; a worker thread pushes the new audio through one
:class:`~strfviewer.backend.streaming.Streamer` per front-end and sends the new frames back. Frames are
therefore computed in step with what is heard, and equal the offline result.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


_THREADS: set[QThread] = set()


def write_frames(buffer: np.ndarray, first: int, frames: np.ndarray) -> int:
    """Copy streamed ``frames`` into ``buffer`` (channels x all frames) from frame ``first``; returns the end."""
    stop = min(first + frames.shape[1], buffer.shape[1])
    buffer[:, first:stop] = frames[:, : stop - first]
    return stop


class _Worker(QObject):
    prepared = Signal(int, dict)  # slot id, {"n_frames", "hop", "audio_fs", "centres", "channels"}
    frames = Signal(int, int, object)  # slot id, first frame, (channels, n) array
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.streamers: dict[int, Any] = {}
        self.samples = np.zeros(0, dtype=np.float32)

    @Slot(object)
    def configure(self, request: dict[str, Any]) -> None:
        from ..backend.errors import StrfviewerError
        from ..backend.frontends import make_wav2spec
        from ..backend.streaming import Streamer

        self.streamers = {}
        self.samples = request["samples"]
        try:
            for slot_id, kind, args, dt_ms in request["slots"]:
                frontend = make_wav2spec(kind, audio_fs=request["audio_fs"], dt_ms=dt_ms, **args)
                streamer = Streamer(frontend)
                self.streamers[slot_id] = streamer
                n_frames = -(-self.samples.shape[0] // streamer.hop)
                self.prepared.emit(slot_id, {
                    "n_frames": n_frames, "hop": streamer.hop, "audio_fs": streamer.audio_fs,
                    "centres": frontend.centre_frequencies(), "channels": streamer.n_outputs,
                })
            for stream_id, model in request.get("models", []):
                streamer = Streamer(model)
                self.streamers[stream_id] = streamer
                n_frames = -(-self.samples.shape[0] // streamer.hop)
                self.prepared.emit(stream_id, {"n_frames": n_frames, "hop": streamer.hop, "audio_fs": streamer.audio_fs,
                                               "centres": None, "channels": streamer.n_outputs})
        except StrfviewerError as exc:
            self.streamers = {}
            self.failed.emit(str(exc))

    @Slot(int)
    def advance(self, target_sample: int) -> None:
        """Push the audio up to ``target_sample`` (whole frames; the last partial frame zero-padded at the end)."""
        total = self.samples.shape[0]
        for slot_id, streamer in self.streamers.items():
            hop = streamer.hop
            done = streamer.samples_pushed
            stop = total + (-total) % hop if target_sample >= total else (min(target_sample, total) // hop) * hop
            if stop <= done:
                continue
            chunk = self.samples[done:stop]
            if chunk.shape[0] < stop - done:
                chunk = np.concatenate([chunk, np.zeros(stop - done - chunk.shape[0], dtype=np.float32)])
            self.frames.emit(slot_id, done // hop, streamer.push(chunk))


class LiveEngine(QObject):
    """Owns the worker thread; ``start`` prepares streamers for the active front-ends, ``advance`` feeds them."""

    prepared = Signal(int, dict)
    frames = Signal(int, int, object)
    failed = Signal(str)
    _configure = Signal(object)
    _advance = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("strfviewer-live")
        # Kept alive until shutdown has stopped it: a running QThread destroyed by the garbage collector
        # (an engine dropped without shutdown) aborts the process.
        _THREADS.add(self._thread)
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._configure.connect(self._worker.configure)
        self._advance.connect(self._worker.advance)
        self._worker.prepared.connect(self.prepared)
        self._worker.frames.connect(self.frames)
        self._worker.failed.connect(self.failed)
        self._thread.start()
        self.running = False

    def start(self, samples: np.ndarray, audio_fs: int, slots: list[tuple[int, str, dict, float]],
              models: list[tuple[int, Any]] = ()) -> None:
        """Streams for front-end ``slots`` (id, kind, args, dt_ms) and waveform ``models`` (id, module)."""
        self.running = True
        self._configure.emit({"samples": samples, "audio_fs": audio_fs, "slots": slots, "models": list(models)})

    def advance(self, seconds: float, audio_fs: int) -> None:
        if self.running:
            self._advance.emit(int(seconds * audio_fs))

    def finish(self, total_samples: int) -> None:
        """Compute every remaining frame (the sound has ended)."""
        if self.running:
            self._advance.emit(total_samples)
        self.running = False

    def stop(self) -> None:
        self.running = False

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Stop the worker thread; returns whether it ended within ``timeout_ms``."""
        self.running = False
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            _THREADS.discard(self._thread)
            return True
        return False
