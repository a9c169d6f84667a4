"""CausalLEAF: a strictly causal LEAF front-end (Zeghidour et al. 2021) with everything learnable.

Stages: a complex Gabor filterbank (learnable centre frequency and width per channel, left-padded), the
envelope ``sqrt(re^2 + im^2 + 1e-9)``, a one-sided Gaussian pool that weights the most recent sample most
(learnable width), and per-channel sPCEN (learnable alpha, delta, root and smoother). Seven learnable
scalars per channel; ``learn_filters`` / ``learn_pooling`` / ``learn_pcen`` freeze groups of them (they stay
in the state dict).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import stages
from .base import AUDIO_FS, HOP_MS, Frontend, ParamSpec, RecursionSplit, clamp_band, samples
from .blockconv import causal_correlate, prefer_blocked
from .scales import erb_bandwidth, mel_spaced

_EPS = 1e-6


def _inverse_softplus(y: np.ndarray | float) -> torch.Tensor:
    y = torch.as_tensor(y, dtype=torch.float64)
    return (y + torch.log(-torch.expm1(-y))).to(torch.float32)


class CausalLEAF(Frontend):
    """Gabor bank -> envelope -> one-sided Gaussian pool -> per-channel sPCEN. ``7 * n_filters`` parameters."""

    kind = "leaf"
    schema = (
        AUDIO_FS,
        HOP_MS,
        ParamSpec("n_filters", int, 34, "Number of Gabor channels.", "", 1),
        ParamSpec("f_min", float, 60.0, "Initial centre frequency of the lowest channel.", "Hz", 0.0),
        ParamSpec("f_max", float, 22627.0, "Initial centre frequency of the highest channel (clamped to "
                  "Nyquist).", "Hz", 0.0, exclusive_minimum=True, optional=True),
        ParamSpec("kernel_ms", float, 15.0, "Gabor kernel length (rounded up to an odd tap count).", "ms",
                  0.0, exclusive_minimum=True),
        ParamSpec("pool_ms", float, None, "Pooling window length (None: four hops).", "ms", 0.0,
                  exclusive_minimum=True, optional=True),
        ParamSpec("learn_filters", bool, True, "Train the Gabor centre frequencies and widths."),
        ParamSpec("learn_pooling", bool, True, "Train the pooling widths."),
        ParamSpec("learn_pcen", bool, True, "Train the sPCEN parameters."),
    )

    @classmethod
    def _output_name(cls, values: dict[str, Any]) -> str:
        return "sPCEN"

    def __init__(
        self,
        audio_fs: int,
        n_filters: int = 34,
        hop_ms: float = 5.0,
        f_min: float = 60.0,
        f_max: float | None = 22627.0,
        kernel_ms: float = 15.0,
        pool_ms: float | None = None,
        learn_filters: bool = True,
        learn_pooling: bool = True,
        learn_pcen: bool = True,
    ) -> None:
        super().__init__()
        cfg = self._bind(locals())
        fs = self.audio_fs = cfg["audio_fs"]
        self.hop = samples(fs, cfg["hop_ms"])
        self.out_channels = n = cfg["n_filters"]
        self.f_min = cfg["f_min"]
        self.f_max = clamp_band("CausalLEAF", fs, self.f_min, cfg["f_max"])
        k = max(self.hop, samples(fs, cfg["kernel_ms"]))
        self.kernel_size = k + 1 if k % 2 == 0 else k
        pool_ms = cfg["pool_ms"] if cfg["pool_ms"] is not None else 4 * cfg["hop_ms"]
        self.pool_size = max(self.hop, samples(fs, pool_ms))

        fc = mel_spaced(self.f_min, self.f_max, n)
        sigma = fs / (2 * np.pi * erb_bandwidth(fc))

        def param(value: torch.Tensor, learn: bool) -> nn.Parameter:
            return nn.Parameter(value.expand(n).clone(), requires_grad=learn)

        learn_f, learn_p, learn_c = cfg["learn_filters"], cfg["learn_pooling"], cfg["learn_pcen"]
        self.center_freq_ = param(torch.tensor(2 * np.pi * fc / fs, dtype=torch.float32), learn_f)
        self.gabor_sigma_raw = param(_inverse_softplus(sigma), learn_f)
        self.pool_sigma_raw = param(_inverse_softplus(self.pool_size / 4.0), learn_p)
        self.pcen_alpha_raw = param(_inverse_softplus(0.96), learn_c)
        self.pcen_delta_raw = param(_inverse_softplus(2.0), learn_c)
        self.pcen_root_raw = param(_inverse_softplus(0.5), learn_c)
        self.pcen_s_logit = param(torch.logit(torch.tensor(0.04, dtype=torch.float64)).float(), learn_c)
        grid = torch.arange(self.kernel_size, dtype=torch.float32) - (self.kernel_size - 1) / 2
        self.register_buffer("_n", grid.unsqueeze(0))
        self.register_buffer("_pool_j", torch.arange(self.pool_size, dtype=torch.float32).unsqueeze(0))

    # Reparameterisations (the values the forward pass uses).
    def omega(self) -> torch.Tensor:
        """Centre frequencies in rad/sample, clamped to [0.01, pi]."""
        return torch.clamp(self.center_freq_, 0.01, math.pi)

    def gabor_sigma(self) -> torch.Tensor:
        """Gabor envelope width in samples (at least 1)."""
        return torch.clamp(F.softplus(self.gabor_sigma_raw), min=1.0)

    def pool_sigma(self) -> torch.Tensor:
        """Pooling Gaussian width in samples (at least 0.5)."""
        return torch.clamp(F.softplus(self.pool_sigma_raw), min=0.5)

    def pcen_parameters(self) -> dict[str, torch.Tensor]:
        """Per-channel sPCEN parameters s, alpha, delta, r."""
        return {
            "s": torch.sigmoid(self.pcen_s_logit),
            "alpha": F.softplus(self.pcen_alpha_raw),
            "delta": F.softplus(self.pcen_delta_raw),
            "r": torch.clamp(F.softplus(self.pcen_root_raw), min=1e-3),
        }

    def gabor_kernels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary Gabor correlation taps, each ``(F, K)``, normalised by the envelope sum."""
        n = self._n
        envelope = torch.exp(-0.5 * (n / self.gabor_sigma().unsqueeze(-1)) ** 2)
        envelope = envelope / envelope.sum(-1, keepdim=True).clamp_min(1e-8)
        phase = self.omega().unsqueeze(-1) * n
        return torch.cos(phase) * envelope, torch.sin(phase) * envelope

    def pool_weights(self) -> torch.Tensor:
        """One-sided Gaussian pooling weights ``(F, L)``, most recent sample last, summing to 1."""
        lag = (self.pool_size - 1) - self._pool_j
        w = torch.exp(-0.5 * (lag / self.pool_sigma().unsqueeze(-1)) ** 2)
        return w / w.sum(-1, keepdim=True)

    @property
    def fir_reach(self) -> int:
        return self.kernel_size + self.pool_size - 1

    @property
    def recursive(self) -> bool:
        return True

    def centre_frequencies(self) -> np.ndarray:
        return (self.omega() * self.audio_fs / (2 * math.pi)).detach().cpu().numpy().astype(np.float64)

    def recursion_split(self) -> RecursionSplit:
        return RecursionSplit(self._energy, lambda x, c: self._energy(x, slice(c, c + 1)), self._normalise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_waveform(x)
        return self._normalise(self._energy(x))[0]

    def _filters(self, channels: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
        """Gabor correlation taps ``(2F, 1, K)`` (real parts, then imaginary) and pooling weights ``(F, L)``."""
        re, im = (k[channels] for k in self.gabor_kernels())
        return torch.cat([re, im], dim=0).unsqueeze(1), self.pool_weights()[channels]

    def _energy(self, x: torch.Tensor, channels: slice = slice(None)) -> torch.Tensor:
        """Rectified pooled Gabor envelopes ``(B, F, T)`` (of the selected channels): everything before sPCEN."""
        weight, weights = self._fixed("filters", self._filters) if channels == slice(None) else self._filters(channels)
        n, hop = weights.shape[0], self.hop

        def envelope(y: torch.Tensor) -> torch.Tensor:
            return torch.sqrt(y[:, :n].square() + y[:, n:].square() + 1e-9)

        # The envelope (not the audio) is zero-padded before pooling, as in the reference front-end.
        if prefer_blocked(self.kernel_size, hop) and self.pool_size % hop == 0:
            # Per hop block, the dot products with each hop-long segment of the pooling weights,
            # computed while the block is in cache; frames then add up the segments they span.
            segments = weights.reshape(n, self.pool_size // hop, hop).transpose(1, 2)
            partial = causal_correlate(
                x, weight, block=hop, reduce=lambda y: torch.matmul(envelope(y), segments)
            )
            pooled = stages.frames_from_segment_products(partial)
        else:
            env = envelope(causal_correlate(x, weight))
            pooled = stages.causal_weighted_pool(env, weights, hop)
        return torch.relu(pooled)

    def _normalise(self, energy: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel sPCEN of the frame energies ``(B, 1, F, T)`` from smoother state ``state`` ``(B, F)``,
        and the final state."""
        p = self.pcen_parameters()
        smooth = stages.pcen_smoother(energy, p["s"], state)
        out = stages.pcen_normalise(energy, smooth, p["alpha"], p["delta"], p["r"], _EPS)
        return out.unsqueeze(1), smooth[..., -1]
