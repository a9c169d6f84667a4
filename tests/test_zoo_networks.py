"""The NRF and DNet of the deepSTRF zoo: their forward pass against the maths of the specification (written
here again in float64 NumPy, independently of the modules), exact causality, and folders in deepSTRF's layout
that load strict, are identified from their tensors, and refuse sizes that do not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from strfviewer.backend.checkpoints import MissingModelInfoError, load_model, save_model
from strfviewer.backend.errors import CheckpointError
from strfviewer.backend.models import DNet, NetworkReceptiveField
from strfviewer.backend.models.layers import decay_kernel_size
from strfviewer.backend.models.readouts import (
    ParametricDoubleExponential,
    ParametricSigmoid,
    ParametricSoftplus,
    ParametricSTRF,
    SeparableSTRF,
    separable_sequential,
)

F_BANDS, T_LAGS, HIDDEN, NEURONS, FRAMES = 12, 7, 5, 3, 40


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter (LayerNorm affine, decays and activations included) random, so no term hides at its
    initial value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.named_parameters():
            value.copy_(torch.randn(value.shape, generator=generator) * (0.5 if name.endswith(".d") else 1.0))
    return model.eval()


def _reference(state: dict[str, np.ndarray], x: np.ndarray, kind: str, init_tau: float = 2.0,
               decay_input: bool = True) -> np.ndarray:
    """The specification's forward pass, frame by frame: ``(B, 1, F, T)`` -> ``(B, N, 1, T)``."""
    weight, bias = state["core.0.kernel.weight"][:, 0], state["core.0.kernel.bias"]  # (H, F, K), (H,)
    lags = weight.shape[2]
    batch, _, _, frames = x.shape
    padded = np.concatenate([np.zeros((batch, x.shape[2], lags - 1)), x[:, 0]], axis=2)
    z = np.stack([bias[None, :] + np.einsum("hfk,bfk->bh", weight, padded[:, :, t:t + lags])
                  for t in range(frames)], axis=2)  # (B, H, T)
    mean, var = z.mean(axis=1, keepdims=True), z.var(axis=1, keepdims=True)
    normed = (z - mean) / np.sqrt(var + 1e-5) * state["core.1.ln.weight"][None, :, None] \
        + state["core.1.ln.bias"][None, :, None]
    if kind == "NRF":
        hidden = np.tanh(normed)
    else:
        s = 1 / (1 + np.exp(-normed))
        d2 = state["core.3.d"] ** 2
        r, g = d2 / (1 + d2), (1 / (1 + d2) if decay_input else np.ones_like(d2))
        taps = decay_kernel_size(init_tau)
        hidden = np.zeros_like(s)
        for t in range(frames):
            for j in range(taps):
                hidden[:, :, t] += r[None, :] ** j * s[:, :, max(t - j, 0)]  # frames before 0 repeat frame 0
        hidden *= g[None, :, None]
    y = np.einsum("nh,bht->bnt", state["readout.fc.weight"], hidden) + state["readout.fc.bias"][None, :, None]
    if "readout.activation._raw_beta" in state:
        beta = _softplus(state["readout.activation._raw_beta"])[None, :, None]
        y = _softplus(beta * y) / beta + _softplus(state["readout.activation._raw_b"])[None, :, None]
    return y[:, :, None, :]


CASES = {
    "NRF": lambda: NetworkReceptiveField(F_BANDS, T_LAGS, HIDDEN, NEURONS),
    "DNet": lambda: DNet(F_BANDS, T_LAGS, HIDDEN, out_neurons=NEURONS),
    "DNet tau 2.5, no input decay": lambda: DNet(F_BANDS, T_LAGS, HIDDEN, 2.5, False, NEURONS),
}


def _kind_and_tau(name: str) -> tuple[str, float, bool]:
    if name == "NRF":
        return "NRF", 2.0, True
    return ("DNet", 2.5, False) if "2.5" in name else ("DNet", 2.0, True)


