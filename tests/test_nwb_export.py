"""Exporting a response set and model predictions to NWB: reading the file back gives the same counts, the
same exact spike times, the same missing trials and the predictions as they were."""

from __future__ import annotations

import numpy as np
import pytest
from test_trials import DT_MS, N_BINS, TICK_MS, _synthetic

from strfviewer.backend.data.nwb import read_nwb
from strfviewer.backend.data.nwb_export import PREDICTIONS_MODULE, export_nwb
from strfviewer.backend.data.responses import load_response_set, missing_counts, save_response_set
from strfviewer.backend.data.spikes import read_spike_times
from strfviewer.backend.data.trials import bin_presentations, write_spike_times
from strfviewer.backend.errors import ResponseSetError

pynwb = pytest.importorskip("pynwb", reason="pynwb (the nwb extra) is not installed")
FS = 16000


def _response_set(tmp_path, exact: bool = True):
    trains, presentations, _, onsets, by_onset = _synthetic(np.random.default_rng(7))
    start = onsets[1, by_onset[1][0]]
    gap = np.array([[0.0, start - 0.01], [start + 1.0, 1e6]])  # unit 2 misses stimulus 1's first playback
    binned = bin_presentations(trains, presentations, N_BINS, DT_MS, recording=[None, None, gap, None],
                               tick_ms=TICK_MS)
    rng = np.random.default_rng(1)
    folder = save_response_set(
        tmp_path / "set", name="synthetic", dt_ms=DT_MS,
        stimuli=[{"id": f"s{s}", "audio": (0.1 * rng.standard_normal(b * 80)).astype(np.float32),
                  "sample_rate_hz": FS} for s, b in enumerate(N_BINS)],
        neurons=[{"id": f"u{n}", "valid": n != 3} for n in range(4)], counts=binned.counts)
    if exact:
        write_spike_times(str(folder / "spike_times.npz"), binned)
    return load_response_set(folder)


def test_the_exported_file_reads_back_as_the_same_response_set(tmp_path):
    rs = _response_set(tmp_path)
    predictions = {"LN": [np.random.default_rng(s).random((4, b)) for s, b in enumerate(N_BINS)]}
    predictions["LN"][0][3] = np.nan  # a neuron the model does not predict
    path = export_nwb(rs, tmp_path / "out", predictions)
    assert path.name == "out.nwb" and not list(tmp_path.glob(".out.partial-*"))
    back = read_nwb(path, DT_MS)
    assert [s["id"] for s in back.stimuli] == ["s0", "s1", "s2"]
    counts = back.binned.counts
    assert counts.shape == rs.counts.shape
    np.testing.assert_array_equal(missing_counts(counts), missing_counts(rs.counts))
    assert missing_counts(counts[2, 1, 0]).all()  # the trial unit 2 was not recording stays missing
    present = ~missing_counts(rs.counts)
    np.testing.assert_array_equal(counts[present], rs.counts[present])
    exact, _ = read_spike_times(rs.root, rs.counts.shape[:3])
    for n in range(4):
        for s in range(3):
            for r in range(back.binned.repeats[s]):
                trial = (n * 3 + s) * rs.counts.shape[2] + r
                got = back.binned.ticks[back.binned.trial_ptr[trial]: back.binned.trial_ptr[trial + 1]]
                np.testing.assert_allclose(got * TICK_MS / 1000, exact.times(n, s, r), rtol=0, atol=1e-9)
    assert [(nrn["neuron_id"], nrn["valid"]) for nrn in back.neurons] == [("u0", True), ("u1", True),
                                                                          ("u2", True), ("u3", False)]
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        module = io.read().processing[PREDICTIONS_MODULE]
        for s in range(3):
            series = module[f"LN | s{s}"]
            assert series.rate == 1000.0 / DT_MS
            np.testing.assert_allclose(series.data[:].T, predictions["LN"][s].astype(np.float32), equal_nan=True)
        assert np.isnan(module["LN | s0"].data[:, 3]).all()
        np.testing.assert_allclose(io.read().stimulus["s1"].data[:], rs.load_stimulus_audio(1, FS).waveform,
                                   atol=1e-7)


def test_without_exact_spike_times_the_counts_still_read_back_exactly(tmp_path):
    rs = _response_set(tmp_path, exact=False)
    back = read_nwb(export_nwb(rs, tmp_path / "binned.nwb"), DT_MS)
    present = ~missing_counts(rs.counts)
    np.testing.assert_array_equal(back.binned.counts[present], rs.counts[present])


def test_predictions_of_another_shape_are_refused_before_anything_is_written(tmp_path):
    rs = _response_set(tmp_path)
    with pytest.raises(ResponseSetError, match="predictions of LN do not match"):
        export_nwb(rs, tmp_path / "bad.nwb", {"LN": [np.zeros((2, 10))] * 3})
    assert not list(tmp_path.glob("*bad.nwb*"))


def test_the_window_exports_the_open_response_set_with_its_models_predictions(make_window, qtbot, tmp_path):
    from strfviewer.backend.checkpoints import load_model
    from strfviewer.resources import demo_session

    demo = demo_session().parent
    if not (demo / "models" / "linear-mel").is_dir():
        pytest.skip("the demo data is not part of this installation")
    window = make_window()
    assert not window.export_nwb_action.isEnabled()  # nothing to export yet
    window.controller.open_responses(demo / "responses")
    model = demo / "models" / "linear-mel"
    window.controller.open_model(model)
    qtbot.waitUntil(lambda: window.state.responses is not None and bool(window.state.models), timeout=30000)
    assert window.export_nwb_action.isEnabled()
    window.controller.export_nwb(tmp_path / "export.nwb")
    qtbot.waitUntil(lambda: (tmp_path / "export.nwb").is_file() and not window.runner.activeJobs(), timeout=60000)
    rs = window.state.responses
    back = read_nwb(tmp_path / "export.nwb", rs.dt_ms)
    assert back.binned.counts.shape == rs.counts.shape
    np.testing.assert_array_equal(missing_counts(back.binned.counts), missing_counts(rs.counts))
    # The demo's spike times come back exactly. (Its stored counts differ from the binning of its own spike
    # times in a few hundred boundary bins of 2.8 million, a rounding of the demo's generator; the synthetic
    # round trip above checks the counts themselves.)
    exact, _ = read_spike_times(rs.root, rs.counts.shape[:3])
    np.testing.assert_array_equal(back.binned.ticks, exact.ticks)
    np.testing.assert_array_equal(back.binned.trial_ptr, exact.trial_ptr)
    with pynwb.NWBHDF5IO(str(tmp_path / "export.nwb"), "r") as io:
        names = list(io.read().processing[PREDICTIONS_MODULE].data_interfaces)
    assert len(names) == len(rs.stimuli) and all(n.startswith(f"{load_model(model).path.name} | ") for n in names)


def test_the_command_line_exports_a_response_set_with_a_model(tmp_path, capsys):
    from strfviewer.cli import main
    from strfviewer.resources import demo_session

    demo = demo_session().parent
    if not (demo / "models" / "linear-mel").is_dir():
        pytest.skip("the demo data is not part of this installation")
    out = tmp_path / "demo.nwb"
    assert main(["export", str(demo / "responses"), "--model", str(demo / "models" / "linear-mel"),
                 "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        assert len(nwbfile.units) == len(load_response_set(demo / "responses").neurons)
        assert any(name.startswith("linear-mel | ") for name in nwbfile.processing[PREDICTIONS_MODULE].data_interfaces)
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.nwb")]) == 2
    assert not (tmp_path / "x.nwb").exists()
