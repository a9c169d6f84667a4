"""Front-ends checked against the published definitions they implement, computed here independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from frontend_cases import CASE_IDS, FRONTEND_CASES
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.frontends.blockconv import direct_engine
from strfviewer.backend.frontends.stages import pcen


def htk_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=float) / 700.0)


def erb_rate(f):
    return 21.4 * np.log10(0.00437 * np.asarray(f, dtype=float) + 1.0)


@pytest.mark.parametrize("audio_fs,win_ms,f_min,f_max,n_mels", [(48000, 10.0, 500.0, 22627.0, 34),
                                                                (16000, 25.0, 300.0, 7000.0, 40)])
def test_mel_filterbank_is_the_htk_triangle_bank(audio_fs, win_ms, f_min, f_max, n_mels):
    mel = make_wav2spec("mel", audio_fs=audio_fs, dt_ms=5.0, win_ms=win_ms, f_min=f_min, f_max=f_max,
                        n_mels=n_mels)
    n_fft = mel.n_fft
    freqs = np.linspace(0, audio_fs // 2, n_fft // 2 + 1)
    points = 700.0 * (10 ** (np.linspace(htk_mel(f_min), htk_mel(f_max), n_mels + 2) / 2595.0) - 1)
    rising = (freqs[:, None] - points[None, :-2]) / (points[1:-1] - points[:-2])
    falling = (points[None, 2:] - freqs[:, None]) / (points[2:] - points[1:-1])
    expected = np.maximum(0.0, np.minimum(rising, falling))
    np.testing.assert_allclose(mel._mel_fb.numpy(), expected, atol=1e-5)  # float32 bank
    torchaudio_bank = AF.melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, audio_fs, norm=None, mel_scale="htk")
    torch.testing.assert_close(mel._mel_fb, torchaudio_bank)
    np.testing.assert_allclose(mel.centre_frequencies(), points[1:-1])


def test_mel_window_is_symmetric_hann_and_frames_end_on_their_bin():
    mel = make_wav2spec("mel", audio_fs=48000, dt_ms=5.0)
    n = np.arange(480)
    np.testing.assert_allclose(mel._window.numpy(), 0.5 - 0.5 * np.cos(2 * np.pi * n / 479), atol=1e-6)
    # An impulse at sample j reaches frames t with (t + 1) * hop - win <= j < (t + 1) * hop only.
    x = torch.zeros(1, 1, 20 * 240)
    x[..., 2000] = 1.0
    y = make_wav2spec("mel", audio_fs=48000, dt_ms=5.0, compression="none")(x)[0, 0].sum(0)
    assert torch.nonzero(y > 1e-6).flatten().tolist() == [8, 9]  # silence stays at ~1e-15


@pytest.mark.parametrize("freq", [700.0, 2500.0, 9000.0])
def test_mel_tone_peaks_in_the_nearest_channel(freq):
    mel = make_wav2spec("mel", audio_fs=48000, dt_ms=5.0)
    t = torch.arange(48000) / 48000
    y = mel(torch.sin(2 * np.pi * freq * t).reshape(1, 1, -1))[0, 0, :, 10:].mean(-1)
    assert int(y.argmax()) == int(np.argmin(np.abs(mel.centre_frequencies() - freq)))


def test_gammatone_centre_frequencies_lie_on_the_erb_rate_ladder():
    g = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0)
    fc = g.centre_frequencies()
    assert fc[0] == pytest.approx(500.0) and fc[-1] == pytest.approx(22627.0, rel=1e-6)
    steps = np.diff(erb_rate(fc))
    np.testing.assert_allclose(steps, steps.mean(), rtol=1e-5)


def test_gammatone_filters_have_unit_peak_gain_at_their_centre_frequency():
    g = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0)
    h = g.impulse_responses().double().numpy()
    fc = g.centre_frequencies()
    lags = np.arange(h.shape[1])
    gain_at_fc = np.abs((h * np.exp(-2j * np.pi * fc[:, None] * lags / 48000)).sum(1))
    # Peak normalised on a 4096-point grid (as deepSTRF does): within 2 % of 1 at fc, at most 1 % above 1.
    np.testing.assert_allclose(gain_at_fc, 1.0, atol=0.02)
    dense_peak = np.abs(np.fft.rfft(h, n=1 << 16, axis=1)).max(1)
    assert dense_peak.max() < 1.01 and dense_peak.min() > 0.999


def test_gammatone_impulse_response_is_the_forward_gammatone():
    g = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0, n_filters=4)
    fs, order = 48000, 4
    t = np.arange(g.kernel_size) / fs
    fc = g.centre_frequencies()
    b = 1.019 * 24.7 * (0.00437 * fc + 1)
    curve = t ** (order - 1) * np.exp(-2 * np.pi * b[:, None] * t) * np.cos(2 * np.pi * fc[:, None] * t)
    h = g.impulse_responses().double().numpy()
    np.testing.assert_allclose(h / np.abs(h).max(1, keepdims=True),
                               curve / np.abs(curve).max(1, keepdims=True), atol=1e-5)
    assert g.orientation() == "true"
    # Envelope peak at (order - 1) / (2 pi b): a few ms, not the 14-20 ms of the time-reversed bank.
    peak_ms = np.abs(h).argmax(1) / fs * 1000
    np.testing.assert_allclose(peak_ms, (order - 1) / (2 * np.pi * b) * 1000, atol=0.3)


def test_time_reversed_gammatone_taps_are_recognised_and_reproduced():
    g = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0, n_filters=6)
    reversed_bank = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0, n_filters=6)
    state = reversed_bank.state_dict()
    state["_kernels"] = state["_kernels"].flip(-1)  # deepSTRF stores the unflipped curve
    reversed_bank.load_state_dict(state, strict=True)
    assert reversed_bank.orientation() == "reversed"
    x = torch.randn(1, 1, 50 * 240)
    y = torch.nn.functional.conv1d(torch.nn.functional.pad(x, (959, 0)), state["_kernels"])
    expected = torch.log(torch.clamp(torch.nn.functional.avg_pool1d(
        torch.nn.functional.pad(torch.relu(y), (240, 0)), 480, stride=240), min=1e-4))
    torch.testing.assert_close(reversed_bank(x)[:, 0], expected, atol=2e-5, rtol=1e-5)
    assert not torch.allclose(g(x), reversed_bank(x), atol=1e-2)


@pytest.mark.parametrize("kernel_size", [64, 251, 753])
def test_sincnet_taps_are_hamming_windowed_sinc_differences(kernel_size):
    s = make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0, kernel_size=kernel_size)
    f1, f2 = (v.detach().double().numpy() for v in s.cutoffs())
    n = np.arange(kernel_size) - (kernel_size - 1) / 2
    fs = 16000.0
    expected = (2 * f2[:, None] / fs * np.sinc(2 * f2[:, None] * n / fs)
                - 2 * f1[:, None] / fs * np.sinc(2 * f1[:, None] * n / fs)) * np.hamming(kernel_size)
    np.testing.assert_allclose(s.kernels().detach().numpy(), expected, atol=2e-6)


def test_sincnet_initial_band_edges_are_mel_spaced_and_contiguous():
    s = make_wav2spec("sincnet", audio_fs=48000, dt_ms=5.0)
    f1, f2 = (v.detach().double().numpy() for v in s.cutoffs())
    edges = np.concatenate([f1, f2[-1:]])
    assert edges[0] == pytest.approx(300.0) and edges[-1] == pytest.approx(24000.0)
    np.testing.assert_allclose(f1[1:], f2[:-1], rtol=1e-5)
    np.testing.assert_allclose(np.diff(htk_mel(edges)), np.diff(htk_mel(edges)).mean(), rtol=1e-4)


def test_sincnet_cutoffs_are_clamped_inside_the_band():
    s = make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0, n_filters=2)
    with torch.no_grad():
        s.low_hz_.copy_(torch.tensor([-1234.0, 20000.0]))
        s.band_hz_.copy_(torch.tensor([1e6, 10.0]))
    f1, f2 = s.cutoffs()
    assert (f1 >= 1).all() and (f1 < 8000).all() and (f1 < f2).all() and (f2 <= 8000).all()


def test_leaf_initial_centre_frequencies_are_mel_spaced():
    leaf = make_wav2spec("leaf", audio_fs=48000, dt_ms=5.0)
    fc = leaf.center_freq_.detach().double().numpy() * 48000 / (2 * np.pi)
    assert fc[0] == pytest.approx(60.0, rel=1e-5) and fc[-1] == pytest.approx(22627.0, rel=1e-5)
    np.testing.assert_allclose(np.diff(htk_mel(fc)), np.diff(htk_mel(fc)).mean(), rtol=1e-4)
    # The forward pass clamps to [0.01, pi] rad/sample: 60 Hz at 48 kHz acts as 76.4 Hz.
    assert leaf.centre_frequencies()[0] == pytest.approx(0.01 * 48000 / (2 * np.pi), rel=1e-5)
    p = leaf.pcen_parameters()
    for name, value in {"s": 0.04, "alpha": 0.96, "delta": 2.0, "r": 0.5}.items():
        torch.testing.assert_close(p[name], torch.full((34,), value))
    assert leaf.kernel_size == 721 and leaf.pool_size == 960


@pytest.mark.parametrize("level", [0.01, 1.0, 50.0])
def test_pcen_converges_to_its_closed_form_steady_state(level):
    s, alpha, delta, r, eps = 0.025, 0.98, 2.0, 0.5, 1e-6
    energy = torch.full((1, 2, 3000), level, dtype=torch.float64)
    out = pcen(energy, s, alpha, delta, r, eps)
    steady = (level / (eps + level) ** alpha + delta) ** r - delta**r
    assert out[0, :, -1].tolist() == pytest.approx([steady, steady], rel=1e-9)
    # Zero initial state: the first frame divides by s * E, the onset transient.
    first = (level / (eps + s * level) ** alpha + delta) ** r - delta**r
    assert out[0, 0, 0].item() == pytest.approx(first, rel=1e-9)


@pytest.mark.parametrize("case", FRONTEND_CASES, ids=CASE_IDS)
def test_fast_engine_matches_direct_convolution(case):
    module = case.build().eval()
    x = torch.randn(2, 1, 37 * module.hop)
    with torch.no_grad():
        fast = module(x)
        with direct_engine():
            direct = module(x)
    scale = direct.abs().max()
    assert (fast - direct).abs().max() <= 1e-5 * scale
