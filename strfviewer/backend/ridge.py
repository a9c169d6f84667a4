"""Linear STRFs in closed form: ridge (optionally Tikhonov-smooth) regression with cross-validation over stimuli.

This is how most labs fit STRFs (mTRF-Toolbox, STRFPAK): deterministic, seconds, smooth. For each stimulus the
front-end frames ``(F, T)`` become a lagged design matrix with one row per response bin and one column per
(band, lag), zeros before the stimulus starts (the causal STRF convolution's padding). Per neuron,

    w = argmin |y - X w|^2 + lam * w' P w,   P = I + smoothness * (D_lag' D_lag + D_band' D_band)

on centred, unit-variance columns. ``P = L L'`` turns it into plain ridge on ``X L^-T``, whose one
eigendecomposition serves the whole ``lam`` grid. ``lam`` is given relative to the mean eigenvalue of ``X'X``,
so one grid suits any recording length. Bins where a neuron's response is missing (NaN) are left out of that
neuron's fit: neurons with the same missing bins share one decomposition.

Cross-validation holds out whole stimuli (folds of the training and validation stimuli; the caller never
passes test stimuli), scores each held-out prediction with cc_norm, and picks one ``lam`` per neuron (or one
shared by all) before the final fit on every training stimulus. All of it in float64.
"""

from __future__ import annotations

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


class _Solver:
    """Ridge solutions of one design for every lambda, for the neurons whose valid rows are ``rows``."""

    def __init__(self, design: np.ndarray, rows: np.ndarray, unmix: np.ndarray) -> None:
        x = design[rows]
        self.mean = x.mean(axis=0)
        scale = x.std(axis=0)
        self.scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(x).max(initial=0.0))), scale, 1.0)
        self.unmix = unmix  # L^-T: from the whitened penalty back to the standardised weights
        z = ((x - self.mean) / self.scale) @ unmix
        self.z = z
        gram = z.T @ z
        self.eigenvalues, self.eigenvectors = np.linalg.eigh(gram)
        self.eigenvalues = np.clip(self.eigenvalues, 0.0, None)
        self.unit = float(self.eigenvalues.mean()) if self.eigenvalues.size else 1.0
        self.unit = self.unit if self.unit > 0 else 1.0

    def solve(self, targets: np.ndarray, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weights ``(n_lambdas, D, N)`` on raw features, intercepts ``(n_lambdas, N)``) for ``targets`` (rows, N)."""
        y_mean = targets.mean(axis=0)
        projected = self.eigenvectors.T @ (self.z.T @ (targets - y_mean))  # (D, N)
        shrink = 1.0 / (self.eigenvalues[None, :] + lambdas[:, None] * self.unit)  # (n_lambdas, D)
        whitened = self.eigenvectors @ (shrink[:, :, None] * projected[None])  # (n_lambdas, D, N)
        weights = (self.unmix @ whitened) / self.scale[None, :, None]
        intercepts = y_mean[None, :] - self.mean @ weights
        return weights, intercepts


def _solve_all(designs: list[np.ndarray], targets: list[np.ndarray], lambdas: np.ndarray,
               unmix: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Weights ``(n_lambdas, D, N)`` and intercepts for all neurons, one decomposition per pattern of valid bins."""
    design, target = np.concatenate(designs), np.concatenate(targets)
    valid = np.isfinite(target)
    n_lambdas, size, neurons = lambdas.shape[0], design.shape[1], target.shape[1]
    weights = np.zeros((n_lambdas, size, neurons))
    intercepts = np.zeros((n_lambdas, neurons))
    unfit = []
    patterns: dict[bytes, list[int]] = {}
    for n in range(neurons):
        patterns.setdefault(np.packbits(valid[:, n]).tobytes(), []).append(n)
    for group in patterns.values():
        rows = valid[:, group[0]]
        if rows.sum() < 2:
            unfit.extend(group)
            continue
        w, b = _Solver(design, rows, unmix).solve(target[rows][:, group], lambdas)
        weights[:, :, group], intercepts[:, group] = w, b
    return weights, intercepts, sorted(unfit)


def fold_positions(n_stimuli: int, folds: int) -> list[list[int]]:
    """Whole stimuli dealt round-robin into ``min(folds, n_stimuli)`` folds."""
    if n_stimuli < 2:
        raise ConfigurationError(f"ridge: cross-validation needs at least 2 training stimuli (got {n_stimuli})")
    k = min(folds, n_stimuli)
    return [list(range(i, n_stimuli, k)) for i in range(k)]


def fit_ridge(stimuli: list[RidgeStimulus], lags: int, config: RidgeConfig | None = None,
              progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> RidgeFit:
    """Cross-validate the lambda grid over ``stimuli`` (all of them training material), then fit on all."""
    config = config or RidgeConfig()
    config.validate()
    if not stimuli:
        raise ConfigurationError("ridge: no training stimuli")
    bands = stimuli[0].frames.shape[0]
    lambdas = np.asarray(config.lambdas, dtype=np.float64)
    unmix = np.linalg.inv(np.linalg.cholesky(smoothness_penalty(bands, lags, config.smoothness))).T
    designs = [lagged(s.frames, lags) for s in stimuli]
    targets = [s.target for s in stimuli]
    folds = fold_positions(len(stimuli), config.folds)
    held_out: list[np.ndarray | None] = [None] * len(stimuli)  # (n_lambdas, N, T) per stimulus
    for i, fold in enumerate(folds):
        check_cancel(cancel)
        report(progress, i, len(folds) + 1, f"ridge: cross-validation fold {i + 1} of {len(folds)}")
        keep = [j for j in range(len(stimuli)) if j not in fold]
        weights, intercepts, _ = _solve_all([designs[j] for j in keep], [targets[j] for j in keep], lambdas, unmix)
        flat = weights.transpose(1, 0, 2).reshape(weights.shape[1], -1)  # (D, n_lambdas * N): one matmul
        for j in fold:
            rates = (designs[j] @ flat).reshape(-1, *weights.shape[::2]) + intercepts  # (T, n_lambdas, N)
            held_out[j] = rates.transpose(1, 2, 0)
    responses = metrics.stack_stimuli([s.responses for s in stimuli])
    power = metrics.signal_power(responses)
    predictions = metrics.stack_stimuli([p.reshape(1, -1, 1, p.shape[-1]) for p in held_out])  # (S, L * N, 1, T)
    predictions = predictions.reshape(len(stimuli), lambdas.shape[0], -1, 1, predictions.shape[-1])
    cv = metrics.cc_norm_many(predictions.transpose(1, 0, 2, 3, 4), responses, power)
    chosen_index = _choose(cv, config.shared_lambda)
    report(progress, len(folds), len(folds) + 1, "ridge: final fit on all training stimuli")
    weights, intercepts, unfit = _solve_all(designs, targets, lambdas, unmix)
    neurons = np.arange(weights.shape[2])
    final_w = weights[chosen_index, :, neurons]  # (N, D)
    final_b = intercepts[chosen_index, neurons]
    report(progress, len(folds) + 1, len(folds) + 1, "ridge: done")
    return RidgeFit(RidgeWeights(final_w.reshape(-1, bands, lags), final_b), lambdas, lambdas[chosen_index], cv,
                    folds, unfit)


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
