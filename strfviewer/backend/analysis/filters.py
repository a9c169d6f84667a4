"""What each channel of a front-end responds to: filter impulse and magnitude responses taken from the
filters themselves, tone-sweep tuning curves of the whole front-end, and initial versus learned filters.

:func:`compute_filters` and :func:`compute_tuning` are the job bodies a viewer runs off its thread: each builds
its own front-end (tone sweeps switch it between eval and train) and returns what is drawn and tabulated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigurationError, one_line
from ..frontends import CausalGammatone, CausalLEAF, CausalMelSpectrogram, Frontend, ICNetEncoder, SincNet
from ..frontends.modules import frontend_of
from ..frontends.registry import frontend_class
from ..jobs import CancelFlag, ProgressCallback, check_cancel, report

_N_FFT = 1 << 14


@dataclass(frozen=True)
class FilterBank:
    """Impulse responses ``(F, K)`` (time forward from lag 0; complex for Gabor filters) and their magnitude
    responses ``(F, n_freqs)`` in dB on ``frequencies_hz``, with each channel's peak and -3 dB bandwidth."""

    impulse_responses: np.ndarray
    audio_fs: int
    frequencies_hz: np.ndarray
    magnitude_db: np.ndarray
    peak_hz: np.ndarray
    bandwidth_hz: np.ndarray

    @property
    def times_ms(self) -> np.ndarray:
        """Time of each impulse-response tap after the impulse, in ms."""
        return np.arange(self.impulse_responses.shape[-1]) * 1000.0 / self.audio_fs

    def arrival_ms(self, fraction: float = 0.99) -> np.ndarray:
        """Per filter, the time after the impulse by which ``fraction`` of its energy has arrived (0 for an
        all-zero filter): where a plot of the impulse responses can end without hiding any of them."""
        if not 0.0 < fraction <= 1.0:
            raise ConfigurationError(f"fraction must be in (0, 1] (got {fraction!r})")
        cumulative = np.cumsum(np.abs(self.impulse_responses) ** 2, axis=-1)
        total = cumulative[:, -1:]
        reached = cumulative >= fraction * np.where(total > 0, total, np.inf)
        return self.times_ms[np.argmax(reached, axis=-1)]


