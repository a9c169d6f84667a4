"""Comparing front-ends without a GUI: argument sets, the model that matches a front-end and its recorded
cc_norm, the clip the causality numbers are measured on, and one front-end's measurement."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from strfviewer.backend.analysis.causality import receptive_field_text
from strfviewer.backend.analysis.compare import (
    CAUSALITY_SECONDS,
    CcNormSummary,
    NamedFrontend,
    cc_norm_summary,
    describe_frontend_args,
    loudest_clip,
    matching_model,
    measure_frontend,
    median_test_cc_norm,
    model_frontend,
    non_default_args,
)
from strfviewer.backend.analysis.frames import compute_frames
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.jobs import CancelledError
from strfviewer.backend.synth import vocalization_like

FS = 16000
MEL = {"n_mels": 10, "f_max": 7000.0}
GAMMATONE = {"n_filters": 10, "f_max": 7000.0}


def fake_model(path: str, kind: str, kwargs: dict, cc_norm: list) -> SimpleNamespace:
    """What is read of a LoadedModel: its path and the strfviewer metadata block."""
    info = {"wav2spec": {"kind": kind, "kwargs": kwargs}, "metrics": {"test": {"cc_norm": cc_norm}}}
    return SimpleNamespace(path=Path(path), info=info, metadata={"strfviewer": info})


def test_model_matching_and_cc_norm_helpers():
    full = {k: v for k, v in make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, **GAMMATONE).config.items()
            if k not in ("audio_fs", "hop_ms")}
    older = fake_model("older", "gammatone", full, [0.1])
    newer = fake_model("newer", "gammatone", dict(full), [0.3])
    mel = fake_model("mel", "mel", {}, [0.5])
    assert matching_model([older, newer, mel], "gammatone", GAMMATONE) is newer
    assert matching_model([older, mel], "gammatone", {**GAMMATONE, "compression": "pcen"}) is None
    assert matching_model([mel], "mel", {}) is mel  # defaults on both sides
    assert median_test_cc_norm(fake_model("x", "mel", {}, [None, None])) is None
    assert median_test_cc_norm(SimpleNamespace(info={})) is None


def test_the_summary_counts_only_neurons_with_a_score():
    info = {"metrics": {"test": {"cc_norm": [0.2, None, 0.4, float("nan"), 0.9]}}}
    assert cc_norm_summary(SimpleNamespace(info=info)) == CcNormSummary(pytest.approx(0.4), 3)
    recorded = {"metrics": {"test": {"cc_norm_median": 0.61}}}
    assert cc_norm_summary(SimpleNamespace(info=recorded)) == CcNormSummary(pytest.approx(0.61), None)
    assert cc_norm_summary(SimpleNamespace(info={})) is None


def test_a_model_names_its_front_end_in_its_metadata():
    assert model_frontend(fake_model("m", "mel", MEL, [])) == NamedFrontend("mel", MEL)
    spectrogram_input = SimpleNamespace(metadata={"strfviewer": {"spectrogram": {"kind": "gammatone"}}})
    assert model_frontend(spectrogram_input) == NamedFrontend("gammatone", {})
    assert model_frontend(SimpleNamespace(info={"wav2spec": None})) is None


def test_arguments_are_described_by_what_differs_from_the_defaults():
    assert non_default_args("mel", {**MEL, "n_fft": make_wav2spec("mel", audio_fs=FS, dt_ms=5.0).n_fft}) == MEL
    assert describe_frontend_args("mel", MEL) == "n_mels=10, f_max=7000"
    assert describe_frontend_args("mel", {}) == "defaults"
    assert describe_frontend_args("no-such-kind", {"a": 1.5}) == "a=1.5"  # described as given


def test_the_loudest_clip_skips_leading_silence():
    sound = vocalization_like(FS, 0.5)
    silence_first = np.concatenate([np.zeros(sound.shape[0], dtype=np.float32), sound])
    clip = loudest_clip(silence_first, 4000, 80)
    assert clip.shape == (4000,) and np.abs(clip).max() > 0
    assert loudest_clip(sound[:100], 4000, 80) is not None and loudest_clip(sound[:100], 4000, 80).shape == (100,)


def test_a_measurement_holds_the_frames_and_the_causality_numbers():
    samples = vocalization_like(FS, 0.5)
    measured = measure_frontend("mel", MEL, 5.0, samples, FS)
    expected = compute_frames("mel", MEL, 5.0, samples, FS)
    np.testing.assert_allclose(measured.window.frames, expected.frames, rtol=0, atol=1e-6)
    assert measured.channels == 10 and measured.hop == 80 and measured.hop_ms == pytest.approx(5.0)
    assert measured.duration == pytest.approx(0.5) and measured.rtf > 0
    assert measured.leak == 0.0 and measured.leak_exact and measured.leak_text == "0 (exact)"
    assert measured.causality_error is None and measured.receptive_field is not None
    assert measured.receptive_field_text == f"{measured.receptive_field_ms:.1f} ms"
    assert measured.receptive_field_text == receptive_field_text(measured.receptive_field, measured.causality_method,
                                                                 FS, CAUSALITY_SECONDS)


def test_a_cancelled_measurement_raises():
    class Cancelled:
        def is_set(self) -> bool:
            return True

    with pytest.raises(CancelledError):
        measure_frontend("mel", MEL, 5.0, vocalization_like(FS, 0.5), FS, cancel=Cancelled())
