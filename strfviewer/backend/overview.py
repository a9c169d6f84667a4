"""A sound's overview trace: few enough points to draw the whole of an hour-long sound, peaks kept.

Torch-free, so the window can import it before torch has loaded.
"""

from __future__ import annotations

import numpy as np

# Columns of the min/max envelope drawn for long sounds (about one per screen pixel: two points each).
ENVELOPE_COLUMNS = 2000


def envelope(samples: np.ndarray, audio_fs: int, columns: int = ENVELOPE_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Time and value arrays tracing the min/max of each column, so peaks survive any zoom-out."""
    n = samples.shape[0]
    if n <= 2 * columns:
        return np.arange(n) / audio_fs, samples
    per = n // columns
    blocks = samples[: per * columns].reshape(columns, per)
    lo, hi = blocks.min(axis=1), blocks.max(axis=1)
    t = (np.arange(columns) * per + per / 2) / audio_fs
    return np.repeat(t, 2), np.column_stack([lo, hi]).reshape(-1)


class GrowingEnvelope:
    """The min/max envelope of a signal that keeps arriving (the microphone), in at most ``columns`` columns.

    Each column starts as ``first_span_s`` of samples; when there are too many, neighbours merge and a column
    spans twice as many samples, so an hour of recording costs as little to draw as a second of it."""

    def __init__(self, audio_fs: int, columns: int = ENVELOPE_COLUMNS, first_span_s: float = 0.005) -> None:
        self.audio_fs, self.columns = audio_fs, columns
        self.per = max(1, round(first_span_s * audio_fs))  # samples per closed column
        self.lows = np.zeros(0, dtype=np.float32)
        self.highs = np.zeros(0, dtype=np.float32)
        self._open = (0, np.float32(np.inf), np.float32(-np.inf))  # the last column: (samples, min, max)

    def append(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        count, low, high = self._open
        take = min(self.per - count, x.shape[0]) if count else 0
        if take:
            count, low, high = count + take, min(low, x[:take].min()), max(high, x[:take].max())
        if count == self.per:
            self._close(np.array([low], np.float32), np.array([high], np.float32))
            count, low, high = 0, np.float32(np.inf), np.float32(-np.inf)
        whole = (x.shape[0] - take) // self.per
        if whole:
            blocks = x[take: take + whole * self.per].reshape(whole, self.per)
            self._close(blocks.min(axis=1), blocks.max(axis=1))
        rest = x[take + whole * self.per:]
        if rest.size:
            count, low, high = rest.size, rest.min(), rest.max()
        self._open = (count, low, high)
        while self.lows.shape[0] > self.columns:
            self._halve()

    def _close(self, lows: np.ndarray, highs: np.ndarray) -> None:
        self.lows, self.highs = np.concatenate([self.lows, lows]), np.concatenate([self.highs, highs])

    def _halve(self) -> None:
        n = self.lows.shape[0]
        even = n - n % 2
        lows, highs = self.lows[:even].reshape(-1, 2).min(axis=1), self.highs[:even].reshape(-1, 2).max(axis=1)
        count, low, high = self._open
        if n % 2:  # the odd last column joins the open one, which now holds up to twice the samples
            count, low, high = count + self.per, min(low, self.lows[-1]), max(high, self.highs[-1])
        self.lows, self.highs, self.per, self._open = lows, highs, 2 * self.per, (count, low, high)

    def trace(self) -> tuple[np.ndarray, np.ndarray]:
        """Time and value arrays, as :func:`envelope` gives them, of everything appended so far."""
        count, low, high = self._open
        lows, highs = self.lows, self.highs
        centres = np.arange(lows.shape[0]) * self.per + self.per / 2
        if count:  # the open column is centred on what it holds so far
            lows, highs = np.append(lows, low), np.append(highs, high)
            centres = np.append(centres, self.lows.shape[0] * self.per + count / 2)
        t = centres / self.audio_fs
        return np.repeat(t, 2), np.column_stack([lows, highs]).reshape(-1)