def _impulse_responses(frontend: Frontend) -> np.ndarray:
    with torch.no_grad():
        if isinstance(frontend, CausalGammatone):
            return frontend.impulse_responses().cpu().numpy()
        if isinstance(frontend, SincNet):
            return frontend.kernels().flip(-1).cpu().numpy()
        if isinstance(frontend, ICNetEncoder):
            return frontend.sincnet.kernels().flip(-1).cpu().numpy()
        if isinstance(frontend, CausalLEAF):
            re, im = frontend.gabor_kernels()
            return (re + 1j * im).flip(-1).cpu().numpy()
        if isinstance(frontend, CausalMelSpectrogram):
            # Each band sums STFT bins weighted by its triangle: as a filter, the windowed sum of those bins'
            # complex exponentials (its magnitude response is the triangle smoothed by the window's).
            n = np.arange(frontend.win)
            bins = np.arange(frontend.n_fft // 2 + 1)
            carriers = np.exp(2j * np.pi * np.outer(bins, n) / frontend.n_fft)
            bank = frontend._mel_fb.cpu().numpy().T @ carriers * frontend._window.cpu().numpy()
            return bank[:, ::-1] / frontend.win
    raise ConfigurationError(f"no filter view for {type(frontend).__name__}")


def _peaks_and_bandwidths(freqs: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    peak_index = gain.argmax(axis=1)
    peak_hz = freqs[peak_index]
    bandwidth = np.empty(len(gain))
    for c, (row, k) in enumerate(zip(gain, peak_index, strict=True)):
        above = row >= row[k] / math.sqrt(2)
        lo, hi = k, k
        while lo > 0 and above[lo - 1]:
            lo -= 1
        while hi < len(row) - 1 and above[hi + 1]:
            hi += 1
        bandwidth[c] = freqs[hi] - freqs[lo]
    return peak_hz, bandwidth


def filter_bank(frontend: Frontend) -> FilterBank:
    """Impulse and magnitude responses of every channel's filter, from the filters' own coefficients."""
    h = _impulse_responses(frontend)
    spectrum = np.abs(np.fft.fft(h, n=_N_FFT, axis=-1))[:, : _N_FFT // 2 + 1]
    if np.iscomplexobj(h):  # a complex (analytic-like) filter: take the stronger side of the spectrum
        spectrum = np.maximum(spectrum, np.abs(np.fft.fft(h, n=_N_FFT, axis=-1))[:, ::-1][:, : _N_FFT // 2 + 1])
    freqs = np.arange(_N_FFT // 2 + 1) * frontend.audio_fs / _N_FFT
    peak_hz, bandwidth = _peaks_and_bandwidths(freqs, spectrum)
    with np.errstate(divide="ignore"):
        magnitude_db = 20 * np.log10(np.maximum(spectrum, 1e-12))
    return FilterBank(h, frontend.audio_fs, freqs, magnitude_db, peak_hz, bandwidth)


def initial_filter_bank(frontend: Frontend) -> FilterBank | None:
    """The filters a learnable front-end started from (its constructor's initialisation); None if fixed."""
    if not frontend.learnable_tensors() or isinstance(frontend, CausalMelSpectrogram | CausalGammatone):
        return None
    fresh = frontend_class(frontend.kind)(**frontend.config)
    return filter_bank(fresh)


@dataclass(frozen=True)
class TuningCurves:
    """Mean steady-state output ``(channels, frequencies)`` of the whole front-end to pure tones."""

    frequencies_hz: np.ndarray
    response: np.ndarray
    level_rms: float

    @property
    def best_frequency_hz(self) -> np.ndarray:
        """Tone frequency that drives each channel most."""
        return self.frequencies_hz[self.response.argmax(axis=1)]

    def scaled_rows(self) -> np.ndarray:
        """Each channel's response scaled from its minimum (0) to its maximum (1) over the sweep (float32; a
        flat channel is all 0), so channels of any output level share one colour scale."""
        response = np.asarray(self.response, dtype=np.float64)
        low = response.min(axis=1, keepdims=True)
        span = response.max(axis=1, keepdims=True) - low
        return np.where(span > 0, (response - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def tuning_curves(
    frontend: Frontend,
    frequencies_hz: np.ndarray | None = None,
    *,
    level_rms: float = 0.1,
    duration_s: float = 0.15,
    settle_s: float = 0.05,
    batch: int = 16,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> TuningCurves:
    """Play a tone at each frequency through the front-end and average its output after ``settle_s``.

    Works for every kind, the ICNet encoder included, because it only uses the module's forward pass.
    Default frequencies: 96 log-spaced from 50 Hz to 0.95 x Nyquist.
    """
    fs, hop = frontend.audio_fs, frontend.hop
    if frequencies_hz is None:
        frequencies_hz = np.geomspace(50.0, 0.95 * fs / 2, 96)
    frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
    n_frames = max(2, math.ceil(duration_s * fs / hop))
    first = min(n_frames - 1, int(settle_s * fs / hop))
    t = np.arange(n_frames * hop) / fs
    was_training = frontend.training
    frontend.eval()
    rows = []
    try:
        for start in range(0, len(frequencies_hz), batch):
            check_cancel(cancel)
            f = frequencies_hz[start : start + batch, None]
            tones = torch.tensor(level_rms * math.sqrt(2) * np.sin(2 * np.pi * f * t), dtype=torch.float32)
            with torch.no_grad():
                out = frontend(tones.unsqueeze(1))[:, 0, :, first:]  # (batch, C, frames)
            rows.append(out.mean(-1).cpu().numpy())
            report(progress, min(start + batch, len(frequencies_hz)), len(frequencies_hz), "tone sweep")
    finally:
        frontend.train(was_training)
    return TuningCurves(frequencies_hz, np.concatenate(rows).T, level_rms)


def models_trained_on(models: list[Any], kind: str) -> list[Any]:
    """The loaded models whose front-end is of ``kind``: their trained filters can be shown for it."""
    matching = []
    for loaded in models:
        frontend = frontend_of(getattr(loaded, "model", None))
        if frontend is not None and frontend.kind == kind.lower():
            matching.append(loaded)
    return matching


def level_rms(level_db: float) -> float:
    """RMS of a tone at ``level_db`` dB re full scale (0 dBFS: a sine of amplitude 1)."""
    return 10.0 ** (level_db / 20.0) / math.sqrt(2.0)


FrontendBuilder = Callable[[], Frontend]  # a fresh front-end the job may use alone


@dataclass(frozen=True)
class FilterResult:
    """What the filter plots and the table show for one front-end."""

    kind: str
    out_channels: int
    centres: np.ndarray | None
    bank: FilterBank | None  # None when the front-end has no explicit filters
    initial: FilterBank | None  # the bank it was initialised with, only when that differs from ``bank``
    filters_are_channels: bool  # whether filter i is output channel i (not so for the ICNet encoder)
    note: str  # what the filter plots show, or why they are empty


@dataclass(frozen=True)
class TuningResult:
    """Tone-sweep tuning curves of the whole front-end, with what is needed to label them."""

    curves: TuningCurves
    centres: np.ndarray | None
    level_db: float


def _same_filters(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    scale = float(np.abs(b).max()) if b.size else 0.0
    return bool(np.allclose(a, b, rtol=0.0, atol=1e-6 * max(scale, 1e-12)))


def compute_filters(build: FrontendBuilder, progress: ProgressCallback | None = None,
                    cancel: CancelFlag | None = None) -> FilterResult:
    """Job body: the filter bank, the initial one where it differs, and the channels' centres."""
    frontend = build()
    check_cancel(cancel)
    centres = frontend.centre_frequencies()
    kind, out_channels = frontend.kind, int(frontend.out_channels)
    try:
        bank = filter_bank(frontend)
    except ConfigurationError as exc:
        note = f"No explicit filters: {one_line(exc)}. The tuning curves describe the whole front-end."
        return FilterResult(kind, out_channels, centres, None, None, False, note)
    check_cancel(cancel)
    initial = initial_filter_bank(frontend)
    if initial is not None and _same_filters(initial.impulse_responses, bank.impulse_responses):
        initial = None
    report(progress, 1, 1, "filters")
    n_filters = bank.impulse_responses.shape[0]
    filters_are_channels = kind != "icnet" and n_filters == out_channels
    if kind == "icnet":
        note = (f"The encoder's first stage: {n_filters} SincNet filters. Its {out_channels} output channels are "
                "learned mixtures; the tuning curves below describe them.")
    else:
        note = f"{n_filters} filters"
    if np.iscomplexobj(bank.impulse_responses):
        note += " (impulse responses: real part of complex filters)"
    if initial is not None:
        note += "; dashed: the filters before training"
    return FilterResult(kind, out_channels, centres, bank, initial, filters_are_channels, note)


def compute_tuning(build: FrontendBuilder, level_db: float, progress: ProgressCallback | None = None,
                   cancel: CancelFlag | None = None) -> TuningResult:
    """Job body: the tone sweep of the whole front-end at ``level_db`` dB re full scale."""
    frontend = build()
    curves = tuning_curves(frontend, level_rms=level_rms(level_db), progress=progress, cancel=cancel)
    return TuningResult(curves, frontend.centre_frequencies(), level_db)
