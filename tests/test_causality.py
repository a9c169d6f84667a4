"""Causality Jacobians: exact zero leak for every bank case, equal to a naive per-frame loop, and a
deliberately non-causal module caught at the right frames."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from frontend_cases import CASE_IDS, FRONTEND_CASES
from strfviewer.backend.analysis.causality import frame_jacobian, receptive_field_text
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.jobs import CancelledError
from strfviewer.backend.models import ICNet, Linear, LinearNonlinear


def _naive(module, audio, scalar) -> np.ndarray:
    """One full backward pass per frame: the reference the batched methods must equal."""
    hop = module.wav2spec.hop if hasattr(module, "wav2spec") and not hasattr(module, "out_channels") else module.hop
    n = audio.shape[0] // hop
    x = audio[: n * hop].reshape(1, 1, -1).clone().requires_grad_(True)
    y = module.eval()(x)
    rows = []
    for t in range(n):
        (g,) = torch.autograd.grad(scalar(y, t), x, retain_graph=True)
        rows.append(g[0, 0])
    return torch.stack(rows).numpy()


def _weights(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed)) / np.sqrt(n)


@pytest.mark.parametrize("case", FRONTEND_CASES, ids=CASE_IDS)
def test_leak_is_exactly_zero_for_every_bank_case(case):
    module = case.build()
    result = frame_jacobian(module, torch.randn(12 * module.hop), mode="projection")
    assert result.jacobian.shape == (12, 12 * module.hop)
    assert result.leak_is_exactly_zero and result.leak == 0.0
    assert np.abs(result.jacobian).max() > 0


FAST_CASES = {
    "mel": ("mel", {}),
    "gammatone-pcen": ("gammatone", {"compression": "pcen", "f_max": 7000.0, "n_filters": 12}),
    "sincnet-envelope": ("sincnet", {"kernel_size": 251, "envelope": True, "n_filters": 12}),
    "sincnet-strided-short": ("sincnet", {"kernel_size": 40, "n_filters": 12}),
    "leaf": ("leaf", {"f_max": 7000.0, "n_filters": 10}),
    "icnet-small": ("icnet", {"n_filters": 6, "encoder_channels": 8, "bottleneck_channels": 5}),
}


@pytest.mark.parametrize("name", list(FAST_CASES))
def test_batched_rows_equal_a_naive_per_frame_loop(name):
    kind, kwargs = FAST_CASES[name]
    module = make_wav2spec(kind, audio_fs=16000, dt_ms=5.0, **kwargs).eval()
    audio = torch.randn(30 * 80)
    channel = module.out_channels // 2
    result = frame_jacobian(module, audio, mode="channel", channel=channel)
    reference = _naive(module, audio, lambda y, t: y[0, 0, channel, t])
    np.testing.assert_allclose(result.jacobian, reference, rtol=0, atol=1e-5 * np.abs(reference).max())
    w = _weights(module.out_channels)
    projected = frame_jacobian(module, audio, mode="projection", seed=0)
    reference = _naive(module, audio, lambda y, t: y[0, 0, :, t] @ w)
    np.testing.assert_allclose(projected.jacobian, reference, rtol=0, atol=1e-5 * np.abs(reference).max())
    assert projected.method == ("through the recursion" if module.recursive else "local windows")
    if module.recursive:
        assert projected.receptive_field is None  # the whole past
    elif module.fir_reach < 20 * 80:  # long enough audio to see where the rows start
        assert module.fir_reach - 80 < projected.receptive_field <= module.fir_reach


def test_abs_mode_sums_absolute_channel_rows():
    module = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=6).eval()
    audio = torch.randn(12 * 80)
    result = frame_jacobian(module, audio, mode="abs")
    reference = sum(np.abs(_naive(module, audio, lambda y, t, c=c: y[0, 0, c, t])) for c in range(6))
    np.testing.assert_allclose(result.jacobian, reference, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["gammatone-pcen", "leaf"])
def test_abs_mode_through_the_recursion(kind):
    name, kwargs = FAST_CASES[kind]
    module = make_wav2spec(name, audio_fs=16000, dt_ms=5.0, **kwargs).eval()
    audio = torch.randn(24 * 80)
    result = frame_jacobian(module, audio, mode="abs")
    assert result.method == "through the recursion"
    reference = sum(np.abs(_naive(module, audio, lambda y, t, c=c: y[0, 0, c, t])) for c in range(module.out_channels))
    np.testing.assert_allclose(result.jacobian, reference, rtol=0, atol=1e-5 * reference.max())


@pytest.mark.parametrize("kind", ["gammatone-pcen", "leaf"])
def test_split_front_ends_recompose_exactly(kind):
    name, kwargs = FAST_CASES[kind]
    module = make_wav2spec(name, audio_fs=16000, dt_ms=5.0, **kwargs).eval()
    x = torch.randn(1, 1, 40 * 80)
    split = module.recursion_split()
    energy = split.energy(x)
    torch.testing.assert_close(split.tail(energy)[0], module(x), rtol=0, atol=0)
    alone = torch.cat([split.channel_energy(x, c) for c in range(module.out_channels)], dim=1)
    torch.testing.assert_close(alone, energy, rtol=1e-5, atol=1e-6 * energy.abs().max().item())


@pytest.mark.parametrize("build", [
    lambda: Linear(12, 5, 3, wav2spec=make_wav2spec("gammatone", audio_fs=16000, dt_ms=5.0, n_filters=12,
                                                   f_max=7000.0)),
    lambda: LinearNonlinear(10, 4, 3, wav2spec=make_wav2spec("leaf", audio_fs=16000, dt_ms=5.0, n_filters=10,
                                                             f_max=7000.0)),
    lambda: ICNet(16000, 3, n_filters=6, encoder_channels=8, bottleneck_channels=5),
], ids=["linear-gammatone", "ln-leaf", "icnet"])
def test_model_neuron_rows(build):
    model = build().eval()
    audio = torch.randn(24 * 80)
    result = frame_jacobian(model, audio, neuron=1)
    reference = _naive(model, audio, lambda y, t: y[0, 1, 0, t])
    np.testing.assert_allclose(result.jacobian, reference, rtol=0, atol=1e-5 * np.abs(reference).max())
    assert result.leak_is_exactly_zero


class CentredSpectrogram(nn.Module):
    """A deliberately non-causal front-end: STFT frames centred on each bin start (torch's default)."""

    def __init__(self, hop: int = 80, n_fft: int = 400) -> None:
        super().__init__()
        self.hop, self.n_fft, self.out_channels, self.audio_fs = hop, n_fft, n_fft // 2 + 1, 16000
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x[:, 0], self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return spec.abs()[..., : x.shape[-1] // self.hop].unsqueeze(1)


def test_a_centred_stft_shows_its_leak_at_the_right_frames():
    module = CentredSpectrogram()
    result = frame_jacobian(module, torch.randn(20 * 80), mode="projection")
    assert result.method == "whole signal" and not result.leak_is_exactly_zero
    jac = np.abs(result.jacobian)
    for t in range(2, 15):
        # Frame t reads [t*hop - n_fft/2, t*hop + n_fft/2): 120 samples past its bin's end.
        last = np.flatnonzero(jac[t] > 1e-7 * jac[t].max()).max()
        assert last == t * 80 + 200 - 1
        assert result.leak_abs[t] > 0 and result.leak_rel[t] > 0.01
    assert result.largest_relative_leak == pytest.approx(float(result.leak_rel.max()))


def test_progress_cancel_and_bad_requests():
    module = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0)
    seen = []
    frame_jacobian(module, torch.randn(40 * 80), progress=lambda d, t, m: seen.append((d, t)))
    assert seen and seen[-1] == (40, 40)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        frame_jacobian(module, torch.randn(40 * 80), cancel=cancel)
    with pytest.raises(ConfigurationError, match="channel must be an index below 34"):
        frame_jacobian(module, torch.randn(800), mode="channel", channel=34)
    with pytest.raises(ConfigurationError, match="shorter than one frame"):
        frame_jacobian(module, torch.randn(10))
    with pytest.raises(ConfigurationError, match="mode must be one of"):
        frame_jacobian(module, torch.randn(800), mode="sum")


def test_rows_are_handed_out_as_they_finish():
    model = ICNet(16000, 3, n_filters=6, encoder_channels=8, bottleneck_channels=5).eval()
    audio = torch.randn(40 * 80)
    batches = []
    result = frame_jacobian(model, audio, neuron=0, rows_ready=lambda first, rows: batches.append((first, rows.copy())))
    assert len(batches) > 2 and all(len(rows) <= 8 for _, rows in batches)
    assert sorted(first for first, _ in batches) == [first for first, _ in batches]  # in order
    seen = np.zeros(40, dtype=bool)
    for first, rows in batches:
        assert rows.shape[1] == 40 * 80
        np.testing.assert_array_equal(rows, result.jacobian[first : first + len(rows)])
        seen[first : first + len(rows)] = True
    assert seen.all()


def test_a_recursive_jacobian_stops_within_one_channel_pass_of_a_cancel():
    """Closing the window or a new request cancels a PCEN/LEAF Jacobian between channel passes, not after all."""
    from strfviewer.backend.jobs import CancelledError

    module = make_wav2spec("leaf", audio_fs=16000, dt_ms=5.0, f_max=7000.0, n_filters=10).eval()
    calls = []

    class CancelAfter:
        def is_set(self) -> bool:
            calls.append(1)
            return len(calls) > 3  # the first checks pass, then the flag is up

    with pytest.raises(CancelledError):
        frame_jacobian(module, torch.randn(16000), mode="projection", cancel=CancelAfter())
    assert len(calls) == 4  # it stopped at the first check after the flag went up, inside the channel loop


def test_one_wording_of_the_receptive_field():
    assert receptive_field_text(160, "local windows", 16000, 0.25) == "10.0 ms"
    assert receptive_field_text(None, "through the recursion", 16000, 0.25) == "whole past (recursive)"
    assert receptive_field_text(None, "whole signal", 16000, 0.25) == "whole past (not bounded for this module)"
    assert receptive_field_text(None, "local windows", 16000, 0.25) == (
        "longer than the 0.25 s measured (gradients reach its start)")