@pytest.mark.parametrize("name", list(CASES))
def test_the_forward_pass_is_the_specification_s(name):
    model = _randomised(CASES[name](), seed=len(name))
    x = torch.randn(2, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(x).numpy()
    state = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    kind, tau, decay_input = _kind_and_tau(name)
    expected = _reference(state, x.double().numpy(), kind, tau, decay_input)
    assert ours.shape == (2, NEURONS, 1, FRAMES)
    assert np.abs(ours - expected).max() / np.abs(expected).max() <= 1e-5


def test_dnet_decay_kernel_length_rounds_half_to_even():
    assert [decay_kernel_size(t) for t in (2.0, 2.5, 1.5)] == [14, 18, 10]
    assert DNet(F_BANDS, T_LAGS, HIDDEN, 2.5).core[3].kernel_size == 18


@pytest.mark.parametrize("name", list(CASES))
def test_no_output_depends_on_a_later_frame(name):
    model = _randomised(CASES[name](), seed=3)
    x = torch.randn(1, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(2))
    for k in (0, 13, FRAMES - 1):
        changed = x.clone()
        changed[..., k:] = torch.randn(changed[..., k:].shape, generator=torch.Generator().manual_seed(k))
        with torch.no_grad():
            before, after = model(x), model(changed)
        assert torch.equal(before[..., :k], after[..., :k])  # bitwise
        assert not torch.equal(before[..., k:], after[..., k:])


@pytest.mark.parametrize("name", list(CASES))
def test_a_folder_in_deepstrf_s_layout_loads_strict_and_predicts_the_same(name, tmp_path):
    model = _randomised(CASES[name](), seed=5)
    folder = save_model(model, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    expected_keys = {"n_frequency_bands", "temporal_window_size", "n_hidden", "out_neurons", "kernel",
                     "output_activation", "prefiltering", "_model_class"}
    if isinstance(model, DNet):
        expected_keys |= {"init_tau", "decay_input"}
    assert set(config) == expected_keys  # deepSTRF's keys: its own constructor takes this config as it is
    loaded = load_model(folder)
    assert loaded.model_class == type(model).__name__
    x = torch.randn(1, 1, F_BANDS, FRAMES)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_a_folder_without_config_is_identified_from_its_tensors(tmp_path):
    from strfviewer.backend.models import ConvNet2D

    for model, name in ((NetworkReceptiveField(F_BANDS, T_LAGS, HIDDEN, NEURONS), "NetworkReceptiveField"),
                        (DNet(F_BANDS, T_LAGS, HIDDEN, out_neurons=NEURONS), "DNet"),
                        (ConvNet2D(20, (5, 4), 6, 7, NEURONS), "ConvNet2D")):
        folder = save_model(model, tmp_path / name)
        (folder / "config.json").unlink()
        with pytest.raises(MissingModelInfoError) as raised:
            load_model(folder)
        assert raised.value.missing["_model_class"] == name
        loaded = load_model(folder, description={"_model_class": name})
        assert isinstance(loaded.model, type(model))


def test_sizes_the_weights_do_not_hold_are_refused_by_name(tmp_path):
    folder = save_model(NetworkReceptiveField(F_BANDS, T_LAGS, HIDDEN, NEURONS), tmp_path / "nrf")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "n_hidden": HIDDEN + 1}))
    with pytest.raises(CheckpointError, match=r"n_hidden=6 but the weights hold 5"):
        load_model(folder)


@pytest.mark.parametrize("name", list(CASES))
def test_on_audio_the_causality_jacobian_finds_no_leak_and_a_receptive_field(name):
    from strfviewer.backend.analysis.causality import frame_jacobian
    from strfviewer.backend.frontends import make_wav2spec
    from strfviewer.backend.synth import vocalization_like

    torch.manual_seed(0)
    model = CASES[name]()
    model.wav2spec = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=F_BANDS, f_max=7000.0)
    model = _randomised(model, seed=7)
    result = frame_jacobian(model, vocalization_like(16000, 0.25), mode="projection")
    assert result.leak_is_exactly_zero and result.leak == 0.0
    assert result.receptive_field is not None and result.receptive_field > 0


