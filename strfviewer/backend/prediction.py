"""Predict a response set with a loaded model, stimulus by stimulus, and score it as ``strfviewer fit`` does.

The question answered is "how well does this model predict these neurons?", at the level of one stimulus
(the predicted rate beside the recorded mean and its SEM) and of one neuron (cc, cc_norm and cc_max over the
test split). Scores come from :func:`fitting.score` on the stimuli :func:`fitting.prepare_stimuli` builds,
with the model's own training recipe (Hann smoothing, bin limit), so they are the numbers the fit reported.

Whether a model can predict a response set at all (bin width, sample rate, neurons) is decided here too:
:class:`ModelMismatchError` carries the one-line reason. Torch, the fitting code and the response-set
reader load on first use, so a GUI importing this module does not pay for them at start.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import metrics
from .errors import GridLockError, StrfviewerError, one_line
from .jobs import CancelFlag, CancelledError, ProgressCallback, check_cancel, report

STATS_CHUNK = 8  # neurons whose float responses the recorded statistics hold at once
SIGNIFICANCE_SHIFTS = 1000  # circular shifts behind each neuron's p-value, as a fit's test scores use

if TYPE_CHECKING:
    from .checkpoints import LoadedModel
    from .data.responses import ResponseSet
    from .data.spikes import SpikeTimes
    from .fitting import FitConfig

logger = logging.getLogger(__name__)


class ModelMismatchError(StrfviewerError):
    """A model cannot predict the open response set; the message is the one-line reason shown to the user."""


@dataclass
class ResponseStats:
    """What a response set says on its own, without a model: the metric split, cc_max and spike times."""

    split_name: str
    split: list[int]
    cc_max: np.ndarray  # (N,) over the split, Hann-smoothed as the backend's fitting scores by default
    spikes: SpikeTimes | None = None
    spikes_note: str | None = None  # why the spike-time file was not used, when there is one


@dataclass
class ModelResult:
    """One model's predictions of every stimulus and its scores per neuron, or why it has none."""

    model: LoadedModel  # kept: its identity is the cache key of the caller
    name: str
    reason: str | None = None
    predictions: list[np.ndarray] = field(default_factory=list)  # per stimulus (N, T_s); NaN: neuron not modelled
    cc: np.ndarray | None = None  # (N,) over the split, NaN for neurons the model does not predict
    cc_norm: np.ndarray | None = None
    cc_max: np.ndarray | None = None
    p_value: np.ndarray | None = None  # (N,) of cc against circularly shifted predictions (metrics.shift_p_values)
    significance_shifts: int = SIGNIFICANCE_SHIFTS
    neurons: list[int] = field(default_factory=list)  # response-set index of each model output
    smooth: bool = True
    score_bins: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the model predicted the response set (no ``reason``)."""
        return self.reason is None


@dataclass
class PredictionRecipe:
    """How the backend's fitting would feed and score a model on a response set."""

    config: FitConfig  # front-end, audio rate and smoothing of the model's training (``n_bins`` unset)
    neurons: list[int]  # response-set index of each model output
    score_bins: int | None  # scores use only the first bins, as the training did; None: every bin
    notes: list[str]  # what the user should know about the match (neurons matched by position)


@dataclass
class PredictionRun:
    """What :func:`compute_predictions` returns: the response set it ran on, its statistics and the results."""

    responses: ResponseSet
    stats: ResponseStats | None
    results: list[ModelResult]


@dataclass
class RecordedMean:
    """The recorded PSTH of one neuron and stimulus: mean over repeats, its SEM, and the repeats recorded."""

    mean: np.ndarray  # (T,)
    sem: np.ndarray  # (T,), NaN where fewer than two repeats are recorded
    n_repeats: int


def model_name(loaded: LoadedModel) -> str:
    """A short name for a model's results: the model folder's (or file's) name."""
    path = getattr(loaded, "path", None)
    return Path(path).name if path is not None else type(loaded).__name__


