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
