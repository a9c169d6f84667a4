"""Audio loading: formats, mono mix, exact fractional resampling, hop fitting, and every bad-input case."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from strfviewer.backend.data import audio_info, load_audio
from strfviewer.backend.errors import AudioLoadError, StrfviewerError

NS1 = Path(__file__).resolve().parents[2] / "shared" / "ns1"


def _tone(n: int, rate: float, freq: float = 1000.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def _peak_hz(wave: torch.Tensor, rate: int) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(wave.numpy()))) * rate / wave.shape[0])


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = _tone(1600, 16000), np.full(1600, 0.25, dtype=np.float32)
    soundfile.write(tmp_path / "st.wav", np.stack([left, right], 1), 16000, subtype="FLOAT")
    audio = load_audio(tmp_path / "st.wav")
    assert audio.waveform.dtype == torch.float32 and audio.waveform.shape == (1600,)
    np.testing.assert_allclose(audio.waveform.numpy(), (left + right) / 2, atol=1e-7)
    assert audio.n_source_channels == 2 and audio.source_frames == 1600
    assert audio.notes == ("mixed 2 channels to mono",)
    assert audio.sample_rate == 16000 and audio.source_rate == 16000.0
    assert audio.duration_s == pytest.approx(0.1) and audio.path == tmp_path / "st.wav"


@pytest.mark.parametrize("name,subtype,atol", [("f.wav", "FLOAT", 0.0), ("i.wav", "PCM_16", 1e-4),
                                               ("a.flac", "PCM_16", 1e-4), ("a.aiff", "PCM_24", 1e-6)])
def test_lossless_formats_load_the_samples(tmp_path, name, subtype, atol):
    tone = _tone(8000, 16000)
    soundfile.write(tmp_path / name, tone, 16000, subtype=subtype)
    audio = load_audio(tmp_path / name)
    np.testing.assert_allclose(audio.waveform.numpy(), tone, atol=atol)
    assert audio.notes == () and audio.n_source_channels == 1


@pytest.mark.parametrize("name", ["a.ogg", "a.mp3"])
def test_lossy_formats_load(tmp_path, name):
    try:
        soundfile.write(tmp_path / name, _tone(16000, 16000), 16000)
    except soundfile.LibsndfileError as exc:
        pytest.skip(f"this libsndfile cannot write {name}: {exc}")
    audio = load_audio(tmp_path / name)
    assert abs(audio.waveform.shape[0] - 16000) <= 2000  # codecs may pad
    assert _peak_hz(audio.waveform, 16000) == pytest.approx(1000.0, abs=2.0)
    assert audio_info(tmp_path / name)["sample_rate"] == 16000


def test_audio_info_reads_the_header_only(tmp_path):
    soundfile.write(tmp_path / "a.wav", np.zeros((800, 3), dtype=np.float32), 8000, subtype="PCM_16")
    assert audio_info(tmp_path / "a.wav") == {"format": "WAV", "subtype": "PCM_16", "channels": 3, "frames": 800,
                                              "sample_rate": 8000, "duration_s": 0.1}


def test_fractional_source_rate_is_resampled_exactly(tmp_path):
    true_rate, n = 48828.125, 48828
    soundfile.write(tmp_path / "tdt.wav", _tone(n, true_rate), 48828, subtype="FLOAT")
    audio = load_audio(tmp_path / "tdt.wav", 48000, source_rate=true_rate)
    assert abs(audio.waveform.shape[0] - round(n * 48000 / true_rate)) <= 1
    assert _peak_hz(audio.waveform, 48000) == pytest.approx(1000.0, abs=1.0)
    assert audio.sample_rate == 48000 and audio.source_rate == true_rate
    assert "resampled 48828.125 Hz -> 48000 Hz" in audio.notes
    assert "used source rate 48828.125 Hz instead of the header's 48828 Hz" in audio.notes
    assert not any("approximated" in note for note in audio.notes)


def test_integer_upsampling_triples_the_length(tmp_path):
    soundfile.write(tmp_path / "a.wav", _tone(1600, 16000), 16000)
    audio = load_audio(tmp_path / "a.wav", 48000)
    assert audio.waveform.shape == (4800,) and audio.notes == ("resampled 16000 Hz -> 48000 Hz",)
    assert _peak_hz(audio.waveform, 48000) == pytest.approx(1000.0, abs=10.0)


def test_equal_rates_are_not_resampled(tmp_path):
    tone = _tone(1600, 16000)
    soundfile.write(tmp_path / "a.wav", tone, 16000, subtype="FLOAT")
    audio = load_audio(tmp_path / "a.wav", 16000.0)
    assert audio.notes == () and isinstance(audio.sample_rate, int)
    np.testing.assert_array_equal(audio.waveform.numpy(), tone)


def test_costly_ratio_falls_back_to_a_close_one(tmp_path):
    soundfile.write(tmp_path / "a.wav", _tone(4410, 44100), 44100, subtype="FLOAT")
    audio = load_audio(tmp_path / "a.wav", 48000, source_rate=44100.123)
    note = next(note for note in audio.notes if "approximated" in note)
    assert note.startswith("resampling ratio 14700041/16000000 approximated as ")  # 44100123/48000000 reduced
    assert abs(audio.waveform.shape[0] - 4410 * 48000 / 44100.123) <= 2
    assert _peak_hz(audio.waveform, 48000) == pytest.approx(1000.0, abs=10.0)


def test_whole_hops_by_padding_or_exact_frame_count(tmp_path):
    soundfile.write(tmp_path / "a.wav", _tone(1000, 16000), 16000)
    padded = load_audio(tmp_path / "a.wav", hop=80)
    assert padded.waveform.shape == (1040,) and padded.waveform[1000:].abs().max() == 0
    assert padded.notes == ("zero-padded 40 samples to a whole number of 80-sample hops (13)",)
    assert load_audio(tmp_path / "a.wav", hop=100).notes == ()
    cropped = load_audio(tmp_path / "a.wav", hop=80, n_frames=10)
    assert cropped.waveform.shape == (800,)
    assert cropped.notes == ("cropped 200 samples to the 10 requested 80-sample frames",)
    longer = load_audio(tmp_path / "a.wav", hop=80, n_frames=20)
    assert longer.waveform.shape == (1600,) and longer.waveform[1000:].abs().max() == 0
    assert longer.notes == ("zero-padded 600 samples to the 20 requested 80-sample frames",)
    assert load_audio(tmp_path / "a.wav", 48000, hop=240, n_frames=np.int64(12)).waveform.shape == (2880,)


def _expect(path, fragments, **kwargs):
    with pytest.raises(AudioLoadError) as info:
        load_audio(path, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, StrfviewerError)


def test_missing_folder_empty_and_corrupt_files_are_explained(tmp_path):
    _expect(tmp_path / "nope.wav", [str(tmp_path / "nope.wav"), "does not exist"])
    _expect(tmp_path, [str(tmp_path), "is a folder"])
    (tmp_path / "empty.wav").write_bytes(b"")
    _expect(tmp_path / "empty.wav", ["empty.wav", "empty (0 bytes)"])
    soundfile.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 16000)
    _expect(tmp_path / "zero.wav", ["zero.wav", "no samples (0 frames)"])
    (tmp_path / "junk.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    _expect(tmp_path / "junk.wav", ["junk.wav", "not a readable audio file", ".wav, .flac, .ogg"])


def test_audio_info_explains_missing_and_corrupt_files(tmp_path):
    (tmp_path / "junk.flac").write_bytes(np.random.default_rng(1).bytes(512))
    for path, fragment in [(tmp_path / "nope.wav", "does not exist"), (tmp_path / "junk.flac", "not a readable")]:
        with pytest.raises(AudioLoadError, match=fragment):
            audio_info(path)


def test_non_finite_samples_are_counted_and_located(tmp_path):
    bad = np.stack([_tone(1600, 16000), _tone(1600, 16000)], 1)
    bad[800, 1], bad[900, 0] = np.nan, np.inf
    soundfile.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    _expect(tmp_path / "nan.wav", ["nan.wav", "2 non-finite samples", "0.0500 s", "frame 800, channel 1"])


def test_length_cap_and_rate_limits(tmp_path):
    soundfile.write(tmp_path / "long.wav", _tone(16000, 16000), 16000)
    _expect(tmp_path / "long.wav", ["lasts 1 s", "more than the 0.5 s limit", "max_seconds=1"], max_seconds=0.5)
    assert load_audio(tmp_path / "long.wav", max_seconds=math.inf).waveform.shape == (16000,)
    _expect(tmp_path / "long.wav", ["Nyquist frequency is 8000 Hz", "below the 12000 Hz"], min_band_hz=12000.0)
    _expect(tmp_path / "long.wav", ["Nyquist frequency is 4000 Hz"], target_rate=8000, min_band_hz=6000.0)
    assert load_audio(tmp_path / "long.wav", 32000, min_band_hz=8000.0).sample_rate == 32000


@pytest.mark.parametrize("kwargs,fragment", [
    ({"target_rate": 0}, "target_rate must be a positive number (got 0)"),
    ({"target_rate": 44100.5}, "target_rate must be a whole number"),
    ({"source_rate": -1.0}, "source_rate must be a positive number"),
    ({"source_rate": math.nan}, "source_rate must be a positive number"),
    ({"source_rate": math.inf}, "source_rate must be a positive number"),
    ({"max_seconds": 0}, "max_seconds must be a positive number"),
    ({"hop": 0}, "hop must be a positive number"),
    ({"hop": 80, "n_frames": 0}, "n_frames must be a positive number"),
    ({"n_frames": 10}, "n_frames needs hop"),
])
def test_invalid_arguments_are_refused(tmp_path, kwargs, fragment):
    soundfile.write(tmp_path / "a.wav", _tone(160, 16000), 16000)
    _expect(tmp_path / "a.wav", [fragment], **kwargs)


def test_ns1_clip_resamples_to_the_48khz_grid():
    stimuli = NS1 / "stimuli"
    if not stimuli.is_dir():
        pytest.skip(f"NS1 stimuli not found at {stimuli} (the shared data folder next to the repository)")
    audio = load_audio(stimuli / "clip_00.wav", 48000, source_rate=48828.125, hop=240, n_frames=999)
    assert audio.waveform.shape == (239760,) and torch.isfinite(audio.waveform).all()
    assert audio.sample_rate == 48000 and "resampled 48828.125 Hz -> 48000 Hz" in audio.notes
