"""How well a prediction matches recorded responses: cc, cc_norm (Schoppe et al. 2016), cc_max (Hsu et al. 2004).

Predictions are ``(S, N, 1, T)`` and responses ``(S, N, R, T)`` (stimuli, neurons, repeats, bins), NaN-padded;
negative integers also mean "missing". Every score is per neuron over all given stimuli jointly (their valid
bins concatenated) and is NaN where it is undefined, never an exception.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np

_TINY = 1e-12


def _as_float(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 4:
        raise ValueError(f"{name} must have 4 axes (stimuli, neurons, repeats, bins); got shape {arr.shape}")
    out = arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.signedinteger):
        out[arr < 0] = np.nan
    return out


def _check_pair(pred: Any, resp: Any) -> tuple[np.ndarray, np.ndarray]:
    p, r = _as_float(pred, "prediction"), _as_float(resp, "responses")
    if p.shape[2] != 1:
        raise ValueError(f"prediction must have a single repeat axis entry (S, N, 1, T); got shape {p.shape}")
    if (p.shape[0], p.shape[1], p.shape[3]) != (r.shape[0], r.shape[1], r.shape[3]):
        raise ValueError(f"prediction {p.shape} and responses {r.shape} disagree on stimuli, neurons or bins")
    return p, r


def _nanmean(x: np.ndarray, axis: int | tuple[int, ...], keepdims: bool = False) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN slices give NaN by design
        return np.nanmean(x, axis=axis, keepdims=keepdims)


def psth(resp: Any) -> np.ndarray:
    """Mean over repeats (axis 2, kept) ignoring missing values; bins with no recorded repeat are NaN."""
    return _nanmean(_as_float(resp, "responses"), axis=2, keepdims=True)


def _flat_pairs(pred: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron ``(N, S*T)`` prediction and PSTH, and the mask of positions where both are finite."""
    mean = _nanmean(resp, axis=2)  # (S, N, T)
    x = pred[:, :, 0].transpose(1, 0, 2).reshape(pred.shape[1], -1)
    y = mean.transpose(1, 0, 2).reshape(pred.shape[1], -1)
    return x, y, np.isfinite(x) & np.isfinite(y)


