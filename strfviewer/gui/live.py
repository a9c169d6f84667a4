"""Live mode: the streaming engine computes each front-end's frames as the sound plays, off the GUI thread.

The GUI tells the engine how far playback has got; a worker thread pushes the new audio through one
:class:`~strfviewer.backend.streaming.Streamer` per front-end and sends the new frames back. Frames are
therefore computed in step with what is heard, and equal the offline result. A live input (the microphone)
is an endless stream: the GUI feeds it what was captured, and panes keep the last seconds of it
(:class:`ScrollingFrames`), as they do for a long sound streamed from the cursor.

The worker is a plain Python thread that never calls into Qt: commands reach it through a queue, and what it
computes waits in another that a GUI timer empties (Qt code on a worker thread can hold a Qt lock while it
waits for the GIL, and the GUI thread, holding the GIL, then waits for that lock for good).

Each :meth:`LiveEngine.start` begins a new stream with its own generation number, and :meth:`LiveEngine.stop`
ends the current one; whatever the worker still sends for an older stream (frames of the previous sound, or
of a front-end whose channel count has changed since) is dropped, never drawn.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_MS = 4  # how often the GUI thread collects what the worker computed while a stream runs


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


class ScrollingFrames:
    """The most recent frames of an endless stream (the microphone, a long sound from the cursor): ``view``
    holds frames ``first`` to ``end`` (absolute indexes) in order, at least the last ``capacity`` of them
    and at most twice that.

    Frames go into a buffer twice the capacity, shifted down only when it is full, so keeping a long stream
    costs one copy per ``capacity`` frames, not one per block."""

    def __init__(self, channels: int, capacity: int, first: int = 0) -> None:
        self.capacity = max(1, capacity)
        self._buffer = np.full((channels, 2 * self.capacity), np.nan, dtype=np.float32)
        self.first = self.end = first

    @property
    def view(self) -> np.ndarray:
        return self._buffer[:, : self.end - self.first]

    def write(self, first: int, frames: np.ndarray) -> bool:
        """Keep ``frames`` (channels x n) starting at absolute frame ``first``; False (dropped) for frames of
        another channel count or that do not follow on from what is held."""
        if frames.ndim != 2 or frames.shape[0] != self._buffer.shape[0] or first != self.end:
            log.debug("dropped %s scrolling frames at %d (holding up to %d)", frames.shape, first, self.end)
            return False
        n = frames.shape[1]
        if n >= self.capacity:
            self._buffer[:, : self.capacity] = frames[:, n - self.capacity:]
            self.end += n
            self.first = self.end - self.capacity
            return True
        held = self.end - self.first
        if held + n > self._buffer.shape[1]:
            keep = self.capacity - n
            self._buffer[:, :keep] = self._buffer[:, held - keep: held]
            self.first, held = self.end - keep, keep
        self._buffer[:, held: held + n] = frames
        self.end += n
        return True


class _Stream:
    """One module streamed from frame ``start`` on; frames before ``first`` only warm it up and are not sent."""

    def __init__(self, streamer: Any, start: int, first: int) -> None:
        self.streamer, self.first = streamer, first
        self.position = start * streamer.hop  # the next sample to push
        self.skip = first - start

    def push(self, chunk: np.ndarray) -> tuple[int, np.ndarray]:
        """(absolute index of the first frame sent, the frames) for the next ``chunk`` (whole frames)."""
        out = self.streamer.push(chunk)
        self.position += chunk.shape[0]
        dropped = min(self.skip, out.shape[1])
        self.skip -= dropped
        return self.position // self.streamer.hop - (out.shape[1] - dropped), out[:, dropped:]


class _Inbox:
    """Captured samples on their way from the GUI thread to the worker. The worker takes all that waits at
    once, so a worker behind real time catches up with bigger chunks instead of a growing queue of small
    ones (which would make the latency grow without bound)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[int, np.ndarray]] = []
        self._woken = False

    def put(self, generation: int, samples: np.ndarray) -> bool:
        """Leave ``samples``; True when the worker must be woken (it is not already)."""
        with self._lock:
            self._items.append((generation, samples))
            wake, self._woken = not self._woken, True
            return wake

    def take(self, generation: int) -> np.ndarray | None:
        """Everything waiting for stream ``generation``, joined (None if nothing); older streams' samples are
        discarded, newer ones' kept for when their stream is configured."""
        with self._lock:
            mine = [samples for g, samples in self._items if g == generation]
            self._items = [(g, samples) for g, samples in self._items if g > generation]
            self._woken = False  # newer streams take theirs when they are configured
        return np.concatenate(mine) if mine else None


