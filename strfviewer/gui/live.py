"""Live mode: the streaming engine computes each front-end's frames as the sound plays, off the GUI thread.

The GUI tells the engine how far playback has got; a worker thread pushes the new audio through one
:class:`~strfviewer.backend.streaming.Streamer` per front-end and sends the new frames back. Frames are
therefore computed in step with what is heard, and equal the offline result.

Each :meth:`LiveEngine.start` begins a new stream with its own generation number, and :meth:`LiveEngine.stop`
ends the current one; whatever the worker still sends for an older stream (frames of the previous sound, or
of a front-end whose channel count has changed since) is dropped, never drawn.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


_THREADS: set[QThread] = set()


def write_frames(buffer: np.ndarray, first: int, frames: np.ndarray) -> int:
    """Copy streamed ``frames`` into ``buffer`` (channels x all frames) from frame ``first``; returns the end.

    Frames with another channel count than the buffer are of a stream that no longer matches the pane: they
    are dropped (and 0 returned), so a late frame can never break or spoil the image."""
    if frames.ndim != 2 or frames.shape[0] != buffer.shape[0]:
        log.debug("dropped live frames of shape %s for a buffer of shape %s", frames.shape, buffer.shape)
        return 0
    stop = min(first + frames.shape[1], buffer.shape[1])
    if stop > first:
        buffer[:, first:stop] = frames[:, : stop - first]
    return stop


class _Worker(QObject):
    # Each signal starts with the generation of the stream it belongs to.
    prepared = Signal(int, int, dict)  # slot id, {"n_frames", "hop", "audio_fs", "centres", "channels"}
    frames = Signal(int, int, int, object)  # slot id, first frame, (channels, n) array
    failed = Signal(int, str)

    def __init__(self) -> None:
        super().__init__()
        self.streamers: dict[int, Any] = {}
        self.samples = np.zeros(0, dtype=np.float32)
        self.generation = 0  # of the streamers held
        self.latest = 0  # the engine's current generation (set from the GUI thread): older work is skipped

    @Slot(object)
    def configure(self, request: dict[str, Any]) -> None:
        from ..backend.errors import StrfviewerError
        from ..backend.frontends import make_wav2spec
        from ..backend.streaming import Streamer

        self.streamers = {}
        self.samples = np.zeros(0, dtype=np.float32)
        self.generation = generation = request["generation"]
        if generation != self.latest:
            return  # stopped or replaced before it began
        samples = request["samples"]
        try:
            streamers = {}
            for slot_id, kind, args, dt_ms in request["slots"]:
                frontend = make_wav2spec(kind, audio_fs=request["audio_fs"], dt_ms=dt_ms, **args)
                streamers[slot_id] = (Streamer(frontend), frontend.centre_frequencies())
            for stream_id, model in request.get("models", []):
                streamers[stream_id] = (Streamer(model), None)
        except StrfviewerError as exc:
            self.failed.emit(generation, str(exc))
            return
        self.samples = samples
        for stream_id, (streamer, centres) in streamers.items():
            self.streamers[stream_id] = streamer
            n_frames = -(-samples.shape[0] // streamer.hop)
            self.prepared.emit(generation, stream_id, {"n_frames": n_frames, "hop": streamer.hop,
                                                       "audio_fs": streamer.audio_fs, "centres": centres,
                                                       "channels": streamer.n_outputs})

    @Slot(int, int)
    def advance(self, generation: int, target_sample: int) -> None:
        """Push the audio up to ``target_sample`` (whole frames; the last partial frame zero-padded at the end)."""
        if generation != self.generation or generation != self.latest:
            return
        total = self.samples.shape[0]
        for slot_id, streamer in self.streamers.items():
            if self.latest != generation:
                return  # stopped meanwhile: the rest would be dropped anyway
            hop = streamer.hop
            done = streamer.samples_pushed
            stop = total + (-total) % hop if target_sample >= total else (min(target_sample, total) // hop) * hop
            if stop <= done:
                continue
            chunk = self.samples[done:stop]
            if chunk.shape[0] < stop - done:
                chunk = np.concatenate([chunk, np.zeros(stop - done - chunk.shape[0], dtype=np.float32)])
            self.frames.emit(generation, slot_id, done // hop, streamer.push(chunk))


class LiveEngine(QObject):
    """Owns the worker thread; ``start`` prepares streamers for the active front-ends, ``advance`` feeds them.

    ``prepared``, ``frames`` and ``failed`` carry only what belongs to the current stream.
    """

    prepared = Signal(int, dict)
    frames = Signal(int, int, object)
    failed = Signal(str)
    _configure = Signal(object)
    _advance = Signal(int, int)

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
        self._worker.prepared.connect(self._relay_prepared)
        self._worker.frames.connect(self._relay_frames)
        self._worker.failed.connect(self._relay_failed)
        self._thread.start()
        self.running = False  # a stream is open and follows playback
        self.generation = 0  # of the current stream; what arrives for another one is dropped

    def _begin(self) -> int:
        self.generation += 1
        self._worker.latest = self.generation
        return self.generation

    def start(self, samples: np.ndarray, audio_fs: int, slots: list[tuple[int, str, dict, float]],
              models: list[tuple[int, Any]] = ()) -> None:
        """A new stream from the start of ``samples`` for front-end ``slots`` (id, kind, args, dt_ms) and waveform
        ``models`` (id, module); the previous stream, if any, ends."""
        self.running = True
        self._configure.emit({"generation": self._begin(), "samples": samples, "audio_fs": audio_fs,
                              "slots": slots, "models": list(models)})

    def advance(self, seconds: float, audio_fs: int) -> None:
        if self.running:
            self._advance.emit(self.generation, int(seconds * audio_fs))

    def finish(self, total_samples: int) -> None:
        """Compute every remaining frame (the sound has ended); the stream then ends."""
        if self.running:
            self._advance.emit(self.generation, total_samples)
        self.running = False

    def stop(self) -> None:
        """End the current stream now: frames it has not delivered yet are dropped."""
        self.running = False
        self._begin()

    def _relay_prepared(self, generation: int, stream_id: int, info: dict) -> None:
        if generation == self.generation:
            self.prepared.emit(stream_id, info)

    def _relay_frames(self, generation: int, stream_id: int, first: int, frames: object) -> None:
        if generation == self.generation:
            self.frames.emit(stream_id, first, frames)

    def _relay_failed(self, generation: int, message: str) -> None:
        if generation == self.generation:
            self.running = False
            self.failed.emit(message)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Stop the worker thread; returns whether it ended within ``timeout_ms``."""
        self.stop()
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            _THREADS.discard(self._thread)
            return True
        return False
