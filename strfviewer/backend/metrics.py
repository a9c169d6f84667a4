"""How well a prediction matches recorded responses: cc, cc_norm (Schoppe et al. 2016), cc_max (Hsu et al. 2004).

Predictions are ``(S, N, 1, T)`` and responses ``(S, N, R, T)`` (stimuli, neurons, repeats, bins), numpy arrays
or torch tensors, NaN-padded; in integer arrays negative values also mean "missing". Every score is per neuron
over all given stimuli jointly (their valid bins concatenated), returned as float64 ``(N,)``, and is NaN where it
is undefined, never an exception. Work runs one stimulus at a time, vectorised over neurons.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np

_TINY = 1e-12


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, possibly on a GPU or requiring grad
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _to_float(x: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """A float copy where negative integers ("missing") become NaN."""
    out = x.astype(dtype)
    if np.issubdtype(x.dtype, np.signedinteger):
        out[x < 0] = np.nan
    return out


def _recorded(x: np.ndarray) -> np.ndarray:
    """Where ``x`` holds data: finite floats, non-negative signed integers, everything else."""
    if np.issubdtype(x.dtype, np.floating):
        return np.isfinite(x)
    if np.issubdtype(x.dtype, np.signedinteger):
        return x >= 0
    return np.ones(x.shape, dtype=bool)


def _four_axes(x: Any, name: str) -> np.ndarray:
    arr = _to_numpy(x)
    if arr.ndim != 4:
        raise ValueError(f"{name} must have 4 axes (stimuli, neurons, repeats, bins); got shape {arr.shape}")
    return arr


def _check_pair(pred: Any, resp: Any) -> tuple[np.ndarray, np.ndarray]:
    p, r = _four_axes(pred, "prediction"), _four_axes(resp, "responses")
    if p.shape[2] != 1:
        raise ValueError(f"prediction must have a single entry on the repeat axis (S, N, 1, T); got shape {p.shape}")
    if (p.shape[0], p.shape[1], p.shape[3]) != (r.shape[0], r.shape[1], r.shape[3]):
        raise ValueError(f"prediction {p.shape} and responses {r.shape} disagree on stimuli, neurons or bins")
    return p, r


def _mean_over_repeats(x: np.ndarray) -> np.ndarray:
    """Mean over the recorded repeats (axis 1) of one stimulus ``(N, R, T)``; NaN where none is recorded."""
    recorded = _recorded(x)
    count = np.count_nonzero(recorded, axis=1)
    total = np.sum(x, axis=1, where=recorded, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def psth(resp: Any) -> np.ndarray:
    """Mean over repeats (axis 2, kept) ignoring missing values: ``(S, N, 1, T)``, NaN where no repeat exists."""
    r = _four_axes(resp, "responses")
    return np.stack([_mean_over_repeats(r[s]) for s in range(r.shape[0])])[:, :, None, :]


def _psth_rows(resp: np.ndarray) -> np.ndarray:
    """The PSTH of every stimulus joined per neuron: ``(N, S * T)``, NaN where no repeat is recorded."""
    y = np.stack([_mean_over_repeats(resp[s]) for s in range(resp.shape[0])])
    return y.transpose(1, 0, 2).reshape(resp.shape[1], -1)


def _prediction_rows(pred: np.ndarray) -> np.ndarray:
    """A prediction ``(S, N, 1, T)`` joined per neuron: ``(N, S * T)``."""
    return _to_float(pred[:, :, 0]).transpose(1, 0, 2).reshape(pred.shape[1], -1)


def _row_sums(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row, over the positions where ``x`` and ``y`` are both finite: the count and the centred sums of
    products ``sum xc*yc``, ``sum xc^2``, ``sum yc^2``."""
    valid = np.isfinite(x) & np.isfinite(y)
    count = valid.sum(axis=1)
    safe_count = np.maximum(count, 1)
    x, y = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    xc = np.where(valid, x - (x.sum(axis=1) / safe_count)[:, None], 0.0)
    yc = np.where(valid, y - (y.sum(axis=1) / safe_count)[:, None], 0.0)
    return count, (xc * yc).sum(axis=1), (xc * xc).sum(axis=1), (yc * yc).sum(axis=1)


