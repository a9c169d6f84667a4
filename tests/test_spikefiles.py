"""Spike-time text files (CRCNS aa-1 / aa-2 layout): cells that heard different sounds, different numbers of
times, become one response set whose counts are exactly those of the trials, with the trials a cell did not
hear missing, not zero."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from strfviewer.backend.data.responses import missing_counts
from strfviewer.backend.data.sources import ImportChoice, is_recording, open_recording
from strfviewer.backend.data.spikefiles import read_spike_files
from strfviewer.backend.errors import ResponseSetError

FS, DT_MS = 16000, 5.0
BINS = {"song.wav": 40, "ripple.wav": 24}


def _data_set(root, rng):
    """Two cells: cellA heard the song 3 times and the ripple twice (in a class folder each), cellB the song
    twice (directly in its folder). Returns the truth: (cell, sound, trial) -> spike times in ms."""
    (root / "all_stims").mkdir(parents=True)
    for name, bins in BINS.items():
        soundfile.write(root / "all_stims" / name, np.zeros(bins * 80, np.float32), FS, subtype="FLOAT")
    plan = {("cellA/conspecific", "song.wav"): 3, ("cellA/flatrip", "ripple.wav"): 2, ("cellB", "song.wav"): 2}
    truth = {}
    for (folder, sound), trials in plan.items():
        (root / "cells" / folder).mkdir(parents=True)
        lines = []
        for t in range(trials):
            times = np.sort(rng.integers(0, BINS[sound] * 500, size=rng.integers(0, 12))) / 100.0  # ms, 10 us
            if t == 1 and folder == "cellB":
                times = np.array([])  # a silent trial
            truth[folder.split("/")[0], sound, t] = times
            lines.append(" ".join(f"{v:g}" for v in [-3.5, *times]))  # a spike before onset: dropped
        (root / "cells" / folder / "spike1").write_text("\n".join(lines) + "\n")
        (root / "cells" / folder / "stim1").write_text(f"{sound}\n")
    return truth


def test_cells_that_heard_different_sounds_become_one_response_set(tmp_path):
    truth = _data_set(tmp_path, np.random.default_rng(0))
    assert is_recording(tmp_path / "cells")
    imported = read_spike_files(tmp_path / "cells", DT_MS)
    assert [n["id"] for n in imported.neurons] == ["cellA", "cellB"]
    names = [s["label"] for s in imported.stimuli]
    assert sorted(names) == ["ripple.wav", "song.wav"]
    counts = imported.binned.counts
    for (cell, sound, trial), times in truth.items():
        n, s = ["cellA", "cellB"].index(cell), names.index(sound)
        expected = np.bincount((np.round(times * 100).astype(int)) // 500, minlength=BINS[sound])
        np.testing.assert_array_equal(counts[n, s, trial, : BINS[sound]], expected)
    song, ripple = names.index("song.wav"), names.index("ripple.wav")
    assert missing_counts(counts[1, ripple]).all()  # cellB never heard the ripple: missing, not zero
    assert missing_counts(counts[1, song, 2]).all()  # and the song only twice
    assert (counts[1, song, 1, : BINS["song.wav"]] == 0).all()  # its silent trial is zero


def test_the_window_opens_such_a_folder_through_the_cache(tmp_path):
    _data_set(tmp_path, np.random.default_rng(1))
    rs = open_recording(tmp_path / "cells", ImportChoice(DT_MS), tmp_path / "cache")
    assert rs.source == tmp_path / "cells" and rs.counts.shape[:3] == (2, 2, 3)


def test_bad_folders_say_what_is_wrong(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResponseSetError, match="no spike-time files"):
        read_spike_files(tmp_path / "empty", DT_MS)
    _data_set(tmp_path / "d", np.random.default_rng(2))
    (tmp_path / "d" / "cells" / "cellB" / "stim1").write_text("missing.wav\n")
    with pytest.raises(ResponseSetError, match=r"names the sound 'missing\.wav'"):
        read_spike_files(tmp_path / "d" / "cells", DT_MS)
    (tmp_path / "d" / "cells" / "cellB" / "stim1").write_text("song.wav\n")
    (tmp_path / "d" / "cells" / "cellB" / "spike1").write_text("1.0 two 3.0\n")
    with pytest.raises(ResponseSetError, match="line 1: not a list of spike times"):
        read_spike_files(tmp_path / "d" / "cells", DT_MS)
