"""The ICNet encoder (Drakopoulos et al. 2025) as a front-end: SincNet, strided causal convs, bottleneck.

SincNet (signed, symlog, one output per sample) feeds ``n_encoder_layers`` causal ``Conv1d + PReLU`` blocks
whose strides multiply to the hop, then a stride-1 bottleneck block at the frame rate. Unlike deepSTRF's
private encoder it has a ``hop`` attribute and refuses lengths that are not a multiple of it.

Each strided convolution runs on the blocked FFT engine where that is faster, with blocks of one frame at
the layer's own rate, so frame ``t`` never depends on a later sample, not even through round-off.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigurationError
from .base import AUDIO_FS, Frontend, ParamSpec, samples
from .blockconv import causal_correlate, causal_correlate_time_major, prefer_blocked
from .sincnet import SincNet


def factor_strides(total: int, n_layers: int) -> list[int]:
    """Split ``total`` into ``n_layers`` strides: 2 while possible for all but the last, the rest last."""
    if total < 1 or n_layers < 1:
        raise ConfigurationError(
            f"ICNet encoder: cannot split {total} samples per frame over {n_layers} layers; both must be >= 1."
        )
    strides, remaining = [], total
    for _ in range(n_layers - 1):
        if remaining % 2 == 0 and remaining > 1:
            strides.append(2)
            remaining //= 2
        else:
            strides.append(1)
    strides.append(remaining)
    return strides


class CausalConvBlock(nn.Module):
    """``Conv1d`` that reads the ``K`` inputs ending at each output's stride boundary, then PReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=kernel_size, stride=stride)
        self.activation = nn.PReLU(num_parameters=out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Direct convolution on ``(B, C_in, T)``."""
        y = causal_correlate(x, self.conv.weight, stride=self.stride)
        return self.activation(y + self.conv.bias.unsqueeze(-1))

    def forward_time_major(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """Blocked FFT convolution on time-major ``(B, T, C_in)``, frames of ``block`` input samples."""
        y = causal_correlate_time_major(x, self.conv.weight, stride=self.stride, block=block, bias=self.conv.bias)
        return F.prelu(y.transpose(1, 2), self.activation.weight).transpose(1, 2)


class ICNetEncoder(Frontend):
    """SincNet -> strided causal conv stack -> bottleneck, at the neural frame rate. Fully learnable."""

    kind = "icnet"
    schema = (
        AUDIO_FS,
        ParamSpec("dt_ms", float, 5.0, "Frame period: the neural bin width of the dataset.", "ms", 0.0,
                  exclusive_minimum=True),
        ParamSpec("n_filters", int, 48, "SincNet channels.", "", 1),
        ParamSpec("sincnet_kernel_size", int, 64, "SincNet taps.", "taps", 1),
        ParamSpec("encoder_channels", int, 128, "Channels of each encoder convolution.", "", 1),
        ParamSpec("encoder_kernel_size", int, 64, "Taps of each encoder convolution.", "taps", 1),
        ParamSpec("n_encoder_layers", int, 5, "Number of strided encoder convolutions.", "", 1),
        ParamSpec("bottleneck_channels", int, 64, "Output channels (the latent size).", "", 1),
    )

    def __init__(
        self,
        audio_fs: int,
        dt_ms: float = 5.0,
        n_filters: int = 48,
        sincnet_kernel_size: int = 64,
        encoder_channels: int = 128,
        encoder_kernel_size: int = 64,
        n_encoder_layers: int = 5,
        bottleneck_channels: int = 64,
        encoder_strides: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        cfg = self._bind(locals())
        self.audio_fs = cfg["audio_fs"]
        self.dt_ms = cfg["dt_ms"]
        self.hop = samples(self.audio_fs, self.dt_ms)
        if encoder_strides is None:
            strides = factor_strides(self.hop, cfg["n_encoder_layers"])
        else:
            strides = [int(s) for s in encoder_strides]
            product = 1
            for s in strides:
                product *= s
            if product != self.hop or min(strides, default=0) < 1:
                raise ConfigurationError(
                    f"ICNet encoder: encoder_strides {strides} multiply to {product}, but one frame is "
                    f"audio_fs x dt_ms / 1000 = {self.hop} samples. Give positive strides whose product "
                    f"is {self.hop}, or None to factor them automatically."
                )
        self.config["encoder_strides"] = None if encoder_strides is None else strides
        self.encoder_strides = strides
        self.out_channels = cfg["bottleneck_channels"]
        self.sincnet = SincNet(
            audio_fs=self.audio_fs, n_filters=cfg["n_filters"], kernel_size=cfg["sincnet_kernel_size"],
            hop_ms=1000.0 / self.audio_fs, init="mel", activation="symlog", envelope=False,
        )
        layers, channels = [], cfg["n_filters"]
        for s in strides:
            layers.append(CausalConvBlock(channels, cfg["encoder_channels"], cfg["encoder_kernel_size"], s))
            channels = cfg["encoder_channels"]
        self.encoder = nn.ModuleList(layers)
        self.bottleneck = CausalConvBlock(channels, self.out_channels, cfg["encoder_kernel_size"], 1)

    @property
    def fir_reach(self) -> int:
        """SincNet taps, then each layer's taps at its input rate, in audio samples."""
        reach, rate = self.sincnet.kernel_size, 1
        for layer in [*self.encoder, self.bottleneck]:
            reach += (layer.kernel_size - 1) * rate
            rate *= layer.stride
        return reach

    def layer_blocks(self) -> list[int | None]:
        """Engine choice per encoder layer: samples per frame at its input rate if blocked, else None."""
        choices, rate_divisor = [], 1
        for layer in self.encoder:
            per_frame = self.hop // rate_divisor
            in_channels = layer.conv.in_channels
            use = prefer_blocked(layer.kernel_size, per_frame, in_channels) and per_frame >= 32
            choices.append(per_frame if use else None)
            rate_divisor *= layer.stride
        return choices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_waveform(x)
        y = self.sincnet(x).squeeze(1)  # (B, n_filters, T_audio)
        time_major = False  # blocked layers exchange (B, T, C); direct ones (B, C, T)
        for layer, block in zip(self.encoder, self.layer_blocks(), strict=True):
            if (block is not None) != time_major:
                y, time_major = y.transpose(1, 2), not time_major
            y = layer(y) if block is None else layer.forward_time_major(y, block)
        if time_major:
            y = y.transpose(1, 2)
        return self.bottleneck(y).unsqueeze(1)