def metric_split(rs: ResponseSet) -> tuple[str, list[int]]:
    """The stimuli scores are computed over, with its name: the test split, or every stimulus when there is none."""
    test = list(rs.splits.get("test") or [])
    if test:
        return "test", test
    return "all stimuli", list(range(len(rs.stimuli)))


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def model_recipe(loaded: LoadedModel, rs: ResponseSet) -> PredictionRecipe:
    """How the backend's fitting would feed and score ``loaded`` on ``rs``; ModelMismatchError when it cannot."""
    from .data.responses import hop_for
    from .fitting import FitConfig

    info = _as_dict(getattr(loaded, "info", None))
    training = _as_dict(info.get("training"))
    notes: list[str] = []
    frontend = loaded.frontend
    if frontend is not None:
        audio_fs = int(frontend.audio_fs)
        dt_ms = frontend.config.get("dt_ms", frontend.config.get("hop_ms"))
        kind, kwargs, spectrogram_input = frontend.kind, {}, False
    else:
        spectrogram = _as_dict(info.get("spectrogram"))
        if not spectrogram.get("kind") or not spectrogram.get("audio_fs"):
            raise ModelMismatchError("takes a spectrogram, and its files do not say which one (kind, audio_fs)")
        audio_fs, kind = int(spectrogram["audio_fs"]), str(spectrogram["kind"])
        kwargs, spectrogram_input = dict(_as_dict(spectrogram.get("kwargs"))), True
        dt_ms = info.get("dt_ms", _as_dict(info.get("dataset")).get("dt_ms"))
    if dt_ms is not None and abs(float(dt_ms) - rs.dt_ms) > 1e-9:
        raise ModelMismatchError(f"predicts {float(dt_ms):g} ms bins; the response set has {rs.dt_ms:g} ms bins")
    try:
        hop_for(audio_fs, rs.dt_ms)
    except GridLockError:
        raise ModelMismatchError(f"its {audio_fs} Hz audio does not fill {rs.dt_ms:g} ms bins with whole samples") \
            from None
    n_out = int(getattr(loaded.model, "O", 0) or _as_dict(getattr(loaded, "config", None)).get("out_neurons", 0))
    n_rs = len(rs.neurons)
    position = {n.id: i for i, n in enumerate(rs.neurons)}
    ids = info.get("neurons")
    if isinstance(ids, list) and len(ids) == n_out and all(str(i) in position for i in ids):
        neurons = [position[str(i)] for i in ids]
    elif n_out == n_rs:
        neurons = list(range(n_rs))
        if isinstance(ids, list) and ids:
            notes.append("its neuron ids are not the response set's: matched by position")
    else:
        extra = " and its neuron ids are not all in the set" if isinstance(ids, list) and ids else ""
        raise ModelMismatchError(f"predicts {n_out} neurons; the response set has {n_rs}{extra}")
    n_bins = training.get("n_bins")
    score_bins = int(n_bins) if isinstance(n_bins, int) and not isinstance(n_bins, bool) and n_bins > 0 else None
    config = FitConfig(model="linear", frontend=kind, frontend_kwargs=kwargs, spectrogram_input=spectrogram_input,
                       audio_fs=audio_fs, smooth=bool(training.get("smooth", True)), n_bins=None)
    return PredictionRecipe(config, neurons, score_bins, notes)


def _per_neuron(values: list[Any], neurons: list[int], n_rs: int) -> np.ndarray:
    out = np.full(n_rs, np.nan)
    for j, value in zip(neurons, values, strict=True):
        out[j] = np.nan if value is None else float(value)
    return out


def predict_model(loaded: LoadedModel, rs: ResponseSet, split: list[int], progress: Callable[[], None] | None = None,
                  cancel: CancelFlag | None = None) -> ModelResult:
    """Predict every stimulus of ``rs`` with ``loaded`` and score it over ``split`` as ``fitting.fit`` does.

    ``progress()`` (no arguments) is called once per stimulus. Raises ModelMismatchError (and other backend errors)
    when the model cannot predict this response set, CancelledError when ``cancel`` is set.
    """
    import torch

    from .fitting import predict_stimuli, prepare_stimuli, score

    recipe = model_recipe(loaded, rs)
    n_rs, n_model = len(rs.neurons), len(recipe.neurons)
    wanted = set(split)
    predictions, scored_predictions, scored_items = [], [], []
    device = torch.device("cpu")
    scoring_config = replace(recipe.config, n_bins=recipe.score_bins)
    for s in range(len(rs.stimuli)):
        check_cancel(cancel)
        item = prepare_stimuli(rs, recipe.config, loaded.model, recipe.neurons, [s], False, device, cancel)[0]
        out = predict_stimuli(loaded.model, [item], False)[0]  # (1, n_model, 1, T)
        n_bins = item.responses.shape[-1]
        if out.shape[1] != n_model or out.shape[-1] != n_bins:
            raise ModelMismatchError(f"returns shape {tuple(out.shape)} for {n_model} neurons and {n_bins} bins")
        full = np.full((n_rs, n_bins), np.nan, dtype=np.float32)
        full[recipe.neurons] = out[0, :, 0]
        predictions.append(full)
        if s in wanted:
            if recipe.score_bins is not None and recipe.score_bins < n_bins:
                # Scored as fitting did: on the first score_bins bins, audio and smoothing cut there too.
                item = prepare_stimuli(rs, scoring_config, loaded.model, recipe.neurons, [s], False, device,
                                       cancel)[0]
                out = predict_stimuli(loaded.model, [item], False)[0]
            scored_predictions.append(out)
            scored_items.append(replace(item, features=torch.empty(0)))
        if progress is not None:
            progress()
    result = ModelResult(loaded, model_name(loaded), predictions=predictions, neurons=recipe.neurons,
                         smooth=recipe.config.smooth, score_bins=recipe.score_bins, notes=recipe.notes)
    if scored_items:
        summary = score(scored_predictions, scored_items, result.significance_shifts)
        result.cc = _per_neuron(summary["cc"], recipe.neurons, n_rs)
        result.cc_norm = _per_neuron(summary["cc_norm"], recipe.neurons, n_rs)
        result.cc_max = _per_neuron(summary["cc_max"], recipe.neurons, n_rs)
        result.p_value = _per_neuron(summary["p_value"], recipe.neurons, n_rs)
    else:
        result.cc = result.cc_norm = result.cc_max = result.p_value = np.full(n_rs, np.nan)
    return result


