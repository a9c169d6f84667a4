"""A ring buffer between an audio callback (one writer thread) and the GUI's reader.

The callback must never wait: :meth:`SampleRing.write` copies the block in under a short lock and returns.
The reader takes everything new at once. If the reader stalls longer than the ring holds, the oldest unread
samples are overwritten and counted in :attr:`SampleRing.dropped`, never lost silently; the device's own
overflows (samples it could not deliver) are counted apart in :attr:`SampleRing.overflows`.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import ConfigurationError


class SampleRing:
    """``capacity`` mono float32 samples; written by one thread, read by another."""

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ConfigurationError(f"a sample ring needs a positive whole capacity (got {capacity!r})")
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=np.float32)
        self._lock = threading.Lock()
        self._written = 0  # samples ever written
        self._read = 0  # samples ever handed to the reader, or dropped
        self.dropped = 0
        self.overflows = 0

    @property
    def written(self) -> int:
        """Samples written since the start (the stream's clock, in samples)."""
        return self._written

    def write(self, block: np.ndarray, overflowed: bool = False) -> None:
        """Append ``block`` (the audio callback's samples); ``overflowed``: the device lost samples before it."""
        samples = np.asarray(block, dtype=np.float32).reshape(-1)
        with self._lock:
            if overflowed:
                self.overflows += 1
            excess = samples.shape[0] - self.capacity
            if excess > 0:  # a block longer than the ring: what was unread and the block's head are lost
                self.dropped += self._written - self._read + excess
                self._written += excess
                self._read = self._written
                samples = samples[excess:]
            start = self._written % self.capacity
            first = min(samples.shape[0], self.capacity - start)
            self._data[start:start + first] = samples[:first]
            self._data[:samples.shape[0] - first] = samples[first:]
            self._written += samples.shape[0]
            unread = self._written - self._read
            if unread > self.capacity:
                self.dropped += unread - self.capacity
                self._read = self._written - self.capacity

    def read(self) -> tuple[int, np.ndarray]:
        """(absolute index of the first sample, every sample written since the last read)."""
        with self._lock:
            n = self._written - self._read
            start = self._read % self.capacity
            first = min(n, self.capacity - start)
            out = np.concatenate([self._data[start:start + first], self._data[:n - first]])
            index = self._read
            self._read = self._written
        return index, out
