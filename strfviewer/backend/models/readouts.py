"""Readouts that map ``(B, C_in, F, T)`` features to rates ``(B, N, 1, T)``, and their activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalSTRFConv(nn.Module):
    """Spectro-temporal receptive fields as one causal ``Conv2d``: kernel column ``T-1`` is lag 0.

    ``out[b, n, t] = bias[n] + sum_{c,f,k} W[n, c, f, k] x[b, c, f, t - (T-1) + k]`` with zeros before the start.
    """

    def __init__(self, n_frequency_bands: int, temporal_window_size: int, in_channels: int, out_neurons: int):
        super().__init__()
        self.temporal_window_size = temporal_window_size
        self.kernel = nn.Conv2d(
            in_channels, out_neurons, kernel_size=(n_frequency_bands, temporal_window_size), bias=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(F.pad(x, (self.temporal_window_size - 1, 0)))


class ParametricSoftplus(nn.Module):
    """Per-neuron ``softplus(beta x) / beta + b`` with ``beta = softplus(raw_beta)``, ``b = softplus(raw_b)``."""

    def __init__(self, out_neurons: int) -> None:
        super().__init__()
        self._raw_beta = nn.Parameter(torch.empty(out_neurons).uniform_(5.0, 6.0))
        self._raw_b = nn.Parameter(torch.empty(out_neurons).uniform_(-5.0, -3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = F.softplus(self._raw_beta)
        return F.softplus(beta * x) / beta + F.softplus(self._raw_b)


class STRFReadout(nn.Module):
    """Causal STRF convolution, per-neuron BatchNorm (an affine map in eval mode), output activation."""

    def __init__(
        self,
        n_frequency_bands: int,
        temporal_window_size: int,
        in_channels: int,
        out_neurons: int,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.strf = CausalSTRFConv(n_frequency_bands, temporal_window_size, in_channels, out_neurons)
        self.bn = nn.BatchNorm1d(out_neurons)
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.strf(x).squeeze(2))  # (B, N, T)
        y = self.activation(y.transpose(1, 2)).transpose(1, 2)  # activation on (B, T, N)
        return y.unsqueeze(2)


class LinearReadout(nn.Module):
    """Rates from hidden units at each frame: ``act(W h + b)``, or through one hidden layer with a leaky ReLU.

    Input ``(B, C, T)`` or ``(B, C, 1, T)``; output ``(B, N, 1, T)``.
    """

    def __init__(self, in_features: int, out_neurons: int, hidden: int | None = None,
                 activation: nn.Module | None = None) -> None:
        super().__init__()
        if hidden is None:
            self.fc: nn.Module = nn.Linear(in_features, out_neurons)
        else:
            self.fc = nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.1), nn.Linear(hidden, out_neurons))
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.squeeze(2)
        y = self.activation(self.fc(x.transpose(1, 2)))  # (B, T, N)
        return y.transpose(1, 2).unsqueeze(2)
