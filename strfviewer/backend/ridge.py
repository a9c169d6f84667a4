"""Linear STRFs in closed form: ridge (optionally Tikhonov-smooth) regression with cross-validation over stimuli.

This is how most labs fit STRFs (mTRF-Toolbox, STRFPAK): deterministic, seconds, smooth. For each stimulus the
front-end frames ``(F, T)`` become a lagged design matrix with one row per response bin and one column per
(band, lag), zeros before the stimulus starts (the causal STRF convolution's padding). Per neuron,

    w = argmin |y - X w|^2 + lam * w' P w,   P = I + smoothness * (D_lag' D_lag + D_band' D_band)

on centred, unit-variance columns; by default each stimulus's columns and targets are centred on that
stimulus's own means, so differences in mean rate between stimuli do not pull the STRF (on NS1 this lifts
the test cc_norm of a mel STRF from 0.544 to 0.578). ``P = L L'`` turns it into plain ridge on ``X L^-T``, whose one
eigendecomposition serves the whole ``lam`` grid. ``lam`` is given relative to the mean eigenvalue of ``X'X``,
so one grid suits any recording length. Bins where a neuron's response is missing (NaN) are left out of that
neuron's fit: neurons with the same missing bins share one decomposition.

Cross-validation holds out whole stimuli (folds of the training and validation stimuli; the caller never
passes test stimuli), scores each held-out prediction with cc_norm, and picks one ``lam`` per neuron (or one
shared by all) before the final fit on every training stimulus. All of it in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import metrics
from .errors import ConfigurationError
from .jobs import CancelFlag, ProgressCallback, check_cancel, report

DEFAULT_LAMBDAS = tuple(float(v) for v in np.logspace(-4, 3, 15))  # relative to the mean eigenvalue of X'X
DEFAULT_FOLDS = 5


@dataclass
class RidgeConfig:
    """How a ridge fit chooses its regularisation; stored in the model's metadata."""

    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    folds: int = DEFAULT_FOLDS
    shared_lambda: bool = False
    smoothness: float = 0.0
    centre_stimuli: bool = True  # fit within-stimulus fluctuations (see _Statistics)

    def validate(self) -> None:
        if not self.lambdas or any(not np.isfinite(v) or v <= 0 for v in self.lambdas):
            raise ConfigurationError(f"ridge: every lambda must be a positive number (got {list(self.lambdas)})")
        if self.folds < 2:
            raise ConfigurationError(f"ridge: cross-validation needs at least 2 folds (got {self.folds})")
        if not np.isfinite(self.smoothness) or self.smoothness < 0:
            raise ConfigurationError(f"ridge: smoothness must be >= 0 (got {self.smoothness})")


@dataclass
class RidgeStimulus:
    """One stimulus: its front-end frames ``(F, T)`` and the neurons' responses ``(1, N, R, T)`` (NaN: missing)."""

    frames: np.ndarray
    responses: np.ndarray

    @property
    def target(self) -> np.ndarray:
        """The PSTH ``(T, N)`` the fit regresses on."""
        return metrics.psth(self.responses)[0, :, 0, :].T


@dataclass
class RidgeWeights:
    """STRFs ``(N, F, lags)`` (column ``lags - 1`` is lag 0, as in the STRF convolution) and intercepts ``(N,)``."""

    strfs: np.ndarray
    intercepts: np.ndarray

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Rates ``(N, T)`` for frames ``(F, T)``."""
        n, f, lags = self.strfs.shape
        return (lagged(frames, lags) @ self.strfs.reshape(n, f * lags).T + self.intercepts).T


@dataclass
class RidgeFit:
    """The final weights, the lambda each neuron got and the cross-validated tuning curves."""

    weights: RidgeWeights
    lambdas: np.ndarray  # the relative grid
    chosen: np.ndarray  # (N,) relative lambda per neuron
    cv_cc_norm: np.ndarray  # (n_lambdas, N) held-out cc_norm of each lambda, NaN where undefined
    folds: list[list[int]]  # positions (in the stimuli given) of each fold's held-out stimuli
    unfit: list[int] = field(default_factory=list)  # neurons without a valid training bin: zero STRF

    @property
    def pooled_curve(self) -> np.ndarray:
        """Mean held-out cc_norm over neurons for each lambda."""
        with np.errstate(invalid="ignore"):
            return np.array([np.nanmean(row) if np.isfinite(row).any() else np.nan for row in self.cv_cc_norm])


def lagged(frames: np.ndarray, lags: int) -> np.ndarray:
    """Design matrix ``(T, F * lags)``: row ``t``, column ``f * lags + k`` holds ``frames[f, t - (lags - 1) + k]``
    (zero before the start), so its weights reshape to the STRF convolution's kernel ``(F, lags)``."""
    f, t = frames.shape
    padded = np.concatenate([np.zeros((f, lags - 1)), np.asarray(frames, dtype=np.float64)], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, lags, axis=1)  # (F, T, lags)
    return np.ascontiguousarray(windows.transpose(1, 0, 2).reshape(t, f * lags))


