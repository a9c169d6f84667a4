"""The frames (or rates) of a front-end or a model for a whole sound, or for the window of a long one on screen.

A long sound is computed window by window (:mod:`strfviewer.backend.windows`): :class:`FrameWindow` says which
frames it holds, where they start, and whether they equal the offline frames exactly (a recursive stage warmed
up over a few seconds is close but not exact). Front-end frames also carry what labels them: the channels'
centre frequencies and the unit of their values. Drawn as images, frames get a colour range from
:func:`percentile_levels`, and :func:`zscore` puts front-ends of different units on one scale.

Torch and the front-ends load when frames are first computed, so a window importing this module at start does
not wait for them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..jobs import CancelFlag, ProgressCallback

LEVEL_PERCENTILES = (1.0, 99.5)  # an image's colour range: these percentiles of its finite values


@dataclass(frozen=True)
class FrameWindow:
    """``frames`` ``(channels or neurons, n)``: frames ``first .. first + n`` of the sound, ``hop`` samples each.

    ``span`` is the window (seconds) they were computed for, None for the whole sound; ``exact`` is False when
    a recursive stage was warmed up over ``warmup_s`` seconds instead of run from the start. ``centres`` (Hz,
    None for latent channels) and ``unit`` label a front-end's frames; a model's rates have neither.
    ``seconds`` is how long computing them took (a real-time factor of cached frames is that computation's).
    """

    frames: np.ndarray
    first: int
    hop: int
    audio_fs: int
    exact: bool = True
    warmup_s: float = 0.0
    span: tuple[float, float] | None = None
    centres: np.ndarray | None = None
    unit: str | None = None
    seconds: float = 0.0

    @property
    def note(self) -> str:
        """What a view says about frames computed for a window of a long sound (empty for a whole sound)."""
        if self.span is None:
            return ""
        start, stop = self.span
        note = f"computed {start:.1f}–{stop:.1f} s"
        if not self.exact:
            note += f" · warmed up from {self.warmup_s:.1f} s earlier (PCEN state approximate, not exact)"
        return note


def frames_for_span(module: Any, samples: np.ndarray, audio_fs: int, span: tuple[float, float] | None,
                    progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> FrameWindow:
    """Job body: the frames of a front-end or a model for the whole sound (``span`` None) or for the frames
    covering ``span`` seconds of it."""
    from ..frontends.modules import hop_of
    from ..streaming import run_in_chunks
    from ..windows import compute_window, total_frames

    hop = hop_of(module)
    start = time.perf_counter()
    if span is None:
        frames = run_in_chunks(module, samples, progress=progress, cancel=cancel)
        return FrameWindow(frames, 0, hop, audio_fs, seconds=time.perf_counter() - start)
    n_total = total_frames(samples.shape[0], hop)
    first = min(n_total - 1, max(0, math.floor(span[0] * audio_fs / hop)))
    last = max(first + 1, min(n_total, math.ceil(span[1] * audio_fs / hop)))
    window = compute_window(module, samples, first, last, progress=progress, cancel=cancel)
    return FrameWindow(window.frames, first, hop, audio_fs, window.exact, window.warmup_s,
                       (first * hop / audio_fs, last * hop / audio_fs), seconds=time.perf_counter() - start)


def compute_frames(kind: str, args: dict[str, Any], dt_ms: float, samples: np.ndarray, audio_fs: int,
                   progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
                   span: tuple[float, float] | None = None) -> FrameWindow:
    """Job body: the frames of front-end ``kind`` with ``args`` for the whole sound, or for ``span`` seconds
    of a long one, labelled with the channels' centres and the values' unit."""
    from ..frontends import make_wav2spec

    start = time.perf_counter()  # building the front-end is part of computing its frames
    frontend = make_wav2spec(kind, audio_fs=audio_fs, dt_ms=dt_ms, **args).eval()
    window = frames_for_span(frontend, samples, audio_fs, span, progress, cancel)
    return replace(window, centres=frontend.centre_frequencies(), unit=frontend.output_unit(frontend.config),
                   seconds=time.perf_counter() - start)


# Levels of frames drawn as images
def zscore(frames: np.ndarray) -> np.ndarray:
    """Frames minus their mean, over their standard deviation (finite values only; NaN stays NaN)."""
    finite = frames[np.isfinite(frames)]
    if finite.size == 0:
        return frames.astype(np.float32)
    sd = float(finite.std())
    return ((frames - float(finite.mean())) / (sd if sd > 0 else 1.0)).astype(np.float32)


def percentile_levels(arrays: list[np.ndarray]) -> tuple[float, float]:
    """One colour range for all ``arrays``: the :data:`LEVEL_PERCENTILES` of their finite values pooled
    ((0, 1) when there are none; never empty)."""
    finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays]) if arrays else np.zeros(0)
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, LEVEL_PERCENTILES)
    return float(low), float(high if high > low else low + 1e-6)
