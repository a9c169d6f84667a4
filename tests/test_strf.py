"""STRFs: folding BatchNorm reproduces the model, gradient STRFs agree with it, listenable receptive fields."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from strfviewer.backend.analysis.strf import (
    gradient_sound_job,
    gradient_strf,
    gradient_strf_job,
    is_linear,
    linear_strf,
    neuron_labels,
    playable,
    preferred_model,
    symmetric_levels,
    waveform_gradient_map,
)
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import ICNet, Linear, LinearNonlinear


def _trained_looking(model):
    with torch.no_grad():
        model.readout.strf.kernel.weight.normal_()
        model.readout.strf.kernel.bias.normal_()
        model.readout.bn.running_mean.uniform_(-1, 1)
        model.readout.bn.running_var.uniform_(0.5, 2)
        model.readout.bn.weight.uniform_(0.5, 2)
        model.readout.bn.bias.uniform_(-1, 1)
    return model.eval()


def test_folded_strf_reproduces_the_model_on_an_impulse():
    model = _trained_looking(Linear(6, 5, 3))
    strf = linear_strf(model)
    assert strf.weights.shape == (3, 1, 6, 5) and strf.lags.tolist() == [4, 3, 2, 1, 0]
    x = torch.zeros(1, 1, 6, 12)
    x[0, 0, 2, 4] = 1.0  # band 2 at frame 4
    y = model(x)[0, :, 0].detach().numpy()  # (N, T)
    for lag in range(5):
        column = 4 - lag
        np.testing.assert_allclose(y[:, 4 + lag], strf.bias + strf.weights[:, 0, 2, column], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[:, 0], strf.bias, rtol=1e-5, atol=1e-6)


def test_gradient_strf_equals_the_folded_kernel_for_linear_models():
    model = _trained_looking(Linear(6, 5, 3))
    np.testing.assert_allclose(gradient_strf(model).weights, linear_strf(model).weights, rtol=1e-5, atol=1e-6)
    assert not model.training


def test_gradient_strf_of_a_nonlinear_model_is_the_kernel_scaled_by_the_slope():
    model = _trained_looking(LinearNonlinear(6, 5, 2))
    grad, strf = gradient_strf(model), linear_strf(model)
    ratio = grad.weights[:, 0] / strf.weights[:, 0]
    for n in range(2):
        np.testing.assert_allclose(ratio[n], ratio[n].flat[0], rtol=1e-4)
    assert (ratio > 0).all()


def test_strf_axes_come_from_the_frontend():
    frontend = make_wav2spec("gammatone", audio_fs=16000, dt_ms=5.0, f_max=7000.0)
    strf = linear_strf(_trained_looking(Linear(34, 9, 2, wav2spec=frontend)))
    assert strf.dt_ms == 5.0 and strf.lags_ms.tolist() == [40, 35, 30, 25, 20, 15, 10, 5, 0]
    np.testing.assert_allclose(strf.frequencies_hz, frontend.centre_frequencies())
    with pytest.raises(ConfigurationError, match="gradient_strf"):
        linear_strf(ICNet(16000, 2, n_filters=4, encoder_channels=4, bottleneck_channels=4))


@pytest.mark.parametrize("reduce", ["last", "peak", "sum"])
def test_waveform_gradient_map_is_a_causal_listenable_field(reduce):
    frontend = make_wav2spec("mel", audio_fs=48000, dt_ms=5.0)
    model = _trained_looking(Linear(34, 9, 2, wav2spec=frontend))
    audio = torch.randn(40 * 240)
    grad = waveform_gradient_map(model, audio, neuron=1, reduce=reduce)
    assert grad.shape == (40 * 240,) and np.isfinite(grad).all() and np.abs(grad).max() > 0
    if reduce == "last":
        support = np.flatnonzero(np.abs(grad) > 1e-7 * np.abs(grad).max())
        # 9 frames of STRF plus the 10 ms window: 2399 samples before the end (deepSTRF measured the same).
        assert 40 * 240 - support.min() == pytest.approx(9 * 240 + 480 - 240, abs=1)
    with pytest.raises(ConfigurationError, match="waveform input"):
        waveform_gradient_map(Linear(34, 9, 2), audio)


def test_gradient_strf_of_icnet_is_the_decoder_through_softplus():
    from strfviewer.backend.analysis.strf import gradient_strf
    from strfviewer.backend.models import ICNet

    model = ICNet(16000, 3, n_filters=6, encoder_channels=8, bottleneck_channels=5).eval()
    strf = gradient_strf(model)
    assert strf.weights.shape == (3, 1, 5, 1)
    bias = model.decoder.bias.detach()
    expected = (model.decoder.weight.detach() * torch.sigmoid(bias)[:, None]).numpy()  # softplus' at 0 input
    np.testing.assert_allclose(strf.weights[:, 0, :, 0], expected, rtol=1e-5, atol=1e-7)


def test_preferred_model_picks_the_newest_with_a_kernel_then_the_shown_then_the_first():
    def model(linear: bool):
        return SimpleNamespace(model=Linear(4, 3, 2) if linear else object())

    a, b, c, d = model(True), model(True), model(False), model(True)
    assert preferred_model([]) is None
    assert preferred_model([a, b, d]) is d  # the newest has a kernel: it is what was just opened
    assert preferred_model([a, b, c], shown=b) is b  # a gradient model opened: the kernel shown stays
    assert preferred_model([a, b, c]) is a
    only_gradient = model(False)
    assert preferred_model([c, only_gradient]) is only_gradient


def test_neuron_labels_come_from_the_metadata_when_they_fit():
    assert neuron_labels(SimpleNamespace(info={"neurons": ["a", "b"]}), 2) == ["a", "b"]
    assert neuron_labels(SimpleNamespace(metadata={"strfviewer": {"neurons": [7, 9]}}), 2) == ["7", "9"]
    assert neuron_labels(SimpleNamespace(info={"neurons": ["a"]}), 2) == ["neuron 0", "neuron 1"]
    assert is_linear(SimpleNamespace(model=Linear(4, 3, 2))) and not is_linear(SimpleNamespace(model=object()))


def test_levels_are_symmetric_and_a_gradient_sound_is_scaled_to_its_peak():
    assert symmetric_levels(np.array([[-0.5, 2.0]])) == (-2.0, 2.0)
    assert symmetric_levels(np.zeros((2, 2))) == (-1.0, 1.0)
    wave = playable(np.array([0.0, -4.0, 2.0]), 0.5)
    assert wave.dtype == np.float32 and np.allclose(wave, [0.0, -0.5, 0.25])
    assert playable(np.zeros(3), 0.5) is None and playable(np.array([np.inf]), 0.5) is None


def test_the_job_bodies_report_progress():
    model = Linear(8, 3, 2, wav2spec=make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=8)).eval()
    seen = []
    strf = gradient_strf_job(model, lambda done, total, message: seen.append((done, total, message)))
    np.testing.assert_allclose(strf.weights, gradient_strf(model).weights)
    assert seen == [(0, 1, "gradient STRF"), (1, 1, "gradient STRF")]
    samples = np.random.default_rng(0).standard_normal(800).astype(np.float32)
    sound = gradient_sound_job(model, samples, 1, "sum")
    expected = waveform_gradient_map(model, torch.from_numpy(samples), neuron=1, reduce="sum")
    assert sound.shape == (800,)
    np.testing.assert_allclose(sound, expected)