class _Worker:
    """Runs on the engine's thread. What it sends goes into ``outbox``, each item starting with its kind and
    the generation of the stream it belongs to: ("prepared", generation, stream id, {"n_frames", "first",
    "hop", "audio_fs", "centres", "channels"}), ("frames", generation, stream id, first frame, (channels, n)
    array) and ("failed", generation, message)."""

    def __init__(self, inbox: _Inbox, outbox: queue.SimpleQueue) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.streams: dict[int, _Stream] = {}
        self.samples = np.zeros(0, dtype=np.float32)  # of a sound; of an input, those not yet pushed everywhere
        self.offset = 0  # absolute index of samples[0]
        self.endless = False  # an input: samples arrive by ``append``; a sound: all of them are here
        self.generation = 0  # of the streams held
        self.latest = 0  # the engine's current generation (set from the GUI thread): older work is skipped

    def configure(self, request: dict[str, Any]) -> None:
        from ..backend.errors import StrfviewerError
        from ..backend.frontends import make_wav2spec
        from ..backend.streaming import Streamer
        from ..backend.windows import window_start

        self.streams = {}
        self.generation = generation = request["generation"]
        if generation != self.latest:
            return  # stopped or replaced before it began
        samples = request["samples"]
        self.endless = samples is None
        self.samples = np.zeros(0, dtype=np.float32) if samples is None else samples
        from_sample = request.get("from_sample", 0)
        self.offset = from_sample if self.endless else 0  # an input's samples arrive from ``from_sample`` on
        try:
            modules = [(slot_id, make_wav2spec(kind, audio_fs=request["audio_fs"], dt_ms=dt_ms, **args), True)
                       for slot_id, kind, args, dt_ms in request["slots"]]
            modules += [(stream_id, model, False) for stream_id, model in request.get("models", [])]
            streams = {}
            for stream_id, module, is_frontend in modules:
                streamer = Streamer(module)
                if self.endless:  # what came before is gone: the stream starts from silence
                    first = start = -(-from_sample // streamer.hop)
                else:
                    first = from_sample // streamer.hop
                    start, _ = window_start(module, first)
                streams[stream_id] = (_Stream(streamer, start, first), module.centre_frequencies()
                                      if is_frontend else None)
        except StrfviewerError as exc:
            self.outbox.put(("failed", generation, str(exc)))
            return
        for stream_id, (stream, centres) in streams.items():
            self.streams[stream_id] = stream
            streamer = stream.streamer
            n_frames = None if self.endless else -(-self.samples.shape[0] // streamer.hop)
            self.outbox.put(("prepared", generation, stream_id, {"n_frames": n_frames, "first": stream.first,
                                                       "hop": streamer.hop, "audio_fs": streamer.audio_fs,
                                                                "centres": centres, "channels": streamer.n_outputs}))
        if self.endless:
            self.drain()  # samples that arrived while the stream was being prepared

    def _current(self, generation: int) -> bool:
        return generation == self.generation == self.latest

    def advance(self, generation: int, target_sample: int) -> None:
        """Push a sound's audio up to ``target_sample`` (whole frames; at the end, the last partial frame
        zero-padded)."""
        if not self._current(generation) or self.endless:
            return
        total = self.samples.shape[0]
        for stream_id, stream in self.streams.items():
            hop = stream.streamer.hop
            stop = total + (-total) % hop if target_sample >= total else (target_sample // hop) * hop
            self._push(generation, stream_id, stream, stop)

    def drain(self) -> None:
        """Push every whole frame of what the live input delivered since the last drain."""
        samples = self.inbox.take(self.generation)
        if samples is None or not self._current(self.generation) or not self.endless:
            return
        self.samples = np.concatenate([self.samples, samples])
        end = self.offset + self.samples.shape[0]
        for stream_id, stream in self.streams.items():
            self._push(self.generation, stream_id, stream, (end // stream.streamer.hop) * stream.streamer.hop)
        pushed = min((stream.position for stream in self.streams.values()), default=end)
        self.samples = self.samples[pushed - self.offset:]
        self.offset = pushed

    def _push(self, generation: int, stream_id: int, stream: _Stream, stop: int) -> None:
        if stop <= stream.position or self.latest != generation:
            return  # nothing new, or stopped meanwhile (the rest would be dropped anyway)
        begin = stream.position - self.offset
        chunk = self.samples[begin: stop - self.offset]
        if chunk.shape[0] < stop - stream.position:
            chunk = np.concatenate([chunk, np.zeros(stop - stream.position - chunk.shape[0], dtype=np.float32)])
        first, frames = stream.push(chunk)
        if frames.shape[1]:
            self.outbox.put(("frames", generation, stream_id, first, frames))


def _serve(worker: _Worker, commands: queue.SimpleQueue) -> None:
    """The engine thread: carry out commands in order until told to quit (None), saying ("done",) after each.
    A command that raises is reported as its stream's failure; the thread goes on with the next one."""
    while (command := commands.get()) is not None:
        name, *args = command
        try:
            getattr(worker, name)(*args)
        except Exception as exc:  # anything a front-end raises must not end live mode for good
            log.exception("live %s failed", name)
            worker.outbox.put(("failed", worker.latest, f"live streaming stopped: {exc}"))
        worker.outbox.put(("done",))


class LiveEngine(QObject):
    """Owns the worker thread. ``start`` opens a stream of a sound that ``advance`` feeds as it plays;
    ``start_input`` opens an endless one (the microphone) that ``feed`` appends to.

    ``prepared``, ``frames`` and ``failed`` carry only what belongs to the current stream.
    """

    prepared = Signal(int, dict)
    frames = Signal(int, int, object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._inbox = _Inbox()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = _Worker(self._inbox, self._outbox)
        self._thread = threading.Thread(target=_serve, args=(self._worker, self._commands), name="strfviewer-live",
                                        daemon=True)
        self._thread.start()
        self._delivery = QTimer(self)
        self._delivery.setInterval(DELIVERY_INTERVAL_MS)
        self._delivery.timeout.connect(self._deliver)
        self._pending = 0  # commands sent that the worker has not finished
        self.running = False  # a stream is open and follows playback
        self.generation = 0  # of the current stream; what arrives for another one is dropped

    def _begin(self) -> int:
        self.generation += 1
        self._worker.latest = self.generation
        return self.generation

    def start(self, samples: np.ndarray, audio_fs: int, slots: list[tuple[int, str, dict, float]],
              models: list[tuple[int, Any]] = (), from_s: float = 0.0) -> None:
        """A new stream of ``samples`` for front-end ``slots`` (id, kind, args, dt_ms) and waveform ``models``
        (id, module), sending frames from ``from_s`` seconds on (warmed up on what comes before, as a window
        of a long sound is); the previous stream, if any, ends."""
        self.running = True
        self._send("configure", {"generation": self._begin(), "samples": samples, "audio_fs": audio_fs,
                                 "slots": slots, "models": list(models), "from_sample": int(from_s * audio_fs)})

    def start_input(self, audio_fs: int, slots: list[tuple[int, str, dict, float]],
                    models: list[tuple[int, Any]] = (), from_sample: int = 0) -> None:
        """A new endless stream (a live input at ``audio_fs``): :meth:`feed` hands it the samples from
        ``from_sample`` on (reopened mid-input, its frames start from silence at the next whole frame)."""
        self.running = True
        self._send("configure", {"generation": self._begin(), "samples": None, "audio_fs": audio_fs,
                                 "slots": slots, "models": list(models), "from_sample": from_sample})

    def feed(self, samples: np.ndarray) -> None:
        """The live input's next samples (float32, mono, at the stream's rate)."""
        if self.running and self._inbox.put(self.generation, samples):
            self._send("drain")

    def advance(self, seconds: float, audio_fs: int) -> None:
        if self.running:
            self._send("advance", self.generation, int(seconds * audio_fs))

    def finish(self, total_samples: int) -> None:
        """Compute every remaining frame (the sound has ended); the stream then ends."""
        if self.running:
            self._send("advance", self.generation, total_samples)
        self.running = False

    def stop(self) -> None:
        """End the current stream now: frames it has not delivered yet are dropped."""
        self.running = False
        self._begin()

    def _send(self, *command: object) -> None:
        self._pending += 1
        self._commands.put(command)
        if not self._delivery.isActive():
            self._delivery.start()

    def _deliver(self) -> None:
        """Hand on what the worker has sent since the last call (on the GUI thread); the timer stops once
        nothing is expected any more."""
        relays = {"prepared": self._relay_prepared, "frames": self._relay_frames, "failed": self._relay_failed}
        while True:
            try:
                kind, *details = self._outbox.get_nowait()
            except queue.Empty:
                break
            if kind == "done":
                self._pending -= 1
            else:
                relays[kind](*details)
        if not self.running and self._pending == 0:
            self._delivery.stop()

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

    @property
    def ended(self) -> bool:
        """Whether the worker thread has ended (after :meth:`shutdown`)."""
        return not self._thread.is_alive()

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Stop the worker thread; returns whether it ended within ``timeout_ms``."""
        self.stop()
        self._delivery.stop()
        self._commands.put(None)
        self._thread.join(max(0, timeout_ms) / 1000.0)
        return self.ended


class PaneFrames:
    """What a pane draws while a live stream fills it: all the sound's frames, blank (NaN) until they arrive,
    or for a scrolling stream the last ``window_s`` seconds (and up to as many again)."""

    def __init__(self, stream: Any, window_s: float) -> None:
        self.hop, self.audio_fs = stream.hop, stream.audio_fs
        self.scroll: ScrollingFrames | None = None
        self.whole: np.ndarray | None = None
        if stream.scrolling or stream.n_frames is None:
            capacity = math.ceil(window_s * stream.audio_fs / stream.hop) + 1
            self.scroll = ScrollingFrames(stream.channels, capacity, stream.first)
        else:
            self.whole = np.full((stream.channels, stream.n_frames), np.nan, dtype=np.float32)
        self.start = self.end = stream.first  # absolute indexes of the first frame and after the last received

    @property
    def frames(self) -> np.ndarray:
        return self.whole if self.scroll is None else self.scroll.view

    @property
    def first(self) -> int:
        """Absolute index of ``frames``' first column."""
        return 0 if self.scroll is None else self.scroll.first

    @property
    def seconds(self) -> float:
        """Seconds of frames received."""
        return (self.end - self.start) * self.hop / self.audio_fs

    @property
    def complete(self) -> bool:
        """Every frame of the sound arrived (never, for a scrolling stream)."""
        return self.whole is not None and self.end >= self.whole.shape[1]

    def write(self, first: int, frames: np.ndarray) -> bool:
        """Keep the frames that arrived; False when they do not belong here (and were dropped)."""
        if self.scroll is not None:
            kept = self.scroll.write(first, frames)
            self.end = self.scroll.end
            return kept
        stop = write_frames(self.whole, first, frames)
        self.end = max(self.end, stop)
        return stop > 0
