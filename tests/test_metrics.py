"""Metrics against hand-computed values, simulated neurons with known ceilings, invariances and NaN cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strfviewer.backend.metrics import cc, cc_max, cc_norm, signal_power, smooth_hann5


def _pearson(a, b):
    a, b = np.asarray(a, float) - np.mean(a), np.asarray(b, float) - np.mean(b)
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())


def test_cc_pools_stimuli_and_uses_the_psth():
    pred = np.array([[[[1.0, 2.0, 3.0]]], [[[0.0, 1.0, 5.0]]]])  # (S=2, N=1, 1, T=3)
    resp = np.array([[[[1, 2, 2], [1, 4, 4]]], [[[0, 0, 6], [0, 2, 8]]]], dtype=float)  # (2, 1, R=2, 3)
    psth = [1, 3, 3, 0, 1, 7]
    assert cc(pred, resp)[0] == pytest.approx(_pearson([1, 2, 3, 0, 1, 5], psth))


def test_signal_power_and_cc_norm_by_hand():
    resp = np.array([[[[1.0, 3.0, 2.0, 6.0], [3.0, 5.0, 2.0, 4.0]]]])  # (1, 1, R=2, T=4)
    psth = resp[0, 0].mean(0)
    tp = resp[0, 0].var(axis=1, ddof=1).mean()
    sp = (2 * psth.var(ddof=1) - tp) / (2 - 1)
    assert signal_power(resp)[0] == pytest.approx(sp)
    pred = np.array([[[[0.5, 1.0, 2.0, 4.0]]]])
    p = pred[0, 0, 0]
    expected = np.cov(p, psth, ddof=1)[0, 1] / np.sqrt(p.var(ddof=1) * sp)
    assert cc_norm(pred, resp)[0] == pytest.approx(expected)


def test_signal_power_is_length_weighted_across_stimuli():
    rng = np.random.default_rng(1)
    a = rng.poisson(3, size=(1, 1, 4, 30)).astype(float)
    b = rng.poisson(3, size=(1, 1, 4, 10)).astype(float)
    padded = np.full((2, 1, 4, 30), np.nan)
    padded[0], padded[1, :, :, :10] = a[0], b[0]
    expected = (30 * signal_power(a)[0] + 10 * signal_power(b)[0]) / 40
    assert signal_power(padded)[0] == pytest.approx(expected)


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
    assert np.isfinite(cc_norm(pred, spikes)[3])
    assert np.isnan(signal_power(spikes[:, :, :1])).all()  # one repeat: undefined
    assert np.isnan(cc_max(spikes[:, :, :1])).all()


def test_pure_noise_has_no_positive_signal_power():
    spikes = np.random.default_rng(5).poisson(4.0, size=(3, 50, 10, 200)).astype(float)
    assert np.mean(signal_power(spikes) <= 0) > 0.3  # non-positive for many noise-only neurons
    pred = np.random.default_rng(6).normal(size=(3, 50, 1, 200))
    assert np.isnan(cc_norm(pred, spikes)[signal_power(spikes) <= 0]).all()


def test_padding_with_nan_or_negative_integers_is_ignored():
    rate, spikes = _simulated(seed=7, s=2)
    short = spikes[:, :, :, :200]
    padded = np.full(spikes.shape, np.nan)
    padded[..., :200] = short
    pred_padded = rate.copy()
    assert cc_norm(pred_padded, padded) == pytest.approx(cc_norm(rate[..., :200], short))
    as_int = np.where(np.isnan(padded), -1, padded).astype(np.int16)
    assert cc(pred_padded, as_int) == pytest.approx(cc(rate[..., :200], short))
    assert cc_norm(torch.tensor(rate[..., :200]), torch.tensor(short)) == pytest.approx(cc_norm(rate[..., :200], short))


def test_shape_errors_are_explained():
    with pytest.raises(ValueError, match="4 axes"):
        cc(np.zeros((2, 3, 4)), np.zeros((2, 3, 1, 4)))
    with pytest.raises(ValueError, match=r"\(S, N, 1, T\)"):
        cc_norm(np.zeros((2, 3, 2, 4)), np.zeros((2, 3, 2, 4)))
    with pytest.raises(ValueError, match="disagree"):
        cc(np.zeros((2, 3, 1, 4)), np.zeros((2, 2, 5, 4)))


def test_hann5_smoothing():
    x = np.zeros(9)
    x[4] = 1.0
    np.testing.assert_allclose(smooth_hann5(x), [0, 0, 0, 0.5, 1, 0.5, 0, 0, 0])
    y = np.ones((2, 5))
    y[0, 4] = np.nan
    out = smooth_hann5(y)
    assert np.isnan(out[0, 4]) and out[1, 0] == 1.5 and out[1, 2] == 2.0
