"""Which frequencies a new front-end should cover, and whether a fit's front-end reaches its neurons.

``make_wav2spec`` keeps deepSTRF's defaults (mel and gammatone from 500 Hz: the NS1 cochleagram), which hide
speech F0 and first formants and the low-CF fibres of an auditory-nerve set. What the GUI starts a new pane
or a fit with follows the data instead: the open response set's ``hearing_range_hz`` and its neurons'
``cf_hz`` (docs/formats.md), else the sound's band. Each suggestion comes with a one-line reason that the GUI
shows, so a changed default is never silent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigurationError
from .base import samples
from .registry import frontend_class
from .scales import erb_bandwidth, hz_to_mel, mel_to_hz

# Lowest frequency of a new mel or gammatone pane without a response set: below the F0 of adult speech
# (about 85-255 Hz) and of most vocalisations, and the lowest channel still a few FFT bins wide.
SOUND_LOWEST_HZ = 50.0
_SOUND_BAND_KINDS = ("mel", "gammatone")
# A hearing range that goes this much above the default top (ultrasound at high sample rates) raises f_max.
_RAISE_TOP_FACTOR = 1.1


@dataclass(frozen=True)
class FrequencySuggestion:
    """Front-end arguments that differ from the kind's defaults, and why (empty when the defaults stand)."""

    args: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class CfCoverage:
    """Neurons whose characteristic frequency lies below a front-end's lowest filter frequency."""

    kind: str
    argument: str
    lowest_filter_hz: float
    below: int
    with_cf: int
    lowest_cf_hz: float

    @property
    def fix_value(self) -> float:
        """A value of ``argument`` that reaches every neuron: the lowest CF, rounded down to whole Hz."""
        return float(math.floor(self.lowest_cf_hz))

    def message(self) -> str:
        """One line for a person: how many neurons, their lowest CF, the filterbank's lowest frequency, the fix."""
        return (f"{self.below} of {self.with_cf} neurons have a characteristic frequency (cf_hz) below the "
                f"{self.kind} front-end's lowest frequency of {hz(self.lowest_filter_hz)} (lowest cf "
                f"{hz(self.lowest_cf_hz)}), so the model's input does not reach them; set {self.argument} to "
                f"{self.fix_value:g} Hz or lower")


def hz(value: float) -> str:
    """A frequency as people write it: '125 Hz', '40,000 Hz', '62.5 Hz'."""
    return f"{value:,.0f} Hz" if value >= 100 or float(value).is_integer() else f"{value:.3g} Hz"


def _hz_range(low: float, high: float) -> str:
    return f"{low:,.0f}–{high:,.0f} Hz" if low >= 100 or float(low).is_integer() else f"{low:.3g}–{high:,.0f} Hz"


def _number(value: Any) -> float | None:
    """A finite, non-negative float from a free-form JSON value, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def hearing_range(responses: Any) -> tuple[float, float] | None:
    """The response set's ``hearing_range_hz`` when it is two numbers ``0 <= low < high``, else None."""
    value = getattr(responses, "hearing_range_hz", None)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None
    low, high = _number(value[0]), _number(value[1])
    return (low, high) if low is not None and high is not None and low < high else None


def neuron_cfs(responses: Any, neurons: Sequence[int] | None = None) -> list[float]:
    """The positive ``cf_hz`` values of the chosen neurons (all by default); neurons without one are skipped."""
    units = getattr(responses, "neurons", None) or []
    chosen = range(len(units)) if neurons is None else neurons
    values = (_number(units[i].meta.get("cf_hz")) for i in chosen if 0 <= i < len(units))
    return [v for v in values if v]


def _schema(kind: str) -> dict[str, Any] | None:
    try:
        return {spec.name: spec for spec in frontend_class(kind).schema}
    except ConfigurationError:
        return None


def gammatone_kernel_ms(f_low: float, kind_defaults: dict[str, Any]) -> float:
    """Kernel length that holds the lowest channel's impulse response as the default holds it at the default
    lowest frequency: the envelope ``t^(n-1) exp(-2 pi b t)`` decays on a time scale ``1 / b``, so the length
    scales with the ERB of the default lowest channel over that of ``f_low`` (whole ms, rounded up; never
    shorter than the default)."""
    default_ms = kind_defaults["kernel_ms"].default
    scale = float(erb_bandwidth(kind_defaults["f_min"].default) / erb_bandwidth(f_low))
    return float(max(default_ms, math.ceil(default_ms * scale)))


def mel_lowest_hz(low: float, top: float, n_bands: int, win_ms: float, audio_fs: float | None) -> float:
    """``low``, or the first frequency above it (2 % steps) at which every band of an ``n_bands`` mel filterbank
    up to ``top`` holds an FFT bin: with a 10 ms window the bins are 100 Hz apart, and low bands narrower than
    that come out all zero."""
    spacing = audio_fs / samples(int(audio_fs), win_ms) if audio_fs else 1000.0 / win_ms
    candidate = low
    while candidate < top / 2:
        points = mel_to_hz(np.linspace(hz_to_mel(candidate), hz_to_mel(top), n_bands + 2))
        first_bin_above = (np.floor(points[:-2] / spacing) + 1) * spacing
        if np.all(first_bin_above < points[2:]):
            break
        candidate = float(math.ceil(max(candidate * 1.02, candidate + 1)))
    return candidate


