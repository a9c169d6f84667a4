"""A causal, streaming sample-rate converter: a microphone's rate (44.1 kHz) to a front-end's (48 kHz).

Rational conversion by ``L / M`` through a polyphase windowed-sinc low-pass filter of ``2 Z L + 1`` taps at
the up-sampled rate (Z zero crossings each side, a Kaiser window). Output sample ``m`` reads input samples up
to ``floor(m M / L)`` only, so it never waits for the future; the price is a fixed delay of ``Z`` input
samples (the filter's centre), which :attr:`CausalResampler.delay_s` reports. Input before the start is zero.

:meth:`CausalResampler.push` on consecutive chunks returns exactly what :func:`resample_causal` returns for the
whole signal: each output is the same dot product of the same samples, whatever the chunking.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..errors import ConfigurationError

ZERO_CROSSINGS = 16  # each side of the sinc: the delay, in input samples, and the sharpness of the cut-off
KAISER_BETA = 8.6  # about 80 dB stop-band attenuation
ROLLOFF = 0.94  # the cut-off as a fraction of the lower Nyquist frequency, leaving room for the transition band
MAX_RATIO_TERM = 4096  # L and M above this would make the filter bank absurdly large (1 Hz-precision rates)


class CausalResampler:
    """Convert a stream from ``source_rate`` to ``target_rate`` Hz, chunk by chunk, causally."""

    def __init__(self, source_rate: int, target_rate: int, zero_crossings: int = ZERO_CROSSINGS) -> None:
        for name, rate in (("source_rate", source_rate), ("target_rate", target_rate)):
            if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
                raise ConfigurationError(f"{name} must be a positive whole number of Hz (got {rate!r})")
        ratio = Fraction(target_rate, source_rate)
        if max(ratio.numerator, ratio.denominator) > MAX_RATIO_TERM:
            raise ConfigurationError(
                f"resampling {source_rate} Hz to {target_rate} Hz needs a ratio of {ratio.numerator}/"
                f"{ratio.denominator}, beyond what a live converter can hold; choose a device rate closer to a "
                f"simple fraction of {target_rate} Hz (44100 or 48000, for example)."
            )
        self.source_rate, self.target_rate = source_rate, target_rate
        self.up, self.down = ratio.numerator, ratio.denominator
        self.zero_crossings = zero_crossings if (self.up, self.down) != (1, 1) else 0  # equal rates: a wire
        self.phases = _polyphase_bank(self.up, self.down, zero_crossings)  # (L, taps), newest sample last
        self.taps = self.phases.shape[1]
        self.reset()

    @property
    def delay_s(self) -> float:
        """The converter's fixed delay: the filter's centre, ``Z`` input samples."""
        return self.zero_crossings / self.source_rate

    def reset(self) -> None:
        """Start over, as if nothing had been pushed (the zero history offline starts from)."""
        self._history = np.zeros(self.taps - 1)
        self._consumed = 0  # input samples pushed so far
        self._produced = 0  # output samples returned so far

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """The output samples whose inputs have all arrived, for the next ``chunk`` of mono input."""
        x = np.asarray(chunk, dtype=np.float64).reshape(-1)
        buffer = np.concatenate([self._history, x])
        first_input = self._consumed - (self.taps - 1)  # absolute index of buffer[0]
        self._consumed += x.shape[0]
        if self._consumed == 0:
            return np.zeros(0, dtype=np.float32)
        last = (self._consumed * self.up - 1) // self.down  # the last output whose newest input is here
        outputs = np.arange(self._produced, last + 1)
        self._produced = last + 1
        self._history = buffer[buffer.shape[0] - (self.taps - 1):]
        if outputs.size == 0:
            return np.zeros(0, dtype=np.float32)
        newest = (outputs * self.down) // self.up - first_input  # buffer index of each output's newest input
        phase = (outputs * self.down) % self.up
        windows = buffer[newest[:, None] + np.arange(-(self.taps - 1), 1)[None, :]]
        return (windows * self.phases[phase]).sum(axis=1).astype(np.float32)


def resample_causal(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """The whole of ``samples`` through a fresh :class:`CausalResampler`: the offline reference live capture
    is checked against (``round(len * target / source)`` samples, give or take one)."""
    return CausalResampler(source_rate, target_rate).push(samples)


def _polyphase_bank(up: int, down: int, zero_crossings: int) -> np.ndarray:
    """``(up, taps)`` sub-filters of the low-pass prototype, each ordered oldest input first (a single tap of 1
    when the rates are equal: nothing to filter, and no delay).

    The prototype ``h[k]``, ``k = 0 .. 2 Z L``, is a Kaiser-windowed sinc at the up-sampled rate, cut at
    ``ROLLOFF / max(L, M)`` of it, with gain ``L`` (zero stuffing divides the level by L). Output ``m`` at the
    up-sampled instant ``m M`` reads ``h[p + j L] x[n - j]`` with ``n = floor(m M / L)``, ``p = m M mod L``.
    """
    if up == down == 1:
        return np.ones((1, 1))
    length = 2 * zero_crossings * up + 1
    centre = (length - 1) / 2
    cutoff = ROLLOFF / max(up, down)  # cycles per up-sampled sample x 2 (1.0 is the up-sampled Nyquist)
    k = np.arange(length) - centre
    prototype = cutoff * np.sinc(cutoff * k) * np.kaiser(length, KAISER_BETA) * up
    taps = math.ceil(length / up)
    bank = np.zeros((up, taps))
    for p in range(up):
        coefficients = prototype[p::up]  # h[p + j L] for j = 0, 1, ...: lag j
        bank[p, taps - coefficients.shape[0]:] = coefficients[::-1]  # oldest input first, newest (lag 0) last
    return bank
