"""NWB files built with pynwb inside the test: sounds as stimulus series or as WAV files beside the file, two
tables that could be the presentations, units with a recording gap, repeats of unequal count. The response set
read back must hold exactly the counts and spike times of the synthetic trials."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile
from test_trials import DT_MS, N_BINS, TICK_MS, _synthetic

from strfviewer.backend.data.nwb import inspect_nwb, read_nwb
from strfviewer.backend.data.responses import load_response_set
from strfviewer.backend.data.spikes import read_spike_times
from strfviewer.backend.data.trials import MISSING, save_imported
from strfviewer.backend.errors import ResponseSetError

pynwb = pytest.importorskip("pynwb", reason="pynwb (the nwb extra) is not installed")

FS = 16000


def _sounds() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [(0.1 * rng.standard_normal(bins * int(FS * DT_MS / 1000))).astype(np.float32) for bins in N_BINS]


def _write(path: Path, *, external: bool = False, second_table: bool = True, units: bool = True, gap=None,
           acoustic: bool = False, shift_s: float = 0.0, rename: dict | None = None):
    """An NWB file of the synthetic recording (with ``acoustic``, its sounds as ndx-sound's
    AcousticWaveformSeries); returns what the reader must find."""
    trains, presentations, expected, onsets, by_onset = _synthetic(np.random.default_rng(3))
    nwbfile = pynwb.NWBFile(session_description="synthetic A1", identifier="test-1",
                            session_start_time=datetime(2026, 12, 3, tzinfo=timezone.utc))
    names = [f"call_{s}.wav" if external else f"call_{s}" for s in range(len(N_BINS))]
    for name, sound in zip(names, _sounds(), strict=True):
        if external:
            soundfile.write(path.parent / name, sound, FS, subtype="FLOAT")
        elif acoustic:
            from ndx_sound import AcousticWaveformSeries

            nwbfile.add_stimulus(AcousticWaveformSeries(name=name, data=sound, rate=float(FS),
                                                        description="a call"))
        else:
            nwbfile.add_stimulus(pynwb.TimeSeries(name=name, data=sound, unit="Pa", rate=float(FS)))
    nwbfile.add_trial_column(name="stimulus", description="the sound played")
    for p in sorted(presentations, key=lambda p: p.onset_s):
        named = (rename or {}).get(names[p.stimulus], names[p.stimulus])
        nwbfile.add_trial(start_time=p.onset_s + shift_s,
                          stop_time=p.onset_s + shift_s + N_BINS[p.stimulus] * DT_MS / 1000, stimulus=named)
    if second_table:  # a second table naming the same sounds: the reader must guess, and accept a choice
        other = pynwb.epoch.TimeIntervals(name="playback_trials", description="the first presentations only")
        other.add_column(name="sound", description="the sound played")
        for p in sorted(presentations, key=lambda p: p.onset_s)[:3]:
            other.add_row(start_time=p.onset_s, stop_time=p.onset_s + 0.1, sound=names[p.stimulus])
        nwbfile.add_time_intervals(other)
    if units:
        nwbfile.add_unit_column(name="location", description="brain area")
        for n, train in enumerate(trains):
            intervals = gap if (gap is not None and n == 1) else [[0.0, 1e4]]
            nwbfile.add_unit(spike_times=np.sort(train), obs_intervals=intervals, location=f"A1-{n}")
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return expected, onsets, by_onset


def test_the_reader_finds_sounds_presentations_and_units_and_bins_them_exactly(tmp_path):
    expected, _, _ = _write(tmp_path / "rec.nwb")
    summary = inspect_nwb(tmp_path / "rec.nwb")
    assert summary.units == 4 and summary.series == ["call_0", "call_1", "call_2"]
    assert [(c.table, c.column) for c in summary.candidates] == [("trials", "stimulus"), ("playback_trials", "sound")]
    assert (summary.guess.table, summary.guess.column) == ("trials", "stimulus")
    assert sorted(summary.repeats.values()) == [2, 3, 4]
    assert "(best guess)" in summary.describe() and "2 to 4 repeats each" in summary.describe()

    imported = read_nwb(tmp_path / "rec.nwb", DT_MS)
    folder = save_imported(imported, tmp_path / "set")
    rs = load_response_set(folder)
    order = [int(s["label"].split("_")[1]) for s in imported.stimuli]  # sounds in order of first presentation
    spikes, reason = read_spike_times(folder, rs.counts.shape[:3])
    assert reason is None
    for (n, s, r), ticks in expected.items():
        column = order.index(s)
        np.testing.assert_array_equal(rs.counts[n, column, r, : N_BINS[s]],
                                      np.bincount(ticks // 500, minlength=N_BINS[s]))
        np.testing.assert_allclose(spikes.times(n, column, r), ticks * TICK_MS / 1000, rtol=0, atol=1e-9)
    assert [nrn.id for nrn in rs.neurons] == ["unit-0", "unit-1", "unit-2", "unit-3"]
    assert rs.neurons[2].meta["location"] == "A1-2"  # the units table's columns become neuron metadata
    audio = rs.load_stimulus_audio(order.index(1), FS).waveform.numpy()
    np.testing.assert_allclose(audio, _sounds()[1], atol=1e-7)


def test_sounds_stored_as_acoustic_waveform_series_are_read_like_any_series(tmp_path):
    pytest.importorskip("ndx_sound", reason="ndx-sound is not installed (it is needed to write such a file)")
    expected, _, _ = _write(tmp_path / "rec.nwb", acoustic=True, second_table=False)
    imported = read_nwb(tmp_path / "rec.nwb", DT_MS)
    order = [int(s["label"].split("_")[1]) for s in imported.stimuli]
    for s, stimulus in zip(order, imported.stimuli, strict=True):
        np.testing.assert_allclose(stimulus["audio"], _sounds()[s], atol=1e-7)
        assert stimulus["sample_rate_hz"] == FS
    for (n, s, r), ticks in expected.items():
        np.testing.assert_array_equal(imported.binned.counts[n, order.index(s), r, : N_BINS[s]],
                                      np.bincount(ticks // 500, minlength=N_BINS[s]))


def test_another_presentation_table_can_be_chosen_and_an_unknown_one_is_explained(tmp_path):
    _write(tmp_path / "rec.nwb")
    chosen = read_nwb(tmp_path / "rec.nwb", DT_MS, table="playback_trials")
    assert chosen.source["presentations"] == "playback_trials.sound" and sum(chosen.binned.repeats) == 3
    preview = inspect_nwb(tmp_path / "rec.nwb").candidates[1]  # what the dialog shows before choosing it
    assert (preview.rows, preview.stimuli) == (3, len(chosen.stimuli))
    assert preview.repeats == (min(chosen.binned.repeats), max(chosen.binned.repeats))
    with pytest.raises(ResponseSetError, match=r"no presentation column trials\.sound names the sounds"):
        read_nwb(tmp_path / "rec.nwb", DT_MS, table="trials", column="sound")


def test_sounds_beside_the_file_are_found_through_the_names_in_the_table(tmp_path):
    expected, _, _ = _write(tmp_path / "rec.nwb", external=True, second_table=False)
    summary = inspect_nwb(tmp_path / "rec.nwb")
    assert summary.series == [] and summary.guess.kind == "files"
    imported = read_nwb(tmp_path / "rec.nwb", DT_MS)
    assert sorted(s["label"] for s in imported.stimuli) == ["call_0.wav", "call_1.wav", "call_2.wav"]
    assert sorted(s["id"] for s in imported.stimuli) == ["call_0", "call_1", "call_2"]
    np.testing.assert_allclose(imported.stimuli[0]["audio"], _sounds()[int(imported.stimuli[0]["id"][-1])],
                               atol=1e-7)
    total = sum(len(t) for t in expected.values())
    assert int(imported.binned.counts[imported.binned.counts >= 0].sum()) == total


def test_a_unit_outside_its_recording_intervals_is_missing_there(tmp_path):
    _, onsets, by_onset = _write(tmp_path / "rec.nwb", second_table=False, gap=None)
    first = by_onset[0][0]
    start = onsets[0, first]
    _write(tmp_path / "gap.nwb", second_table=False, gap=[[0.0, start - 0.01], [start + 1.0, 1e4]])
    imported = read_nwb(tmp_path / "gap.nwb", DT_MS)
    column = [s["label"] for s in imported.stimuli].index("call_0")
    assert (imported.binned.counts[1, column, 0] == MISSING).all()
    assert (imported.binned.counts[0, column, 0, : N_BINS[0]] >= 0).all()


def test_files_that_cannot_be_read_say_what_was_found(tmp_path):
    fake = tmp_path / "fake.nwb"
    fake.write_text("not hdf5")
    with pytest.raises(ResponseSetError, match=r"fake\.nwb is not a readable NWB file"):
        inspect_nwb(fake)
    _write(tmp_path / "nounits.nwb", units=False)
    with pytest.raises(ResponseSetError, match="has no units table"):
        read_nwb(tmp_path / "nounits.nwb", DT_MS)
    _write(tmp_path / "shifted.nwb", second_table=False, shift_s=1e5)  # trials on another clock
    with pytest.raises(ResponseSetError, match=r"no spike of any unit falls inside a presentation of trials\.stimulus"):
        read_nwb(tmp_path / "shifted.nwb", DT_MS)
    _write(tmp_path / "unknown.nwb", second_table=False, rename={"call_1": "call_9"})
    with pytest.raises(ResponseSetError, match=r"trials\.stimulus names 'call_9', which is neither a stimulus series"):
        read_nwb(tmp_path / "unknown.nwb", DT_MS)
    _write(tmp_path / "rec.nwb")
    imported = read_nwb(tmp_path / "rec.nwb", DT_MS)
    target = tmp_path / "set"
    target.mkdir()
    with pytest.raises(ResponseSetError, match="already exists"):
        save_imported(imported, target)
    assert list(target.iterdir()) == [] and list(tmp_path.glob(".set.partial-*")) == []


def test_the_command_line_describes_and_imports_a_file_and_refuses_a_bad_one(tmp_path, capsys, caplog):
    from strfviewer.cli import main

    caplog.set_level(logging.INFO)
    _write(tmp_path / "rec.nwb")
    assert main(["info", str(tmp_path / "rec.nwb")]) == 0
    described = capsys.readouterr().out
    assert "4 units, 3 stimulus series" in described
    assert "trials.stimulus, 9 presentations of 3 sounds (2 to 4 repeats each), named as series (best guess)" \
        in described
    assert main(["import", str(tmp_path / "rec.nwb"), "--out", str(tmp_path / "set"), "--dt-ms", "5"]) == 0
    assert "4 neurons, 3 stimuli, up to 4 repeats, 5 ms bins from trials.stimulus" in capsys.readouterr().out
    assert "also possible: playback_trials.sound" in caplog.text
    assert load_response_set(tmp_path / "set").counts.shape == (4, 3, 4, 60)
    (tmp_path / "bad.nwb").write_bytes(b"\x89HDF\r\n")
    assert main(["import", str(tmp_path / "bad.nwb"), "--out", str(tmp_path / "other")]) == 2
    assert "bad.nwb is not a readable NWB file" in caplog.text and not (tmp_path / "other").exists()
