"""Audio loading: formats, mono mix, exact fractional resampling, frame fitting, and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from strfviewer.backend.data import audio_info, load_audio
from strfviewer.backend.errors import AudioLoadError, StrfviewerError

NS1 = Path(__file__).resolve().parents[2] / "shared" / "ns1"


def _tone(n: int, rate: float, freq: float = 1000.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = _tone(1600, 16000), np.zeros(1600, dtype=np.float32)
    soundfile.write(tmp_path / "st.wav", np.stack([left, right], 1), 16000, subtype="FLOAT")
    audio = load_audio(tmp_path / "st.wav")
    np.testing.assert_allclose(audio.waveform.numpy(), left / 2, atol=1e-7)
    assert audio.n_source_channels == 2 and "mixed 2 channels to mono" in audio.notes
    assert audio.sample_rate == 16000 and audio.duration_s == pytest.approx(0.1)


@pytest.mark.parametrize("name,subtype", [("a.wav", "PCM_16"), ("a.flac", "PCM_16"), ("a.ogg", "VORBIS"),
                                          ("a.aiff", "PCM_24")])
def test_common_formats_load(tmp_path, name, subtype):
    soundfile.write(tmp_path / name, _tone(8000, 16000), 16000, subtype=subtype)
    audio = load_audio(tmp_path / name)
    assert abs(audio.waveform.shape[0] - 8000) <= 1000  # lossy codecs may pad
    assert audio_info(tmp_path / name)["sample_rate"] == 16000


def test_fractional_source_rate_is_resampled_exactly(tmp_path):
    true_rate, n = 48828.125, 48828
    soundfile.write(tmp_path / "tdt.wav", _tone(n, true_rate), 48828, subtype="FLOAT")
    audio = load_audio(tmp_path / "tdt.wav", 48000, source_rate=true_rate)
    assert abs(audio.waveform.shape[0] - round(n * 48000 / true_rate)) <= 1
    spectrum = np.abs(np.fft.rfft(audio.waveform.numpy()))
    peak_hz = np.argmax(spectrum) * 48000 / audio.waveform.shape[0]
    assert peak_hz == pytest.approx(1000.0, abs=2.0)
    assert any("48828.1 Hz -> 48000 Hz" in note for note in audio.notes)


def test_integer_upsampling_triples_the_length(tmp_path):
    soundfile.write(tmp_path / "a.wav", _tone(1600, 16000), 16000)
    assert load_audio(tmp_path / "a.wav", 48000).waveform.shape == (4800,)


def test_whole_hops_by_padding_or_exact_frame_count(tmp_path):
    soundfile.write(tmp_path / "a.wav", _tone(1000, 16000), 16000)
    padded = load_audio(tmp_path / "a.wav", hop=80)
    assert padded.waveform.shape == (1040,) and padded.waveform[1000:].abs().max() == 0
    assert "zero-padded 40 samples to 13 whole 80-sample frames" in padded.notes
    cropped = load_audio(tmp_path / "a.wav", hop=80, n_frames=10)
    assert cropped.waveform.shape == (800,) and any(n.startswith("cropped 200") for n in cropped.notes)
    longer = load_audio(tmp_path / "a.wav", hop=80, n_frames=20)
    assert longer.waveform.shape == (1600,)


def _expect(path, fragments, **kwargs):
    with pytest.raises(AudioLoadError) as info:
        load_audio(path, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, StrfviewerError)


def test_bad_files_are_explained(tmp_path):
    _expect(tmp_path / "nope.wav", ["nope.wav", "does not exist"])
    _expect(tmp_path, ["is a folder"])
    (tmp_path / "empty.wav").write_bytes(b"")
    _expect(tmp_path / "empty.wav", ["empty (0 bytes)"])
    soundfile.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 16000)
    _expect(tmp_path / "zero.wav", ["no samples"])
    (tmp_path / "junk.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    _expect(tmp_path / "junk.wav", ["not a readable audio file", ".wav"])
    bad = _tone(1600, 16000)
    bad[800], bad[900] = np.nan, np.inf
    soundfile.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    _expect(tmp_path / "nan.wav", ["2 non-finite samples", "0.0500 s"])
    soundfile.write(tmp_path / "long.wav", _tone(16000, 16000), 16000)
    _expect(tmp_path / "long.wav", ["more than", "max_seconds"], max_seconds=0.5)
    _expect(tmp_path / "long.wav", ["8000 Hz", "below the 12000 Hz"], min_band_hz=12000.0)
    _expect(tmp_path / "long.wav", ["target_rate must be a positive"], target_rate=0)
    _expect(tmp_path / "long.wav", ["source_rate must be a positive"], source_rate=-1.0)


@pytest.mark.skipif(not (NS1 / "stimuli").is_dir(), reason=f"NS1 stimuli not found at {NS1 / 'stimuli'}")
def test_ns1_clip_resamples_to_the_deepstrf_grid():
    audio = load_audio(NS1 / "stimuli" / "clip_00.wav", 48000, source_rate=48828.125, hop=240, n_frames=999)
    assert audio.waveform.shape == (239760,) and np.isfinite(audio.waveform.numpy()).all()
    assert audio.source_frames == 244140
