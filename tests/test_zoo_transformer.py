"""deepSTRF's Transformer: the forward pass against the specification's maths (written here again in float64
NumPy, independently of the module), its checkpoint names, exact causality (and a deliberate leak), the
streaming helpers chunk by chunk against the offline pass, and arguments that cannot make a model."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.models.prefilters import AdapTrans, ICAdaptation
from strfviewer.backend.models.readouts import ParametricSigmoid
from strfviewer.backend.models.transformer import Transformer, window_mask

BANDS, NEURONS, FRAMES = 34, 3, 40

CASES = {
    "default": lambda **kw: Transformer(**kw),
    "K_F 17, K_T 3, window 5, 4 heads, 2 layers": lambda **kw: Transformer(
        BANDS, 17, 3, 5, 48, 4, 2, NEURONS, **kw),
    "K_F 2, K_T 4, E 8, 8 heads, 3 layers, window 0, AdapTrans, sigmoid": lambda **kw: Transformer(
        BANDS, 2, 4, 0, 8, 8, 3, NEURONS, ParametricSigmoid(NEURONS),
        AdapTrans(torch.full((BANDS,), 0.6), torch.full((BANDS,), 0.7), 5), **kw),
    "window 1, ICAdaptation": lambda **kw: Transformer(
        BANDS, 17, 2, 1, 16, 2, 2, NEURONS, prefiltering=ICAdaptation(torch.full((BANDS,), 0.5), 7), **kw),
}


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _randomised(model: Transformer, seed: int) -> Transformer:
    """Every parameter random (norm affines, biases, activation and prefilter included), at a scale that keeps
    attention from saturating, so that no term hides at its initial value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.named_parameters():
            fan_in = value.shape[1] * math.prod(value.shape[2:]) if value.dim() > 1 else 4
            value.copy_(torch.randn(value.shape, generator=generator) * 1.5 / math.sqrt(fan_in))
            if name == "readout.activation.d":
                value.copy_(value.abs() + 0.5)
    return model.eval()


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * weight + bias


