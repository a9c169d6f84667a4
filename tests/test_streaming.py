"""Streaming equals offline inference for every front-end kind and for Linear, LinearNonlinear and ICNet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strfviewer.backend.errors import ConfigurationError, InputShapeError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import DNet, ICNet, Linear, LinearNonlinear, NetworkReceptiveField
from strfviewer.backend.streaming import Streamer

FS = 16000
HOP = 80
FRONTENDS = {
    "mel": ("mel", {}),
    "gammatone-log": ("gammatone", {"f_max": 7000.0, "n_filters": 12}),
    "gammatone-pcen": ("gammatone", {"compression": "pcen", "f_max": 7000.0, "n_filters": 12}),
    "sincnet": ("sincnet", {"kernel_size": 251, "n_filters": 12}),
    "sincnet-envelope": ("sincnet", {"kernel_size": 251, "envelope": True, "n_filters": 12}),
    "sincnet-short": ("sincnet", {"kernel_size": 40, "n_filters": 12}),
    "leaf": ("leaf", {"f_max": 7000.0, "n_filters": 10}),
    "icnet": ("icnet", {"n_filters": 6, "encoder_channels": 8, "bottleneck_channels": 5}),
}


def _frontend(name):
    kind, kwargs = FRONTENDS[name]
    return make_wav2spec(kind, audio_fs=FS, dt_ms=5.0, **kwargs).eval()


def _random_chunks(n_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame counts of random chunks (single frames included) that add up to ``n_frames``."""
    sizes, left = [1, 1], n_frames - 2
    while left > 0:
        sizes.append(int(min(left, rng.choice([1, 2, 3, 7, 10, 16, 33]))))
        left -= sizes[-1]
    return sizes


def _stream(module, audio: np.ndarray, frames_per_chunk: list[int]) -> np.ndarray:
    streamer = Streamer(module)
    outputs, start = [], 0
    for n in frames_per_chunk:
        outputs.append(streamer.push(audio[start : start + n * HOP]))
        start += n * HOP
    assert streamer.frames_out == start // HOP
    return np.concatenate(outputs, axis=1)


def _offline(module, audio: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = module(torch.from_numpy(audio).reshape(1, 1, -1))
    return out[0, :, 0].numpy() if out.shape[2] == 1 and out.shape[1] != 1 else out[0, 0].numpy()


def _assert_equal_to_offline(streamed: np.ndarray, offline: np.ndarray) -> None:
    assert streamed.shape == offline.shape
    scale = np.abs(offline).max()
    assert scale > 0
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_front_end_streams_equal_offline(name):
    module = _frontend(name)
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(150 * HOP)).astype(np.float32)
    offline = _offline(module, audio)
    for seed in (0, 1):
        chunks = _random_chunks(150, np.random.default_rng(seed))
        _assert_equal_to_offline(_stream(module, audio, chunks), offline)
    _assert_equal_to_offline(_stream(module, audio, [1] * 150), offline)


@pytest.mark.parametrize("build", [
    lambda: Linear(12, 9, 4, wav2spec=_frontend("gammatone-pcen")),
    lambda: LinearNonlinear(34, 7, 3, wav2spec=_frontend("mel")),
    lambda: LinearNonlinear(10, 5, 3, wav2spec=_frontend("leaf")),
    lambda: ICNet(FS, 6, n_filters=6, encoder_channels=8, bottleneck_channels=5),
    lambda: NetworkReceptiveField(34, 7, 6, 3, wav2spec=_frontend("mel")),
    lambda: DNet(12, 5, 4, 2.5, out_neurons=3, wav2spec=_frontend("gammatone-pcen")),
    lambda: DNet(34, 9, 5, 2.0, False, 2, wav2spec=_frontend("mel")),
], ids=["linear-gammatone-pcen", "ln-mel", "ln-leaf", "icnet", "nrf-mel", "dnet-gammatone-pcen", "dnet-mel"])
def test_model_streams_equal_offline(build):
    torch.manual_seed(0)
    model = build().eval()
    rng = np.random.default_rng(2)
    audio = (0.1 * rng.standard_normal(120 * HOP)).astype(np.float32)
    with torch.no_grad():
        offline = model(torch.from_numpy(audio).reshape(1, 1, -1))[0, :, 0].numpy()
    _assert_equal_to_offline(_stream(model, audio, _random_chunks(120, rng)), offline)
    _assert_equal_to_offline(_stream(model, audio, [1] * 120), offline)


