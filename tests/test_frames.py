"""Frames of a front-end or a model for a whole sound or a window of a long one, and their colour levels."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.analysis.frames import FrameWindow, compute_frames, frames_for_span, percentile_levels, zscore
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import Linear
from strfviewer.backend.streaming import run_in_chunks
from strfviewer.backend.synth import vocalization_like

FS = 16000


def test_front_end_frames_carry_their_centres_and_unit():
    samples = vocalization_like(FS, 0.5)
    frontend = make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=10).eval()
    result = compute_frames("mel", {"n_mels": 10}, 5.0, samples, FS)
    np.testing.assert_allclose(result.frames, run_in_chunks(frontend, samples), rtol=0, atol=1e-6)
    assert (result.first, result.hop, result.audio_fs, result.exact, result.span) == (0, 80, FS, True, None)
    np.testing.assert_allclose(result.centres, frontend.centre_frequencies())
    assert result.unit == frontend.output_unit(frontend.config) and result.note == ""


def test_a_window_holds_the_frames_covering_its_span():
    samples = vocalization_like(FS, 1.0)
    model = Linear(10, 3, 2, wav2spec=make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=10)).eval()
    whole = frames_for_span(model, samples, FS, None)
    window = frames_for_span(model, samples, FS, (0.2, 0.4))
    assert window.first == 40 and window.span == pytest.approx((0.2, 0.4)) and window.centres is None
    np.testing.assert_allclose(window.frames, whole.frames[:, 40:80], rtol=1e-5, atol=1e-6)
    assert window.note.startswith("computed 0.2–0.4 s")


def test_the_note_says_when_a_window_is_approximate():
    window = FrameWindow(np.zeros((1, 2)), 10, 80, FS, exact=False, warmup_s=3.0, span=(1.0, 2.0))
    assert window.note == "computed 1.0–2.0 s · warmed up from 3.0 s earlier (PCEN state approximate, not exact)"


def test_levels_and_zscores_use_finite_values_only():
    a = np.array([[0.0, 1.0, np.nan, 2.0]] * 50, dtype=np.float32)
    low, high = percentile_levels([a])
    assert low == pytest.approx(0.0) and high == pytest.approx(np.percentile([0, 1, 2] * 50, 99.5))
    assert percentile_levels([]) == (0.0, 1.0)
    assert percentile_levels([np.ones((2, 2))])[1] > 1.0  # a flat image still gets a range
    z = zscore(a)
    assert np.isnan(z[0, 2]) and float(np.nanmean(z)) == pytest.approx(0.0, abs=1e-6)
    assert float(np.nanstd(z)) == pytest.approx(1.0, rel=1e-5)
