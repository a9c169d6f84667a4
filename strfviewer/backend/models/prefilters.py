"""deepSTRF's spectrogram prefilters: per-band adaptation to the recent past, ahead of an encoding model.

Both subtract from each band a normalised, exponentially weighted average of its last ``K - 1`` frames and
rectify. ICAdaptation gives one channel (the inferior colliculus adaptation of Willmore et al.); AdapTrans
gives an ON and an OFF channel. Frames before the start repeat the first frame (a replicate pad), so a
prefilter reads only the present and the past. deepSTRF's checkpoints do not record ``K``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigurationError

# K of deepSTRF's make_prefiltering with its default lowest centre frequency (500 Hz): the value to propose
# when a checkpoint's K must be asked for.
DEFAULT_KERNEL_SIZE = 651
PREFILTER_KINDS = ("adaptrans", "icadaptation")
_ALIASES = {"willmore": "icadaptation"}


def _check_kernel_size(owner: str, kernel_size: object) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 2:
        raise ConfigurationError(f"{owner}: kernel_size must be a whole number of frames of at least 2 "
                                 f"(got {kernel_size!r}); deepSTRF's default prefilter uses {DEFAULT_KERNEL_SIZE}.")
    return kernel_size


def _bands(owner: str, values: object) -> torch.Tensor:
    tensor = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    if tensor.numel() < 1:
        raise ConfigurationError(f"{owner}: give one value per frequency band (got none)")
    return tensor


def _past_average_taps(a: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``(F, K)`` cross-correlation taps of ``C(a) sum_{j=1}^{K-1} a^(j-1) x[t-j]`` with
    ``C(a) = 1 / sum_{i<K-1} a^i`` (tap K-1 is the present frame, and gets 0)."""
    powers = torch.arange(kernel_size - 1, dtype=a.dtype, device=a.device)  # j - 1 = 0 .. K-2
    weights = a[:, None] ** powers[None, :]  # lag j = 1 .. K-1
    weights = weights / weights.sum(dim=1, keepdim=True)
    return F.pad(weights.flip(1), (0, 1))  # tap K-1-j holds lag j; the present frame's tap is 0