def _moments(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-row count, Bessel-corrected covariance and variances over the valid positions."""
    n = valid.sum(axis=1).astype(np.float64)
    safe_n = np.maximum(n, 1)
    xv, yv = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    xc = np.where(valid, xv - (xv.sum(1) / safe_n)[:, None], 0.0)
    yc = np.where(valid, yv - (yv.sum(1) / safe_n)[:, None], 0.0)
    dof = np.maximum(n - 1, 1)
    return n, (xc * yc).sum(1) / dof, (xc**2).sum(1) / dof, (yc**2).sum(1) / dof


def cc(pred: Any, resp: Any) -> np.ndarray:
    """Pearson correlation of prediction and PSTH per neuron; NaN with < 2 bins or a constant side."""
    x, y, valid = _flat_pairs(*_check_pair(pred, resp))
    n, cov, var_x, var_y = _moments(x, y, valid)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.sqrt(var_x * var_y)
    out[(n < 2) | (np.sqrt(var_x * var_y) * np.maximum(n - 1, 1) < _TINY)] = np.nan
    return out


def signal_power(resp: Any) -> np.ndarray:
    """Sahani & Linden (2003) signal power per neuron, length-weighted over stimuli; NaN if undefined.

    Per stimulus, on the bins where every used repeat is recorded (repeats with no data are dropped):
    ``SP = (R var_t(psth) - mean_r var_t(r)) / (R - 1)``; needs R >= 2 repeats and T >= 2 bins.
    """
    r = _as_float(resp, "responses")
    n_stim, n_neurons = r.shape[:2]
    total = np.zeros(n_neurons)
    weight = np.zeros(n_neurons)
    for s in range(n_stim):
        for j in range(n_neurons):
            rows = r[s, j]
            rows = rows[np.isfinite(rows).any(axis=1)]
            bins = np.isfinite(rows).all(axis=0)
            rows = rows[:, bins]
            n_rep, n_bins = rows.shape
            if n_rep < 2 or n_bins < 2:
                continue
            total_power = rows.var(axis=1, ddof=1).mean()
            sp = (n_rep * rows.mean(axis=0).var(ddof=1) - total_power) / (n_rep - 1)
            total[j] += n_bins * sp
            weight[j] += n_bins
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.maximum(weight, 1), np.nan)


def cc_norm(pred: Any, resp: Any) -> np.ndarray:
    """Normalised correlation (Schoppe et al. 2016): ``cov(pred, psth) / sqrt(var(pred) * SP)`` per neuron.

    Bessel-corrected moments over all valid bins; may exceed 1 slightly on noisy data. NaN where the signal
    power is not positive, the prediction is constant, or fewer than two bins are valid. With a single
    repeat it is the plain correlation.
    """
    p, r = _check_pair(pred, resp)
    if r.shape[2] == 1:
        return cc(p, r)
    x, y, valid = _flat_pairs(p, r)
    n, cov, var_x, _ = _moments(x, y, valid)
    sp = signal_power(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.sqrt(var_x * sp)
    out[(n < 2) | (var_x < _TINY) | ~np.isfinite(sp) | (sp <= 0)] = np.nan
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > _TINY else np.nan


def cc_max(resp: Any, n_splits: int = 126) -> np.ndarray:
    """Ceiling of the correlation a perfect model could reach (Hsu et al. 2004), per neuron.

    Per stimulus: the mean correlation between the PSTHs of complementary half-splits of the repeats (the
    first ``min(C/2, n_splits)`` lexicographic splits), Spearman-Brown corrected ``sqrt(2 rho / (1 + rho))``;
    stimuli with rho <= 0 are dropped; length-weighted over stimuli. NaN with fewer than two repeats.
    """
    r = _as_float(resp, "responses")
    n_stim, n_neurons = r.shape[:2]
    out = np.full(n_neurons, np.nan)
    for j in range(n_neurons):
        total, weight = 0.0, 0
        for s in range(n_stim):
            rows = r[s, j]
            rows = rows[np.isfinite(rows).any(axis=1)]
            rows = rows[:, np.isfinite(rows).all(axis=0)]
            n_rep = rows.shape[0] - rows.shape[0] % 2
            if n_rep < 2 or rows.shape[1] < 2:
                continue
            n_sets = min(math.comb(n_rep, n_rep // 2) // 2, n_splits)
            halves = list(itertools.islice(itertools.combinations(range(n_rep), n_rep // 2), n_sets))
            rhos = []
            for half in halves:
                other = np.setdiff1d(np.arange(n_rep), half)
                rhos.append(_corr(rows[list(half)].mean(0), rows[other].mean(0)))
            rho = np.nanmean(rhos) if np.isfinite(rhos).any() else np.nan
            if not np.isfinite(rho) or rho <= 0:
                continue
            total += rows.shape[1] * np.sqrt(2 * rho / (1 + rho))
            weight += rows.shape[1]
        if weight:
            out[j] = total / weight
    return out


def smooth_hann5(counts: Any, axis: int = -1) -> np.ndarray:
    """Convolve with the un-normalised 5-tap Hann window [0, .5, 1, .5, 0] (deepSTRF's NS1 target smoothing).

    Zero-padded at both ends, same length out; NaN inputs stay NaN (and do not spread).
    """
    x = np.asarray(counts, dtype=np.float64)
    missing = np.isnan(x)
    x = np.moveaxis(np.where(missing, 0.0, x), axis, -1)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 1)])
    out = 0.5 * padded[..., :-2] + padded[..., 1:-1] + 0.5 * padded[..., 2:]
    out = np.moveaxis(out, -1, axis)
    out[missing] = np.nan
    return out