def smoothness_penalty(bands: int, lags: int, smoothness: float) -> np.ndarray:
    """``P = I + smoothness * (D_lag' D_lag + D_band' D_band)``: first differences along lag and band."""
    size = bands * lags
    penalty = np.eye(size)
    if smoothness > 0:
        grid = np.arange(size).reshape(bands, lags)
        for a, b in ((grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :])):
            diff = np.zeros((a.size, size))
            diff[np.arange(a.size), a.reshape(-1)] = -1.0
            diff[np.arange(a.size), b.reshape(-1)] = 1.0
            penalty += smoothness * diff.T @ diff
    return penalty


@dataclass
class _Sums:
    """Sufficient statistics of one stimulus's rows for one group of neurons: the row count; sums of the
    features and targets as fitted (shifted by a common reference so that centring later cancels little, or
    centred on the stimulus's own means), their cross-products ``X'X`` and ``X'Y``; and the raw sums that
    place the intercept. A fold's statistics are the sums over its stimuli."""

    count: int
    x: np.ndarray  # (D,)
    xx: np.ndarray  # (D, D)
    xy: np.ndarray  # (D, N_group)
    y: np.ndarray  # (N_group,)
    x_level: np.ndarray  # (D,) raw
    y_level: np.ndarray  # (N_group,) raw

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(self.count + other.count, self.x + other.x, self.xx + other.xx, self.xy + other.xy,
                     self.y + other.y, self.x_level + other.x_level, self.y_level + other.y_level)


class _Solver:
    """Ridge solutions for every lambda of one group of neurons, from the statistics of its training rows.

    Columns are centred and scaled to unit variance (constant ones keep scale 1 and get zero weight), then
    whitened by the smoothness penalty (``unmix`` = L^-T); one eigendecomposition of the resulting Gram matrix
    serves the whole grid."""

    def __init__(self, sums: _Sums, unmix: np.ndarray, magnitude: float) -> None:
        n = sums.count
        offset = sums.x / n
        centred = sums.xx - n * np.outer(offset, offset)
        std = np.sqrt(np.clip(np.diag(centred), 0.0, None) / n)
        self.scale = np.where(std > 1e-12 * max(1.0, magnitude), std, 1.0)
        self.mean = sums.x_level / n  # the intercept makes the mean prediction the mean target
        self.unmix = unmix
        gram = unmix.T @ (centred / np.outer(self.scale, self.scale)) @ unmix
        self.eigenvalues, self.eigenvectors = np.linalg.eigh((gram + gram.T) / 2)
        self.eigenvalues = np.clip(self.eigenvalues, 0.0, None)
        mean_eigenvalue = float(self.eigenvalues.mean()) if self.eigenvalues.size else 0.0
        self.unit = mean_eigenvalue if mean_eigenvalue > 0 else 1.0
        self.y_mean = sums.y_level / n
        cross = (sums.xy - np.outer(sums.x, sums.y / n)) / self.scale[:, None]  # Xc' yc on scaled columns
        self.projected = self.eigenvectors.T @ (unmix.T @ cross)  # (D, N)

    def solve(self, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weights ``(n_lambdas, D, N)`` on raw features, intercepts ``(n_lambdas, N)``)."""
        shrink = 1.0 / (self.eigenvalues[None, :] + lambdas[:, None] * self.unit)  # (n_lambdas, D)
        whitened = self.eigenvectors @ (shrink[:, :, None] * self.projected[None])  # (n_lambdas, D, N)
        weights = (self.unmix @ whitened) / self.scale[None, :, None]
        intercepts = self.y_mean[None, :] - self.mean @ weights
        return weights, intercepts


def _cross_products(x: np.ndarray, y: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """``X'X`` and ``X'Y`` in float64 on ``device`` (torch): the one part of a fit whose cost grows with the
    rows times the square of the columns, so the part a GPU takes over."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).to(device)
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).to(device)
    return (xt.T @ xt).cpu().numpy(), (xt.T @ yt).cpu().numpy()