def test_gradient_strfs_cover_every_frame_the_model_remembers():
    from strfviewer.backend.analysis.strf import gradient_strf

    nrf = _randomised(NetworkReceptiveField(F_BANDS, T_LAGS, HIDDEN, NEURONS), seed=11)
    dnet = _randomised(DNet(F_BANDS, T_LAGS, HIDDEN, 2.0, out_neurons=NEURONS), seed=12)
    assert gradient_strf(nrf).weights.shape == (NEURONS, 1, F_BANDS, T_LAGS)
    strf = gradient_strf(dnet)
    assert dnet.memory_frames == T_LAGS + 14 - 1
    assert strf.weights.shape == (NEURONS, 1, F_BANDS, dnet.memory_frames)
    assert np.abs(strf.weights[..., 0]).max() > 0  # the decay's oldest frame still counts


@pytest.mark.parametrize("name", list(CASES))
def test_the_causality_view_s_jacobian_is_the_exact_one(name):
    """Local windows must span all the model remembers (DNet's decay too), or old lags would be cut off."""
    from strfviewer.backend.analysis.causality import frame_jacobian
    from strfviewer.backend.frontends import make_wav2spec

    torch.manual_seed(0)
    model = CASES[name]()
    model.wav2spec = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=F_BANDS, f_max=7000.0)
    model = _randomised(model, seed=9)
    audio = torch.randn(60 * 80, generator=torch.Generator().manual_seed(4)) * 0.1
    result = frame_jacobian(model, audio, mode="projection", neuron=1)
    exact = torch.autograd.functional.jacobian(lambda x: model(x.reshape(1, 1, -1))[0, 1, 0], audio).numpy()
    assert result.method == "local windows"
    np.testing.assert_allclose(result.jacobian, exact, rtol=0, atol=1e-5 * np.abs(exact).max())


ACTIVATIONS = {
    "softplus": lambda n: ParametricSoftplus(n),
    "sigmoid": lambda n: ParametricSigmoid(n),
    "sigmoid, no base": lambda n: ParametricSigmoid(n, bias=False),
    "double exponential": lambda n: ParametricDoubleExponential(n),
    "double exponential, no base": lambda n: ParametricDoubleExponential(n, bias=False),
}


def _activation_reference(state: dict[str, np.ndarray], x: np.ndarray, non_negative: bool = True) -> np.ndarray:
    def positive(key: str) -> np.ndarray:
        return _softplus(state[key]) if non_negative else state[key]

    if "_raw_beta" in state:
        beta = _softplus(state["_raw_beta"])
        return _softplus(beta * x) / beta + positive("_raw_b")
    if "c" in state:
        y = positive("_raw_b") / (1 + np.exp(-(x - state["c"]) / state["d"]))
        return y + positive("_raw_a") if "_raw_a" in state else y
    y = positive("_raw_a") * np.exp(-np.exp(state["k"] * x - state["s"]))
    return y + positive("_raw_b") if "_raw_b" in state else y


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_output_activations_follow_the_specification_and_are_recognised_on_loading(name, tmp_path):
    activation = _randomised(ACTIVATIONS[name](NEURONS), seed=13)
    x = torch.randn(4, 9, NEURONS, generator=torch.Generator().manual_seed(3))
    state = {k: v.detach().double().numpy() for k, v in activation.state_dict().items()}
    with torch.no_grad():
        ours = activation(x).double().numpy()
    np.testing.assert_allclose(ours, _activation_reference(state, x.double().numpy()), rtol=1e-5, atol=1e-6)
    for model in (NetworkReceptiveField(F_BANDS, T_LAGS, HIDDEN, NEURONS, output_activation=activation),
                  DNet(F_BANDS, T_LAGS, HIDDEN, out_neurons=NEURONS, output_activation=activation)):
        folder = save_model(model.eval(), tmp_path / type(model).__name__)
        assert "output_activation" not in json.loads((folder / "config.json").read_text())  # a module: dropped
        loaded = load_model(folder)
        assert type(loaded.model.readout.activation) is type(activation)
        spec = torch.randn(1, 1, F_BANDS, FRAMES)
        with torch.no_grad():
            assert torch.equal(loaded.model(spec), model(spec))


