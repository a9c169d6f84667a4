"""Bad sound files as ``strfviewer info`` and the loader see them: a truncated WAV is decoded and named as
truncated (a warning in info, a note when opening), a WAV of NaN samples fails info with opening's message."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from strfviewer.backend.data.audio import check_audio, load_audio
from strfviewer.backend.errors import AudioLoadError
from strfviewer.cli import main

FS = 48000
TRUNCATED = "header says 1.000 s, data holds 0.200 s: the file is truncated"


def _truncated_wav(path: Path, subtype: str = "PCM_16") -> Path:
    """A 1 s WAV cut after 0.2 s of data: the header still promises 1 s."""
    full = path.with_name("full-" + path.name)
    soundfile.write(full, 0.3 * np.sin(np.arange(FS) * 0.05).astype(np.float32), FS, subtype=subtype)
    header = soundfile.info(full).extra_info
    assert "data :" in header
    width = {"PCM_16": 2, "FLOAT": 4}[subtype]
    data = full.read_bytes()
    start = data.index(b"data") + 8
    path.write_bytes(data[: start + FS // 5 * width])
    return path


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_truncated_wav_is_described_and_opened_with_a_note(tmp_path, subtype, capsys):
    path = _truncated_wav(tmp_path / "cut.wav", subtype)
    info = check_audio(path)
    assert info["frames"] == FS // 5 and info["notes"] == [TRUNCATED]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "9600 frames at 48000 Hz (0.200 s)" in out and f"warning: {TRUNCATED}" in out
    loaded = load_audio(path, hop=240)
    assert TRUNCATED in loaded.notes and loaded.waveform.shape[-1] == FS // 5


def test_a_whole_file_and_a_streamed_header_get_no_warning(tmp_path, capsys):
    whole = tmp_path / "whole.wav"
    soundfile.write(whole, np.zeros(FS, dtype=np.float32), FS, subtype="PCM_16")
    assert check_audio(whole)["notes"] == [] and load_audio(whole).notes == ()
    streamed = tmp_path / "streamed.wav"  # a recorder that never went back to fill in the sizes
    data = bytearray(whole.read_bytes())
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)
    start = data.index(b"data")
    data[start + 4 : start + 8] = struct.pack("<I", 0xFFFFFFFF)
    streamed.write_bytes(bytes(data))
    assert check_audio(streamed)["notes"] == []
    assert main(["info", str(whole)]) == 0 and "warning" not in capsys.readouterr().out


def test_nan_samples_fail_info_with_the_message_opening_gives(tmp_path, caplog):
    path = tmp_path / "nan.wav"
    samples = np.zeros(FS // 10, dtype=np.float32)
    samples[2400:] = np.nan
    soundfile.write(path, samples, FS, subtype="FLOAT")
    with pytest.raises(AudioLoadError) as opening:
        load_audio(path)
    assert main(["info", str(path)]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [str(opening.value)]
    assert "2400 non-finite samples" in str(opening.value) and "0.0500 s" in str(opening.value)


def test_a_truncated_flac_is_refused_by_info_as_by_opening(tmp_path, caplog):
    full = tmp_path / "full.flac"
    soundfile.write(full, np.random.default_rng(0).normal(0, 0.1, FS).astype(np.float32), FS)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 5])
    with pytest.raises(AudioLoadError, match="truncated or corrupt") as opening:
        load_audio(cut)
    assert main(["info", str(cut)]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [str(opening.value)]
