"""Generated sounds for a first look when no recording is at hand."""

from __future__ import annotations

import numpy as np


def vocalization_like(audio_fs: int = 48000, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A harmonic call with a rising-falling pitch contour, amplitude modulation and a noise burst.

    It exercises every part of a front-end: harmonics spread over the spectrum, frequency sweeps, onsets
    and a broadband transient. Mono float32, peak 0.5.
    """
    rng = np.random.default_rng(seed)
    n = int(audio_fs * seconds)
    t = np.arange(n) / audio_fs
    contour = 600 + 900 * np.sin(np.pi * t / seconds) ** 2 + 80 * np.sin(2 * np.pi * 6 * t)
    phase = 2 * np.pi * np.cumsum(contour) / audio_fs
    nyquist = audio_fs / 2
    voice = sum(np.sin(k * phase) / k for k in range(1, 9) if k * contour.max() < nyquist)
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    burst = np.zeros(n)
    start, length = int(0.8 * n), int(0.04 * audio_fs)
    burst[start : start + length] = rng.standard_normal(min(length, n - start)) * np.hanning(min(length, n - start))
    sound = voice * syllables + 0.6 * burst
    return (0.5 * sound / np.abs(sound).max()).astype(np.float32)