def _present_tap(scale: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``(F, K)`` taps that weigh the present frame by ``scale`` (per band) and the past by 0."""
    return F.pad(scale[:, None], (kernel_size - 1, 0))


def _filter_bands(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Each band of ``x`` ``(B, 1, F, T)`` through its own taps ``(C, F, K)``, past replicated from frame 0;
    ``(B, C, F, T)``."""
    batch, _, bands, frames = x.shape
    channels, _, kernel_size = taps.shape
    padded = F.pad(x.reshape(batch, bands, frames), (kernel_size - 1, 0), mode="replicate")
    weight = taps.transpose(0, 1).reshape(bands * channels, 1, kernel_size)  # group f: channels 0..C-1
    y = F.conv1d(padded, weight, groups=bands)
    return y.reshape(batch, bands, channels, frames).transpose(1, 2)


class ICAdaptation(nn.Module):
    """``y[t] = ReLU(x[t] - C(a) sum_{j=1}^{K-1} a^(j-1) x[t-j])`` per band; ``a`` is fixed (a buffer)."""

    out_channels = 1

    def __init__(self, init_a_vals: torch.Tensor | list[float], kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = _check_kernel_size(type(self).__name__, kernel_size)
        self.register_buffer("a", _bands(type(self).__name__, init_a_vals).clone())

    def taps(self) -> torch.Tensor:
        """``(1, F, K)`` effective taps (before the rectifier)."""
        ones = torch.ones_like(self.a)
        return (_present_tap(ones, self.kernel_size) - _past_average_taps(self.a, self.kernel_size))[None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(_filter_bands(x, self.taps()))


class AdapTrans(nn.Module):
    """ON ``ReLU(x[t] - w m_on[t])`` and OFF ``ReLU(m_off[t] - w x[t])`` per band, where ``m`` is the normalised
    exponential average of the last ``K - 1`` frames with decay ``a = 1 / (1 + d^2)`` and ``w = 1 / (1 + p^2)``.

    ``d_on``, ``d_off`` and ``p`` are parameters when ``learnable`` (buffers of the same names otherwise).
    """

    out_channels = 2

    def __init__(self, init_a_vals: torch.Tensor | list[float], init_w_vals: torch.Tensor | list[float],
                 kernel_size: int = 2, learnable: bool = True) -> None:
        super().__init__()
        owner = type(self).__name__
        self.kernel_size = _check_kernel_size(owner, kernel_size)
        a, w = _bands(owner, init_a_vals), _bands(owner, init_w_vals)
        if a.shape != w.shape:
            raise ConfigurationError(f"{owner}: init_a_vals has {a.numel()} bands but init_w_vals {w.numel()}")
        if not (bool(((a > 0) & (a <= 1)).all()) and bool(((w > 0) & (w <= 1)).all())):
            raise ConfigurationError(f"{owner}: the decays a and weights w must lie in (0, 1]")
        for name, value in (("d_on", (1 / a - 1).sqrt()), ("d_off", (1 / a - 1).sqrt()), ("p", (1 / w - 1).sqrt())):
            if learnable:
                setattr(self, name, nn.Parameter(value))
            else:
                self.register_buffer(name, value)

    def taps(self) -> torch.Tensor:
        """``(2, F, K)`` effective taps of the ON and OFF channels (before the rectifier)."""
        a_on, a_off, w = (1 / (1 + v**2) for v in (self.d_on, self.d_off, self.p))
        on = _present_tap(torch.ones_like(w), self.kernel_size) - w[:, None] * _past_average_taps(a_on,
                                                                                                  self.kernel_size)
        off = _past_average_taps(a_off, self.kernel_size) - _present_tap(w, self.kernel_size)
        return torch.stack([on, off])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(_filter_bands(x, self.taps()))


def prefilter_kind(module: nn.Module) -> str | None:
    """``'adaptrans'`` / ``'icadaptation'`` for a prefilter of this module, None for anything else."""
    return {AdapTrans: "adaptrans", ICAdaptation: "icadaptation"}.get(type(module))


def prefilter_frames(module: nn.Module) -> int:
    """Past frames a prefilter reads beyond the present one (0 for none)."""
    return module.kernel_size - 1 if prefilter_kind(module) is not None else 0


def make_prefiltering(kind: str, n_frequency_bands: int, dt: float, min_freq: float = 500.0,
                      max_freq: float = 20000.0, learnable: bool = True, init_w: float = 0.75) -> nn.Module:
    """A prefilter as deepSTRF builds it: centre frequencies equally spaced on the mel scale, time constants
    ``tau = 500 - 105 log10(CF)`` ms, ``a = exp(-dt / tau)`` and ``K = round(3 max(tau)) + 1``.

    K counts frames although tau is in ms (deepSTRF's sizing, kept so that folders agree): 651 for 500 Hz.
    """
    name = _ALIASES.get(str(kind).lower(), str(kind).lower())
    if name not in PREFILTER_KINDS:
        raise ConfigurationError(f"unknown prefilter {kind!r}; choose one of {', '.join(PREFILTER_KINDS)} "
                                 "(or 'willmore', another name for icadaptation)")
    if not 0 < min_freq < max_freq:
        raise ConfigurationError(f"the prefilter's frequencies must satisfy 0 < min_freq < max_freq "
                                 f"(got {min_freq:g} and {max_freq:g} Hz)")
    mel = torch.linspace(2595 * math.log10(1 + min_freq / 700), 2595 * math.log10(1 + max_freq / 700),
                         n_frequency_bands, dtype=torch.float64)
    centres = 700 * (10 ** (mel / 2595) - 1)
    tau_ms = 500 - 105 * torch.log10(centres)
    a = torch.exp(-dt / tau_ms).float()
    kernel_size = round(3 * float(tau_ms.max())) + 1
    if name == "adaptrans":
        return AdapTrans(a, torch.full_like(a, init_w), kernel_size, learnable)
    return ICAdaptation(a, kernel_size)
