"""SincNet (Ravanelli & Bengio 2018): band-pass filters parameterised by two learnable cut-offs each.

Each channel's kernel is rebuilt on every forward from its cut-offs ``f1 < f2``: the difference of two ideal
low-pass sincs on a centred tap grid, times a symmetric Hamming window. Two output modes:

* strided (``envelope=False``): the signed band-passed sample at the end of each frame;
* envelope (``envelope=True``): ``|band-passed|`` averaged over the ``env_window_ms`` ending at each frame.

An activation (``logabs`` ln(1+|y|), ``symlog`` sign(y) ln(1+|y|), or ``none``) is applied last.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from . import stages
from .base import AUDIO_FS, HOP_MS, Frontend, ParamSpec, samples
from .blockconv import causal_correlate, prefer_blocked
from .scales import mel_spaced


def sinc_bandpass(
    f1: torch.Tensor, f2: torch.Tensor, n: torch.Tensor, window: torch.Tensor, audio_fs: float
) -> torch.Tensor:
    """Windowed sinc-difference band-pass kernels ``(F, K)`` for cut-offs ``f1, f2`` ``(F,)`` in Hz.

    ``n`` is the centred tap grid ``(1, K)``; the ideal low-pass at cut-off ``f`` is
    ``sin(2 pi f n / fs) / (pi n)``, with ``2 f / fs`` at ``n = 0``.
    """
    at_zero = n == 0
    safe_n = torch.where(at_zero, torch.ones_like(n), n)

    def lowpass(f: torch.Tensor) -> torch.Tensor:
        f = f.unsqueeze(-1)
        return torch.where(
            at_zero, 2.0 * f / audio_fs, torch.sin(2.0 * math.pi * f * safe_n / audio_fs) / (math.pi * safe_n)
        )

    return (lowpass(f2) - lowpass(f1)) * window


class SincNet(Frontend):
    """Learnable sinc band-pass bank; strided or envelope output. ``2 * n_filters`` learnable scalars."""

    kind = "sincnet"
    schema = (
        AUDIO_FS,
        HOP_MS,
        ParamSpec("n_filters", int, 34, "Number of band-pass channels.", "", 1),
        ParamSpec("kernel_size", int, 251, "Taps per filter; longer kernels give sharper bands.", "taps", 1),
        ParamSpec("f_min", float, 300.0, "Lower edge of the lowest band at initialisation.", "Hz", 0.0),
        ParamSpec("f_max", float, None, "Upper edge of the highest band at initialisation (None: Nyquist).",
                  "Hz", 0.0, exclusive_minimum=True, optional=True),
        ParamSpec("init", str, "mel", "Spacing of the initial band edges.", choices=("mel", "linear")),
        ParamSpec("activation", str, "logabs", "Output nonlinearity.", choices=("symlog", "logabs", "none")),
        ParamSpec("envelope", bool, False, "Rectify and average each band instead of sampling it."),
        ParamSpec("env_window_ms", float, None, "Envelope averaging window (None: one hop).", "ms", 0.0,
                  exclusive_minimum=True, optional=True, applies_when=("envelope", (True,))),
    )

    @classmethod
    def _output_name(cls, values: dict[str, Any]) -> str:
        names = {"logabs": "log(1 + |y|)", "symlog": "symlog(y)", "none": "band output"}
        return names.get(values["activation"], "band output")

    def __init__(
        self,
        audio_fs: int,
        n_filters: int = 34,
        kernel_size: int = 251,
        hop_ms: float = 5.0,
        f_min: float = 300.0,
        f_max: float | None = None,
        init: str = "mel",
        activation: str = "logabs",
        envelope: bool = False,
        env_window_ms: float | None = None,
    ) -> None:
        super().__init__()
        cfg = self._bind(locals())
        self.audio_fs = cfg["audio_fs"]
        self.hop = samples(self.audio_fs, cfg["hop_ms"])
        self.out_channels = cfg["n_filters"]
        self.kernel_size = cfg["kernel_size"]
        self.activation = cfg["activation"]
        self.envelope = cfg["envelope"]
        self.f_min = cfg["f_min"]
        self.f_max = cfg["f_max"] if cfg["f_max"] is not None else self.audio_fs / 2.0
        if not self.f_min < self.f_max:
            raise ConfigurationError(
                f"SincNet: f_min must satisfy 0 <= f_min < f_max, but f_min={self.f_min:g} Hz and "
                f"f_max={self.f_max:g} Hz. Lower f_min or raise f_max."
            )
        env_ms = cfg["env_window_ms"] if cfg["env_window_ms"] is not None else cfg["hop_ms"]
        self.env_window = samples(self.audio_fs, env_ms)
        if self.envelope and self.env_window < self.hop:
            raise ConfigurationError(
                f"SincNet: env_window_ms ({env_ms:g}) must be >= hop_ms ({cfg['hop_ms']:g}) so that every "
                "sample is averaged into some frame."
            )
        if cfg["init"] == "mel":
            edges = mel_spaced(self.f_min, self.f_max, self.out_channels + 1)
        else:
            edges = np.linspace(self.f_min, self.f_max, self.out_channels + 1)
        self.low_hz_ = nn.Parameter(torch.tensor(edges[:-1], dtype=torch.float32))
        self.band_hz_ = nn.Parameter(torch.tensor(np.diff(edges), dtype=torch.float32))
        k = self.kernel_size
        self.register_buffer("_n", (torch.arange(k, dtype=torch.float32) - (k - 1) / 2).unsqueeze(0))
        self.register_buffer("_window", torch.hamming_window(k, periodic=False).unsqueeze(0))

    def cutoffs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Current band edges ``f1, f2`` in Hz: ``f1 = clamp(|low|, 1, fs/2 - 1)``, ``f2 = min(f1 + |band|, fs/2)``."""
        nyquist = self.audio_fs / 2.0
        f1 = torch.clamp(self.low_hz_.abs(), 1.0, nyquist - 1.0)
        f2 = torch.clamp(f1 + self.band_hz_.abs(), max=nyquist)
        return f1, f2

    def kernels(self) -> torch.Tensor:
        """Band-pass kernels ``(F, K)`` built from the current cut-offs (symmetric, so orientation-free)."""
        f1, f2 = self.cutoffs()
        return sinc_bandpass(f1, f2, self._n, self._window, float(self.audio_fs))

    @property
    def fir_reach(self) -> int:
        if self.envelope:
            return self.kernel_size + self.env_window - 1
        return max(self.kernel_size, self.hop)

    def centre_frequencies(self) -> np.ndarray:
        f1, f2 = self.cutoffs()
        return ((f1 + f2) / 2).detach().cpu().numpy().astype(np.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_waveform(x)
        weight = self.kernels().unsqueeze(1)
        if self.envelope and prefer_blocked(self.kernel_size, self.hop) and self.env_window % self.hop == 0:
            sums = causal_correlate(x, weight, block=self.hop, reduce=lambda y: y.abs().sum(-1))
            y = stages.frames_from_block_sums(sums, self.env_window, self.hop)
        elif self.envelope:
            y = causal_correlate(x, weight).abs()
            y = stages.causal_average_pool(y, self.env_window, self.hop)
        else:
            y = causal_correlate(x, weight, stride=self.hop)
        return self._activate(y).unsqueeze(1)

    def _activate(self, y: torch.Tensor) -> torch.Tensor:
        if self.activation == "logabs":
            return torch.log1p(y.abs())
        if self.activation == "symlog":
            return torch.sign(y) * torch.log1p(y.abs())
        return y
