"""Layers of deepSTRF's hidden-unit models, with its parameter names: a layer norm across channels that never
pools over time, and a learnable exponential decay (a causal leaky integrator) per channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalLayerNorm(nn.Module):
    """LayerNorm across the ``n`` channels of axis ``dim``, separately at every other index (so at every frame:
    nothing is pooled over time, and the layer stays causal)."""

    def __init__(self, n: int, dim: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim = dim
        self.ln = nn.LayerNorm(n, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x.movedim(self.dim, -1)).movedim(-1, self.dim)


def decay_kernel_size(init_tau: float) -> int:
    """Frames of DNet's decay kernel: seven initial time constants, rounded half to even (as Python does)."""
    return round(7 * init_tau)


class LearnableExponentialDecay(nn.Module):
    """Per channel ``u[t] = g * sum_{j<K} r^j s[t-j]`` with ``r = d^2 / (1 + d^2)`` and ``g = 1 / (1 + d^2)``
    (1 without ``decay_input``); frames before the start repeat the first one.

    Input and output ``(B, n, 1, T)``. ``d`` starts at ``1 / sqrt(init_tau - 1)``, so ``r = 1 / init_tau``.
    """

    def __init__(self, n: int, kernel_size: int, init_tau: float = 2.0, decay_input: bool = True) -> None:
        super().__init__()
        if not init_tau > 1:
            raise ValueError(f"init_tau must be above 1 frame (got {init_tau!r})")
        self.kernel_size = int(kernel_size)
        self.decay_input = bool(decay_input)
        self.d = nn.Parameter(torch.full((n,), 1.0 / float(init_tau - 1) ** 0.5))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        batch, n, _, frames = s.shape
        d2 = self.d**2
        r = d2 / (1 + d2)
        powers = torch.arange(self.kernel_size - 1, -1, -1, dtype=s.dtype, device=s.device)  # K-1 .. 0
        kernel = torch.where(powers == 0, torch.ones_like(r)[:, None], r[:, None] ** powers[None, :])  # r^0 = 1
        if self.decay_input:
            kernel = kernel / (1 + d2)[:, None]
        x = F.pad(s.reshape(batch, n, frames), (self.kernel_size - 1, 0), mode="replicate")
        return F.conv1d(x, kernel[:, None, :], groups=n).reshape(batch, n, 1, frames)
