"""A live recording is kept whole: in memory up to its limit, then spilled to a temporary FLAC, read back
joined, saved on demand, and its temporary file removed when discarded."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from strfviewer.backend.errors import AudioLoadError, ConfigurationError
from strfviewer.backend.live.recording import Recording

RATE = 8000


def _signal(n: int) -> np.ndarray:
    return (0.8 * np.sin(np.arange(n) * 0.01)).astype(np.float32)


def test_a_recording_within_memory_stays_exact_and_writes_no_file(tmp_path):
    recording = Recording(RATE, memory_limit_s=2.0, spill_dir=tmp_path)
    signal = _signal(RATE)
    for start in range(0, signal.shape[0], 80):
        recording.append(signal[start:start + 80])
    assert recording.spill_path is None and list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(recording.samples(), signal)
    assert recording.seconds == pytest.approx(1.0)


def test_beyond_its_memory_limit_a_recording_spills_to_flac_and_reads_back_whole(tmp_path):
    recording = Recording(RATE, memory_limit_s=0.5, spill_dir=tmp_path)
    signal = _signal(5 * RATE)
    for start in range(0, signal.shape[0], 333):
        recording.append(signal[start:start + 333])
    assert recording.spill_path is not None and recording.spill_path.parent == tmp_path
    assert len(list(recording.spill_path.glob("*.flac"))) >= 8
    assert recording._in_memory <= recording.memory_limit  # what memory holds stays bounded
    back = recording.samples()
    assert back.shape == signal.shape
    assert np.abs(back - signal).max() <= 2.0 ** -23  # 24-bit FLAC for the spilled part, exact for the rest
    saved = recording.save(tmp_path / "take.wav")
    data, rate = soundfile.read(saved, dtype="float32")
    assert rate == RATE and data.shape == signal.shape
    recording.discard()
    assert not recording.spill_path.exists()


def test_saving_where_nothing_can_be_written_says_so(tmp_path):
    recording = Recording(RATE)
    recording.append(_signal(100))
    with pytest.raises(AudioLoadError, match="could not save the recording"):
        recording.save(tmp_path / "missing-folder" / "take.wav")


def test_a_recording_needs_a_rate():
    with pytest.raises(ConfigurationError, match="rate"):
        Recording(0)


@pytest.mark.parametrize("suffix, error", [(".flac", 2 ** -23), (".wav", 0.0)])
def test_a_saved_recording_keeps_each_format_s_full_precision(tmp_path, suffix, error):
    recording = Recording(RATE, spill_dir=tmp_path)
    signal = _signal(RATE)
    recording.append(signal)
    path = recording.save(tmp_path / f"take{suffix}")
    saved, rate = soundfile.read(path, dtype="float32")
    assert rate == RATE and np.abs(saved - signal).max() <= error  # 16-bit FLAC would be 2 ** -16 off
