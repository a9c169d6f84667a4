"""Front-ends side by side: what each one makes of a sound, how fast, whether it leaks the future, how far back
it listens, and how well the models fitted on it predict held-out responses.

:func:`measure_frontend` is the job body of one front-end. The causality numbers come from the Jacobian of the
loudest :data:`CAUSALITY_SECONDS` of the sound (silence has no gradient, so it would measure nothing). A model
"matches" a front-end when its metadata names the same kind with the same full argument set (defaults filled
in); the cc_norm it recorded when it was fitted is then the front-end's score.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigurationError, StrfviewerError, one_line
from ..frontends import frontend_class, make_wav2spec
from ..jobs import CancelFlag, CancelledError, ProgressCallback, check_cancel
from .causality import frame_jacobian, receptive_field_text
from .frame_cache import FrameCache
from .frames import FrameWindow, compute_frames

CAUSALITY_SECONDS = 0.25  # the causality Jacobian is measured on the sound's loudest quarter second
_TIME_KEYS = ("audio_fs", "hop_ms", "dt_ms")  # set by the sound and the response bins, not by the front-end


# Arguments
def _normalised(value: Any) -> Any:
    """JSON round trip, so tuples and lists (and ints and floats) from different sources compare equal."""
    return json.loads(json.dumps(value))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(b, float) and isinstance(a, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def effective_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The front-end's full argument set (schema defaults overridden by ``args``), without rate and hop."""
    full: dict[str, Any] = {}
    for spec in frontend_class(kind).schema:
        if spec.name in _TIME_KEYS:
            continue
        value = args.get(spec.name, spec.default)
        with contextlib.suppress(ConfigurationError):  # an invalid value is compared as given: it matches nothing
            value = spec.coerce(kind, value)
        full[spec.name] = _normalised(value)
    return full


def non_default_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``args`` that differ from the front-end's defaults."""
    defaults = effective_args(kind, {})
    given = effective_args(kind, args)
    return {k: args[k] for k in args if k in given and not _same(given[k], defaults.get(k))}


