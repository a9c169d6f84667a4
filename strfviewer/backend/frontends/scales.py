"""Frequency scales used to place channels: HTK mel and the Glasberg & Moore (1990) ERB-rate scale."""

from __future__ import annotations

import numpy as np


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def hz_to_erb_rate(f: np.ndarray | float) -> np.ndarray:
    """ERB-rate (Cams): 21.4 log10(0.00437 f + 1)."""
    return 21.4 * np.log10(0.00437 * np.asarray(f, dtype=np.float64) + 1.0)


def erb_rate_to_hz(e: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_erb_rate`."""
    return (10.0 ** (np.asarray(e, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def erb_bandwidth(f: np.ndarray | float) -> np.ndarray:
    """Equivalent rectangular bandwidth in Hz: 24.7 (0.00437 f + 1)."""
    return 24.7 * (0.00437 * np.asarray(f, dtype=np.float64) + 1.0)


def mel_spaced(f_min: float, f_max: float, n: int) -> np.ndarray:
    """``n`` frequencies from f_min to f_max inclusive, equally spaced in HTK mel."""
    return mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n))


def erb_spaced(f_min: float, f_max: float, n: int) -> np.ndarray:
    """``n`` frequencies from f_min to f_max inclusive, equally spaced in ERB-rate."""
    return erb_rate_to_hz(np.linspace(hz_to_erb_rate(f_min), hz_to_erb_rate(f_max), n))
