"""deepSTRF's StateNet: its forward pass against the maths of the specification (written here again in float64
NumPy, step by step, independently of the modules) for every encoder and backbone, deepSTRF's tensor names,
exact causality, streaming with the recurrent state carried between chunks, and the backbones it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.models.statenet import StateNet, legendre_memory

F_BANDS, NEURONS, FRAMES = 20, 3, 40


class _OnAndOff(torch.nn.Module):
    """A memoryless two-channel prefilter (x and -x), so the encoder sees C_in = 2."""

    out_channels = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, -x], dim=1)


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _randomised(model: StateNet, seed: int, buffers: bool = False) -> StateNet:
    """Every parameter random (LayerNorm affine and activation included), weights scaled by their fan-in so the
    recurrence stays tame; with ``buffers`` the LMU's A and B too."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in model.parameters():
            scale = 1 / np.sqrt(np.prod(value.shape[1:])) if value.dim() > 1 else 0.5
            value.copy_(torch.randn(value.shape, generator=generator) * scale)
        if buffers:
            cell = model.rnn.cell
            cell.A.copy_(torch.randn(cell.A.shape, generator=generator) * 0.05)
            cell.B.copy_(torch.randn(cell.B.shape, generator=generator) * 0.1)
    return model.eval()


def _layer_norm(y: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Across the channels (axis 0) of a ``(C, L)`` frame, separately at each position."""
    mean, var = y.mean(axis=0, keepdims=True), y.var(axis=0, keepdims=True)
    return (y - mean) / np.sqrt(var + 1e-5) * weight[:, None] + bias[:, None]


def _encode_frame(state: dict[str, np.ndarray], frame: np.ndarray, connectivity: str, k: int, s: int) -> np.ndarray:
    """§6.7's spectral encoder on one frame ``(C_in, F)``: the token ``(C L,)``, index c L + l."""
    c_in, bands = frame.shape
    n_pos = (bands - k) // s + 1
    if connectivity == "LC":
        weights, biases = state["encoder_layers.0.weights"], state["encoder_layers.0.biases"]
        y = np.zeros(biases.shape)
        for o, pos in np.ndindex(*biases.shape):
            y[o, pos] = biases[o, pos] + sum(weights[o, c * k + j, pos] * frame[c, pos * s + j]
                                             for c in range(c_in) for j in range(k))
        norm = "encoder_layers.1"
    elif connectivity == "FC":
        v = frame.reshape(-1)  # index c F + f
        flat = state["encoder_layers.1.weight"] @ v + state["encoder_layers.1.bias"]
        y = flat.reshape(-1, n_pos)  # index o L + l
        norm = "encoder_layers.3"
    else:
        weight, bias = state["encoder_layers.0.weight"], state["encoder_layers.0.bias"]
        y = np.stack([bias + np.einsum("ock,ck->o", weight, frame[:, pos * s:pos * s + k]) for pos in range(n_pos)],
                     axis=1)
        norm = "encoder_layers.1"
    y = _sigmoid(_layer_norm(y, state[f"{norm}.ln.weight"], state[f"{norm}.ln.bias"]))
    return y.reshape(-1)


def _backbone_step(state: dict[str, np.ndarray], kind: str, x: np.ndarray, h: np.ndarray,
                   extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of §6.7's backbone equations: the new ``h`` and the new cell (LSTM) or memory (LMU) state."""
    if kind == "LMU":
        u = state["rnn.cell.e_x"] @ x + state["rnn.cell.e_h"] @ h + state["rnn.cell.e_m"] @ extra  # (1,)
        m = state["rnn.cell.A"] @ extra + state["rnn.cell.B"] @ u
        h = np.tanh(state["rnn.cell.W_x"] @ x + state["rnn.cell.W_h"] @ h + state["rnn.cell.W_m"] @ m)
        return h, m
    gi = state["rnn.weight_ih_l0"] @ x + state["rnn.bias_ih_l0"]
    gh = state["rnn.weight_hh_l0"] @ h + state["rnn.bias_hh_l0"]
    if kind == "RNN":
        return np.tanh(gi + gh), extra
    size = h.shape[0]
    block = [slice(i * size, (i + 1) * size) for i in range(4)]
    if kind == "GRU":  # rows [r; z; n]
        r = _sigmoid(gi[block[0]] + gh[block[0]])
        z = _sigmoid(gi[block[1]] + gh[block[1]])
        n = np.tanh(gi[block[2]] + r * gh[block[2]])
        return (1 - z) * n + z * h, extra
    a = gi + gh  # LSTM rows [i; f; g; o]
    i, f, g, o = _sigmoid(a[block[0]]), _sigmoid(a[block[1]]), np.tanh(a[block[2]]), _sigmoid(a[block[3]])
    c = f * extra + i * g
    return o * np.tanh(c), c


def _reference(model: StateNet, x: np.ndarray, prefilter_sign: bool = False) -> np.ndarray:
    """The specification's forward pass, frame by frame from a zero state: ``(B, 1, F, T)`` -> ``(B, N, 1, T)``."""
    state = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    kind = {"vanilla": "RNN"}.get(model.rnn_type, model.rnn_type)
    frames = np.concatenate([x, -x], axis=1) if prefilter_sign else x
    batch, n_frames = x.shape[0], x.shape[3]
    out = np.zeros((batch, NEURONS, 1, n_frames))
    beta = _softplus(state["readout.activation._raw_beta"])
    base = _softplus(state["readout.activation._raw_b"])
    for b in range(batch):
        h = np.zeros(model.H)
        extra = np.zeros(128 if kind == "LMU" else model.H)
        for t in range(n_frames):
            token = _encode_frame(state, frames[b, :, :, t], model.connectivity, model.K, model.S)
            h, extra = _backbone_step(state, kind, token, h, extra)
            z = state["readout.fc.weight"] @ h + state["readout.fc.bias"]
            out[b, :, 0, t] = _softplus(beta * z) / beta + base
    return out


def _relative_error(ours: torch.Tensor, expected: np.ndarray) -> float:
    return float(np.abs(ours.double().numpy() - expected).max() / np.abs(expected).max())


FORMS = [(c, r) for c in ("LC", "FC", "CONV") for r in ("GRU", "LSTM", "RNN", "vanilla")]


@pytest.mark.parametrize("connectivity,rnn_type", FORMS)
def test_the_forward_pass_is_the_specification_s(connectivity, rnn_type):
    model = _randomised(StateNet(F_BANDS, connectivity=connectivity, rnn_type=rnn_type, out_neurons=NEURONS),
                        seed=len(connectivity + rnn_type))
    x = torch.randn(2, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(x)
    assert ours.shape == (2, NEURONS, 1, FRAMES)
    assert _relative_error(ours, _reference(model, x.double().numpy())) <= 1e-5


@pytest.mark.parametrize("connectivity", ["LC", "FC", "CONV"])
def test_the_lmu_backbone_follows_the_specification_s_equations_with_any_stored_a_and_b(connectivity):
    model = _randomised(StateNet(F_BANDS, connectivity=connectivity, rnn_type="LMU", out_neurons=NEURONS),
                        seed=3, buffers=True)
    x = torch.randn(2, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(x)
    assert _relative_error(ours, _reference(model, x.double().numpy())) <= 1e-5


@pytest.mark.parametrize("connectivity,rnn_type", [("LC", "LSTM"), ("FC", "GRU"), ("CONV", "RNN"), ("LC", "LMU")])
def test_other_sizes_and_two_input_channels_follow_the_specification(connectivity, rnn_type):
    model = StateNet(F_BANDS, kernel_size=4, stride=3, hidden_channels=5, connectivity=connectivity,
                     rnn_type=rnn_type, out_neurons=NEURONS, prefiltering=_OnAndOff())
    model = _randomised(model, seed=4, buffers=rnn_type == "LMU")
    assert (model.C_in, model.L, model.H) == (2, 6, 30)
    x = torch.randn(2, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = model(x)
    assert _relative_error(ours, _reference(model, x.double().numpy(), prefilter_sign=True)) <= 1e-5


def test_vanilla_is_the_tanh_rnn():
    rnn = _randomised(StateNet(F_BANDS, rnn_type="RNN", out_neurons=NEURONS), seed=6)
    vanilla = StateNet(F_BANDS, rnn_type="vanilla", out_neurons=NEURONS).eval()
    vanilla.load_state_dict(rnn.state_dict(), strict=True)
    assert vanilla.init_config["rnn_type"] == "vanilla"  # config.json records the name given
    x = torch.randn(1, 1, F_BANDS, FRAMES)
    with torch.no_grad():
        assert torch.equal(vanilla(x), rnn(x))


def _expected_keys(connectivity: str, rnn_type: str, c: int, c_in: int, k: int, bands: int, n_pos: int
                   ) -> dict[str, tuple[int, ...]]:
    """§6.7's state dict: key -> shape."""
    h = c * n_pos
    encoder = {
        "LC": {"encoder_layers.0.weights": (c, c_in * k, n_pos), "encoder_layers.0.biases": (c, n_pos),
               "encoder_layers.1.ln.weight": (c,), "encoder_layers.1.ln.bias": (c,)},
        "FC": {"encoder_layers.1.weight": (h, c_in * bands), "encoder_layers.1.bias": (h,),
               "encoder_layers.3.ln.weight": (c,), "encoder_layers.3.ln.bias": (c,)},
        "CONV": {"encoder_layers.0.weight": (c, c_in, k), "encoder_layers.0.bias": (c,),
                 "encoder_layers.1.ln.weight": (c,), "encoder_layers.1.ln.bias": (c,)},
    }[connectivity]
    if rnn_type == "LMU":
        backbone = {"rnn.cell.e_x": (1, h), "rnn.cell.e_h": (1, h), "rnn.cell.e_m": (1, 128), "rnn.cell.W_x": (h, h),
                    "rnn.cell.W_h": (h, h), "rnn.cell.W_m": (h, 128), "rnn.cell.A": (128, 128), "rnn.cell.B": (128, 1)}
    else:
        rows = {"GRU": 3, "LSTM": 4, "RNN": 1, "vanilla": 1}[rnn_type] * h
        backbone = {"rnn.weight_ih_l0": (rows, h), "rnn.weight_hh_l0": (rows, h), "rnn.bias_ih_l0": (rows,),
                    "rnn.bias_hh_l0": (rows,)}
    readout = {"readout.fc.weight": (NEURONS, h), "readout.fc.bias": (NEURONS,),
               "readout.activation._raw_beta": (NEURONS,), "readout.activation._raw_b": (NEURONS,)}
    return {**encoder, **backbone, **readout}


@pytest.mark.parametrize("connectivity", ["LC", "FC", "CONV"])
@pytest.mark.parametrize("rnn_type", ["GRU", "LSTM", "RNN", "vanilla", "LMU"])
def test_tensor_names_and_shapes_are_deepstrf_s(connectivity, rnn_type):
    for kwargs, c, c_in, k, bands, n_pos in (({}, 7, 1, 7, 34, 10),
                                             ({"n_frequency_bands": 20, "kernel_size": 4, "hidden_channels": 5,
                                               "prefiltering": _OnAndOff()}, 5, 2, 4, 20, 6)):
        model = StateNet(connectivity=connectivity, rnn_type=rnn_type, out_neurons=NEURONS, **kwargs)
        shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
        assert shapes == _expected_keys(connectivity, rnn_type, c, c_in, k, bands, n_pos)
        assert all(value.dtype == torch.float32 for value in model.state_dict().values())


def test_default_sizes_and_config_keys():
    model = StateNet()
    assert (model.F, model.K, model.S, model.C, model.L, model.H) == (34, 7, 3, 7, 10, 70)
    assert model.memory_frames is None  # the recurrence remembers the whole past
    assert model.init_config == {
        "n_frequency_bands": 34, "temporal_window_size": 1, "kernel_size": 7, "stride": 3, "hidden_channels": 7,
        "connectivity": "LC", "rnn_type": "GRU", "out_neurons": 1, "output_activation": None,
        "prefiltering": None, "wav2spec": None,
    }
    given = StateNet(output_activation=torch.nn.Sigmoid(), prefiltering=_OnAndOff())
    assert "output_activation" not in given.init_config and "prefiltering" not in given.init_config
    assert isinstance(given.readout.activation, torch.nn.Sigmoid)


def _taylor_expm(a: np.ndarray) -> np.ndarray:
    """exp(a) by scaling and squaring a Taylor series, in float64 (an independent check of torch's)."""
    squarings = max(0, int(np.ceil(np.log2(np.abs(a).sum(axis=1).max() / 0.25))))
    scaled = a / 2**squarings
    term, total = np.eye(len(a)), np.eye(len(a))
    for n in range(1, 30):
        term = term @ scaled / n
        total = total + term
    for _ in range(squarings):
        total = total @ total
    return total


def test_a_fresh_lmu_holds_the_zero_order_hold_legendre_memory():
    m, theta = 128, 99.0
    q = np.arange(m)
    i, j = np.meshgrid(q, q, indexing="ij")
    a = (2 * i + 1) / theta * np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    b = ((2 * q + 1) * (-1.0) ** q / theta)[:, None]
    augmented = np.zeros((m + 1, m + 1))
    augmented[:m, :m], augmented[:m, m:] = a, b
    held = _taylor_expm(augmented)
    model = StateNet(rnn_type="LMU")
    ad, bd = model.rnn.cell.A.double().numpy(), model.rnn.cell.B.double().numpy()
    np.testing.assert_allclose(ad, held[:m, :m], rtol=0, atol=1e-6 * np.abs(held[:m, :m]).max())
    np.testing.assert_allclose(bd, held[:m, m:], rtol=0, atol=1e-6 * np.abs(held[:m, m:]).max())
    assert all(torch.equal(x, y) for x, y in zip(legendre_memory(), (model.rnn.cell.A, model.rnn.cell.B),
                                                 strict=True))


@pytest.mark.parametrize("rnn_type", ["GRU", "LSTM", "RNN", "LMU"])
@pytest.mark.parametrize("connectivity", ["LC", "FC", "CONV"])
def test_no_output_depends_on_a_later_frame(connectivity, rnn_type):
    model = _randomised(StateNet(F_BANDS, connectivity=connectivity, rnn_type=rnn_type, out_neurons=NEURONS),
                        seed=7)
    x = torch.randn(2, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(8))
    for k in (0, 13, FRAMES - 1):
        changed = x.clone()
        changed[..., k:] = torch.randn(changed[..., k:].shape, generator=torch.Generator().manual_seed(k))
        with torch.no_grad():
            before, after = model(x), model(changed)
        assert torch.equal(before[..., :k], after[..., :k])  # bitwise
        assert not torch.equal(before[..., k:], after[..., k:])


def _tensors(state: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("rnn_type", ["GRU", "LSTM", "RNN", "LMU"])
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_streaming_with_the_carried_state_reproduces_the_offline_pass(rnn_type, chunk):
    model = _randomised(StateNet(F_BANDS, kernel_size=4, hidden_channels=5, rnn_type=rnn_type,
                                 out_neurons=NEURONS, prefiltering=_OnAndOff()), seed=9)
    x = torch.randn(2, 1, F_BANDS, FRAMES, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        offline = model(x)
        state, rates = None, []
        for start in range(0, FRAMES, chunk):
            hidden, state = model.step(model.encode(model.prefiltering(x[..., start:start + chunk])), state)
            rates.append(model.read(hidden))
        streamed = torch.cat(rates, dim=-1)
        # an empty chunk leaves the state as it is
        empty, kept = model.step(model.encode(model.prefiltering(x[..., :0])), state)
    assert empty.shape == (2, 0, model.H)
    assert all(torch.equal(a, b) for a, b in zip(_tensors(kept), _tensors(state), strict=True))
    assert streamed.shape == offline.shape
    assert float((streamed - offline).abs().max() / offline.abs().max()) <= 1e-5


@pytest.mark.parametrize("rnn_type,needs", [
    ("Mamba", ["Mamba", "mambapy"]),
    ("S4", ["S4", "pytorch_lightning", "einops", "scipy"]),
    ("Transformer", ["'Transformer'"]),
    ("gru", ["'gru'"]),
    (None, ["None"]),
])
def test_backbones_strfviewer_does_not_build_are_refused_saying_what_they_need(rnn_type, needs):
    with pytest.raises(ConfigurationError) as raised:
        StateNet(rnn_type=rnn_type)
    message = str(raised.value)
    for word in [*needs, "GRU", "LSTM", "RNN", "vanilla", "LMU"]:
        assert word in message


def test_unknown_encoders_and_impossible_sizes_are_refused():
    with pytest.raises(ConfigurationError) as raised:
        StateNet(connectivity="conv")
    assert all(word in str(raised.value) for word in ("'conv'", "LC", "FC", "CONV"))
    with pytest.raises(ConfigurationError, match="kernel_size=35"):
        StateNet(kernel_size=35)
    with pytest.raises(ConfigurationError, match="hidden_channels"):
        StateNet(hidden_channels=0)
    with pytest.raises(ConfigurationError, match="weights"):
        StateNet(n_frequency_bands=10_000, kernel_size=1, stride=1, hidden_channels=100)