def _reference(state: dict[str, np.ndarray], x: np.ndarray, n_heads: int, context_window: int | None,
               mask_future: bool = True) -> np.ndarray:
    """§6.6 on prefiltered frames ``(B, C_in, F, L)`` -> ``(B, N, 1, L)``."""
    weight, bias = state["patchify.weight"], state["patchify.bias"]  # (E, C_in, K_F, K_T), (E,)
    emb, _, k_f, k_t = weight.shape
    batch, _, bands, frames = x.shape
    f_p, d = bands // k_f, emb * (bands // k_f)
    padded = np.concatenate([np.zeros((*x.shape[:3], k_t - 1)), x], axis=3)
    patches = np.zeros((batch, emb, f_p, frames))
    for p in range(f_p):
        for t in range(frames):
            block = padded[:, :, p * k_f:(p + 1) * k_f, t:t + k_t]  # (B, C_in, K_F, K_T)
            patches[:, :, p, t] = np.einsum("ecfk,bcfk->be", weight, block) + bias
    tokens = np.zeros((batch, frames, d))
    for e in range(emb):
        for p in range(f_p):
            tokens[:, :, e * f_p + p] = patches[:, e, p, :]
    i = np.arange(d // 2)
    angle = np.arange(frames)[:, None] * np.exp(-(2 * i) * np.log(10000.0) / d)[None, :]
    tokens[:, :, 0::2] += np.sin(angle)
    tokens[:, :, 1::2] += np.cos(angle)
    query, key = np.arange(frames)[:, None], np.arange(frames)[None, :]
    forbidden = key > query
    if context_window is not None and context_window > 0:
        forbidden |= query - key >= context_window
    if not mask_future:
        forbidden[:] = False
    h, d_h = tokens, d // n_heads
    n_layers = len({k.split(".")[2] for k in state if k.startswith("tsfm.layers.")})
    for layer in range(n_layers):
        s = {k[len(f"tsfm.layers.{layer}."):]: v for k, v in state.items() if k.startswith(f"tsfm.layers.{layer}.")}
        w_q, w_k, w_v = np.split(s["self_attn.in_proj_weight"], 3)
        b_q, b_k, b_v = np.split(s["self_attn.in_proj_bias"], 3)
        q, k, v = h @ w_q.T + b_q, h @ w_k.T + b_k, h @ w_v.T + b_v
        heads = []
        for head in range(n_heads):
            cols = slice(head * d_h, (head + 1) * d_h)
            scores = q[..., cols] @ k[..., cols].transpose(0, 2, 1) / np.sqrt(d_h)
            scores = np.where(forbidden[None], -np.inf, scores)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            heads.append(weights / weights.sum(axis=-1, keepdims=True) @ v[..., cols])
        attended = np.concatenate(heads, axis=-1) @ s["self_attn.out_proj.weight"].T + s["self_attn.out_proj.bias"]
        h = _layer_norm(h + attended, s["norm1.weight"], s["norm1.bias"])
        hidden = np.maximum(h @ s["linear1.weight"].T + s["linear1.bias"], 0)
        h = _layer_norm(h + hidden @ s["linear2.weight"].T + s["linear2.bias"], s["norm2.weight"], s["norm2.bias"])
    y = h @ state["readout.fc.weight"].T + state["readout.fc.bias"]  # (B, L, N)
    if "readout.activation.c" in state:
        c, scale = state["readout.activation.c"], state["readout.activation.d"]
        y = _softplus(state["readout.activation._raw_b"]) / (1 + np.exp(-(y - c) / scale)) \
            + _softplus(state["readout.activation._raw_a"])
    return y.transpose(0, 2, 1)[:, :, None, :]


def _prefiltered64(model: Transformer, x: torch.Tensor) -> np.ndarray:
    """The model's prefilter in float64 (a copy: the model stays float32); the prefilters have tests of their own."""
    with torch.no_grad():
        return copy.deepcopy(model.prefiltering).double()(x.double()).numpy()


def _input(model: Transformer, seed: int = 1, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 1, model.F, FRAMES, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(CASES))
def test_the_forward_pass_is_the_specification_s(name):
    model = _randomised(CASES[name](), seed=len(name))
    x = _input(model)
    with torch.no_grad():
        ours = model(x).numpy()
    state = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    expected = _reference(state, _prefiltered64(model, x), model.n_heads, model.context_window)
    assert ours.shape == (2, model.O, 1, FRAMES)
    assert np.abs(ours - expected).max() / np.abs(expected).max() <= 1e-5


def test_torch_s_fast_path_and_the_autograd_path_agree():
    """Even head counts take torch's fused encoder kernel under no_grad; gradient maps take the plain one."""
    model = _randomised(CASES["K_F 17, K_T 3, window 5, 4 heads, 2 layers"](), seed=3)
    x = _input(model)
    with torch.no_grad():
        fast = model(x)
    slow = model(x).detach()
    assert (fast - slow).abs().max() <= 1e-5 * slow.abs().max()


def _expected_keys(model: Transformer, activation: tuple[str, ...] = ()) -> dict[str, tuple[int, ...]]:
    """§6.6's tensor names and shapes, listed from the specification."""
    e, d, n = model.E, model.D, model.O
    keys = {"patchify.weight": (e, model.C_in, model.K_F, model.K_T), "patchify.bias": (e,),
            "pos_encoding.div_term": (d // 2,)}
    for layer in range(model.n_layers):
        prefix = f"tsfm.layers.{layer}."
        keys |= {prefix + "self_attn.in_proj_weight": (3 * d, d), prefix + "self_attn.in_proj_bias": (3 * d,),
                 prefix + "self_attn.out_proj.weight": (d, d), prefix + "self_attn.out_proj.bias": (d,),
                 prefix + "linear1.weight": (4 * d, d), prefix + "linear1.bias": (4 * d,),
                 prefix + "linear2.weight": (d, 4 * d), prefix + "linear2.bias": (d,),
                 prefix + "norm1.weight": (d,), prefix + "norm1.bias": (d,),
                 prefix + "norm2.weight": (d,), prefix + "norm2.bias": (d,)}
    keys |= {"readout.fc.weight": (n, d), "readout.fc.bias": (n,)}
    return keys | {f"readout.activation.{name}": (n,) for name in activation}


def test_the_state_dict_has_the_specification_s_names_and_shapes():
    default = Transformer()
    assert (default.D, default.K_F, default.K_T) == (48, 34, 1)
    shapes = {k: tuple(v.shape) for k, v in default.state_dict().items()}
    assert shapes == _expected_keys(default)
    patched = Transformer(BANDS, 17, 3, 5, 48, 4, 2, NEURONS)
    assert patched.D == 96
    assert {k: tuple(v.shape) for k, v in patched.state_dict().items()} == _expected_keys(patched)
    with_activation = CASES["K_F 2, K_T 4, E 8, 8 heads, 3 layers, window 0, AdapTrans, sigmoid"]()
    state = {k: tuple(v.shape) for k, v in with_activation.state_dict().items() if not k.startswith("prefiltering.")}
    assert with_activation.C_in == 2 and with_activation.D == 136
    assert state == _expected_keys(with_activation, ("c", "d", "_raw_b", "_raw_a"))
    assert "pos_encoding.div_term" not in dict(default.named_parameters())  # a buffer, saved in checkpoints
    assert all(v.dtype == torch.float32 for v in default.state_dict().values())


@pytest.mark.parametrize("d", [2, 48, 96, 136])
def test_div_term_is_the_formula(d):
    div_term = Transformer(BANDS, 34, 1, None, d).pos_encoding.div_term.double().numpy()
    expected = np.exp(-(2 * np.arange(d // 2)) * np.log(10000.0) / d)
    np.testing.assert_allclose(div_term, expected, rtol=1e-6, atol=0)


def test_config_keys_are_deepstrf_s_eleven():
    plain = Transformer(BANDS, None, 2, None)
    assert plain.init_config == {
        "n_frequency_bands": BANDS, "freq_patch_size": None, "time_patch_size": 2, "context_window": None,
        "embedding_dim": 48, "n_heads": 1, "n_layers": 1, "out_neurons": 1, "output_activation": None,
        "prefiltering": None, "wav2spec": None,
    }
    assert plain.T == 9 and Transformer(time_patch_size=12).T == 12 and Transformer(context_window=5).T == 5
    given = CASES["K_F 2, K_T 4, E 8, 8 heads, 3 layers, window 0, AdapTrans, sigmoid"]()
    assert given.init_config["context_window"] == 0 and given.init_config["freq_patch_size"] == 2
    assert not {"output_activation", "prefiltering"} & set(given.init_config)  # modules: deepSTRF drops them
    assert "mask_future" not in given.init_config


def test_a_front_end_is_applied_first_and_leaves_no_config_key():
    from strfviewer.backend.frontends import make_wav2spec

    wav2spec = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=BANDS, f_max=7000.0)
    model = _randomised(Transformer(BANDS, 17, 3, 5, 16, 2, 1, NEURONS, wav2spec=wav2spec), seed=4)
    assert "wav2spec" not in model.init_config and model.takes_waveform
    audio = torch.randn(1, 1, FRAMES * 80, generator=torch.Generator().manual_seed(5)) * 0.1
    with torch.no_grad():
        assert torch.equal(model(audio), model.encode(wav2spec(audio)))


@pytest.mark.parametrize("context_window", [0, -3])
def test_a_window_of_zero_or_less_is_the_whole_past(context_window):
    unlimited = _randomised(Transformer(BANDS, 17, 2, None, 16, 2, 2, NEURONS), seed=6)
    same = Transformer(BANDS, 17, 2, context_window, 16, 2, 2, NEURONS).eval()
    same.load_state_dict(unlimited.state_dict())
    x = _input(unlimited)
    with torch.no_grad():
        assert torch.equal(same(x), unlimited(x))
    assert same.memory_frames is None and same.cache_frames is None


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("autograd", [False, True], ids=["no_grad", "autograd"])
def test_no_output_depends_on_a_later_frame(name, autograd):
    model = _randomised(CASES[name](), seed=7)
    x = _input(model, seed=2, batch=1)
    for k in (1, 13, FRAMES - 1):
        changed = x.clone()
        changed[..., k:] = torch.randn(changed[..., k:].shape, generator=torch.Generator().manual_seed(k))
        with torch.set_grad_enabled(autograd):
            before, after = model(x).detach(), model(changed).detach()
        assert torch.equal(before[..., :k], after[..., :k])  # bitwise
        assert not torch.equal(before[..., k:], after[..., k:])


@pytest.mark.parametrize("name", list(CASES))
def test_without_the_mask_the_future_leaks(name):
    model = _randomised(CASES[name](mask_future=False), seed=8)
    assert model.memory_frames is None
    x = _input(model, seed=2, batch=1)
    with torch.no_grad():
        before = model(x)
    state = {key: v.double().numpy() for key, v in model.state_dict().items()}
    expected = _reference(state, _prefiltered64(model, x), model.n_heads, None, mask_future=False)
    assert np.abs(before.numpy() - expected).max() / np.abs(expected).max() <= 1e-5
    for k in (1, 13, FRAMES - 1):
        changed = x.clone()
        changed[..., k:] += 1.0
        with torch.no_grad():
            after = model(changed)
        assert (before[..., :k] - after[..., :k]).abs().max() > 1e-4 * before.abs().max()


@pytest.mark.parametrize("name,memory", [("K_F 17, K_T 3, window 5, 4 heads, 2 layers", 2 * 4 + 3),
                                         ("window 1, ICAdaptation", 2 + 6)])
def test_memory_frames_is_exactly_what_an_output_reads(name, memory):
    """A change just outside the reach leaves the last output bitwise equal; one just inside moves it."""
    model = _randomised(CASES[name](), seed=9)
    assert model.memory_frames == memory
    x = _input(model, seed=3, batch=1)
    with torch.no_grad():
        last = model(x)[..., -1]
        for frame, moves in ((FRAMES - memory - 1, False), (FRAMES - memory, True)):
            changed = x.clone()
            changed[..., frame] += 1.0
            assert torch.equal(model(changed)[..., -1], last) is not moves
    assert Transformer().memory_frames is None


def _stream(model: Transformer, prefiltered: torch.Tensor, chunks: list[int]) -> torch.Tensor:
    """A streamer's loop over prefiltered frames ``(1, C_in, F, L)``: keep the last ``K_T - 1`` frames for the
    patches and, per layer, the last ``cache_frames`` inputs (all without a window); count the frames seen."""
    keep_frames, keep_inputs = model.K_T - 1, model.cache_frames
    past = torch.zeros(1, model.C_in, model.F, keep_frames)  # the zero pad offline applies
    caches = [torch.zeros(1, 0, model.D) for _ in range(model.n_layers)]
    position, outputs = 0, []
    for n in chunks:
        frames = prefiltered[..., position:position + n]
        h = model.tokens(frames, position, past)
        past = torch.cat([past, frames], dim=-1)[..., past.shape[-1] + n - keep_frames:]
        for layer in range(model.n_layers):
            inputs = torch.cat([caches[layer], h], dim=1)
            caches[layer] = inputs if keep_inputs is None else inputs[:, max(0, inputs.shape[1] - keep_inputs):]
            h = model.layer_forward(layer, inputs, n)
        outputs.append(model.read_out(h))
        position += n
    return torch.cat(outputs, dim=-1)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("chunks", [[1] * FRAMES, [3] * 13 + [1], [7] * 5 + [5], [2, 1, 7, 3, 9, 1, 17]],
                         ids=["1", "3", "7", "mixed"])
def test_the_streaming_helpers_reproduce_the_offline_pass(name, chunks):
    model = _randomised(CASES[name](), seed=10)
    x = _input(model, seed=4, batch=1)
    with torch.no_grad():
        prefiltered = model.prefiltering(x)
        offline = model.encode(prefiltered)
        streamed = _stream(model, prefiltered, chunks)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max() <= 1e-5 * offline.abs().max()
    if model.cache_frames is not None:
        assert model.cache_frames == max(model.window - 1, 0)


def test_window_mask_is_the_specification_s():
    mask = window_mask(6, 6, 3)
    allowed = [[j <= i and i - j < 3 for j in range(6)] for i in range(6)]
    assert torch.equal(mask == 0, torch.tensor(allowed))
    assert torch.isinf(mask[mask != 0]).all() and (mask[mask != 0] < 0).all()
    assert torch.equal(window_mask(6, 6, None) == 0, torch.ones(6, 6, dtype=torch.bool).tril())
    assert torch.equal(window_mask(2, 6, 3), mask[4:])  # the last queries after cached keys: the same rows
    assert torch.equal(window_mask(6, 6, 1) == 0, torch.eye(6, dtype=torch.bool))
    with pytest.raises(ConfigurationError, match="at least as many keys"):
        window_mask(3, 2, None)


@pytest.mark.parametrize("kwargs,message", [
    ({"freq_patch_size": 5}, r"freq_patch_size=5 does not divide n_frequency_bands=34.*1, 2, 17, 34"),
    ({"freq_patch_size": 0}, r"freq_patch_size must be a positive integer"),
    ({"embedding_dim": 3}, r"token size .* = 3 x 1 = 3 must be even"),
    ({"embedding_dim": 48, "n_heads": 5}, r"not divisible by n_heads=5.*Choose n_heads among 1, 2, 3, 4, 6"),
    ({"n_heads": 0}, r"n_heads must be a positive integer"),
    ({"n_layers": True}, r"n_layers must be a positive integer"),
    ({"time_patch_size": 2.0}, r"time_patch_size must be a positive integer"),
    ({"context_window": 2.5}, r"context_window must be a whole number of frames, or None"),
    ({"n_frequency_bands": 0}, r"n_frequency_bands must be a positive integer"),
    ({"embedding_dim": 100_000, "freq_patch_size": 1}, r"encoder layers on 3400000-dimensional tokens would need"),
    ({"n_layers": 10**9}, r"would need .* weights"),
    ({"mask_future": "no"}, r"mask_future must be True or False"),
])
def test_arguments_that_cannot_make_a_model_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Transformer(**kwargs)