KERNELS = {
    "separable": lambda c_out: SeparableSTRF(F_BANDS, T_LAGS, 1, c_out),
    "separable, no bias": lambda c_out: SeparableSTRF(F_BANDS, T_LAGS, 1, c_out, bias=False),
    "parametric, 3 Gaussians": lambda c_out: ParametricSTRF(F_BANDS, T_LAGS, 1, c_out, 3),
    "parametric, no bias": lambda c_out: ParametricSTRF(F_BANDS, T_LAGS, 1, c_out, 1, bias=False),
    "separable Sequential": lambda c_out: separable_sequential(F_BANDS, T_LAGS, 1, c_out),
}


def _kernel_reference(state: dict[str, np.ndarray]) -> np.ndarray:
    """The specification's effective STRFs ``(C_out, C_in, F, T)`` of a kernel's tensors."""
    if "P" in state:
        f, t = np.arange(F_BANDS)[:, None], np.arange(T_LAGS)[None, :]
        p, sig, w = state["P"], state["SIG"], state["weight"]
        out = np.zeros((*w.shape[:2], F_BANDS, T_LAGS))
        for o, c, n in np.ndindex(*w.shape):
            s_f, s_t = abs(sig[0, o, c, n]) + 0.27, abs(sig[1, o, c, n]) + 0.27
            g = np.exp(-0.5 * (((f - p[0, o, c, n]) / s_f) ** 2 + ((t - p[1, o, c, n]) / s_t) ** 2))
            out[o, c] += w[o, c, n] * g / (g.sum() + 1e-7)
        return out
    if "weight_f" in state:
        return state["weight_f"] * state["weight_t"]
    return state["0.weight"] * state["1.weight"][:, 0, 0, :][:, None, None, :]


@pytest.mark.parametrize("name", list(KERNELS))
def test_strf_kernels_apply_the_specification_s_strfs_and_load_back_from_their_tensors(name, tmp_path):
    from strfviewer.backend.analysis.strf import gradient_strf, linear_strf
    from strfviewer.backend.models import Linear
    from strfviewer.backend.models.readouts import effective_kernel

    kernel = _randomised(KERNELS[name](NEURONS), seed=17)
    state = {k: v.detach().double().numpy() for k, v in kernel.state_dict().items()}
    weight, _ = effective_kernel(kernel)
    np.testing.assert_allclose(weight.detach().double().numpy(), _kernel_reference(state), rtol=1e-5, atol=1e-6)
    x = torch.randn(2, 1, F_BANDS, T_LAGS + 5)
    with torch.no_grad():  # the module applies exactly its effective STRFs
        applied = torch.nn.functional.conv2d(x, weight, effective_kernel(kernel)[1])
        np.testing.assert_allclose(kernel(x).numpy(), applied.numpy(), rtol=1e-5, atol=1e-5)
    linear = _randomised(Linear(F_BANDS, T_LAGS, NEURONS, kernel=kernel), seed=18)
    np.testing.assert_allclose(linear_strf(linear).weights, gradient_strf(linear).weights, rtol=1e-4, atol=1e-6)
    models = [linear, _randomised(NetworkReceptiveField(F_BANDS, T_LAGS, NEURONS, 2, kernel=KERNELS[name](NEURONS)),
                                  seed=19)]
    for model in models:
        folder = save_model(model, tmp_path / type(model).__name__)
        assert "kernel" not in json.loads((folder / "config.json").read_text())  # a module: dropped
        loaded = load_model(folder)
        spec = torch.randn(1, 1, F_BANDS, FRAMES)
        with torch.no_grad():
            assert torch.equal(loaded.model(spec), model(spec))


def test_a_parameterless_activation_config_json_does_not_name_is_reported_not_hidden(tmp_path):
    model = DNet(F_BANDS, T_LAGS, HIDDEN, out_neurons=NEURONS, output_activation=torch.nn.Sigmoid())
    folder = save_model(model.eval(), tmp_path / "dnet-sigmoid")
    loaded = load_model(folder)
    assert any("identity is assumed" in note for note in loaded.notes)
    plain = load_model(save_model(DNet(F_BANDS, T_LAGS, HIDDEN, out_neurons=NEURONS), tmp_path / "dnet"))
    assert not any("activation" in note for note in plain.notes)  # config.json says: the default


