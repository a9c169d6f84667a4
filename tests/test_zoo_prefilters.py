"""deepSTRF's prefilters (AdapTrans, ICAdaptation): the specification's maths written again in float64 NumPy,
exact causality, deepSTRF's sizing of K, and folders with a prefilter that load strict, ask for the K their
files do not record, and stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from strfviewer.backend.checkpoints import MissingModelInfoError, load_model, save_model
from strfviewer.backend.errors import CheckpointError, ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import DNet, Linear, LinearNonlinear, NetworkReceptiveField
from strfviewer.backend.models.prefilters import (
    DEFAULT_KERNEL_SIZE,
    AdapTrans,
    ICAdaptation,
    make_prefiltering,
)
from strfviewer.backend.streaming import Streamer

BANDS, FRAMES = 6, 30


def _past_average(x: np.ndarray, a: np.ndarray, k: int) -> np.ndarray:
    """``C(a) sum_{j=1}^{K-1} a^(j-1) x[t-j]`` per band, frames before the start repeating frame 0."""
    frames = x.shape[-1]
    out = np.zeros_like(x)
    for t in range(frames):
        weights = np.array([a ** (j - 1) for j in range(1, k)])  # (K-1, F)
        past = np.stack([x[..., max(t - j, 0)] for j in range(1, k)])  # (K-1, ..., F)
        out[..., t] = np.einsum("jf,j...f->...f", weights, past) / weights.sum(axis=0)
    return out


def _reference(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The specification's prefilter on ``(B, 1, F, T)``."""
    k, bands = module.kernel_size, x[:, 0]
    if isinstance(module, ICAdaptation):
        return np.maximum(bands - _past_average(bands, module.a.double().numpy(), k), 0)[:, None]
    a_on, a_off, w = (1 / (1 + getattr(module, n).detach().double().numpy() ** 2) for n in ("d_on", "d_off", "p"))
    w = w[:, None]
    on = np.maximum(bands - w * _past_average(bands, a_on, k), 0)
    off = np.maximum(_past_average(bands, a_off, k) - w * bands, 0)
    return np.stack([on, off], axis=1)


def _random(kind: str, k: int, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(BANDS, generator=generator) * 0.9 + 0.05
    if kind == "icadaptation":
        return ICAdaptation(a, k).eval()
    module = AdapTrans(a, torch.rand(BANDS, generator=generator) * 0.9 + 0.05, k)
    with torch.no_grad():  # ON and OFF decays differ, so a kernel built with the wrong one shows
        module.d_off.mul_(1.7)
    return module.eval()


@pytest.mark.parametrize("kind", ["adaptrans", "icadaptation"])
@pytest.mark.parametrize("k", [2, 5, 13])
def test_the_prefilters_compute_the_specification_s_adaptation(kind, k):
    module = _random(kind, k)
    x = np.random.default_rng(1).normal(size=(2, 1, BANDS, FRAMES))
    got = module(torch.tensor(x, dtype=torch.float32)).detach().double().numpy()
    want = _reference(module, x)
    assert got.shape == (2, module.out_channels, BANDS, FRAMES)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("kind", ["adaptrans", "icadaptation"])
def test_no_prefiltered_frame_depends_on_a_later_one(kind):
    module = _random(kind, 9)
    x = torch.randn(1, 1, BANDS, FRAMES)
    for k in (1, 8, 20):
        later = x.clone()
        later[..., k:] += torch.randn_like(later[..., k:])
        assert torch.equal(module(x)[..., :k], module(later)[..., :k])
        assert not torch.equal(module(x)[..., k:], module(later)[..., k:])


def test_make_prefiltering_sizes_k_as_deepstrf_does():
    assert make_prefiltering("adaptrans", 34, 5.0).kernel_size == DEFAULT_KERNEL_SIZE == 651
    assert make_prefiltering("Willmore", 18, 1.0, min_freq=200.0).kernel_size == 776
    icad = make_prefiltering("icadaptation", 34, 5.0)
    centre = 700 * (10 ** (2595 * np.log10(1 + 500 / 700) / 2595) - 1)
    assert float(icad.a[0]) == pytest.approx(np.exp(-5.0 / (500 - 105 * np.log10(centre))), rel=1e-6)
    with pytest.raises(ConfigurationError, match="adaptrans, icadaptation"):
        make_prefiltering("greenwood", 34, 5.0)


def test_state_dict_names_are_deepstrf_s():
    adaptrans = AdapTrans(torch.full((4,), 0.5), torch.full((4,), 0.75), 3)
    assert {k: tuple(v.shape) for k, v in adaptrans.state_dict().items()} == {"d_on": (4,), "d_off": (4,), "p": (4,)}
    frozen = AdapTrans(torch.full((4,), 0.5), torch.full((4,), 0.75), 3, learnable=False)
    assert set(frozen.state_dict()) == {"d_on", "d_off", "p"} and not list(frozen.parameters())
    assert set(ICAdaptation(torch.full((4,), 0.5), 3).state_dict()) == {"a"}


def _deepstrf_folder(tmp_path, model: torch.nn.Module, name: str) -> object:
    """A folder as deepSTRF writes it: config.json without the module arguments, no metadata.json."""
    folder = save_model(model, tmp_path / name)
    (folder / "metadata.json").unlink()
    return folder


@pytest.mark.parametrize("cls", [Linear, LinearNonlinear, NetworkReceptiveField, DNet])
@pytest.mark.parametrize("kind", ["adaptrans", "icadaptation"])
def test_a_deepstrf_folder_with_a_prefilter_asks_for_k_then_loads_strict(cls, kind, tmp_path):
    prefilter = _random(kind, 7)
    model = cls(BANDS, 5, out_neurons=2, prefiltering=prefilter).eval()
    x = torch.randn(1, 1, BANDS, FRAMES)
    folder = _deepstrf_folder(tmp_path, model, "m")
    assert "prefiltering" not in json.loads((folder / "config.json").read_text())
    with pytest.raises(MissingModelInfoError) as asked:
        load_model(folder)
    assert asked.value.missing["prefilter_kernel_size"] == DEFAULT_KERNEL_SIZE
    assert ("AdapTrans" if kind == "adaptrans" else "ICAdaptation") in str(asked.value)
    loaded = load_model(folder, prefilter_kernel_size=7)
    assert type(loaded.model.prefiltering) is type(prefilter) and loaded.model.C_in == prefilter.out_channels
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), model(x), rtol=1e-6, atol=1e-7)