def describe_args(args: dict[str, Any]) -> str:
    """``name=value, ...`` (floats in their shortest form), or ``defaults`` for none."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in args.items()) or "defaults"


def describe_frontend_args(kind: str, args: dict[str, Any]) -> str:
    """The arguments that differ from the defaults, in words; all of them for a kind strfviewer does not know
    (the measurement reports that kind's error)."""
    try:
        return describe_args(non_default_args(kind, args))
    except (ValueError, TypeError):  # an unknown kind, or values that are not plain data
        return describe_args(args)


# Models and their scores
@dataclass(frozen=True)
class NamedFrontend:
    """A front-end as a model's metadata names it: its kind and the arguments given."""

    kind: str
    args: dict[str, Any]


@dataclass(frozen=True)
class CcNormSummary:
    """The test-split cc_norm a model recorded when fitted: the median over its neurons with a finite value,
    and how many those are (None when only the median was recorded)."""

    median: float
    neurons: int | None


def _strfviewer_info(model: Any) -> dict[str, Any]:
    info = getattr(model, "info", None)
    if isinstance(info, dict):
        return info
    metadata = getattr(model, "metadata", None) or {}
    block = metadata.get("strfviewer", {}) if isinstance(metadata, dict) else {}
    return block if isinstance(block, dict) else {}


def model_frontend(model: Any) -> NamedFrontend | None:
    """The front-end a loaded model's metadata names, or None.

    ``metadata.json["strfviewer"]["wav2spec"]`` records a waveform model's front-end; a spectrogram-input
    model fitted by strfviewer records the front-end that made its spectrograms under ``"spectrogram"``.
    """
    info = _strfviewer_info(model)
    for key in ("wav2spec", "spectrogram"):
        block = info.get(key)
        if isinstance(block, dict) and isinstance(block.get("kind"), str):
            kwargs = block.get("kwargs") or {}
            return NamedFrontend(block["kind"], dict(kwargs) if isinstance(kwargs, dict) else {})
    return None


def cc_norm_summary(model: Any) -> CcNormSummary | None:
    """The test-split cc_norm the model's metadata recorded at fit time; None when it records none."""
    info = getattr(model, "info", None) or {}
    test = (info.get("metrics") or {}).get("test") or {}
    per_neuron = test.get("cc_norm")
    if isinstance(per_neuron, list):
        finite = [float(v) for v in per_neuron if isinstance(v, (int, float)) and math.isfinite(v)]
        if finite:
            return CcNormSummary(float(np.median(finite)), len(finite))
    median = test.get("cc_norm_median")
    if isinstance(median, (int, float)) and math.isfinite(median):
        return CcNormSummary(float(median), None)
    return None


def median_test_cc_norm(model: Any) -> float | None:
    """Median over neurons of the model's test cc_norm, from its metadata; None when it records none."""
    summary = cc_norm_summary(model)
    return None if summary is None else summary.median


def matching_model(models: list[Any], kind: str, args: dict[str, Any]) -> Any:
    """The most recently opened model fitted with this front-end (same kind and arguments), or None."""
    try:
        wanted = effective_args(kind, args)
    except (ValueError, TypeError):  # an unknown kind (or values that are not plain data): nothing can match
        return None
    for model in reversed(models):
        named = model_frontend(model)
        if named is None or named.kind != kind:
            continue
        try:
            theirs = effective_args(named.kind, named.args)
        except (ValueError, TypeError):
            continue
        if wanted.keys() == theirs.keys() and all(_same(wanted[k], theirs[k]) for k in wanted):
            return model
    return None


# Measuring
@dataclass(frozen=True)
class FrontendMeasurement:
    """One front-end on one sound: its frames, the seconds they took, and its causality numbers (or why there
    are none: ``causality_error``)."""

    window: FrameWindow
    duration: float  # of the sound, in seconds
    leak: float | None = None
    leak_exact: bool = False
    receptive_field: int | None = None  # samples
    causality_method: str | None = None
    causality_error: str | None = None

    @property
    def seconds(self) -> float:
        """How long computing the frames took."""
        return self.window.seconds

    @property
    def channels(self) -> int:
        return int(self.window.frames.shape[0])

    @property
    def hop(self) -> int:
        return self.window.hop

    @property
    def audio_fs(self) -> int:
        return self.window.audio_fs

    @property
    def hop_ms(self) -> float:
        return self.hop / self.audio_fs * 1000

    @property
    def rtf(self) -> float:
        """Seconds of sound per second of computation."""
        return self.duration / max(self.seconds, 1e-9)

    @property
    def receptive_field_ms(self) -> float | None:
        return None if self.receptive_field is None else self.receptive_field / self.audio_fs * 1000

    @property
    def leak_text(self) -> str:
        """The leak in words: ``0 (exact)``, its size, or ``n/a`` when it could not be measured."""
        if self.causality_error:
            return "n/a"
        return "0 (exact)" if self.leak_exact else f"{self.leak:.3g}"

    @property
    def receptive_field_text(self) -> str:
        """The receptive field in words (:func:`~strfviewer.backend.analysis.causality.receptive_field_text`)."""
        if self.causality_error:
            return "n/a"
        return receptive_field_text(self.receptive_field, self.causality_method, self.audio_fs, CAUSALITY_SECONDS)


def loudest_clip(samples: np.ndarray, length: int, hop: int) -> np.ndarray:
    """The ``length`` samples (starting on a frame boundary) with the most energy: silence has no gradient, so
    a clip of it would measure neither a leak nor a receptive field."""
    if samples.shape[0] <= length:
        return samples
    energy = np.concatenate([[0.0], np.cumsum(np.asarray(samples, dtype=np.float64) ** 2)])
    starts = np.arange(0, samples.shape[0] - length + 1, hop)
    start = int(starts[np.argmax(energy[starts + length] - energy[starts])])
    return samples[start:start + length]


def measure_frontend(kind: str, args: dict[str, Any], dt_ms: float, samples: np.ndarray, audio_fs: int,
                     progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
                     cache: FrameCache | None = None) -> FrontendMeasurement:
    """Job body: the front-end's frames of the whole sound, how long they took, and its causality numbers.

    With a ``cache``, frames a pane has already computed are reused (with the seconds they took then)."""

    def stage(name: str) -> ProgressCallback | None:
        if progress is None:
            return None
        return lambda done, total, message: progress(done, total, f"{kind} {name}: {message}")

    compute = compute_frames if cache is None else cache.frames
    window = compute(kind, args, dt_ms, samples, audio_fs, stage("frames"), cancel)
    check_cancel(cancel)
    duration = samples.shape[0] / audio_fs
    frontend = make_wav2spec(kind, audio_fs=audio_fs, dt_ms=dt_ms, **args).eval()
    clip = loudest_clip(samples, round(CAUSALITY_SECONDS * audio_fs), frontend.hop)
    try:
        jac = frame_jacobian(frontend, clip, mode="projection", progress=stage("causality"), cancel=cancel)
    except CancelledError:
        raise
    except StrfviewerError as exc:
        return FrontendMeasurement(window, duration, causality_error=one_line(exc))
    return FrontendMeasurement(window, duration, jac.leak, jac.leak_is_exactly_zero,
                               jac.receptive_field, jac.method)
