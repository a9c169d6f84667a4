"""Exact spike times stored beside a response set's binned counts, for rasters finer than one bin.

The file is optional: ``spike_times.npz`` in the response-set folder, a plain NumPy archive (nothing in it
is unpickled), laid out as the NS1 recordings' folder documents it and as the demo writes it (docs/formats.md
describes it too). It flattens every trial of the counts array
``(neurons, stimuli, repeats, bins)`` into one list:

- ``spike_ticks``: 1-D integers (``int32`` as ``scripts/demo/make_demo.py`` writes them), every spike of every
  trial, trial after trial; within a trial sorted, counted in ticks from sound onset.
- ``trial_ptr``: 1-D ``int64`` of length ``neurons * stimuli * repeats + 1``, the trial boundaries in
  ``spike_ticks`` (written from 0 up; the reader checks only its length). Trial ``i`` holds
  ``spike_ticks[trial_ptr[i]:trial_ptr[i + 1]]``, with ``i = (neuron * stimuli + stimulus) * repeats + repeat``
  (neuron outermost, repeat innermost).
- ``tick_ms``: a scalar ``float64``, the length of one tick in milliseconds (the demo writes 0.01, 10 us).
- ``shape`` (optional): three integers ``(neurons, stimuli, repeats)``; when present it must be the counts'.

A tick count times ``tick_ms`` is the spike's time after onset, on the same clock as the bins (bin ``t``
covers ``[t * dt, (t + 1) * dt)``). A file that is missing keys, unreadable or of another shape is reported
with a one-line reason instead of raising: the binned counts, which every response set has, stand in for it.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import one_line

SPIKE_TIMES_FILE = "spike_times.npz"
_REQUIRED_KEYS = ("spike_ticks", "trial_ptr", "tick_ms")


@dataclass(frozen=True)
class SpikeTimes:
    """The spike times of every trial of a response set, as read from its ``spike_times.npz``."""

    ticks: np.ndarray
    trial_ptr: np.ndarray
    tick_s: float
    shape: tuple[int, int, int]  # (neurons, stimuli, repeats)

    def times(self, neuron: int, stimulus: int, repeat: int) -> np.ndarray:
        """Spike times in seconds after sound onset of one trial."""
        _, n_stimuli, n_repeats = self.shape
        trial = (neuron * n_stimuli + stimulus) * n_repeats + repeat
        return self.ticks[self.trial_ptr[trial]: self.trial_ptr[trial + 1]] * self.tick_s


def read_spike_times(root: Path, shape: tuple[int, int, int]) -> tuple[SpikeTimes | None, str | None]:
    """The spike times stored next to a response set of ``shape`` (neurons, stimuli, repeats), if readable.

    Returns ``(None, None)`` when there is no file and ``(None, reason)`` when its layout is not understood:
    the raster then falls back to the binned counts, which every response set has.
    """
    path = Path(root) / SPIKE_TIMES_FILE
    if not path.is_file():
        return None, None
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in _REQUIRED_KEYS if k not in archive.files]
            if missing:
                return None, f"{SPIKE_TIMES_FILE} has no {', '.join(missing)}: the raster shows binned counts"
            ticks = np.asarray(archive["spike_ticks"])
            trial_ptr = np.asarray(archive["trial_ptr"], dtype=np.int64)
            tick_ms = float(archive["tick_ms"])
            stored = tuple(int(v) for v in archive["shape"]) if "shape" in archive.files else tuple(shape)
    except (OSError, ValueError, EOFError, TypeError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        return None, f"{SPIKE_TIMES_FILE} cannot be read ({one_line(exc)}): the raster shows binned counts"
    if stored != tuple(shape) or trial_ptr.shape != (math.prod(shape) + 1,) or not tick_ms > 0:
        return None, f"{SPIKE_TIMES_FILE} does not match the counts' shape {shape}: the raster shows binned counts"
    return SpikeTimes(ticks, trial_ptr, tick_ms / 1000.0, tuple(shape)), None