def test_strfviewer_records_the_prefilter_so_its_folders_load_without_a_question(tmp_path):
    model = Linear(BANDS, 4, prefiltering=_random("adaptrans", 11)).eval()
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert loaded.model.prefiltering.kernel_size == 11 and loaded.model.memory_frames == 4 + 10


def test_a_bad_kernel_size_answer_is_refused_by_name(tmp_path):
    folder = _deepstrf_folder(tmp_path, Linear(BANDS, 4, prefiltering=_random("icadaptation", 3)), "m")
    with pytest.raises(CheckpointError, match=r"prefilter cannot be built.*kernel_size must be a whole number"):
        load_model(folder, prefilter_kernel_size=1)


@pytest.mark.parametrize("cls", [Linear, NetworkReceptiveField, DNet])
def test_a_prefiltered_model_on_audio_streams_exactly(cls):
    frontend = make_wav2spec("mel", audio_fs=8000, dt_ms=5.0, n_mels=BANDS, f_min=200.0, f_max=3500.0)
    model = cls(BANDS, 4, out_neurons=2, prefiltering=_random("adaptrans", 6), wav2spec=frontend).eval()
    audio = torch.randn(40 * frontend.hop) * 0.3
    with torch.no_grad():
        offline = model(audio.reshape(1, 1, -1))[0, :, 0].numpy()
    streamer = Streamer(model)
    chunks = [streamer.push(part) for part in audio.split(3 * frontend.hop)]
    streamed = np.concatenate(chunks, axis=1)
    assert np.abs(streamed - offline).max() <= 1e-5 * np.abs(offline).max()


def test_a_deepstrf_convnet2d_with_an_adaptrans_prefilter_loads_strict(tmp_path):
    from strfviewer.backend.models import ConvNet2D

    model = ConvNet2D(BANDS, (2, 3), 3, 4, 2, prefiltering=_random("adaptrans", 5)).eval()
    folder = _deepstrf_folder(tmp_path, model, "c")
    loaded = load_model(folder, prefilter_kernel_size=5)
    assert loaded.model.C_in == 2 and loaded.model.memory_frames == 3 * 2 + 1 + 4
    x = torch.randn(1, 1, BANDS, FRAMES)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), model(x), rtol=1e-6, atol=1e-7)
