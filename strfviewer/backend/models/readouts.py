"""Readouts that map ``(B, C_in, F, T)`` features to rates ``(B, N, 1, T)``, and their activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalSTRFConv(nn.Module):
    """Spectro-temporal receptive fields as one causal convolution: kernel column ``T-1`` is lag 0.

    ``out[b, n, t] = bias[n] + sum_{c,f,k} W[n, c, f, k] x[b, c, f, t - (T-1) + k]`` with zeros before the start.
    ``kernel`` (default: a plain ``Conv2d``) may be any module that applies such a ``W`` with valid padding:
    :class:`SeparableSTRF`, :class:`ParametricSTRF`, or a spectral then depthwise temporal ``Sequential``.
    """

    def __init__(self, n_frequency_bands: int, temporal_window_size: int, in_channels: int, out_neurons: int,
                 kernel: nn.Module | None = None):
        super().__init__()
        self.temporal_window_size = temporal_window_size
        self.kernel = kernel if kernel is not None else nn.Conv2d(
            in_channels, out_neurons, kernel_size=(n_frequency_bands, temporal_window_size), bias=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(F.pad(x, (self.temporal_window_size - 1, 0)))


class SeparableSTRF(nn.Module):
    """A rank-one STRF per output: ``W[o, c, f, t] = weight_f[o, c, f] * weight_t[o, c, t]``."""

    def __init__(self, n_frequency_bands: int, temporal_window_size: int, in_channels: int, out_channels: int,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight_f = nn.Parameter(torch.randn(out_channels, in_channels, n_frequency_bands, 1)
                                     / n_frequency_bands**0.5)
        self.weight_t = nn.Parameter(torch.randn(out_channels, in_channels, 1, temporal_window_size)
                                     / temporal_window_size**0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def effective_weight(self) -> torch.Tensor:
        return self.weight_f * self.weight_t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias)


class ParametricSTRF(nn.Module):
    """STRFs as weighted sums of ``num_gaussians`` 2-D Gaussians on the (band, lag) grid, each normalised to
    unit mass; widths are ``|SIG| + 0.27`` grid steps (axis 0 of ``P`` and ``SIG``: frequency, then time)."""

    def __init__(self, n_frequency_bands: int, temporal_window_size: int, in_channels: int, out_channels: int,
                 num_gaussians: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.n_frequency_bands, self.temporal_window_size = n_frequency_bands, temporal_window_size
        shape = (out_channels, in_channels, num_gaussians)
        self.P = nn.Parameter(torch.stack([torch.rand(shape) * (n_frequency_bands - 1),
                                           torch.rand(shape) * (temporal_window_size - 1)]))
        self.SIG = nn.Parameter(torch.ones(2, *shape))
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def effective_weight(self) -> torch.Tensor:
        f = torch.arange(self.n_frequency_bands, dtype=self.P.dtype, device=self.P.device)[:, None]
        t = torch.arange(self.temporal_window_size, dtype=self.P.dtype, device=self.P.device)[None, :]
        width = self.SIG.abs() + 0.27
        df = (f - self.P[0][..., None, None]) / width[0][..., None, None]
        dt = (t - self.P[1][..., None, None]) / width[1][..., None, None]
        g = torch.exp(-0.5 * (df**2 + dt**2))  # (C_out, C_in, G, F, T)
        g = g / (g.sum(dim=(-2, -1), keepdim=True) + 1e-7)
        return (self.weight[..., None, None] * g).sum(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias)


def separable_sequential(n_frequency_bands: int, temporal_window_size: int, in_channels: int,
                         out_channels: int) -> nn.Sequential:
    """A spectral convolution, then a depthwise temporal one (both with biases): a rank-one STRF built from
    standard layers, as deepSTRF users write it."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, (n_frequency_bands, 1)),
                         nn.Conv2d(out_channels, out_channels, (1, temporal_window_size), groups=out_channels))


def effective_kernel(kernel: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The ``(C_out, C_in, F, T)`` STRFs and the bias a kernel applies (a plain, separable, parametric or
    separable-``Sequential`` kernel)."""
    if isinstance(kernel, nn.Conv2d):
        return kernel.weight, kernel.bias
    if isinstance(kernel, nn.Sequential):
        spectral, temporal = kernel[0], kernel[1]
        wt = temporal.weight[:, 0, 0, :]  # (C_out, T)
        weight = spectral.weight * wt[:, None, None, :]
        bias = None if spectral.bias is None else spectral.bias * wt.sum(dim=1)
        if temporal.bias is not None:
            bias = temporal.bias if bias is None else bias + temporal.bias
        return weight, bias
    return kernel.effective_weight(), kernel.bias


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
        kernel: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.strf = CausalSTRFConv(n_frequency_bands, temporal_window_size, in_channels, out_neurons, kernel)
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
