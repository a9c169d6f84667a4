"""One cache of front-end frames per window, so the panes, Compare and a pane recomputing after live mode never
compute the same frames twice.

Frames are keyed by the sound (the samples array itself: the same object, held by the cache so its identity
stays unique, never an equal copy), the front-end kind and arguments, the frame step, the sample rate and the
span of a long sound. Jobs call :meth:`FrameCache.frames` from worker threads: when two ask for the same
frames at once, the second waits for the first (and computes them itself if the first was cancelled or
failed). The least recently used frames go once the cache holds more than ``max_bytes`` of frames and sounds.

A cached :class:`~.frames.FrameWindow` keeps the seconds its computation took, so a real-time factor measured
on cached frames is the one of the computation that made them.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..jobs import CancelFlag, ProgressCallback, check_cancel
from .frames import FrameWindow, compute_frames

DEFAULT_MAX_BYTES = 256 * 2**20
_WAIT_S = 0.05  # how often a job waiting for another's frames checks whether it was cancelled

Key = tuple[int, str, str, float, int, "tuple[float, float] | None"]


@dataclass(frozen=True)
class _Entry:
    samples: np.ndarray  # held so that id(samples) in the key cannot name another array while cached
    window: FrameWindow


class FrameCache:
    """Thread-safe, least-recently-used cache of front-end frames, bounded by bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._pending: dict[Key, threading.Event] = {}

    def frames(self, kind: str, args: dict[str, Any], dt_ms: float, samples: np.ndarray, audio_fs: int,
               progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
               span: tuple[float, float] | None = None) -> FrameWindow:
        """Job body: :func:`~.frames.compute_frames`, or the frames it returned before for the same request."""
        key = _key(kind, args, dt_ms, samples, audio_fs, span)
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.samples is samples:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry.window
                waiting_for = self._pending.get(key)
                if waiting_for is None:
                    self._pending[key] = done = threading.Event()
                    self.misses += 1
                    break
            while not waiting_for.wait(_WAIT_S):
                check_cancel(cancel)
        try:
            window = compute_frames(kind, args, dt_ms, samples, audio_fs, progress, cancel, span)
            with self._lock:
                self._entries[key] = _Entry(samples, window)
                self._evict()
            return window
        finally:
            with self._lock:
                del self._pending[key]
            done.set()

    @property
    def nbytes(self) -> int:
        """Bytes held: every cached frame array, and each sound they were computed from once."""
        with self._lock:
            return self._nbytes()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _nbytes(self) -> int:
        sounds = {id(e.samples): e.samples.nbytes for e in self._entries.values()}
        return sum(e.window.frames.nbytes for e in self._entries.values()) + sum(sounds.values())

    def _evict(self) -> None:
        """Drop the least recently used entries beyond the budget (the newest one always stays)."""
        while len(self._entries) > 1 and self._nbytes() > self.max_bytes:
            self._entries.popitem(last=False)


def _key(kind: str, args: dict[str, Any], dt_ms: float, samples: np.ndarray, audio_fs: int,
         span: tuple[float, float] | None) -> Key:
    arguments = json.dumps(args, sort_keys=True, default=repr)
    return id(samples), kind, arguments, float(dt_ms), int(audio_fs), None if span is None else tuple(span)
