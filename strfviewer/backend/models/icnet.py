"""ICNet (Drakopoulos et al. 2025): the ICNet encoder followed by a per-frame linear decoder and softplus."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigurationError
from ..frontends.icnet import ICNetEncoder
from .base import AudioEncodingModel, check_out_neurons, check_parameter_budget

# More strided layers than this cannot serve any frame rate (2**32 samples per frame) and would only loop.
MAX_ENCODER_LAYERS = 32


def _check_icnet_size(out_neurons: object, sizes: dict[str, object]) -> None:
    """Validate the size arguments and refuse a network too large to allocate, before building any layer."""
    check_out_neurons("ICNet", out_neurons)
    specs = {spec.name: spec for spec in ICNetEncoder.schema}
    n = {name: specs[name].coerce("ICNet", value) for name, value in sizes.items()}
    if n["n_encoder_layers"] > MAX_ENCODER_LAYERS:
        raise ConfigurationError(
            f"ICNet: n_encoder_layers={n['n_encoder_layers']} is more than {MAX_ENCODER_LAYERS}; check config.json."
        )
    k, ch = n["encoder_kernel_size"], n["encoder_channels"]
    weights = (n["n_filters"] * n["sincnet_kernel_size"] + n["n_filters"] * ch * k
               + (n["n_encoder_layers"] - 1) * ch * ch * k + ch * n["bottleneck_channels"] * k
               + n["bottleneck_channels"] * int(out_neurons))
    check_parameter_budget("ICNet", weights, "the encoder and decoder")


class ICNet(AudioEncodingModel):
    """Waveform-in, rates-out deep model. ``decoder`` is also reachable as ``readout`` (stored once)."""

    def __init__(
        self,
        audio_fs: int,
        out_neurons: int,
        dt_ms: float = 5.0,
        n_filters: int = 48,
        sincnet_kernel_size: int = 64,
        encoder_channels: int = 128,
        encoder_kernel_size: int = 64,
        n_encoder_layers: int = 5,
        bottleneck_channels: int = 64,
        encoder_strides: Sequence[int] | None = None,
    ) -> None:
        _check_icnet_size(out_neurons, {
            "n_filters": n_filters, "sincnet_kernel_size": sincnet_kernel_size, "encoder_channels": encoder_channels,
            "encoder_kernel_size": encoder_kernel_size, "n_encoder_layers": n_encoder_layers,
            "bottleneck_channels": bottleneck_channels,
        })
        encoder = ICNetEncoder(
            audio_fs=audio_fs, dt_ms=dt_ms, n_filters=n_filters, sincnet_kernel_size=sincnet_kernel_size,
            encoder_channels=encoder_channels, encoder_kernel_size=encoder_kernel_size,
            n_encoder_layers=n_encoder_layers, bottleneck_channels=bottleneck_channels,
            encoder_strides=encoder_strides,
        )
        super().__init__(bottleneck_channels, 1, out_neurons, wav2spec=encoder)
        self.decoder = nn.Linear(bottleneck_channels, out_neurons)
        self.init_config = {
            "audio_fs": encoder.audio_fs, "out_neurons": out_neurons, "dt_ms": encoder.dt_ms,
            **{k: v for k, v in encoder.config.items() if k not in ("audio_fs", "dt_ms")},
        }
        self._register_load_state_dict_pre_hook(_merge_readout_alias)

    @property
    def readout(self) -> nn.Linear:
        """The decoder under its deepSTRF alias; not a separate entry of the state dict."""
        return self.decoder

    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        """Rates from the encoder's latent frames ``(B, 1, bottleneck, T)``: the decoder reads one frame."""
        rates = F.softplus(self.decoder(spec.squeeze(1).transpose(1, 2)))  # (B, T, N)
        return rates.transpose(1, 2).unsqueeze(2)


def _merge_readout_alias(state_dict, prefix, *_args) -> None:
    """Accept deepSTRF checkpoints, which hold the decoder twice (``decoder.*`` and ``readout.*``)."""
    alias = prefix + "readout."
    for key in [k for k in state_dict if k.startswith(alias)]:
        target = prefix + "decoder." + key[len(alias):]
        value = state_dict.pop(key)
        state_dict.setdefault(target, value)
