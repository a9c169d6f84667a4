"""Filter views: impulse/magnitude responses from the filters, tuning curves from the whole front-end."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from strfviewer.backend.analysis.filters import (
    TuningCurves,
    compute_filters,
    compute_tuning,
    filter_bank,
    initial_filter_bank,
    level_rms,
    models_trained_on,
    tuning_curves,
)
from strfviewer.backend.frontends import make_wav2spec

CASES = {
    "mel": ("mel", {}),
    "gammatone": ("gammatone", {}),
    "gammatone-pcen": ("gammatone", {"compression": "pcen"}),
    "sincnet": ("sincnet", {"kernel_size": 753, "envelope": True, "f_min": 500.0, "f_max": 22627.0}),
    "leaf": ("leaf", {"f_min": 200.0}),
}


def test_mel_band_responses_peak_at_their_centre_frequencies():
    mel = make_wav2spec("mel", audio_fs=48000, dt_ms=5.0)
    bank = filter_bank(mel)
    spacing = 48000 / mel.n_fft  # the STFT's bin spacing limits how precisely a band can peak
    np.testing.assert_allclose(bank.peak_hz, mel.centre_frequencies(), atol=spacing)


def test_gammatone_magnitude_response_is_unity_at_the_peak_near_fc():
    g = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0)
    bank = filter_bank(g)
    np.testing.assert_allclose(bank.magnitude_db.max(axis=1), 0.0, atol=0.1)
    np.testing.assert_allclose(bank.peak_hz, g.centre_frequencies(), rtol=0.02)
    erb = 24.7 * (0.00437 * g.centre_frequencies() + 1)
    # A 4th-order gammatone's -3 dB bandwidth is about 0.887 x its b (= 1.019 ERB).
    np.testing.assert_allclose(bank.bandwidth_hz, 0.887 * 1.019 * erb, rtol=0.15)
    assert bank.impulse_responses.shape == (34, 960) and bank.times_ms[-1] == pytest.approx(959 / 48)


@pytest.mark.parametrize("name", list(CASES))
def test_tuning_curve_peaks_near_each_nominal_centre(name):
    kind, kwargs = CASES[name]
    frontend = make_wav2spec(kind, audio_fs=48000, dt_ms=5.0, **kwargs)
    centres = frontend.centre_frequencies()
    freqs = np.geomspace(100, 23000, 96)
    curves = tuning_curves(frontend, freqs)
    assert curves.response.shape == (frontend.out_channels, 96)
    # Within a quarter octave of the nominal centre for every channel.
    np.testing.assert_array_less(np.abs(np.log2(curves.best_frequency_hz / centres)), 0.25)


def test_tuning_curves_work_for_the_icnet_encoder_and_report_progress():
    enc = make_wav2spec("icnet", audio_fs=16000, dt_ms=5.0, n_filters=8, encoder_channels=8, bottleneck_channels=6)
    seen = []
    curves = tuning_curves(enc, np.geomspace(100, 7000, 20), batch=8, progress=lambda d, t, m: seen.append((d, t)))
    assert curves.response.shape == (6, 20) and np.isfinite(curves.response).all()
    assert seen == [(8, 20), (16, 20), (20, 20)]


def test_initial_versus_learned_filters():
    sinc = make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0, kernel_size=101)
    assert initial_filter_bank(make_wav2spec("gammatone", audio_fs=16000, dt_ms=5.0, f_max=7000.0)) is None
    before = initial_filter_bank(sinc)
    np.testing.assert_allclose(before.impulse_responses, filter_bank(sinc).impulse_responses)
    with torch.no_grad():
        sinc.low_hz_.mul_(1.2)
    assert not np.allclose(initial_filter_bank(sinc).impulse_responses, filter_bank(sinc).impulse_responses)
    leaf = make_wav2spec("leaf", audio_fs=16000, dt_ms=5.0, f_max=7000.0)
    assert np.iscomplexobj(filter_bank(leaf).impulse_responses)
    np.testing.assert_allclose(initial_filter_bank(leaf).peak_hz, filter_bank(leaf).peak_hz)


def test_the_filter_job_says_what_its_plots_show():
    gammatone = compute_filters(lambda: make_wav2spec("gammatone", audio_fs=16000, dt_ms=5.0, n_filters=6))
    assert gammatone.kind == "gammatone" and gammatone.out_channels == 6 and gammatone.filters_are_channels
    assert gammatone.initial is None and gammatone.note == "6 filters" and gammatone.centres.shape == (6,)
    sinc = make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0, kernel_size=101, n_filters=6)
    with torch.no_grad():
        sinc.low_hz_.mul_(1.2)  # trained away from its initialisation: the initial filters are kept
    trained = compute_filters(lambda: sinc)
    assert trained.initial is not None and trained.note.endswith("dashed: the filters before training")
    encoder = compute_filters(lambda: make_wav2spec("icnet", audio_fs=16000, dt_ms=5.0, n_filters=8,
                                                    encoder_channels=8, bottleneck_channels=6))
    assert not encoder.filters_are_channels and "learned mixtures" in encoder.note


def test_the_tuning_job_sweeps_at_the_tone_level():
    tuning = compute_tuning(lambda: make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=5), -40.0)
    assert tuning.level_db == -40.0 and tuning.curves.level_rms == pytest.approx(10 ** (-40 / 20) / math.sqrt(2))
    assert level_rms(0.0) == pytest.approx(1 / math.sqrt(2)) and tuning.centres.shape == (5,)


def test_scaled_rows_run_from_zero_to_one_per_channel():
    curves = TuningCurves(np.array([100.0, 200.0, 400.0]), np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]]), 0.1)
    np.testing.assert_allclose(curves.scaled_rows(), [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    assert curves.scaled_rows().dtype == np.float32


def test_trained_filters_come_from_models_on_the_same_kind():
    sinc = SimpleNamespace(model=SimpleNamespace(wav2spec=make_wav2spec("sincnet", audio_fs=16000, dt_ms=5.0)))
    spectrogram_input = SimpleNamespace(model=SimpleNamespace(wav2spec=None))
    assert models_trained_on([sinc, spectrogram_input], "SincNet") == [sinc]
    assert models_trained_on([sinc], "mel") == []
