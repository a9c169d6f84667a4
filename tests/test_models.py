"""Encoding models: slot wiring, shapes, bitwise causality through every front-end, state-dict layout."""

from __future__ import annotations

import pytest
import torch

from frontend_cases import CASE_IDS, FRONTEND_CASES
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import ICNet, Linear, LinearNonlinear

N_NEURONS = 5
CUT_BIN = 17
N_BINS = 32


def _randomise_batchnorm(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 2)
            module.bias.data.uniform_(-1, 1)


def _assert_causal(model: torch.nn.Module, x: torch.Tensor, cut_sample: int, cut_bin: int) -> None:
    """Perturb the input from ``cut_sample`` on; outputs up to ``cut_bin`` must not change by a single bit."""
    model.eval()
    perturbed = x.clone()
    perturbed[..., cut_sample:] = torch.randn_like(perturbed[..., cut_sample:])
    with torch.no_grad():
        y, y_perturbed = model(x), model(perturbed)
    assert torch.equal(y[..., : cut_bin + 1], y_perturbed[..., : cut_bin + 1])
    assert not torch.equal(y[..., cut_bin + 1 :], y_perturbed[..., cut_bin + 1 :]), "perturbation had no effect"


@pytest.mark.parametrize("model_class", [Linear, LinearNonlinear])
@pytest.mark.parametrize("case", FRONTEND_CASES, ids=CASE_IDS)
def test_waveform_models_are_bitwise_causal(model_class, case):
    frontend = case.build()
    model = model_class(frontend.out_channels, 9, N_NEURONS, wav2spec=frontend)
    _randomise_batchnorm(model)
    hop = frontend.hop
    x = torch.randn(2, 1, N_BINS * hop)
    _assert_causal(model, x, (CUT_BIN + 1) * hop, CUT_BIN)
    assert model(x).shape == (2, N_NEURONS, 1, N_BINS)


@pytest.mark.parametrize("model_class", [Linear, LinearNonlinear])
def test_spectrogram_models_are_bitwise_causal(model_class):
    model = model_class(34, 9, N_NEURONS)
    _randomise_batchnorm(model)
    x = torch.randn(2, 1, 34, N_BINS)
    _assert_causal(model, x, CUT_BIN + 1, CUT_BIN)
    assert not model.takes_waveform


@pytest.mark.parametrize("audio_fs", [16000, 48000])
def test_icnet_is_bitwise_causal(audio_fs):
    model = ICNet(audio_fs, N_NEURONS, n_filters=8, encoder_channels=12, bottleneck_channels=6)
    hop = model.wav2spec.hop
    x = torch.randn(2, 1, N_BINS * hop)
    _assert_causal(model, x, (CUT_BIN + 1) * hop, CUT_BIN)
    rates = model(x)
    assert rates.shape == (2, N_NEURONS, 1, N_BINS)
    assert (rates >= 0).all()


def test_frontend_channel_mismatch_is_refused_with_a_clear_message():
    frontend = make_wav2spec("gammatone", audio_fs=16000, dt_ms=5.0, n_filters=24, f_max=7000.0)
    with pytest.raises(ConfigurationError, match=r"produces 24 channels.*n_frequency_bands=34"):
        Linear(34, 9, 3, wav2spec=frontend)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_model_sizes_are_validated(bad):
    with pytest.raises(ConfigurationError, match="out_neurons must be a positive integer"):
        Linear(34, 9, bad)


def test_parameter_counts_match_published_models():
    def count(m):
        return sum(p.numel() for p in m.parameters() if p.requires_grad)

    assert count(Linear(34, 9, 119)) == 36771
    assert count(LinearNonlinear(34, 9, 119)) == 37009
    assert count(ICNet(48000, 119)) == 5121047
    leaf = make_wav2spec("leaf", audio_fs=48000, dt_ms=5.0)
    assert count(Linear(34, 9, 119, wav2spec=leaf)) == 37009


def test_linear_state_dict_uses_deepstrf_names():
    model = Linear(34, 9, 4, wav2spec=make_wav2spec("mel", audio_fs=48000, dt_ms=5.0))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "wav2spec._window": (480,),
        "wav2spec._mel_fb": (241, 34),
        "readout.strf.kernel.weight": (4, 1, 34, 9),
        "readout.strf.kernel.bias": (4,),
        "readout.bn.weight": (4,),
        "readout.bn.bias": (4,),
        "readout.bn.running_mean": (4,),
        "readout.bn.running_var": (4,),
        "readout.bn.num_batches_tracked": (),
    }
    ln = LinearNonlinear(34, 9, 4)
    assert {"readout.activation._raw_beta", "readout.activation._raw_b"} <= set(ln.state_dict())


