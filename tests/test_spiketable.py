"""A CSV table of spikes (unit, stimulus, trial, time after onset) with a folder of sounds, imported as a response
set: exactly the counts of the trials it describes, and a reason for every table it cannot use."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile

from strfviewer.backend.data.responses import load_response_set
from strfviewer.backend.data.spiketable import read_spike_table
from strfviewer.backend.data.trials import MISSING, save_imported
from strfviewer.backend.errors import ResponseSetError

FS, DT_MS = 16000, 5.0
BINS = {"song_a": 30, "song_b": 50}
TRIALS = {"song_a": 3, "song_b": 2}


def _write(tmp_path, rows, header=("unit", "stimulus", "trial", "time_s", "note")):
    sounds = tmp_path / "sounds"
    sounds.mkdir(exist_ok=True)
    for name, bins in BINS.items():
        soundfile.write(sounds / f"{name}.wav", np.zeros(bins * 80, np.float32), FS, subtype="FLOAT")
    table = tmp_path / "spikes.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return table, sounds


def _truth(rng):
    """Per (unit, stimulus, trial) spike times after onset, on a 10 us grid; unit "c" is silent in a trial."""
    truth, rows = {}, []
    for unit in ("a", "b", "c"):
        for name in BINS:
            for trial in range(TRIALS[name]):
                n = 0 if (unit, name, trial) == ("c", "song_b", 1) else int(rng.integers(1, 25))
                ticks = np.sort(rng.choice(BINS[name] * 500, size=n, replace=False))
                truth[unit, name, trial] = ticks
                rows += [(unit, name, trial, f"{t * 1e-5:.5f}", "x") for t in ticks]
    order = rng.permutation(len(rows))
    return truth, [rows[i] for i in order]


def test_a_table_of_spikes_becomes_the_response_set_of_its_trials(tmp_path):
    truth, rows = _truth(np.random.default_rng(0))
    table, sounds = _write(tmp_path, rows)
    imported = read_spike_table(table, sounds, DT_MS)
    rs = load_response_set(save_imported(imported, tmp_path / "set"))
    units = [n.id for n in rs.neurons]
    names = [s["label"] for s in imported.stimuli]
    assert sorted(units) == ["a", "b", "c"] and sorted(names) == ["song_a", "song_b"]
    assert rs.counts.shape == (3, 2, 3, 50)
    for (unit, name, trial), ticks in truth.items():
        n, s = units.index(unit), names.index(name)
        np.testing.assert_array_equal(rs.counts[n, s, trial, : BINS[name]],
                                      np.bincount(ticks // 500, minlength=BINS[name]))
    s_b = names.index("song_b")
    assert (rs.counts[:, s_b, 2] == MISSING).all()  # song_b had 2 trials: the third repeat is missing
    assert rs.counts[units.index("c"), s_b, 1, :50].sum() == 0  # a silent trial is zero, not missing


def test_tables_that_cannot_be_imported_say_why(tmp_path):
    table, sounds = _write(tmp_path, [("a", "song_a", 0, "0.1")], header=("unit", "stimulus", "time_s", "x"))
    with pytest.raises(ResponseSetError, match="no column trial"):
        read_spike_table(table, sounds, DT_MS)
    table, sounds = _write(tmp_path, [("a", "song_z", 0, "0.1", "")])
    with pytest.raises(ResponseSetError, match="stimulus 'song_z': no sound file"):
        read_spike_table(table, sounds, DT_MS)
    table, sounds = _write(tmp_path, [("a", "song_a", "one", "0.1", "")])
    with pytest.raises(ResponseSetError, match="a trial is not a whole number"):
        read_spike_table(table, sounds, DT_MS)
    table, sounds = _write(tmp_path, [("a", "song_a", -1, "0.1", "")])
    with pytest.raises(ResponseSetError, match="start at 0"):
        read_spike_table(table, sounds, DT_MS)
    table, sounds = _write(tmp_path, [])
    with pytest.raises(ResponseSetError, match="has no spikes"):
        read_spike_table(table, sounds, DT_MS)


def test_the_command_line_imports_a_table_and_says_where_its_sounds_were_not(tmp_path, capsys, caplog):
    from strfviewer.cli import main

    _, rows = _truth(np.random.default_rng(1))
    table, sounds = _write(tmp_path, rows)
    assert main(["import", str(table), "--sounds", str(sounds), "--out", str(tmp_path / "set")]) == 0
    assert "3 neurons, 2 stimuli, up to 3 repeats, 5 ms bins from spikes.csv" in capsys.readouterr().out
    assert main(["import", str(table), "--out", str(tmp_path / "other")]) == 2
    # Without --sounds, the sounds are looked for beside the table, where these are not.
    assert f"no sound file song_a (or song_a.wav, .flac…) in {tmp_path}" in caplog.text
    assert not (tmp_path / "other").exists()


def test_a_parquet_table_gives_the_counts_of_the_same_csv_table(tmp_path):
    parquet = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the parquet extra) is not installed")
    import pyarrow

    _, rows = _truth(np.random.default_rng(2))
    table, sounds = _write(tmp_path, rows)
    columns = list(zip(*[(u, s, int(t), float(x)) for u, s, t, x, _ in rows], strict=True))
    parquet.write_table(pyarrow.table({"unit": columns[0], "stimulus": columns[1], "trial": columns[2],
                                       "time_s": columns[3]}), tmp_path / "spikes.parquet")
    from_csv = read_spike_table(table, sounds, DT_MS)
    from_parquet = read_spike_table(tmp_path / "spikes.parquet", sounds, DT_MS)
    np.testing.assert_array_equal(from_parquet.binned.counts, from_csv.binned.counts)
    np.testing.assert_array_equal(from_parquet.binned.ticks, from_csv.binned.ticks)
    parquet.write_table(pyarrow.table({"unit": ["a"], "time_s": [0.1]}), tmp_path / "bad.parquet")
    with pytest.raises(ResponseSetError, match="no column stimulus, trial"):
        read_spike_table(tmp_path / "bad.parquet", sounds, DT_MS)
