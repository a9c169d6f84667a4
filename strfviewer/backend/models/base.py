"""AudioEncodingModel: the four-slot template ``wav2spec -> prefiltering -> core -> readout``.

With an identity ``wav2spec`` the model takes a spectrogram ``(B, 1, F, T)``; with a front-end it takes a
waveform ``(B, 1, T_audio)``. Every model returns rates ``(B, N, 1, T)``. Parameter and buffer names follow
deepSTRF 0.1.0 so its checkpoints load unchanged.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigurationError
from .prefilters import prefilter_frames

# Sizes beyond these are mistakes or hostile files, not models: refusing them up front keeps a bad config.json
# from allocating terabytes. 2**28 float32 weights are 1 GiB, far above any encoding model strfviewer fits.
MAX_PARAMETERS = 1 << 28
MAX_OUT_NEURONS = 1_000_000


def check_positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{owner}: {name} must be a positive integer (got {value!r}).")
    return value


def check_out_neurons(owner: str, out_neurons: object) -> int:
    """A positive neuron count below MAX_OUT_NEURONS; checked before anything per neuron is allocated."""
    value = check_positive_int(owner, "out_neurons", out_neurons)
    if value > MAX_OUT_NEURONS:
        raise ConfigurationError(
            f"{owner}: out_neurons={value} is more than the {MAX_OUT_NEURONS:,} neurons strfviewer builds a model "
            "for; check the value in config.json (it should be the number of recorded units)."
        )
    return value


def check_parameter_budget(owner: str, n_parameters: int, what: str) -> None:
    """Refuse, before allocating, a model whose weights alone would exceed MAX_PARAMETERS floats."""
    if n_parameters > MAX_PARAMETERS:
        raise ConfigurationError(
            f"{owner}: {what} would need {n_parameters:,} weights ({n_parameters * 4 / 2**30:.1f} GiB), more "
            f"than the limit of {MAX_PARAMETERS:,} ({MAX_PARAMETERS * 4 / 2**30:.0f} GiB). Check the sizes in "
            "config.json: they are probably wrong."
        )


def unset_modules(**modules: object) -> dict[str, None]:
    """deepSTRF's config.json entries for module-valued arguments: null for one left at its default; none at
    all for one that was given (a module is not JSON, so deepSTRF drops it)."""
    return {name: None for name, value in modules.items() if value is None}


class AudioEncodingModel(nn.Module):
    """Base of the encoding models; subclasses set ``readout`` (and may set ``core``)."""

    # True when an output depends on its frame's position counted from the start of the input (the
    # Transformer's sinusoidal encoding): then no window of recent audio alone reproduces it.
    counts_positions = False

    def __init__(
        self,
        n_frequency_bands: int,
        temporal_window_size: int,
        out_neurons: int = 1,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.F = check_positive_int(owner, "n_frequency_bands", n_frequency_bands)
        self.T = check_positive_int(owner, "temporal_window_size", temporal_window_size)
        self.O = check_out_neurons(owner, out_neurons)
        check_parameter_budget(owner, self.F * self.T * self.O, f"a {self.F} x {self.T} STRF for {self.O} neurons")
        for name, module in (("prefiltering", prefiltering), ("wav2spec", wav2spec)):
            if module is not None and not isinstance(module, nn.Module):
                raise ConfigurationError(
                    f"{owner}: {name} must be a torch.nn.Module or None (got {type(module).__name__})."
                )
        if wav2spec is not None:
            channels = getattr(wav2spec, "out_channels", None)
            if channels != self.F:
                raise ConfigurationError(
                    f"{owner}: the front-end {type(wav2spec).__name__} produces {channels} channels but the "
                    f"model expects n_frequency_bands={self.F}. Build the front-end with {self.F} channels "
                    f"or the model with n_frequency_bands={channels}."
                )
        self.wav2spec = wav2spec if wav2spec is not None else nn.Identity()
        self.prefiltering = prefiltering if prefiltering is not None else nn.Identity()
        self.C_in = int(getattr(prefiltering, "out_channels", 1)) if prefiltering is not None else 1
        self.core = nn.Identity()
        self.init_config: dict[str, object] = {}

    @property
    def memory_frames(self) -> int | None:
        """Spectrogram frames (the present one included) that one output depends on, the prefilter's past
        included; None when the model remembers its whole past (a recurrence, attention without a window)."""
        own = self.core_memory_frames
        return None if own is None else own + prefilter_frames(self.prefiltering)

    @property
    def core_memory_frames(self) -> int | None:
        """Prefiltered frames one output depends on: the STRF length, longer when a later stage integrates
        over time."""
        return self.T

    @property
    def takes_waveform(self) -> bool:
        """True when the model has a front-end and so expects audio rather than a spectrogram."""
        return not isinstance(self.wav2spec, nn.Identity)

    def from_spectrogram(self, spec):
        """Rates ``(B, N, 1, T)`` from front-end frames ``(B, 1, F, T)``: everything after ``wav2spec``."""
        return self.readout(self.core(self.prefiltering(spec)))

    def forward(self, x):
        return self.from_spectrogram(self.wav2spec(x))
