"""Fit encoding models to a response set: the training loop behind ``strfviewer fit`` and the GUI's fit dialog.

The gradient recipe follows deepSTRF's NS1 protocol: one stimulus per step, AdamW, MSE (or Poisson) against
the PSTH of Hann-smoothed responses, early stopping on the mean validation cc_norm with the best epoch
restored. A front-end without learnable parameters is run once per stimulus and its output cached, so
epochs only train the readout. ``method="ridge"`` fits a Linear model in closed form instead
(:mod:`.ridge`), cross-validated over the training and validation stimuli, on the front-end as built.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import metrics, ridge
from .checkpoints import LoadedModel, load_model, save_model
from .data.responses import ResponseSet, hop_for
from .errors import ConfigurationError
from .frontends import Frontend, make_wav2spec
from .frontends.modules import frontend_of
from .jobs import CancelFlag, ProgressCallback, check_cancel, report
from .model_folders import OutputFolder
from .model_kinds import MODEL_KINDS, NETWORK_ARGUMENTS, WINDOWED_KINDS
from .models import ConvNet2D, DNet, ICNet, Linear, LinearNonlinear, NetworkReceptiveField, StateNet, Transformer

LOSSES = ("mse", "poisson")
PUBLISH_INTERVAL_S = 0.25  # a gradient fit's curves go out at most this often (fast epochs would flood a plot)
METHODS = ("gradient", "ridge")
# A ridge fit reads and scores the responses this many neurons at a time: a 5,000-unit probe's per-trial
# responses (float64, every stimulus) would take tens of GB at once.
NEURON_CHUNK = 256


@dataclass
class FitConfig:
    """Everything that defines a fit; stored in the model's metadata as its training recipe."""

    model: str = "linear"
    frontend: str = "mel"
    frontend_kwargs: dict[str, Any] = field(default_factory=dict)
    spectrogram_input: bool = False
    audio_fs: int = 48000
    temporal_window_size: int = 9
    neurons: list[int] | None = None
    train: list[int] | None = None
    val: list[int] | None = None
    test: list[int] | None = None
    n_bins: int | None = None
    smooth: bool = True
    loss: str = "mse"
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 100
    patience: int = 30
    seed: int = 0
    device: str = "cpu"
    icnet_kwargs: dict[str, Any] = field(default_factory=dict)
    network_kwargs: dict[str, Any] = field(default_factory=dict)  # a network's (n_hidden, init_tau, rnn_type...)
    method: str = "gradient"
    ridge_lambdas: list[float] | None = None  # relative grid (None: ridge.DEFAULT_LAMBDAS)
    ridge_folds: int = ridge.DEFAULT_FOLDS
    ridge_shared_lambda: bool = False
    ridge_smoothness: float = 0.0
    ridge_centre_stimuli: bool = True  # fit within-stimulus fluctuations (ridge._Statistics)
    significance_shifts: int = 1000  # circular shifts for the test p-values (0: none)

    def ridge_config(self) -> ridge.RidgeConfig:
        lambdas = tuple(self.ridge_lambdas) if self.ridge_lambdas else ridge.DEFAULT_LAMBDAS
        return ridge.RidgeConfig(lambdas, self.ridge_folds, self.ridge_shared_lambda, self.ridge_smoothness,
                                 self.ridge_centre_stimuli)

    def validate(self) -> None:
        """Raise ConfigurationError naming the first setting that is out of range."""
        checks = [
            (self.model in MODEL_KINDS, f"model must be one of {', '.join(MODEL_KINDS)} (got {self.model!r})"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)} (got {self.loss!r})"),
            (self.significance_shifts >= 0, f"significance_shifts must be >= 0 (got {self.significance_shifts})"),
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)} (got {self.method!r})"),
            (self.method != "ridge" or self.model == "linear",
             f"the ridge method fits Linear models only (got {self.model!r}); use --method gradient for it"),
            (self.lr > 0, f"lr must be > 0 (got {self.lr})"),
            (self.max_epochs >= 1, f"max_epochs must be >= 1 (got {self.max_epochs})"),
            (self.patience >= 1, f"patience must be >= 1 (got {self.patience})"),
            (self.temporal_window_size >= 1, f"temporal_window_size must be >= 1 (got {self.temporal_window_size})"),
            (not (self.model == "icnet" and self.spectrogram_input), "ICNet takes audio; drop spectrogram input"),
            (not self.network_kwargs or self.model in NETWORK_ARGUMENTS,
             f"model arguments such as {', '.join(self.network_kwargs)} apply to {', '.join(NETWORK_ARGUMENTS)} "
             "only"),
            (set(self.network_kwargs) <= set(NETWORK_ARGUMENTS.get(self.model, ())),
             f"{self.model} takes only {', '.join(NETWORK_ARGUMENTS.get(self.model, ())) or 'no arguments'} "
             f"(got {', '.join(sorted(self.network_kwargs))})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigurationError(f"fit: {message}")
        if self.method == "ridge":
            self.ridge_config().validate()


@dataclass
class FitResult:
    """The fitted model (best epoch, eval mode), its scores and where it was written."""

    model: nn.Module
    config: FitConfig
    epochs_run: int
    best_epoch: int
    history: list[dict[str, float]]
    test_metrics: dict[str, Any]
    val_metrics: dict[str, Any]
    seconds: float
    folder: Path | None = None
    diagnostics: dict[str, Any] | None = None  # a ridge fit's lambda choices and tuning curves
    feature_seconds: float = 0.0  # of ``seconds``: loading the stimuli and computing fixed front-end features


@dataclass
class FittedModel:
    """A fit written to its folder and opened from there, exactly as the app opens any model folder."""

    result: FitResult
    loaded: LoadedModel


@dataclass
class _Stimulus:
    index: int
    features: torch.Tensor  # audio (1, 1, T_audio) or cached front-end output (1, 1, F, T)
    responses: np.ndarray  # (1, N, R, T) smoothed, NaN-padded
    target: torch.Tensor  # (1, N, 1, T) PSTH


def _split(rs: ResponseSet, cfg: FitConfig) -> dict[str, list[int]]:
    parts = {}
    for name in ("train", "val", "test"):
        given = getattr(cfg, name)
        parts[name] = list(given) if given is not None else list(rs.splits.get(name, []))
    if not parts["train"] or not parts["val"]:
        raise ConfigurationError(
            f"fit: response set {rs.name!r} has no {'train' if not parts['train'] else 'val'} split; give the "
            "stimulus indices explicitly (train, val and test)"
        )
    overlap = (set(parts["train"]) & set(parts["val"])) | (set(parts["train"]) & set(parts["test"]))
    if overlap:
        raise ConfigurationError(f"fit: stimuli {sorted(overlap)} are in the training split and another split")
    return parts


def _build_frontend(cfg: FitConfig, dt_ms: float) -> Frontend:
    return make_wav2spec(cfg.frontend, audio_fs=cfg.audio_fs, dt_ms=dt_ms, **cfg.frontend_kwargs)


_NETWORK_CLASSES: dict[str, type[nn.Module]] = {"nrf": NetworkReceptiveField, "dnet": DNet,
                                                 "convnet2d": ConvNet2D, "transformer": Transformer,
                                                 "statenet": StateNet}


def build_model(cfg: FitConfig, n_neurons: int, dt_ms: float) -> nn.Module:
    """A fresh model for ``cfg`` (seeded by the caller)."""
    if cfg.model == "icnet":
        try:
            return ICNet(cfg.audio_fs, n_neurons, dt_ms=dt_ms, **cfg.icnet_kwargs)
        except TypeError as exc:
            raise ConfigurationError(f"fit: ICNet does not take these arguments: {exc}") from exc
    frontend = _build_frontend(cfg, dt_ms)
    wav2spec = None if cfg.spectrogram_input else frontend
    if cfg.model in NETWORK_ARGUMENTS:
        cls = _NETWORK_CLASSES[cfg.model]
        window = {"temporal_window_size": cfg.temporal_window_size} if cfg.model in WINDOWED_KINDS else {}
        try:
            return cls(frontend.out_channels, **window, out_neurons=n_neurons, wav2spec=wav2spec,
                       **cfg.network_kwargs)
        except TypeError as exc:
            raise ConfigurationError(f"fit: {cfg.model} does not take these arguments: {exc}") from exc
    cls = Linear if cfg.model == "linear" else LinearNonlinear
    return cls(frontend.out_channels, cfg.temporal_window_size, n_neurons, wav2spec=wav2spec)


def _is_fixed(module: nn.Module) -> bool:
    return not any(p.requires_grad for p in module.parameters())


def preferred_method(cfg: FitConfig, dt_ms: float) -> str:
    """How a fit of ``cfg`` is best done when the user leaves it open: "ridge" for a Linear model on a front-end
    with nothing to learn (closed form, seconds, and on NS1 a higher test cc_norm than gradient descent for
    every fixed front-end measured), "gradient" for anything that must learn through its layers."""
    if cfg.model != "linear":
        return "gradient"
    return "ridge" if _is_fixed(_build_frontend(cfg, dt_ms)) else "gradient"


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    valid = torch.isfinite(target)
    gt = torch.where(valid, target, torch.zeros_like(target))
    per = (pred - gt) ** 2 if kind == "mse" else pred - gt * torch.log(torch.clamp(pred, min=1e-8) + 1e-8)
    return (per * valid).sum() / valid.sum().clamp(min=1)


def stimulus_responses(rs: ResponseSet, cfg: FitConfig, stimulus: int, neurons: list[int], n_bins: int
                       ) -> np.ndarray:
    """``(1, N, R, n_bins)`` responses of ``neurons`` to one stimulus as the fit and its scores take them
    (Hann-smoothed when ``cfg.smooth``; NaN where missing)."""
    resp = rs.responses([stimulus], neurons)[..., :n_bins]
    return metrics.smooth_hann5(resp, axis=-1) if cfg.smooth else resp


def prepare_stimuli(rs: ResponseSet, cfg: FitConfig, model: nn.Module, neurons: list[int], indices: list[int],
                    cache: bool, device: torch.device, cancel: CancelFlag | None) -> list[_Stimulus]:
    """The stimuli ``indices`` ready for the model and the scores: their audio (or fixed front-end features
    when ``cache`` or ``cfg.spectrogram_input``), cut to ``cfg.n_bins`` when set, and the responses of
    ``neurons`` (Hann-smoothed when ``cfg.smooth``) with their PSTH target."""
    frontend = frontend_of(model)
    fixed_frontend = _build_frontend(cfg, rs.dt_ms) if cfg.spectrogram_input else None
    items = []
    for s in indices:
        check_cancel(cancel)
        n_bins = min(rs.n_bins(s), cfg.n_bins) if cfg.n_bins else rs.n_bins(s)
        audio = rs.load_stimulus_audio(s, cfg.audio_fs)
        hop = hop_for(cfg.audio_fs, rs.dt_ms)
        wave = audio.waveform[: n_bins * hop].reshape(1, 1, -1).to(device)
        if fixed_frontend is not None:
            with torch.no_grad():
                features = fixed_frontend.to(device).eval()(wave)
        elif cache and frontend is not None:
            with torch.no_grad():
                features = frontend.eval()(wave)
        else:
            features = wave
        resp = stimulus_responses(rs, cfg, s, neurons, n_bins)
        target = torch.as_tensor(metrics.psth(resp), dtype=torch.float32, device=device)
        items.append(_Stimulus(s, features, resp, target))
    return items


def predict_stimuli(model: nn.Module, items: list[_Stimulus], cached: bool) -> list[np.ndarray]:
    """The model's output for each prepared stimulus (from cached features when ``cached``), in eval mode."""
    model.eval()
    with torch.no_grad():
        outs = [(model.from_spectrogram(it.features) if cached else model(it.features)) for it in items]
    return [o.cpu().numpy() for o in outs]


def score(predictions: list[np.ndarray], items: list[_Stimulus], shifts: int = 0) -> dict[str, Any]:
    """Per-neuron cc, cc_norm, cc_max over the given stimuli jointly, and their means over neurons; with
    ``shifts``, each neuron's p-value against that many circularly shifted predictions, and the neurons whose
    cc_max is too low (below :data:`metrics.MIN_CC_MAX`) for their cc_norm to mean much."""
    return _summary(_scores(predictions, [it.responses for it in items], shifts), shifts)


def _scores(predictions: list[np.ndarray], responses: list[np.ndarray], shifts: int) -> dict[str, np.ndarray]:
    pred = metrics.stack_stimuli(predictions)
    resp = metrics.stack_stimuli(responses)
    per = {"cc": metrics.cc(pred, resp), "cc_norm": metrics.cc_norm(pred, resp), "cc_max": metrics.cc_max(resp)}
    if shifts:
        per["p_value"] = metrics.shift_p_values(pred, resp, n_shifts=shifts)
    return per


def _summary(per: dict[str, np.ndarray], shifts: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, values in per.items():
        finite = values[np.isfinite(values)]
        summary[f"{name}_mean"] = float(finite.mean()) if finite.size else math.nan
        summary[f"{name}_median"] = float(np.median(finite)) if finite.size else math.nan
        summary[name] = [None if not np.isfinite(v) else float(v) for v in values]
    if shifts:
        summary["significance_shifts"] = shifts
        summary["unreliable_cc_norm"] = [int(i) for i in np.flatnonzero(~(per["cc_max"] >= metrics.MIN_CC_MAX))]
    return summary


def _score_in_chunks(predictions: list[np.ndarray], responses_of: Callable[[list[int]], list[np.ndarray]],
                     n_neurons: int, shifts: int) -> dict[str, Any]:
    """:func:`score` with the responses read :data:`NEURON_CHUNK` neurons at a time (each neuron's scores are
    its own, the shifts' offsets depend only on the stimuli's lengths): the same numbers in bounded memory."""
    parts = []
    for a in range(0, n_neurons, NEURON_CHUNK):
        chunk = list(range(a, min(a + NEURON_CHUNK, n_neurons)))
        parts.append(_scores([p[:, chunk] for p in predictions], responses_of(chunk), shifts))
    return _summary({k: np.concatenate([part[k] for part in parts]) for k in parts[0]}, shifts)


def fit(
    rs: ResponseSet,
    cfg: FitConfig,
    *,
    out: str | Path | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    publish: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Fit ``cfg.model`` to ``rs``; writes a model folder to ``out`` if given. Raises ``CancelledError`` on cancel.

    ``publish`` receives the fit's curves as they grow, as ``{"training": {...}}`` blocks shaped like the
    metadata's (each epoch's history; a ridge fit's tuning curves once cross-validated), for a live plot."""
    cfg.validate()
    start = time.perf_counter()
    parts = _split(rs, cfg)
    neurons = list(cfg.neurons) if cfg.neurons is not None else list(range(len(rs.neurons)))
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    if cfg.method == "ridge":
        result = _fit_ridge(rs, cfg, parts, neurons, device, progress, cancel, start, publish)
        if out is not None:
            result.folder = save_model(result.model, out, info=_info(result, rs, neurons, parts))
        return result
    model = build_model(cfg, len(neurons), rs.dt_ms).to(device)
    frontend = frontend_of(model)
    cached = cfg.spectrogram_input or (frontend is not None and _is_fixed(frontend) and cfg.model != "icnet")
    report(progress, 0, cfg.max_epochs, "loading stimuli")
    loading = time.perf_counter()
    data = {name: prepare_stimuli(rs, cfg, model, neurons, idx, cached, device, cancel)
            for name, idx in parts.items()}
    feature_seconds = time.perf_counter() - loading
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    order = torch.Generator().manual_seed(cfg.seed)
    val_responses = metrics.stack_stimuli([it.responses for it in data["val"]])  # fixed: stack once, not every epoch
    best_score, best_state, best_epoch, stale = -math.inf, copy.deepcopy(model.state_dict()), 0, 0
    history: list[dict[str, float]] = []
    epoch, published = 0, -math.inf
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        losses = []
        for i in torch.randperm(len(data["train"]), generator=order).tolist():
            check_cancel(cancel)
            item = data["train"][i]
            pred = model.from_spectrogram(item.features) if cached else model(item.features)
            loss = _loss(pred, item.target, cfg.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val_pred = metrics.stack_stimuli(predict_stimuli(model, data["val"], cached))
        val_cc_norm = float(np.nanmean(metrics.cc_norm(val_pred, val_responses)))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_cc_norm": val_cc_norm})
        if np.isfinite(val_cc_norm) and val_cc_norm > best_score:
            best_score, best_state, best_epoch, stale = val_cc_norm, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            stale += 1
        if publish is not None and time.perf_counter() - published >= PUBLISH_INTERVAL_S:
            published = time.perf_counter()
            publish({"training": {"method": "gradient", "history": list(history), "best_epoch": best_epoch,
                                  "epochs_run": epoch}})
        report(progress, epoch, cfg.max_epochs,
               f"epoch {epoch}: loss {history[-1]['train_loss']:.4g}, val cc_norm {val_cc_norm:.3f}")
        if stale >= cfg.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    val_metrics = score(predict_stimuli(model, data["val"], cached), data["val"])
    test_metrics = score(predict_stimuli(model, data["test"], cached), data["test"],
                         cfg.significance_shifts) if data["test"] else {}
    seconds = time.perf_counter() - start
    result = FitResult(model.cpu(), cfg, epoch, best_epoch, history, test_metrics, val_metrics, seconds,
                       feature_seconds=feature_seconds)
    if out is not None:
        result.folder = save_model(result.model, out, info=_info(result, rs, neurons, parts))
    return result


def _fit_ridge(rs: ResponseSet, cfg: FitConfig, parts: dict[str, list[int]], neurons: list[int],
               device: torch.device, progress: ProgressCallback | None, cancel: CancelFlag | None,
               start: float, publish: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    """A Linear model in closed form on the front-end as built (learnable ones at their initial values): the
    training and validation stimuli are the cross-validation pool, the test stimuli are only scored."""
    model = build_model(cfg, len(neurons), rs.dt_ms).to(device)
    report(progress, 0, 1, "loading stimuli")
    loading = time.perf_counter()
    data = {name: prepare_stimuli(rs, cfg, model, [], idx, True, device, cancel) for name, idx in parts.items()}
    feature_seconds = time.perf_counter() - loading
    pool = data["train"] + data["val"]

    def responses_of(items: list[_Stimulus]) -> Callable[[list[int]], list[np.ndarray]]:
        def read(chunk: list[int]) -> list[np.ndarray]:
            check_cancel(cancel)
            chosen = [neurons[i] for i in chunk]
            return [stimulus_responses(rs, cfg, it.index, chosen, it.target.shape[-1]) for it in items]
        return read

    frames = [it.features[0, 0].double().cpu().numpy() for it in pool]
    solved = ridge.fit_ridge_in_chunks(frames, responses_of(pool), len(neurons), cfg.temporal_window_size,
                                       cfg.ridge_config(), progress, cancel, cfg.device, NEURON_CHUNK)
    diagnostics = {
        "method": "ridge",
        "lambdas": solved.lambdas.tolist(),
        "lambda_unit": "mean eigenvalue of the standardised (and smoothness-whitened) X'X of each fit",
        "chosen_lambda": solved.chosen.tolist(),
        "cv_cc_norm": [[None if not np.isfinite(v) else float(v) for v in row] for row in solved.cv_cc_norm],
        "cv_cc_norm_pooled": [None if not np.isfinite(v) else float(v) for v in solved.pooled_curve],
        "folds": [[pool[j].index for j in fold] for fold in solved.folds],
        "unfit_neurons": [rs.neurons[neurons[n]].id for n in solved.unfit],
        "shared_lambda": cfg.ridge_shared_lambda,
        "smoothness": cfg.ridge_smoothness,
        "centre_stimuli": cfg.ridge_centre_stimuli,
        "solver": f"float64 closed form from per-stimulus sufficient statistics (cross-products on "
                  f"{cfg.device}; one eigendecomposition per fold and missing-bin pattern, on the CPU)",
    }
    if publish is not None:
        publish({"training": {"method": "ridge", "ridge": diagnostics}})
    _set_linear_weights(model, solved.weights)
    model = model.cpu().eval()
    val = [dataclasses.replace(it, features=it.features.cpu()) for it in data["val"]]
    val_metrics = _score_in_chunks(predict_stimuli(model, val, True), responses_of(val), len(neurons), 0)
    test = [dataclasses.replace(it, features=it.features.cpu()) for it in data["test"]]
    test_metrics = (_score_in_chunks(predict_stimuli(model, test, True), responses_of(test), len(neurons),
                                     cfg.significance_shifts) if test else {})
    return FitResult(model, cfg, 0, 0, [], test_metrics, val_metrics, time.perf_counter() - start,
                     diagnostics=diagnostics, feature_seconds=feature_seconds)


def _set_linear_weights(model: nn.Module, weights: ridge.RidgeWeights) -> None:
    """Write closed-form STRFs into a Linear model: kernel and bias, BatchNorm the identity."""
    conv = model.readout.strf.kernel
    bn = model.readout.bn
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(weights.strfs[:, None], dtype=conv.weight.dtype))
        conv.bias.copy_(torch.as_tensor(weights.intercepts, dtype=conv.bias.dtype))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(math.sqrt(1.0 + bn.eps))  # (x - 0) / sqrt(1 + eps) * sqrt(1 + eps) = x
        bn.bias.zero_()


def fit_into_folder(
    rs: ResponseSet,
    cfg: FitConfig,
    target: OutputFolder,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    publish: Callable[[dict[str, Any]], None] | None = None,
) -> FittedModel:
    """Fit, write ``target`` and open it back; a cancelled or failed fit leaves nothing behind there."""
    try:
        result = fit(rs, cfg, out=target.path, progress=progress, cancel=cancel, publish=publish)
        check_cancel(cancel)
        loaded = load_model(result.folder)
        check_cancel(cancel)
    except BaseException:
        target.discard()
        raise
    return FittedModel(result, loaded)


def _info(result: FitResult, rs: ResponseSet, neurons: list[int], parts: dict[str, list[int]]) -> dict[str, Any]:
    cfg = result.config
    info: dict[str, Any] = {
        "neurons": [rs.neurons[i].id for i in neurons],
        "dataset": {"name": rs.name, "path_hint": rs.source.name, "dt_ms": rs.dt_ms},
        "split": parts,
        "metrics": {"val": result.val_metrics, "test": result.test_metrics},
        "training": {
            **{k: v for k, v in asdict(cfg).items() if k not in ("train", "val", "test")},
            "optimizer": "AdamW",
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "seconds": round(result.seconds, 2),
            "history": result.history,
        },
    }
    if result.diagnostics is not None:
        info["training"]["optimizer"] = None
        info["training"]["ridge"] = result.diagnostics
    if cfg.spectrogram_input:
        info["spectrogram"] = {"kind": cfg.frontend, "kwargs": cfg.frontend_kwargs, "audio_fs": cfg.audio_fs}
    return info
