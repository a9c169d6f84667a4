"""What every front-end shares: argument validation from a schema, the input contract, self-description.

The schema is the single source of truth for a front-end's constructor arguments: it validates them (so a
bad value fails with a message naming the argument, the value and what is allowed) and it is what the GUI
turns into a parameter form.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError, InputShapeError


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument of a front-end, as a form field and a validation rule."""

    name: str
    type: type
    default: Any
    help: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False
    # (other field, its values) under which this one has an effect, e.g. ("compression", ("pcen",)); None: always.
    # Only a description for forms (which disable the field otherwise): the value is validated either way.
    applies_when: tuple[str, tuple[Any, ...]] | None = None

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.type is bool:
            text = "True or False"
        else:
            kind = "an integer" if self.type is int else "a number"
            bounds = []
            if self.minimum is not None:
                bounds.append(f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}")
            if self.maximum is not None:
                bounds.append(f"<= {self.maximum:g}")
            text = kind + (" " + " and ".join(bounds) if bounds else "")
        if self.optional:
            text += ", or None"
        return text

    def coerce(self, owner: str, value: Any) -> Any:
        """Return ``value`` converted to this field's type, or raise ConfigurationError."""
        if value is None and self.optional:
            return None
        given = value
        ok = True
        if self.type is bool:
            ok = isinstance(value, (bool, np.bool_))
            value = bool(value) if ok else value
        elif self.type is str:
            ok = isinstance(value, str) and (
                self.choices is None or value.lower() in self.choices
            )
            value = value.lower() if ok else value
        elif self.type is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
                ok = float(value).is_integer()
            value = int(value) if ok else value
        else:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            value = float(value) if ok else value
            ok = ok and np.isfinite(value)
        if ok and self.type in (int, float):
            if self.minimum is not None:
                ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
            if ok and self.maximum is not None:
                ok = value <= self.maximum
        if not ok:
            raise ConfigurationError(
                f"{owner}: {self.name} must be {self.allowed()} (got {given!r}). {self.help}"
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form of the field, for the GUI and for documentation."""
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "exclusive_minimum": self.exclusive_minimum,
            "choices": list(self.choices) if self.choices else None,
            "optional": self.optional,
            "unit": self.unit,
            "help": self.help,
            "applies_when": None if self.applies_when is None else {
                "field": self.applies_when[0], "values": list(self.applies_when[1])},
        }


AUDIO_FS = ParamSpec(
    "audio_fs", float, 48000, "Sample rate the front-end expects, in Hz.", "Hz", 0.0,
    exclusive_minimum=True,
)
HOP_MS = ParamSpec(
    "hop_ms", float, 5.0, "Frame period: the neural bin width of the dataset.", "ms", 0.0,
    exclusive_minimum=True,
)


def validate_audio_fs(owner: str, audio_fs: Any) -> int:
    """A front-end runs at a whole number of Hz: audio at a fractional rate is resampled first."""
    value = AUDIO_FS.coerce(owner, audio_fs)
    if not float(value).is_integer():
        raise ConfigurationError(
            f"{owner}: audio_fs must be a whole number of Hz (got {audio_fs!r}). Resample the audio to an "
            "integer rate (for example 48000 Hz) and build the front-end at that rate."
        )
    return int(value)


def samples(audio_fs: int, ms: float) -> int:
    """Round a duration in ms to samples at ``audio_fs`` (at least one sample)."""
    return max(1, round(audio_fs * ms / 1000.0))


def clamp_band(owner: str, audio_fs: int, f_min: float, f_max: float | None) -> float:
    """Clamp ``f_max`` to Nyquist (None means Nyquist) and check ``0 <= f_min < f_max``."""
    nyquist = audio_fs / 2.0
    upper = nyquist if f_max is None else min(f_max, nyquist)
    if not 0.0 <= f_min < upper:
        clamped = "" if f_max is not None and f_max <= nyquist else " (after clamping to Nyquist)"
        raise ConfigurationError(
            f"{owner}: f_min must satisfy 0 <= f_min < f_max, but f_min={f_min:g} Hz and "
            f"f_max={upper:g} Hz{clamped}. Lower f_min or raise f_max (at most {nyquist:g} Hz at "
            f"audio_fs={audio_fs} Hz)."
        )
    return upper


class RecursionSplit(NamedTuple):
    """``forward(x) == tail(energy(x))`` for a front-end with a frame-rate recursion (PCEN).

    ``energy`` maps audio ``(B, 1, N)`` to frame energies ``(B, F, T)`` through FIR stages only (reaching
    ``fir_reach`` samples back); ``channel_energy(x, c)`` computes channel ``c`` alone ``(B, 1, T)`` with the
    same stages; ``tail(energy, state=None)`` maps energies to the output ``(B, 1, F, T)`` channel by
    channel, starting from the recursion's state ``(B, F)`` (None: silence before), and returns the output
    with the final state. The causality Jacobian differentiates the parts separately, which is far cheaper
    than differentiating the whole; streaming carries the state from chunk to chunk.
    """

    energy: Callable[[torch.Tensor], torch.Tensor]
    channel_energy: Callable[[torch.Tensor, int], torch.Tensor]
    tail: Callable[..., tuple[torch.Tensor, torch.Tensor]]


class Frontend(nn.Module):
    """Base class of the strictly causal wav2spec modules: ``(B, 1, T_audio) -> (B, 1, F, T_audio // hop)``."""

    kind: ClassVar[str]
    schema: ClassVar[tuple[ParamSpec, ...]]
    out_channels: int
    hop: int
    audio_fs: int

    @classmethod
    def output_unit(cls, args: dict[str, Any] | None = None) -> str:
        """What this kind's frames are, in arbitrary units (a colour bar's label), for constructor ``args``
        (defaults for the rest); known before the module is built."""
        values = {spec.name: spec.default for spec in cls.schema} | dict(args or {})
        return f"{cls._output_name(values)} (a.u.)"

    @classmethod
    def _output_name(cls, values: dict[str, Any]) -> str:
        """The name of the frames' values for complete constructor ``values``; kinds name theirs."""
        return "latent activation"

    def _bind(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate constructor arguments against the schema and remember them in ``self.config``."""
        owner = type(self).__name__
        bound = {
            spec.name: validate_audio_fs(owner, values[spec.name])
            if spec is AUDIO_FS
            else spec.coerce(owner, values[spec.name])
            for spec in self.schema
        }
        self.config = bound
        return bound

    def _fixed(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, reused while no gradient is recorded and no parameter or buffer has changed.

        Streaming calls a front-end many times a second with the same weights; reusing the tensors built
        from them (kernels) also lets the FFT engine reuse their spectra.
        """
        if torch.is_grad_enabled():
            return compute()
        key = tuple((id(t), t._version) for t in (*self.parameters(), *self.buffers()))
        cache = self.__dict__.setdefault("_fixed_cache", {})
        if name not in cache or cache[name][0] != key:
            cache[name] = (key, compute())
        return cache[name][1]

    def _check_waveform(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        if x.dim() != 3 or x.shape[1] != 1:
            raise InputShapeError(
                f"{name} expects a mono waveform batch of shape (B, 1, T_audio); got {tuple(x.shape)}. "
                "Mix the audio to mono and add batch and channel axes, e.g. x.reshape(1, 1, -1)."
            )
        if x.shape[-1] % self.hop:
            length = x.shape[-1]
            raise InputShapeError(
                f"{name}: input length T_audio={length} is not a multiple of hop={self.hop} samples. "
                f"Crop or zero-pad the audio to a whole number of frames (e.g. {length - length % self.hop} "
                f"samples), and build the front-end with the dataset's audio_fs and dt so that its hop "
                "matches the neural bin width."
            )

    @property
    def fir_reach(self) -> int:
        """Samples before a frame's end that its FIR stages read (the receptive field without recursion)."""
        raise NotImplementedError

    @property
    def recursive(self) -> bool:
        """Whether a frame-rate recursion (PCEN) makes each frame depend on the whole past."""
        return False

    def recursion_split(self) -> RecursionSplit | None:
        """The FIR / frame-rate split of a recursive front-end (see :class:`RecursionSplit`); None if unsplit."""
        return None

    def centre_frequencies(self) -> np.ndarray | None:
        """Centre frequency of each output channel in Hz (low to high), or None for latent channels."""
        return None

    def learnable_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors that training updates, by state-dict name."""
        return {name: p for name, p in self.named_parameters() if p.requires_grad}

    def describe(self) -> dict[str, Any]:
        """Everything the GUI needs to label, configure and explain this front-end."""
        fc = self.centre_frequencies()
        return {
            "kind": self.kind,
            "class": type(self).__name__,
            "audio_fs": self.audio_fs,
            "hop": self.hop,
            "out_channels": self.out_channels,
            "config": dict(self.config),
            "schema": [spec.to_dict() for spec in self.schema],
            "centre_frequencies_hz": None if fc is None else [float(f) for f in fc],
            "learnable": sorted(self.learnable_tensors()),
            "output_unit": self.output_unit(self.config),
        }