class _Statistics:
    """Every stimulus's :class:`_Sums` for every group of neurons sharing a pattern of valid bins, computed
    once: each fold's fit (and the final one) adds up those of its stimuli instead of revisiting the rows.

    With ``centre_stimuli`` each stimulus's features and targets are centred on their own means, so the STRF
    is fitted to the response's fluctuations within each stimulus and not pulled by differences in mean rate
    between stimuli (the gradient fit's per-stimulus BatchNorm does the same); the intercept still comes from
    the raw means."""

    def __init__(self, designs: list[np.ndarray], targets: list[np.ndarray], centre_stimuli: bool,
                 device: str = "cpu") -> None:
        n_neurons = targets[0].shape[1]
        valid = [np.isfinite(t) for t in targets]
        patterns: dict[bytes, list[int]] = {}
        for n in range(n_neurons):
            key = b"".join(np.packbits(v[:, n]).tobytes() for v in valid)
            patterns.setdefault(key, []).append(n)
        self.groups = list(patterns.values())
        self.n_neurons, self.size = n_neurons, designs[0].shape[1]
        all_rows = np.concatenate(designs)
        self.reference = all_rows.mean(axis=0) if all_rows.shape[0] else np.zeros(self.size)
        self.magnitude = float(np.abs(all_rows).max(initial=0.0))
        self.sums: list[list[_Sums]] = []  # [group][stimulus]
        for group in self.groups:
            per_stimulus = []
            for design, target, ok in zip(designs, targets, valid, strict=True):
                rows = ok[:, group[0]]
                raw_x, raw_y = design[rows], target[rows][:, group]
                if centre_stimuli and raw_x.shape[0]:
                    x, y = raw_x - raw_x.mean(axis=0), raw_y - raw_y.mean(axis=0)
                else:
                    x, y = raw_x - self.reference, raw_y
                xx, xy = _cross_products(x, y, device)
                per_stimulus.append(_Sums(int(rows.sum()), x.sum(axis=0), xx, xy, y.sum(axis=0),
                                          raw_x.sum(axis=0), raw_y.sum(axis=0)))
            self.sums.append(per_stimulus)

    def solve(self, stimuli: list[int], lambdas: np.ndarray, unmix: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Weights ``(n_lambdas, D, N)``, intercepts ``(n_lambdas, N)`` and the neurons left unfit (fewer than
        two valid bins) for a fit on ``stimuli`` (positions)."""
        weights = np.zeros((lambdas.shape[0], self.size, self.n_neurons))
        intercepts = np.zeros((lambdas.shape[0], self.n_neurons))
        unfit: list[int] = []
        for group, per_stimulus in zip(self.groups, self.sums, strict=True):
            total = per_stimulus[stimuli[0]]
            for j in stimuli[1:]:
                total = total + per_stimulus[j]
            if total.count < 2:
                unfit.extend(group)
                continue
            w, b = _Solver(total, unmix, self.magnitude).solve(lambdas)
            weights[:, :, group], intercepts[:, group] = w, b
        return weights, intercepts, sorted(unfit)


def fold_positions(n_stimuli: int, folds: int) -> list[list[int]]:
    """Whole stimuli dealt round-robin into ``min(folds, n_stimuli)`` folds."""
    if n_stimuli < 2:
        raise ConfigurationError(f"ridge: cross-validation needs at least 2 training stimuli (got {n_stimuli})")
    k = min(folds, n_stimuli)
    return [list(range(i, n_stimuli, k)) for i in range(k)]


@dataclass
class _Tuned:
    """One chunk of neurons fitted at every lambda: weights ``(n_lambdas, D, n)``, intercepts ``(n_lambdas, n)``,
    held-out cc_norm ``(n_lambdas, n)`` and the chunk's neurons left unfit (chunk positions)."""

    weights: np.ndarray
    intercepts: np.ndarray
    cv: np.ndarray
    unfit: list[int]


def fit_ridge(stimuli: list[RidgeStimulus], lags: int, config: RidgeConfig | None = None,
              progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
              device: str = "cpu") -> RidgeFit:
    """Cross-validate the lambda grid over ``stimuli`` (all of them training material), then fit on all; the
    cross-products are computed on ``device`` (a torch device name), the rest on the CPU."""
    if not stimuli:
        raise ConfigurationError("ridge: no training stimuli")
    n_neurons = stimuli[0].responses.shape[1]
    return fit_ridge_in_chunks([s.frames for s in stimuli], lambda chunk: [s.responses[:, chunk] for s in stimuli],
                               n_neurons, lags, config, progress, cancel, device, chunk_size=max(1, n_neurons))


def fit_ridge_in_chunks(frames: list[np.ndarray], responses_of: Callable[[list[int]], list[np.ndarray]],
                        n_neurons: int, lags: int, config: RidgeConfig | None = None,
                        progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
                        device: str = "cpu", chunk_size: int = 256) -> RidgeFit:
    """:func:`fit_ridge` with the responses read ``chunk_size`` neurons at a time: ``responses_of(neurons)``
    gives each stimulus's ``(1, n, R, T)`` responses of those neurons. Every neuron's fit is its own (the
    designs are shared), so the result is the same as one pass over all neurons, in memory that does not grow
    with the number of neurons: a probe's thousands of units fit where their per-trial responses would not."""
    config = config or RidgeConfig()
    config.validate()
    if not frames:
        raise ConfigurationError("ridge: no training stimuli")
    bands = frames[0].shape[0]
    lambdas = np.asarray(config.lambdas, dtype=np.float64)
    unmix = np.linalg.inv(np.linalg.cholesky(smoothness_penalty(bands, lags, config.smoothness))).T
    designs = [lagged(f, lags) for f in frames]
    folds = fold_positions(len(frames), config.folds)
    chunks = [list(range(a, min(a + chunk_size, n_neurons))) for a in range(0, n_neurons, chunk_size)] or [[]]
    steps = len(chunks) * (len(folds) + 1)
    tuned = []
    for c, chunk in enumerate(chunks):
        where = f"neurons {chunk[0] + 1}-{chunk[-1] + 1} of {n_neurons}, " if len(chunks) > 1 and chunk else ""

        def step(i: int, message: str, c: int = c, where: str = where) -> None:
            report(progress, c * (len(folds) + 1) + i, steps, f"ridge: {where}{message}")

        tuned.append(_tune(designs, responses_of(chunk), lambdas, unmix, folds, config, device, cancel, step))
    weights = np.concatenate([t.weights for t in tuned], axis=2)
    intercepts = np.concatenate([t.intercepts for t in tuned], axis=1)
    cv = np.concatenate([t.cv for t in tuned], axis=1)
    unfit = sorted(chunk[i] for t, chunk in zip(tuned, chunks, strict=True) for i in t.unfit)
    chosen_index = _choose(cv, config.shared_lambda)
    neurons = np.arange(weights.shape[2])
    final_w = weights[chosen_index, :, neurons]  # (N, D)
    final_b = intercepts[chosen_index, neurons]
    report(progress, steps, steps, "ridge: done")
    return RidgeFit(RidgeWeights(final_w.reshape(-1, bands, lags), final_b), lambdas, lambdas[chosen_index], cv,
                    folds, unfit)


def _tune(designs: list[np.ndarray], responses: list[np.ndarray], lambdas: np.ndarray, unmix: np.ndarray,
          folds: list[list[int]], config: RidgeConfig, device: str, cancel: CancelFlag | None,
          step: Callable[[int, str], None]) -> _Tuned:
    """Cross-validate and fit one chunk of neurons at every lambda."""
    targets = [metrics.psth(r)[0, :, 0, :].T for r in responses]
    statistics = _Statistics(designs, targets, config.centre_stimuli, device)
    n_neurons, longest = statistics.n_neurons, max(d.shape[0] for d in designs)
    # Every held-out prediction, laid out as the scores take them: (lambda, stimulus, neuron, 1, bin).
    held_out = np.full((lambdas.shape[0], len(designs), n_neurons, 1, longest), np.nan, dtype=np.float32)
    for i, fold in enumerate(folds):
        check_cancel(cancel)
        step(i, f"cross-validation fold {i + 1} of {len(folds)}")
        keep = [j for j in range(len(designs)) if j not in fold]
        weights, intercepts, _ = statistics.solve(keep, lambdas, unmix)
        flat = weights.transpose(1, 0, 2).reshape(weights.shape[1], -1)  # (D, n_lambdas * N): one matmul
        for j in fold:
            rates = (designs[j] @ flat).reshape(-1, *weights.shape[::2]) + intercepts  # (T, n_lambdas, N)
            held_out[:, j, :, 0, : rates.shape[0]] = rates.transpose(1, 2, 0)
    cv = metrics.cc_norm_many(held_out, metrics.stack_stimuli(responses))
    step(len(folds), "final fit on all training stimuli")
    weights, intercepts, unfit = statistics.solve(list(range(len(designs))), lambdas, unmix)
    return _Tuned(weights, intercepts, cv, unfit)


def _choose(cv: np.ndarray, shared: bool) -> np.ndarray:
    """Index of the best lambda per neuron (or one for all): the highest held-out cc_norm; where no lambda has
    a defined score, the strongest regularisation."""
    strongest = cv.shape[0] - 1
    if shared:
        with np.errstate(invalid="ignore"):
            pooled = np.array([np.nanmean(row) if np.isfinite(row).any() else -np.inf for row in cv])
        best = int(np.argmax(pooled)) if np.isfinite(pooled).any() else strongest
        return np.full(cv.shape[1], best)
    filled = np.where(np.isfinite(cv), cv, -np.inf)
    best = np.argmax(filled, axis=0)
    return np.where(np.isfinite(filled).any(axis=0), best, strongest)