def test_strf_kernel_last_column_is_lag_zero():
    model = Linear(3, 4, 1).eval()
    with torch.no_grad():
        model.readout.strf.kernel.weight.zero_()
        model.readout.strf.kernel.weight[0, 0, 1, 3] = 1.0  # band 1, lag 0
        model.readout.strf.kernel.bias.zero_()
    x = torch.zeros(1, 1, 3, 10)
    x[0, 0, 1, 6] = 1.0
    y = model(x)[0, 0, 0]
    assert torch.argmax(y).item() == 6
    assert y[:6].abs().max() < 1e-6


def test_icnet_stores_the_decoder_once_and_loads_both_layouts():
    model = ICNet(16000, 3, n_filters=4, encoder_channels=6, bottleneck_channels=5)
    state = model.state_dict()
    assert [k for k in state if k.startswith(("decoder.", "readout."))] == ["decoder.weight", "decoder.bias"]
    assert model.readout is model.decoder

    aliased = {k: v.clone() for k, v in state.items()}
    aliased["decoder.weight"] = torch.randn_like(aliased["decoder.weight"])
    aliased["readout.weight"] = aliased["decoder.weight"]
    aliased["readout.bias"] = aliased["decoder.bias"]
    other = ICNet(16000, 3, n_filters=4, encoder_channels=6, bottleneck_channels=5)
    other.load_state_dict(aliased, strict=True)
    assert torch.equal(other.decoder.weight, aliased["decoder.weight"])

    readout_only = {k.replace("decoder.", "readout."): v for k, v in aliased.items()}
    third = ICNet(16000, 3, n_filters=4, encoder_channels=6, bottleneck_channels=5)
    third.load_state_dict(readout_only, strict=True)
    assert torch.equal(third.decoder.weight, aliased["decoder.weight"])


def test_icnet_checkpoint_key_layout_matches_deepstrf():
    model = ICNet(48000, 5)
    keys = set(model.state_dict())
    assert len(keys) == 24  # deepSTRF's 26 minus the two aliased readout.* keys
    assert {
        "wav2spec.sincnet.low_hz_", "wav2spec.sincnet.band_hz_", "wav2spec.sincnet._n", "wav2spec.sincnet._window",
        "wav2spec.encoder.0.conv.weight", "wav2spec.encoder.4.activation.weight",
        "wav2spec.bottleneck.conv.weight", "wav2spec.bottleneck.activation.weight",
    } <= keys
    assert model.wav2spec.encoder_strides == [2, 2, 2, 2, 15]
    assert model.wav2spec.hop == 240


@pytest.mark.parametrize(
    "build",
    [
        lambda: make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0, kernel_size=251, envelope=True),
        lambda: make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0, kernel_size=64),
        lambda: make_wav2spec("leaf", audio_fs=16000, dt_ms=5.0, n_filters=12, f_max=7000.0),
        lambda: make_wav2spec("leaf", audio_fs=48000, dt_ms=5.0, n_filters=8),
        lambda: make_wav2spec("icnet", audio_fs=16000, dt_ms=5.0, n_filters=6, encoder_channels=8,
                              bottleneck_channels=4),
        lambda: make_wav2spec("icnet", audio_fs=48000, dt_ms=5.0, n_filters=6, encoder_channels=8,
                              bottleneck_channels=4),
    ],
    ids=["sincnet-envelope", "sincnet-strided", "leaf-16k", "leaf-48k", "icnet-16k", "icnet-48k"],
)
def test_gradients_reach_every_learnable_tensor(build):
    frontend = build()
    model = Linear(frontend.out_channels, 9, 3, wav2spec=frontend).eval()
    x = torch.randn(2, 1, 40 * frontend.hop)
    model(x).square().sum().backward()
    learnable = frontend.learnable_tensors()
    assert learnable
    for name, tensor in learnable.items():
        assert tensor.grad is not None, name
        assert torch.isfinite(tensor.grad).all(), name
        assert tensor.grad.abs().max() > 0, name


def test_frozen_leaf_groups_are_not_learnable():
    leaf = make_wav2spec("leaf", audio_fs=16000, dt_ms=5.0, learn_filters=False, learn_pcen=False)
    assert set(leaf.learnable_tensors()) == {"pool_sigma_raw"}
    assert len(leaf.state_dict()) == 9  # frozen parameters stay in the checkpoint
