"""STRFs: folding BatchNorm reproduces the model, gradient STRFs agree with it, listenable receptive fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strfviewer.backend.analysis.strf import gradient_strf, linear_strf, waveform_gradient_map
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