def _pooled_sums(pred: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per neuron, over the (stimulus, bin) positions where prediction and PSTH are finite: the count and the
    centred sums of products ``sum xc*yc``, ``sum xc^2``, ``sum yc^2`` (x = prediction, y = PSTH)."""
    return _row_sums(_prediction_rows(pred), _psth_rows(resp))


def _cc_from_sums(count: np.ndarray, sxy: np.ndarray, sxx: np.ndarray, syy: np.ndarray) -> np.ndarray:
    norm = np.sqrt(sxx * syy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((count >= 2) & (norm >= _TINY), sxy / norm, np.nan)


def cc(pred: Any, resp: Any) -> np.ndarray:
    """Pearson correlation of prediction and PSTH per neuron, over all stimuli's valid bins pooled.

    NaN with fewer than 2 valid bins or when either side is (near) constant.
    """
    return _cc_from_sums(*_pooled_sums(*_check_pair(pred, resp)))


def _usable(recorded: np.ndarray, even_repeats: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For one stimulus ``(N, R, T)``: the repeats used (those with any data; with ``even_repeats`` the last one
    is dropped when their count is odd) and the bins where every used repeat is recorded."""
    used = recorded.any(axis=2)
    if even_repeats:
        n_used = used.sum(axis=1)
        used &= np.cumsum(used, axis=1) <= (n_used - n_used % 2)[:, None]
    bins = np.all(recorded | ~used[:, :, None], axis=1)
    return used, bins


def _centred_repeats(x: np.ndarray, used: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Float64 copy of each used repeat minus its mean over the usable bins; zero on everything not used."""
    cell = used[:, :, None] & bins[:, None, :]
    means = np.sum(x, axis=2, where=cell, dtype=np.float64) / np.maximum(bins.sum(axis=1), 1)[:, None]
    centred = np.subtract(x, means[:, :, None], dtype=np.float64)
    np.copyto(centred, 0.0, where=~cell)
    return centred


def signal_power(resp: Any) -> np.ndarray:
    """Sahani & Linden (2003) signal power per neuron: the variance of the response explainable by the stimulus.

    Per stimulus ``SP = (R var_t(psth) - mean_r var_t(r)) / (R - 1)`` (ddof=1), needing R >= 2 repeats with data
    and T >= 2 bins; combined as the bin-count-weighted mean over stimuli. NaN if no stimulus qualifies.
    """
    r = _four_axes(resp, "responses")
    total = np.zeros(r.shape[1])
    weight = np.zeros(r.shape[1])
    for s in range(r.shape[0]):
        x = r[s]
        # Each cell is computed on the bins where all its used repeats are recorded (not pairwise-available bins).
        used, bins = _usable(_recorded(x))
        n_rep, n_bins = used.sum(axis=1), bins.sum(axis=1)
        centred = _centred_repeats(x, used, bins)
        dof = np.maximum(n_bins - 1, 1)
        total_power = np.einsum("nrt,nrt->n", centred, centred) / dof / np.maximum(n_rep, 1)
        psth_power = (centred.sum(axis=1) / np.maximum(n_rep, 1)[:, None]) ** 2
        psth_var = psth_power.sum(axis=1) / dof
        qualifies = (n_rep >= 2) & (n_bins >= 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            power = (n_rep * psth_var - total_power) / (n_rep - 1)
        total += np.where(qualifies, n_bins * power, 0.0)
        weight += np.where(qualifies, n_bins, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def cc_norm(pred: Any, resp: Any) -> np.ndarray:
    """Normalised correlation (Schoppe et al. 2016): ``cov(pred, psth) / sqrt(var(pred) * SP)`` per neuron.

    Bessel-corrected moments over all stimuli's valid bins pooled, SP from :func:`signal_power`; it corrects cc
    for trial-to-trial noise, so on noisy data it may exceed 1 slightly. NaN where SP is not positive, the
    prediction is constant or fewer than two bins are valid. With a single repeat it is plain :func:`cc`.
    """
    p, r = _check_pair(pred, resp)
    return cc_norm_many(p[None], r)[0]


def cc_norm_many(preds: Any, resp: Any) -> np.ndarray:
    """:func:`cc_norm` of several predictions ``(K, S, N, 1, T)`` of the same responses: ``(K, N)``. The PSTH
    and the signal power are computed once (a ridge fit scores its whole lambda grid this way)."""
    stack = _to_numpy(preds)
    r = _four_axes(resp, "responses")
    if stack.ndim != 5:
        raise ValueError(f"predictions must have 5 axes (K, stimuli, neurons, 1, bins); got shape {stack.shape}")
    if stack.shape[0]:
        _check_pair(stack[0], r)  # all K share the first's shape
    y = _psth_rows(r)
    if r.shape[2] == 1:
        return np.stack([_cc_from_sums(*_row_sums(_prediction_rows(p), y)) for p in stack])
    power = signal_power(r)
    out = np.empty((stack.shape[0], r.shape[1]))
    for k, p in enumerate(stack):
        count, sxy, sxx, _ = _row_sums(_prediction_rows(p), y)
        dof = np.maximum(count - 1, 1)
        var_pred = sxx / dof
        defined = (count >= 2) & (var_pred >= _TINY) & np.isfinite(power) & (power > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[k] = np.where(defined, (sxy / dof) / np.sqrt(var_pred * power), np.nan)
    return out


def _half_splits(n_repeats: int, n_splits: int) -> tuple[np.ndarray, np.ndarray]:
    """Indicator rows ``(K, n_repeats)`` of the first K lexicographic half-sets and of their complements,
    K = min(C / 2, n_splits); only K combinations are ever generated."""
    n_sets = min(math.comb(n_repeats, n_repeats // 2) // 2, n_splits)
    halves = itertools.islice(itertools.combinations(range(n_repeats), n_repeats // 2), n_sets)
    first = np.zeros((n_sets, n_repeats))
    for row, half in enumerate(halves):
        first[row, list(half)] = 1.0
    return first, 1.0 - first


def cc_max(resp: Any, n_splits: int = 126) -> np.ndarray:
    """Ceiling of the correlation a perfect model could reach given the trial noise (Hsu et al. 2004), per neuron.

    Per stimulus (an odd repeat count drops its last repeat): rho = mean correlation between the mean responses
    of the two halves of the first ``min(C/2, n_splits)`` lexicographic half-splits, corrected by Spearman-Brown
    to ``sqrt(2 rho / (1 + rho))``; stimuli with rho <= 0 are dropped; bin-count-weighted mean over stimuli.
    NaN with fewer than two repeats or no qualifying stimulus.
    """
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1; got {n_splits}")
    r = _four_axes(resp, "responses")
    total = np.zeros(r.shape[1])
    weight = np.zeros(r.shape[1])
    for s in range(r.shape[0]):
        x = r[s]
        used, bins = _usable(_recorded(x), even_repeats=True)
        n_rep, n_bins = used.sum(axis=1), bins.sum(axis=1)
        centred = _centred_repeats(x, used, bins)
        # Half-mean correlations follow from each neuron's repeat cross-products C: a'Cb / sqrt(a'Ca b'Cb).
        products = centred @ centred.transpose(0, 2, 1)
        order = np.argsort(~used, axis=1, kind="stable")  # used repeats first, in their original order
        for size in np.unique(n_rep[(n_rep >= 2) & (n_bins >= 2)]):
            neurons = np.flatnonzero((n_rep == size) & (n_bins >= 2))
            picked = order[neurons, :size]
            sub = products[neurons[:, None, None], picked[:, :, None], picked[:, None, :]]
            first, second = (split.T for split in _half_splits(int(size), n_splits))  # (size, K) each
            sub_first, sub_second = sub @ first, sub @ second  # (G, size, K)
            cross = (first * sub_second).sum(axis=1)
            norm = np.sqrt(np.maximum((first * sub_first).sum(axis=1), 0.0)
                           * np.maximum((second * sub_second).sum(axis=1), 0.0))
            half_size = size // 2
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN rows give NaN by design
                rho = np.nanmean(np.where(norm / half_size**2 >= _TINY, cross / norm, np.nan), axis=1)
            keep = np.isfinite(rho) & (rho > 0)
            total[neurons[keep]] += n_bins[neurons[keep]] * np.sqrt(2 * rho[keep] / (1 + rho[keep]))
            weight[neurons[keep]] += n_bins[neurons[keep]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def smooth_hann5(counts: Any, axis: int = -1) -> np.ndarray:
    """Convolve with the un-normalised 5-tap Hann window [0, .5, 1, .5, 0] (deepSTRF's NS1 target smoothing).

    Zero-padded at both ends, same length out. Missing values (NaN, negative integers) count as zero for their
    neighbours and stay NaN themselves. Float inputs keep their dtype, others become float64.
    """
    x = _to_numpy(counts)
    x = _to_float(x, x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
    missing = np.isnan(x)
    x[missing] = 0
    x = np.moveaxis(x, axis, -1)
    out = x.copy()
    out[..., 1:] += 0.5 * x[..., :-1]
    out[..., :-1] += 0.5 * x[..., 1:]
    out = np.moveaxis(out, -1, axis)
    out[missing] = np.nan
    return out


def stack_stimuli(arrays: list[np.ndarray]) -> np.ndarray:
    """Join ``(1, N, R, T)`` arrays of different R and T along stimuli, NaN-padded: the layout the scores take
    for several stimuli pooled."""
    n = arrays[0].shape[1]
    out = np.full((len(arrays), n, max(a.shape[2] for a in arrays), max(a.shape[3] for a in arrays)), np.nan)
    for i, a in enumerate(arrays):
        out[i, :, : a.shape[2], : a.shape[3]] = a[0]
    return out


# Below this cc_max (the best cc a perfect model could reach on these repeats), cc_norm divides by a noise
# estimate too uncertain to trust: such neurons are flagged with their scores, not silently ranked.
MIN_CC_MAX = 0.3
SIGNIFICANCE_LEVEL = 0.05  # a neuron's prediction counts as significant below this shift-test p-value


def shift_offsets(lengths: list[int], n_shifts: int, min_shift: int = 20, seed: int = 0) -> np.ndarray:
    """Random circular offsets ``(n_shifts, S)``: stimulus ``s`` (of ``lengths[s]`` bins) is rotated by at least
    ``min_shift`` bins from no shift either way (less for short stimuli); 0 for stimuli under 2 bins."""
    rng = np.random.default_rng(seed)
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    low = np.minimum(min_shift, lengths_arr // 2)
    high = np.maximum(lengths_arr - min_shift, lengths_arr // 2 + 1)
    offsets = rng.integers(low, high, size=(n_shifts, lengths_arr.shape[0]))
    return np.where(lengths_arr > 1, offsets, 0)


def shifted_cc(pred: Any, resp: Any, offsets: np.ndarray) -> np.ndarray:
    """:func:`cc` of the prediction with each stimulus rotated within its own bins (``np.roll`` by
    ``offsets[k, s]``), for every row of ``offsets`` at once: ``(K, N)``.

    Every sum a correlation needs (counts, sums, squares and products over the positions valid on both sides)
    is a circular cross-correlation of prediction and response, computed for all offsets by FFT, so a
    thousand-shift null costs about as much as a few correlations."""
    p, r = _check_pair(pred, resp)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = _stimulus_lengths(p)
    if offsets.ndim != 2 or offsets.shape[1] != p.shape[0]:
        raise ValueError(f"offsets must be (shifts, {p.shape[0]} stimuli); got shape {offsets.shape}")
    sums = np.zeros((6, p.shape[1], offsets.shape[0]))  # n, Sx, Sy, Sxy, Sxx, Syy per neuron and shift
    for s, n in enumerate(lengths):
        if n == 0:
            continue
        x = _to_float(p[s, :, 0, :n])
        y = _mean_over_repeats(r[s])[:, :n]
        mx, my = np.isfinite(x), np.isfinite(y)
        x, y = np.where(mx, x, 0.0), np.where(my, y, 0.0)
        left = np.fft.rfft(np.stack([mx, x, mx, x, x * x, mx]).astype(np.float64), axis=-1)
        right = np.fft.rfft(np.stack([my, my, y, y, my, y * y]).astype(np.float64), axis=-1)
        # sum_t a[t - k] b[t] for every k: the cross-correlation of a with b.
        lagged_sums = np.fft.irfft(np.conj(left) * right, n=n, axis=-1)
        sums += lagged_sums[:, :, offsets[:, s] % n]
    count = np.rint(sums[0])
    sx, sy, sxy, sxx, syy = sums[1:]
    safe = np.maximum(count, 1)
    cov, var_x, var_y = sxy - sx * sy / safe, sxx - sx * sx / safe, syy - sy * sy / safe
    return _cc_from_sums(count, cov, np.maximum(var_x, 0.0), np.maximum(var_y, 0.0)).T


def _stimulus_lengths(pred: np.ndarray) -> list[int]:
    """Bins each stimulus of a NaN-padded prediction ``(S, N, 1, T)`` has: up to its last finite bin."""
    finite = np.isfinite(_to_float(pred)).any(axis=(1, 2))
    return [int(np.flatnonzero(row)[-1]) + 1 if row.any() else 0 for row in finite]


def shift_p_values(pred: Any, resp: Any, n_shifts: int = 1000, min_shift: int = 20,
                   seed: int = 0) -> np.ndarray:
    """Per neuron, the p-value of the test correlation against circularly shifted predictions.

    Each null draw rotates every stimulus's prediction by its own random offset (:func:`shift_offsets`), so
    the prediction keeps its own autocorrelation but loses its alignment with the response.
    ``p = (1 + #{null cc >= observed cc}) / (1 + n_shifts)``: never 0, and at least ``1 / (1 + n_shifts)``.
    NaN where the observed cc is undefined."""
    p, r = _check_pair(pred, resp)
    if n_shifts < 1:
        raise ValueError(f"shift_p_values needs at least one shift (got {n_shifts})")
    observed = cc(p, r)
    null = shifted_cc(p, r, shift_offsets(_stimulus_lengths(p), n_shifts, min_shift, seed))
    exceed = np.where(np.isfinite(null), null >= observed[None, :], False).sum(axis=0)
    return np.where(np.isfinite(observed), (1.0 + exceed) / (1.0 + n_shifts), np.nan)
