"""Response sets: round trip, padding, subsets and splits, grid lock, every documented format rule, NS1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from strfviewer.backend.data import hop_for, load_response_set, save_response_set
from strfviewer.backend.errors import GridLockError, ResponseSetError, StrfviewerError

NS1 = Path(__file__).resolve().parents[2] / "shared" / "ns1"


def _write_small_set(folder: Path, counts: np.ndarray | None = None, **extra) -> Path:
    rng = np.random.default_rng(0)
    if counts is None:
        counts = rng.poisson(1.0, size=(3, 2, 4, 20)).astype(np.int16)
        counts[:, 1, :, 15:] = -1  # stimulus 1 is 15 bins long
        counts[2, 0, 3] = -1  # neuron 2 missed a repeat of stimulus 0
    audio = [np.sin(np.linspace(0, 200, 1600)).astype(np.float32), np.zeros(1200, dtype=np.float32)]
    return save_response_set(
        folder,
        name="small",
        dt_ms=5.0,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": 16000.0, "label": "tone"} for i, a in enumerate(audio)],
        neurons=[{"id": "a", "valid": True, "depth_um": 300}, {"id": "b", "valid": False}, {"id": "c"}],
        counts=counts,
        splits={"train": [0], "test": [1]},
        extra=extra,
    )


def test_round_trip_with_padding_subsets_and_splits(tmp_path):
    root = _write_small_set(tmp_path / "set", species="ferret", hearing_range_hz=[200.0, 40000.0])
    rs = load_response_set(root)
    assert rs.shape == (3, 2, 4, 20) and rs.dt_ms == 5.0 and rs.name == "small"
    assert [n.id for n in rs.neurons] == ["a", "b", "c"] and rs.valid_neurons() == [0, 2]
    assert rs.neurons[0].meta == {"depth_um": 300}
    assert rs.stimuli[0].label == "tone" and rs.stimuli[0].file == (root / "stimuli" / "s0.wav").resolve()
    assert rs.split("train") == [0] and rs.species == "ferret" and rs.hearing_range_hz == (200.0, 40000.0)
    assert rs.n_bins(0) == 20 and rs.n_bins(1) == 15
    resp = rs.responses()
    assert resp.shape == (2, 3, 4, 20) and resp.dtype == np.float32
    assert np.isnan(resp[1, :, :, 15:]).all() and np.isnan(resp[0, 2, 3]).all()
    assert np.isfinite(resp[0, 0]).all()
    psth = rs.psth(2, 0)
    np.testing.assert_allclose(psth, rs.counts[2, 0, :3].mean(axis=0))
    assert np.isnan(rs.psth(0, 1)[15:]).all()


def test_float_counts_with_nan_padding(tmp_path):
    counts = np.ones((3, 2, 2, 10))
    counts[:, 1, :, 6:] = np.nan
    rs = load_response_set(_write_small_set(tmp_path / "f", counts=counts))
    assert rs.n_bins(1) == 6 and np.isnan(rs.responses()[1, 0, :, 6:]).all()


def test_unknown_split_lists_the_existing_ones(tmp_path):
    rs = load_response_set(_write_small_set(tmp_path / "set"))
    with pytest.raises(ResponseSetError, match=r"no split 'val' \(splits: test, train\)"):
        rs.split("val")


def test_stimulus_audio_is_aligned_to_its_bins(tmp_path):
    rs = load_response_set(_write_small_set(tmp_path / "set"))
    first = rs.load_stimulus_audio(0, 16000)
    assert first.waveform.shape == (20 * 80,)  # 1600 samples = 20 bins of 80
    second = rs.load_stimulus_audio(1, 16000)
    assert second.waveform.shape == (15 * 80,)  # 1200 samples = 15 bins: padding bins are not audio
    up = rs.load_stimulus_audio(0, 48000)
    assert up.waveform.shape == (20 * 240,)


def test_sound_longer_than_its_responses_is_a_grid_lock_error(tmp_path):
    root = _write_small_set(tmp_path / "set")
    doc = json.loads((root / "dataset.json").read_text())
    doc["dt_ms"] = 1.0  # the wrong bin width: 20 bins of 1 ms cannot hold a 100 ms sound
    (root / "dataset.json").write_text(json.dumps(doc))
    with pytest.raises(GridLockError) as info:
        load_response_set(root).load_stimulus_audio(0, 16000)
    message = str(info.value)
    assert "'s0'" in message and "0.100 s (100.0 bins of 1 ms)" in message and "only 20 bins" in message


def test_grid_lock_requires_whole_samples_per_bin():
    assert hop_for(48000, 5.0) == 240 and hop_for(16000, 5.0) == 80
    with pytest.raises(GridLockError) as info:
        hop_for(48828.125, 5.0)
    message = str(info.value)
    assert "244.141" in message and "48828.1 Hz" in message and "whole number" in message
    assert isinstance(info.value, StrfviewerError)


def _corrupt(root: Path, edit) -> Path:
    doc = json.loads((root / "dataset.json").read_text())
    edit(doc)
    (root / "dataset.json").write_text(json.dumps(doc))
    return root


@pytest.mark.parametrize(
    "edit,fragment",
    [
        (lambda d: d.update(format="other"), "expected 'strfviewer.responses'"),
        (lambda d: d.update(version=99), "newer strfviewer"),
        (lambda d: d.update(dt_ms=0), "dt_ms must be a positive number"),
        (lambda d: d.update(dt_ms="5"), "dt_ms must be a positive number"),
        (lambda d: d.update(stimuli=[]), "non-empty list 'stimuli'"),
        (lambda d: d["stimuli"][0].pop("id"), "stimuli[0] needs a non-empty string 'id'"),
        (lambda d: d["neurons"].append({"id": "a"}), "repeats the id 'a'"),
        (lambda d: d["neurons"].pop(), "lists 2 neurons and 2 stimuli"),
        (lambda d: d.update(splits={"test": [0, 7]}), "split 'test' must list stimulus indices between 0 and 1"),
        (lambda d: d["stimuli"][0].update(file="../../etc/passwd"), "points outside the response-set folder"),
        (lambda d: d["stimuli"][1].update(sample_rate_hz=-1), "sample_rate_hz must be a positive number"),
        (lambda d: d.update(responses="gone.npz"), "'gone.npz' named in dataset.json is missing"),
    ],
)
def test_format_violations_are_explained(tmp_path, edit, fragment):
    root = _corrupt(_write_small_set(tmp_path / "set"), edit)
    with pytest.raises(ResponseSetError) as info:
        load_response_set(root)
    assert fragment in str(info.value)


def test_unreadable_files_are_explained(tmp_path):
    with pytest.raises(ResponseSetError, match="does not exist"):
        load_response_set(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResponseSetError, match=r"no dataset\.json here"):
        load_response_set(tmp_path / "empty")
    root = _write_small_set(tmp_path / "set")
    (root / "responses.npz").write_bytes(b"not a zip")
    with pytest.raises(ResponseSetError, match=r"cannot be read as a numpy \.npz"):
        load_response_set(root)
    np.savez(root / "responses.npz", spikes=np.zeros((3, 2, 1, 5)))
    with pytest.raises(ResponseSetError, match="no array 'counts' \\(found: spikes\\)"):
        load_response_set(root)
    np.savez(root / "responses.npz", counts=np.zeros((3, 2, 5)))
    with pytest.raises(ResponseSetError, match="must have 4 axes"):
        load_response_set(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(ResponseSetError, match="not valid JSON"):
        load_response_set(root)


def test_pickled_counts_are_refused(tmp_path):
    root = _write_small_set(tmp_path / "set")
    np.savez(root / "responses.npz", counts=np.array([object()], dtype=object))
    with pytest.raises(ResponseSetError, match="cannot be read"):
        load_response_set(root)


@pytest.mark.skipif(not NS1.is_dir(), reason=f"NS1 data not found at {NS1}")
def test_ns1_loads_as_it_is():
    rs = load_response_set(NS1)
    assert rs.shape == (119, 20, 20, 1040) and rs.dt_ms == 5.0
    assert len(rs.valid_neurons()) == 73
    assert rs.split("train") == list(range(14)) and rs.split("test") == [17, 18, 19]
    assert rs.stimuli[0].sample_rate_hz == 48828.125
    audio = rs.load_stimulus_audio(17, 48000)
    assert audio.waveform.shape == (1040 * 240,)  # 5 s of sound + 200 ms of zero-padded tail
    assert np.isfinite(audio.waveform.numpy()).all()