def response_stats(rs: ResponseSet) -> ResponseStats:
    """cc_max per neuron over the metric split (Hann-smoothed, as fitting scores by default) and spike times."""
    from .data.spikes import read_spike_times

    split_name, split = metric_split(rs)
    # A few neurons at a time: the float responses of every neuron of a 500-unit recording take gigabytes.
    chunks = [list(range(start, min(start + STATS_CHUNK, len(rs.neurons))))
              for start in range(0, len(rs.neurons), STATS_CHUNK)]
    cc_max = np.concatenate([metrics.cc_max(metrics.smooth_hann5(rs.responses(split, chunk), axis=-1))
                             for chunk in chunks])
    spikes, note = read_spike_times(rs.root, tuple(rs.counts.shape[:3]))
    return ResponseStats(split_name, split, cc_max, spikes, note)


def compute_predictions(rs: ResponseSet, models: list[LoadedModel], with_stats: bool,
                        progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> PredictionRun:
    """Job body: the response set's statistics (if asked) and every model's predictions and scores.

    A model that cannot predict ``rs`` comes back as a ModelResult with a ``reason``; only cancellation and
    errors in the response set itself end the job.
    """
    total = 1 + len(models) * len(rs.stimuli)
    done = 0
    report(progress, done, total, "recorded responses")
    stats = response_stats(rs) if with_stats else None
    done += 1
    split = stats.split if stats is not None else metric_split(rs)[1]
    results = []
    for loaded in models:
        name = model_name(loaded)
        start = done

        def tick(name: str = name) -> None:
            nonlocal done
            done += 1
            report(progress, done, total, f"predicting with {name}")

        try:
            results.append(predict_model(loaded, rs, split, tick, cancel))
        except CancelledError:
            raise
        except ModelMismatchError as exc:
            results.append(ModelResult(loaded, name, reason=str(exc)))
        except StrfviewerError as exc:
            results.append(ModelResult(loaded, name, reason=one_line(exc)))
        except (RuntimeError, ValueError) as exc:  # torch shape errors: this model does not fit these inputs
            logger.warning("%s could not predict %s", name, rs.name, exc_info=True)
            results.append(ModelResult(loaded, name, reason=f"could not predict: {one_line(exc)}"))
        done = start + len(rs.stimuli)
        check_cancel(cancel)
    report(progress, total, total, "done")
    return PredictionRun(rs, stats, results)


def trial_counts(rs: ResponseSet, neuron: int, stimulus: int) -> np.ndarray:
    """Float counts ``(R, T)`` of one neuron and stimulus, NaN where missing (negative integers too).

    Reads only that cell, as every redraw does.
    """
    from .data.responses import missing_counts

    block = np.asarray(rs.counts[neuron, stimulus])
    out = block.astype(np.float64)
    out[missing_counts(block)] = np.nan
    return out


def mean_and_sem(counts: np.ndarray, smooth: bool) -> RecordedMean:
    """Mean over the repeats of ``counts`` ``(R, T)`` (``metrics.psth``, Hann-smoothed first when ``smooth``),
    its standard error, and the number of recorded repeats."""
    x = metrics.smooth_hann5(counts, axis=-1) if smooth else counts
    mean = metrics.psth(x[None, None])[0, 0, 0]
    recorded = np.isfinite(x)
    n = recorded.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        sem = np.where(n >= 2, np.nanstd(x, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)), np.nan)
    return RecordedMean(mean, sem, int(recorded.any(axis=1).sum()))