def suggest_frequency_range(kind: str, *, responses: Any = None, audio_fs: float | None = None,
                            args: dict[str, Any] | None = None) -> FrequencySuggestion:
    """Frequency-range arguments for a ``kind`` front-end (new, or with the other arguments ``args``) and a
    one-line reason.

    With a response set: the lowest frequency is the bottom of its hearing range, or its lowest neuron CF if
    that is lower (or there is no hearing range); the top follows the hearing range where it ends below the
    default top, or well above it with a sample rate that allows it. Without one, mel and gammatone start at
    50 Hz, the sound's band. Everything stays below Nyquist when ``audio_fs`` is known; gammatone kernels
    lengthen with a lower bottom channel. Kinds without a frequency range (ICNet), and unknown kinds, get none.
    """
    spec = _schema(kind)
    if spec is None or "f_min" not in spec or "f_max" not in spec:
        return FrequencySuggestion()
    kind = frontend_class(kind).kind
    given = args or {}
    nyquist = audio_fs / 2.0 if audio_fs else None
    default_low = float(spec["f_min"].default)
    default_top = spec["f_max"].default if spec["f_max"].default is not None else nyquist
    if default_top is not None and nyquist is not None:
        default_top = min(default_top, nyquist)
    band = hearing_range(responses) if responses is not None else None
    cfs = neuron_cfs(responses) if responses is not None else []
    low, source, why = None, "", ""
    if band is not None and (not cfs or band[0] <= min(cfs)):
        low, source = band[0], f"from the response set's hearing range {_hz_range(*band)}"
    elif cfs:
        low = min(cfs)
        source = "the response set's lowest neuron CF (cf_hz)" + (
            f", below its hearing range {_hz_range(*band)}" if band is not None else "")
    elif kind in _SOUND_BAND_KINDS:
        low = SOUND_LOWEST_HZ
        source, why = "the sound's band", f" (the default {hz(default_low)} hides speech F0 and first formants)"
    suggested: dict[str, Any] = {}
    parts: list[str] = []
    top = None
    if band is not None and nyquist is not None and default_top is not None:
        wanted = min(band[1], nyquist)
        if wanted < default_top or wanted > _RAISE_TOP_FACTOR * default_top:
            top = wanted
    ceiling = top if top is not None else default_top
    if low is not None:
        if ceiling is not None and low >= ceiling:
            low = ceiling / 2.0
            source += f", capped below {hz(ceiling)}"
        if kind == "mel":
            n_bands = int(given.get("n_mels", spec["n_mels"].default))
            win_ms = float(given.get("win_ms", spec["win_ms"].default))
            resolved = mel_lowest_hz(low, ceiling or spec["f_max"].default, n_bands, win_ms, audio_fs)
            if resolved != low:
                low = resolved
                source += f", raised so that each of the {n_bands} mel bands holds an FFT bin"
        if low != default_low:
            suggested["f_min"] = low
            parts.append(f"lowest frequency {hz(low)}: {source}{why}")
    if top is not None:
        suggested["f_max"] = top
        parts.append(f"highest {hz(top)}: " + ("the hearing range" if top == band[1] else "Nyquist"))
    if kind == "gammatone" and "f_min" in suggested:
        kernel_ms = gammatone_kernel_ms(suggested["f_min"], spec)
        if kernel_ms > float(given.get("kernel_ms", spec["kernel_ms"].default)):
            suggested["kernel_ms"] = kernel_ms
            parts.append(f"{kernel_ms:g} ms kernels to hold the lowest channel")
    return FrequencySuggestion(suggested, "; ".join(parts))


def frequency_range(kind: str, args: dict[str, Any], audio_fs: float | None = None) -> tuple[float, float] | None:
    """``(lowest, highest)`` frequency of a ``kind`` front-end built with ``args``: its ``f_min`` and ``f_max``
    (clamped to Nyquist when ``audio_fs`` is known; infinite for "up to Nyquist" when it is not); None for
    kinds without a frequency range."""
    spec = _schema(kind)
    if spec is None or "f_min" not in spec or "f_max" not in spec:
        return None
    low = _number(args.get("f_min", spec["f_min"].default))
    given = args.get("f_max", spec["f_max"].default)
    high = math.inf if given is None else _number(given)
    if low is None or high is None:
        return None
    return low, (min(high, audio_fs / 2.0) if audio_fs else high)


def describe_range(kind: str, args: dict[str, Any], audio_fs: float | None = None) -> str:
    """'50 Hz to 22,627 Hz', '300 Hz to Nyquist', or '' for kinds without a frequency range."""
    band = frequency_range(kind, args, audio_fs)
    if band is None:
        return ""
    return f"{hz(band[0])} to {hz(band[1]) if math.isfinite(band[1]) else 'Nyquist'}"


def cf_coverage(responses: Any, kind: str, args: dict[str, Any],
                neurons: Sequence[int] | None = None) -> CfCoverage | None:
    """The chosen neurons (all by default) whose ``cf_hz`` lies below the front-end's lowest frequency; None
    when every neuron with a CF is reached, none has one, or the front-end has no frequency range."""
    band = frequency_range(kind, args)
    cfs = neuron_cfs(responses, neurons)
    if band is None or not cfs:
        return None
    lowest = band[0]
    below = [cf for cf in cfs if cf < lowest]
    if not below:
        return None
    return CfCoverage(frontend_class(kind).kind, "f_min", lowest, len(below), len(cfs), min(below))
