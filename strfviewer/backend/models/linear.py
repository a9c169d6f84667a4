"""Linear (STRF) and Linear-Nonlinear encoding models."""

from __future__ import annotations

from torch import nn

from .base import AudioEncodingModel, check_out_neurons, unset_modules
from .readouts import ParametricSoftplus, STRFReadout


class Linear(AudioEncodingModel):
    """One causal STRF per neuron over ``temporal_window_size`` frames, then per-neuron BatchNorm."""

    def __init__(
        self,
        n_frequency_bands: int = 34,
        temporal_window_size: int = 9,
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
        kernel: nn.Module | None = None,
    ) -> None:
        super().__init__(n_frequency_bands, temporal_window_size, out_neurons, prefiltering, wav2spec)
        self.readout = STRFReadout(self.F, self.T, self.C_in, self.O, output_activation, kernel)
        # deepSTRF's config.json: JSON-able arguments; module-valued ones are recorded only when absent.
        self.init_config = {
            "n_frequency_bands": self.F,
            "temporal_window_size": self.T,
            "out_neurons": self.O,
            **unset_modules(output_activation=output_activation, prefiltering=prefiltering, kernel=kernel,
                            wav2spec=wav2spec),
        }


class LinearNonlinear(Linear):
    """Linear followed by a per-neuron parametric softplus (non-negative rates)."""

    def __init__(
        self,
        n_frequency_bands: int = 34,
        temporal_window_size: int = 9,
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
        kernel: nn.Module | None = None,
    ) -> None:
        if output_activation is None:
            output_activation = ParametricSoftplus(check_out_neurons(type(self).__name__, out_neurons))
        super().__init__(
            n_frequency_bands, temporal_window_size, out_neurons, output_activation, prefiltering, wav2spec, kernel
        )