def _convnet_reference(state: dict[str, torch.Tensor], x: torch.Tensor, k_t: int) -> torch.Tensor:
    """§6.5 in plain tensor maths (float64): one zero pad, three valid convolutions each followed by a layer
    norm across channels and a leaky ReLU, features c * F_down + f, a hidden layer, the softplus."""
    y = torch.nn.functional.pad(x, (3 * (k_t - 1), 0))
    for conv, norm in ((1, 2), (4, 5), (7, 8)):
        y = torch.nn.functional.conv2d(y, state[f"core.{conv}.weight"], state[f"core.{conv}.bias"])
        mean, var = y.mean(dim=1, keepdim=True), y.var(dim=1, unbiased=False, keepdim=True)
        y = (y - mean) / torch.sqrt(var + 1e-5) * state[f"core.{norm}.ln.weight"][None, :, None, None] \
            + state[f"core.{norm}.ln.bias"][None, :, None, None]
        y = torch.where(y >= 0, y, 0.1 * y)
    features = y.reshape(y.shape[0], -1, y.shape[-1]).transpose(1, 2)  # (B, T, C * F_down)
    h = features @ state["readout.fc.0.weight"].T + state["readout.fc.0.bias"]
    h = torch.where(h >= 0, h, 0.1 * h)
    z = h @ state["readout.fc.2.weight"].T + state["readout.fc.2.bias"]
    softplus = torch.nn.functional.softplus
    beta = softplus(state["readout.activation._raw_beta"])
    out = softplus(beta * z) / beta + softplus(state["readout.activation._raw_b"])
    return out.transpose(1, 2)[:, :, None, :]


@pytest.mark.parametrize("kernel_size,c_hidden,n_hidden", [((3, 9), 10, 20), ((5, 4), 6, 7)])
def test_convnet2d_follows_the_specification_streams_and_loads(kernel_size, c_hidden, n_hidden, tmp_path):
    from strfviewer.backend.frontends import make_wav2spec
    from strfviewer.backend.models import ConvNet2D
    from strfviewer.backend.streaming import run_in_chunks

    bands = 20
    model = _randomised(ConvNet2D(bands, kernel_size, c_hidden, n_hidden, NEURONS), seed=21)
    x = torch.randn(2, 1, bands, FRAMES, generator=torch.Generator().manual_seed(6))
    state = {k: v.detach().double() for k, v in model.state_dict().items()}
    with torch.no_grad():
        ours, expected = model(x), _convnet_reference(state, x.double(), kernel_size[1])
    assert ours.shape == (2, NEURONS, 1, FRAMES)
    assert (ours.double() - expected).abs().max() / expected.abs().max() <= 1e-5
    folder = save_model(model, tmp_path / "convnet")
    assert json.loads((folder / "config.json").read_text())["kernel_size"] == list(kernel_size)
    with torch.no_grad():
        assert torch.equal(load_model(folder).model(x), model(x))
    model.wav2spec = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=bands, f_max=7000.0)
    audio = torch.randn(FRAMES * 80, generator=torch.Generator().manual_seed(8)) * 0.1
    with torch.no_grad():
        offline = model(audio.reshape(1, 1, -1))[0, :, 0].numpy()
    streamed = run_in_chunks(model, audio.numpy(), chunk_s=0.015)  # 3 frames a chunk
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-5 * np.abs(offline).max())
    changed = audio.clone()
    changed[20 * 80:] = 0.0
    with torch.no_grad():  # exactly causal: frames before 20 do not see the change
        assert torch.equal(model(changed.reshape(1, 1, -1))[..., :20], model(audio.reshape(1, 1, -1))[..., :20])
    from strfviewer.backend.analysis.causality import frame_jacobian

    result = frame_jacobian(model, audio, mode="projection", neuron=0)
    exact = torch.autograd.functional.jacobian(lambda a: model(a.reshape(1, 1, -1))[0, 0, 0], audio).numpy()
    assert result.leak_is_exactly_zero
    np.testing.assert_allclose(result.jacobian, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
