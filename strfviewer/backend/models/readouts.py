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
    """Per-neuron ``softplus(beta x) / beta + b`` with ``beta = softplus(raw_beta)`` and ``b = softplus(raw_b)``
    (``raw_b`` itself without ``non_negative_output``)."""

    def __init__(self, out_neurons: int, non_negative_output: bool = True) -> None:
        super().__init__()
        self.non_negative_output = non_negative_output
        self._raw_beta = nn.Parameter(torch.empty(out_neurons).uniform_(5.0, 6.0))
        self._raw_b = nn.Parameter(torch.empty(out_neurons).uniform_(-5.0, -3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = F.softplus(self._raw_beta)
        return F.softplus(beta * x) / beta + _positive(self._raw_b, self.non_negative_output)


def _positive(raw: torch.Tensor, non_negative: bool) -> torch.Tensor:
    return F.softplus(raw) if non_negative else raw


class ParametricSigmoid(nn.Module):
    """Per-neuron ``amp * sigmoid((x - c) / d) + base``, ``amp = softplus(raw_b)``, ``base = softplus(raw_a)``
    (raw values without ``non_negative_output``; no base without ``bias``)."""

    def __init__(self, out_neurons: int, bias: bool = True, non_negative_output: bool = True) -> None:
        super().__init__()
        self.non_negative_output = non_negative_output
        self.c = nn.Parameter(torch.zeros(out_neurons))
        self.d = nn.Parameter(torch.ones(out_neurons))
        self._raw_b = nn.Parameter(torch.ones(out_neurons))
        self._raw_a = nn.Parameter(torch.zeros(out_neurons)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _positive(self._raw_b, self.non_negative_output) * torch.sigmoid((x - self.c) / self.d)
        return y if self._raw_a is None else y + _positive(self._raw_a, self.non_negative_output)


class ParametricDoubleExponential(nn.Module):
    """Per-neuron Gompertz curve ``A exp(-exp(k x - s)) + B``, ``A = softplus(raw_a)``, ``B = softplus(raw_b)``
    (raw values without ``non_negative_output``; no B without ``bias``)."""

    def __init__(self, out_neurons: int, bias: bool = True, non_negative_output: bool = True) -> None:
        super().__init__()
        self.non_negative_output = non_negative_output
        self.k = nn.Parameter(-torch.ones(out_neurons))
        self.s = nn.Parameter(torch.zeros(out_neurons))
        self._raw_a = nn.Parameter(torch.ones(out_neurons))
        self._raw_b = nn.Parameter(torch.zeros(out_neurons)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _positive(self._raw_a, self.non_negative_output) * torch.exp(-torch.exp(self.k * x - self.s))
        return y if self._raw_b is None else y + _positive(self._raw_b, self.non_negative_output)


def activation_from_state(state: dict[str, torch.Tensor], out_neurons: int,
                          prefix: str = "readout.activation.") -> nn.Module | None:
    """The parametric output activation whose tensors ``state`` holds (deepSTRF records none in config.json),
    or None when it holds none. ``non_negative_output`` is not stored: True, deepSTRF's default, is assumed."""
    keys = {k[len(prefix):] for k in state if k.startswith(prefix)}
    if {"_raw_beta", "_raw_b"} <= keys:
        return ParametricSoftplus(out_neurons)
    if {"c", "d", "_raw_b"} <= keys:
        return ParametricSigmoid(out_neurons, bias="_raw_a" in keys)
    if {"k", "s", "_raw_a"} <= keys:
        return ParametricDoubleExponential(out_neurons, bias="_raw_b" in keys)
    return None


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
