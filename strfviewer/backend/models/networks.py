"""Hidden-unit encoding models of the deepSTRF zoo: the network receptive field (NRF), DNet and ConvNet2D.

Both pass the spectrogram through ``n_hidden`` causal STRFs, normalise them across units at each frame and
squash them (NRF: tanh; DNet: sigmoid, then a learnable leaky integrator per unit), and read the neurons out
as a weighted sum of the units, frame by frame. Everything looks only at the present and the past.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigurationError
from .base import AudioEncodingModel, check_parameter_budget, check_positive_int, unset_modules
from .layers import CausalLayerNorm, LearnableExponentialDecay, decay_kernel_size
from .readouts import CausalSTRFConv, LinearReadout, ParametricSoftplus


class NetworkReceptiveField(AudioEncodingModel):
    """``n_hidden`` causal STRFs -> layer norm across them -> tanh -> per-frame readout (parametric softplus by
    default)."""

    _softplus_by_default = True

    def __init__(
        self,
        n_frequency_bands: int = 34,
        temporal_window_size: int = 9,
        n_hidden: int = 20,
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
        kernel: nn.Module | None = None,
    ) -> None:
        super().__init__(n_frequency_bands, temporal_window_size, out_neurons, prefiltering, wav2spec)
        owner = type(self).__name__
        self.H = check_positive_int(owner, "n_hidden", n_hidden)
        check_parameter_budget(owner, self.F * self.T * self.H * self.C_in,
                               f"{self.H} hidden {self.F} x {self.T} STRFs")
        self.core = self._hidden_units(kernel)
        default = ParametricSoftplus(self.O) if self._softplus_by_default else None
        self.readout = LinearReadout(self.H, self.O, activation=output_activation or default)
        self.init_config = {
            "n_frequency_bands": self.F, "temporal_window_size": self.T, "n_hidden": self.H,
            "out_neurons": self.O,
            **unset_modules(output_activation=output_activation, prefiltering=prefiltering, kernel=kernel),
        }

    def _hidden_units(self, kernel: nn.Module | None) -> nn.Sequential:
        return nn.Sequential(CausalSTRFConv(self.F, self.T, self.C_in, self.H, kernel), CausalLayerNorm(self.H),
                             nn.Tanh())


class DNet(NetworkReceptiveField):
    """Like the NRF with a sigmoid, then each hidden unit integrated by a learnable exponential decay over
    ``round(7 init_tau)`` frames; an identity readout activation by default."""

    _softplus_by_default = False

    def __init__(
        self,
        n_frequency_bands: int = 34,
        temporal_window_size: int = 9,
        n_hidden: int = 20,
        init_tau: float = 2.0,
        decay_input: bool = True,
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
        kernel: nn.Module | None = None,
    ) -> None:
        self.init_tau, self.decay_input = float(init_tau), bool(decay_input)
        super().__init__(n_frequency_bands, temporal_window_size, n_hidden, out_neurons, output_activation,
                         prefiltering, wav2spec, kernel)
        self.init_config = {**self.init_config, "init_tau": init_tau, "decay_input": self.decay_input}

    @property
    def core_memory_frames(self) -> int:
        return self.T + decay_kernel_size(self.init_tau) - 1

    def _hidden_units(self, kernel: nn.Module | None) -> nn.Sequential:
        decay = LearnableExponentialDecay(self.H, decay_kernel_size(self.init_tau), self.init_tau, self.decay_input)
        return nn.Sequential(CausalSTRFConv(self.F, self.T, self.C_in, self.H, kernel), CausalLayerNorm(self.H),
                             nn.Sigmoid(), decay)


class ConvNet2D(AudioEncodingModel):
    """Three spectro-temporal convolutions (layer norm across channels, leaky ReLU after each) over a
    spectrogram zero-padded once, ``3 (K_T - 1)`` frames on the left, then a readout with one hidden layer.

    Later layers see the earlier layers' outputs over the padded frames, not zeros: that is deepSTRF's maths.
    """

    def __init__(
        self,
        n_frequency_bands: int = 34,
        kernel_size: tuple[int, int] | list[int] = (3, 9),
        c_hidden: int = 10,
        n_hidden: int = 20,
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
    ) -> None:
        owner = type(self).__name__
        if not (isinstance(kernel_size, (tuple, list)) and len(kernel_size) == 2):
            raise ConfigurationError(f"{owner}: kernel_size must be two integers (bands, frames); got {kernel_size!r}")
        k_f, k_t = (check_positive_int(owner, "kernel_size", int(k)) for k in kernel_size)
        if k_t < 2:
            raise ConfigurationError(f"{owner}: kernel_size needs at least 2 frames (got {k_t})")
        super().__init__(n_frequency_bands, 3 * (k_t - 1), out_neurons, prefiltering, wav2spec)
        self.kernel_size = (k_f, k_t)
        self.C = check_positive_int(owner, "c_hidden", c_hidden)
        self.H = check_positive_int(owner, "n_hidden", n_hidden)
        self.F_down = self.F - 3 * (k_f - 1)
        if self.F_down < 1:
            raise ConfigurationError(f"{owner}: three convolutions of {k_f} bands need more than {self.F} bands")
        layers: list[nn.Module] = [nn.ZeroPad2d((self.T, 0, 0, 0))]
        for c_in in (self.C_in, self.C, self.C):
            layers += [nn.Conv2d(c_in, self.C, (k_f, k_t)), CausalLayerNorm(self.C), nn.LeakyReLU(0.1)]
        self.core = nn.Sequential(*layers, _FlattenChannelsAndBands())
        self.readout = LinearReadout(self.C * self.F_down, self.O, hidden=self.H,
                                     activation=output_activation or ParametricSoftplus(self.O))
        self.init_config = {
            "n_frequency_bands": self.F, "kernel_size": [k_f, k_t], "c_hidden": self.C, "n_hidden": self.H,
            "out_neurons": self.O,
            **unset_modules(output_activation=output_activation, prefiltering=prefiltering),
        }

    @property
    def core_memory_frames(self) -> int:
        return self.T + 1


class _FlattenChannelsAndBands(nn.Module):
    """``(B, C, F, T) -> (B, C * F, T)``, feature ``c * F + f``."""

    def forward(self, x):
        return x.flatten(1, 2)
