"""Metrics against hand-computed values, simulated neurons with known ceilings, invariances and NaN cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from strfviewer.backend.metrics import cc, cc_max, cc_norm, signal_power, smooth_hann5


def _pearson(a, b) -> float:
    a, b = np.asarray(a, float) - np.mean(a), np.asarray(b, float) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _var(v: np.ndarray) -> float:
    return float(((v - v.mean()) ** 2).sum() / (len(v) - 1))


def _signal_power_by_hand(rows: np.ndarray) -> float:
    """Sahani & Linden on one (R, T) block without missing values."""
    n_rep = rows.shape[0]
    total_power = np.mean([np.var(row, ddof=1) for row in rows])
    return float((n_rep * np.var(rows.mean(axis=0), ddof=1) - total_power) / (n_rep - 1))


def _cc_max_by_hand(rows: np.ndarray, n_splits: int = 126) -> float:
    """Hsu et al. on one (R, T) block without missing values: explicit half-splits, then Spearman-Brown."""
    n_rep = rows.shape[0] - rows.shape[0] % 2
    sets = list(itertools.combinations(range(n_rep), n_rep // 2))
    rhos = [_pearson(rows[list(sets[i])].mean(0), rows[list(sets[-1 - i])].mean(0))
            for i in range(min(len(sets) // 2, n_splits))]
    rho = np.mean(rhos)
    return float(np.sqrt(2 * rho / (1 + rho)))


def test_cc_pools_stimuli_and_uses_the_psth():
    pred = np.array([[[[1.0, 2.0, 3.0]]], [[[0.0, 1.0, 5.0]]]])  # (S=2, N=1, 1, T=3)
    resp = np.array([[[[1, 2, 2], [1, 4, 4]]], [[[0, 0, 6], [0, 2, 8]]]], dtype=float)  # (2, 1, R=2, 3)
    psth = [1, 3, 3, 0, 1, 7]
    assert cc(pred, resp)[0] == pytest.approx(_pearson([1, 2, 3, 0, 1, 5], psth))
    resp[1, 0, :, 2] = [np.nan, 8.0]  # the PSTH keeps the recorded repeat only
    assert cc(pred, resp)[0] == pytest.approx(_pearson([1, 2, 3, 0, 1, 5], [1, 3, 3, 0, 1, 8]))


def test_signal_power_and_cc_norm_by_hand():
    resp = np.array([[[[1.0, 3.0, 2.0, 6.0], [3.0, 5.0, 2.0, 4.0]]]])  # (1, 1, R=2, T=4)
    psth = (resp[0, 0, 0] + resp[0, 0, 1]) / 2
    sp = 2 * _var(psth) - (_var(resp[0, 0, 0]) + _var(resp[0, 0, 1])) / 2
    assert signal_power(resp)[0] == pytest.approx(sp)
    pred = np.array([[[[0.5, 1.0, 2.0, 4.0]]]])
    p = pred[0, 0, 0]
    cov = ((p - p.mean()) * (psth - psth.mean())).sum() / 3
    assert cc_norm(pred, resp)[0] == pytest.approx(cov / np.sqrt(_var(p) * sp))


def test_signal_power_is_length_weighted_across_stimuli():
    rng = np.random.default_rng(1)
    a = rng.poisson(3, size=(4, 30)).astype(float)
    b = rng.poisson(3, size=(4, 10)).astype(float)
    padded = np.full((2, 1, 4, 30), np.nan)
    padded[0, 0], padded[1, 0, :, :10] = a, b
    expected = (30 * _signal_power_by_hand(a) + 10 * _signal_power_by_hand(b)) / 40
    assert signal_power(padded)[0] == pytest.approx(expected)


def test_cc_max_by_hand():
    rng = np.random.default_rng(2)
    rows = rng.poisson(3.0, size=(4, 12)) + np.arange(12) % 4
    resp = rows[None, None].astype(float)
    sets = [(0, 1), (0, 2), (0, 3)]  # the first C/2 = 3 lexicographic halves; complements follow
    rho = np.mean([_pearson(rows[list(s)].mean(0), np.delete(rows, s, axis=0).mean(0)) for s in sets])
    assert cc_max(resp)[0] == pytest.approx(np.sqrt(2 * rho / (1 + rho)))
    rho_first = _pearson(rows[[0, 1]].mean(0), rows[[2, 3]].mean(0))
    assert cc_max(resp, n_splits=1)[0] == pytest.approx(np.sqrt(2 * rho_first / (1 + rho_first)))
    odd = np.concatenate([resp, 100.0 * rng.random((1, 1, 1, 12))], axis=2)  # a fifth repeat is dropped
    assert cc_max(odd)[0] == pytest.approx(cc_max(resp)[0])
    six = (rng.poisson(3.0, size=(6, 12)) + np.arange(12) % 3).astype(float)  # C = 20: at most 10 splits
    assert cc_max(six[None, None], n_splits=12)[0] == pytest.approx(_cc_max_by_hand(six, n_splits=10))
    assert cc_max(six[None, None], n_splits=4)[0] == pytest.approx(_cc_max_by_hand(six, n_splits=4))


def test_cc_max_drops_stimuli_without_positive_half_correlation():
    rng = np.random.default_rng(3)
    good = rng.poisson(3.0, size=(6, 40)) + 2 * (np.arange(40) % 5)
    resp = np.full((2, 1, 6, 40), np.nan)
    resp[0, 0] = good
    resp[1, 0, :2, :20] = [np.arange(20.0), -np.arange(20.0)]  # halves anti-correlated: rho = -1
    assert cc_max(resp)[0] == pytest.approx(_cc_max_by_hand(good.astype(float)))
    assert cc_max(resp[1:]).item() != cc_max(resp[1:]).item()  # NaN on its own


def test_neurons_missing_different_repeats_match_their_own_data():
    rng = np.random.default_rng(4)
    rate = 1.0 + 3.0 * rng.random((2, 3, 1, 50))
    resp = rng.poisson(np.repeat(rate, 8, axis=2)).astype(float)
    resp[0, 1, 5:] = np.nan  # neuron 1 has 5 repeats of stimulus 0 (odd: the 5th is dropped for cc_max)
    resp[:, 2, [1, 4]] = np.nan  # neuron 2 misses repeats in the middle
    resp[1, 0, :, 45:] = np.nan  # neuron 0 is shorter on stimulus 1
    resp[1, 1, 2, 10:15] = np.nan  # one repeat of neuron 1 has a gap: those bins are left out
    sp, ceiling = signal_power(resp), cc_max(resp)
    for neuron in range(3):
        blocks = [resp[s, neuron][np.isfinite(resp[s, neuron]).any(axis=1)] for s in range(2)]
        blocks = [b[:, np.isfinite(b).all(axis=0)] for b in blocks]
        lengths = [b.shape[1] for b in blocks]
        expected_sp = np.average([_signal_power_by_hand(b) for b in blocks], weights=lengths)
        expected_max = np.average([_cc_max_by_hand(b) for b in blocks], weights=lengths)
        assert sp[neuron] == pytest.approx(expected_sp)
        assert ceiling[neuron] == pytest.approx(expected_max)


def _simulated(seed=0, s=4, n=3, r=20, t=300):
    rng = np.random.default_rng(seed)
    kernel = np.hanning(15)
    raw = rng.gamma(1.0, 1.0, size=(s, n, t))
    rate = np.apply_along_axis(lambda v: np.convolve(v, kernel, "same"), -1, raw) + 0.5
    spikes = rng.poisson(rate[:, :, None, :].repeat(r, 2))
    return rate[:, :, None, :], spikes.astype(float)


def test_true_rate_reaches_cc_norm_of_one_and_plain_cc_does_not():
    rate, spikes = _simulated()
    normalised = cc_norm(rate, spikes)
    plain = cc(rate, spikes)
    np.testing.assert_allclose(normalised, 1.0, atol=0.1)
    assert (plain < normalised - 0.01).all()
    ceiling = cc_max(spikes)
    assert ((ceiling > 0) & (ceiling <= 1)).all()
    np.testing.assert_allclose(plain / ceiling, 1.0, atol=0.15)


@pytest.mark.parametrize("scale,offset", [(2.0, 3.0), (0.01, -7.0), (-1.5, 0.2)])
def test_affine_changes_of_the_prediction(scale, offset):
    rate, spikes = _simulated(seed=2)
    pred = rate + np.random.default_rng(3).normal(0, 0.5, rate.shape)
    sign = np.sign(scale)
    np.testing.assert_allclose(cc(scale * pred + offset, spikes), sign * cc(pred, spikes), rtol=1e-9)
    np.testing.assert_allclose(cc_norm(scale * pred + offset, spikes), sign * cc_norm(pred, spikes), rtol=1e-9)


def test_undefined_cases_give_nan_not_errors():
    rate, spikes = _simulated(seed=4, n=4)
    pred = rate.copy()
    pred[:, 0] = 3.0  # constant prediction
    spikes[:, 1] = np.nan  # a neuron never recorded
    spikes[:, 2] = 5.0  # responses without any variance: no signal power
    assert np.isnan(cc(pred, spikes)[[0, 1, 2]]).all()
    assert np.isnan(cc_norm(pred, spikes)[[0, 1, 2]]).all()
    assert np.isnan(signal_power(spikes)[1]) and np.isnan(cc_max(spikes)[[1, 2]]).all()
    assert np.isfinite(cc_norm(pred, spikes)[3])
    assert np.isnan(signal_power(spikes[:, :, :1])).all()  # one repeat: undefined
    assert np.isnan(cc_max(spikes[:, :, :1])).all()
    assert np.isnan(cc(1e-17 * rate, spikes)).all() and np.isnan(cc_norm(1e-17 * rate, spikes)).all()
    assert np.isnan(cc_max(1e-17 * spikes)).all()  # (near) constant half means: no correlation to speak of
    one_bin = np.full_like(spikes, np.nan)
    one_bin[0, :, :, 0] = spikes[0, :, :, 0]
    assert np.isnan(cc(rate, one_bin)).all() and np.isnan(cc_norm(rate, one_bin)).all()


def test_single_repeat_cc_norm_is_plain_cc():
    rate, spikes = _simulated(seed=5, r=1)
    np.testing.assert_array_equal(cc_norm(rate, spikes), cc(rate, spikes))


def test_pure_noise_has_no_positive_signal_power():
    spikes = np.random.default_rng(5).poisson(4.0, size=(3, 50, 10, 200)).astype(float)
    power = signal_power(spikes)
    assert np.mean(power <= 0) > 0.3  # non-positive for many noise-only neurons
    pred = np.random.default_rng(6).normal(size=(3, 50, 1, 200))
    assert np.isnan(cc_norm(pred, spikes)[power <= 0]).all()


def test_nan_padded_short_stimulus_matches_the_unpadded_data():
    rate, spikes = _simulated(seed=7, s=2)
    short_rate, short = rate[..., :200], spikes[..., :200]
    padded = np.full(spikes.shape, np.nan)
    padded[..., :200] = short
    for metric in (cc, cc_norm):
        np.testing.assert_allclose(metric(rate, padded), metric(short_rate, short), rtol=1e-12)
    for metric in (signal_power, cc_max):
        np.testing.assert_allclose(metric(padded), metric(short), rtol=1e-12)


def test_negative_integers_mean_missing():
    rate, spikes = _simulated(seed=8, s=2, r=6)
    spikes[0, :, :, 250:] = np.nan
    spikes[1, 1, 3] = np.nan
    as_int = np.where(np.isnan(spikes), -1, spikes).astype(np.int16)
    for metric in (cc, cc_norm):
        np.testing.assert_allclose(metric(rate, as_int), metric(rate, spikes), rtol=1e-12)
    for metric in (signal_power, cc_max):
        np.testing.assert_allclose(metric(as_int), metric(spikes), rtol=1e-12)
    np.testing.assert_array_equal(smooth_hann5(as_int), smooth_hann5(spikes))


def test_torch_tensors_are_accepted():
    rate, spikes = _simulated(seed=9, s=2)
    pred = torch.tensor(rate, requires_grad=True)
    np.testing.assert_allclose(cc_norm(pred, torch.tensor(spikes)), cc_norm(rate, spikes), rtol=1e-12)
    np.testing.assert_allclose(cc_max(torch.tensor(spikes)), cc_max(spikes), rtol=1e-12)
    assert cc(pred, spikes).dtype == np.float64 and cc(pred, spikes).shape == (3,)


def test_shape_errors_are_explained():
    with pytest.raises(ValueError, match=r"4 axes.*\(2, 3, 4\)"):
        cc(np.zeros((2, 3, 4)), np.zeros((2, 3, 1, 4)))
    with pytest.raises(ValueError, match=r"\(S, N, 1, T\)"):
        cc_norm(np.zeros((2, 3, 2, 4)), np.zeros((2, 3, 2, 4)))
    with pytest.raises(ValueError, match="disagree"):
        cc(np.zeros((2, 3, 1, 4)), np.zeros((2, 2, 5, 4)))
    with pytest.raises(ValueError, match="disagree"):
        cc_norm(np.zeros((2, 3, 1, 4)), np.zeros((2, 3, 5, 6)))
    with pytest.raises(ValueError, match="4 axes"):
        signal_power(np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match="4 axes"):
        cc_max(np.zeros((1, 3, 5, 4, 1)))
    with pytest.raises(ValueError, match="n_splits"):
        cc_max(np.zeros((1, 3, 4, 4)), n_splits=0)


def test_hann5_smoothing():
    x = np.zeros(9)
    x[4] = 1.0
    np.testing.assert_allclose(smooth_hann5(x), [0, 0, 0, 0.5, 1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(smooth_hann5(x[:, None] * [1.0, 2.0], axis=0)[:, 1], [0, 0, 0, 1, 2, 1, 0, 0, 0])
    y = np.ones((2, 5))
    y[0, 2] = np.nan
    out = smooth_hann5(y)
    np.testing.assert_allclose(out[0], [1.5, 1.5, np.nan, 1.5, 1.5])  # NaN counts as zero next door
    np.testing.assert_allclose(out[1], [1.5, 2.0, 2.0, 2.0, 1.5])  # zero-padded ends