def test_full_size_icnet_streams_with_per_layer_caches():
    model = ICNet(48000, 3).eval()
    audio = (0.1 * np.random.default_rng(3).standard_normal(30 * 240)).astype(np.float32)
    with torch.no_grad():
        offline = model(torch.from_numpy(audio).reshape(1, 1, -1))[0, :, 0].numpy()
    streamer = Streamer(model)
    streamed = np.concatenate([streamer.push(audio[i : i + 240]) for i in range(0, audio.shape[0], 240)], axis=1)
    _assert_equal_to_offline(streamed, offline)
    # Each layer keeps only what its next outputs need, far less than the receptive field.
    kept = sum(stage.history.buffer.shape[-1] for stage in streamer._stages[0].blocks)
    assert kept < 2 * 240 + 64 * 5 < model.wav2spec.fir_reach


def test_reset_starts_over():
    streamer = Streamer(_frontend("gammatone-pcen"))
    audio = np.random.default_rng(4).standard_normal(20 * HOP).astype(np.float32)
    first = streamer.push(audio)
    streamer.push(audio)
    streamer.reset()
    assert streamer.frames_out == 0
    np.testing.assert_array_equal(streamer.push(audio), first)


def test_bad_chunks_and_modules_are_refused():
    streamer = Streamer(_frontend("mel"))
    with pytest.raises(InputShapeError, match="multiple of 80"):
        streamer.push(np.zeros(100, dtype=np.float32))
    with pytest.raises(InputShapeError, match="mono"):
        streamer.push(np.zeros((2, 160), dtype=np.float32))
    assert streamer.push(np.zeros(0, dtype=np.float32)).shape == (34, 0)
    with pytest.raises(ConfigurationError, match="cannot be streamed"):
        Streamer(torch.nn.Linear(3, 3))
    with pytest.raises(ConfigurationError, match="cannot be streamed"):
        Streamer(Linear(34, 5, 2))  # takes a spectrogram, not audio


@pytest.mark.parametrize("name", ["leaf", "icnet"])
def test_updated_weights_are_used_at_once_despite_cached_kernels(name):
    module = _frontend(name)
    x = torch.randn(1, 1, 40 * HOP)
    with torch.no_grad():
        before = module(x)
        weight = module.encoder[0].conv.weight if name == "icnet" else module.center_freq_
        weight.mul_(1.1)  # an optimiser-like step on a weight whose kernels or spectra are cached
        after = module(x)
    fresh = _frontend(name)
    fresh.load_state_dict(module.state_dict())
    with torch.no_grad():
        expected = fresh(x)
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, expected, rtol=0, atol=0)


def test_run_in_chunks_equals_offline_with_progress_and_cancel():
    import threading

    from strfviewer.backend.jobs import CancelledError
    from strfviewer.backend.streaming import run_in_chunks

    module = _frontend("leaf")
    audio = np.random.default_rng(5).standard_normal(FS * 2 + 37).astype(np.float32)  # not whole frames
    seen = []
    frames = run_in_chunks(module, audio, chunk_s=0.25, progress=lambda d, t, m: seen.append((d, t)))
    padded = np.concatenate([audio, np.zeros((-audio.shape[0]) % HOP, dtype=np.float32)])
    _assert_equal_to_offline(frames, _offline(module, padded))
    assert len(seen) == 9 and seen[-1][0] == seen[-1][1]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        run_in_chunks(module, audio, cancel=cancel)
