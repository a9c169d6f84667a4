"""Binning a recording's spike trains around its stimulus presentations (every importer's common step): the
counts and spike times must be exactly those of trials built directly from the same synthetic spikes."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.data.spikes import read_spike_times
from strfviewer.backend.data.trials import MISSING, Presentation, bin_presentations, write_spike_times
from strfviewer.backend.errors import ResponseSetError

DT_MS, TICK_MS = 5.0, 0.01
PER_BIN = 500  # ticks per bin
N_BINS = [40, 25, 60]
REPEATS = [3, 2, 4]  # unequal on purpose


def _synthetic(rng: np.random.Generator, n_units: int = 4):
    """Per trial (unit, stimulus, repeat) spike ticks from onset, laid on a recording clock with presentations
    in shuffled order and gaps between them; also spikes outside every presentation."""
    truth = {}
    for n in range(n_units):
        for s, (bins, reps) in enumerate(zip(N_BINS, REPEATS, strict=True)):
            for r in range(reps):
                truth[n, s, r] = np.sort(rng.choice(bins * PER_BIN, size=rng.integers(0, 30), replace=False))
    order = [(s, r) for s, reps in enumerate(REPEATS) for r in range(reps)]
    rng.shuffle(order)
    onsets, clock = {}, 3.0
    for s, r in order:
        onsets[s, r] = clock
        clock += N_BINS[s] * DT_MS / 1000 + rng.uniform(0.2, 0.5)
    # A presentation's repeat number follows its onset: renumber the truth so repeat r is the r-th played.
    played = {s: sorted(r for (t, r) in onsets if t == s) for s in range(len(N_BINS))}
    by_onset = {s: sorted(played[s], key=lambda r: onsets[s, r]) for s in played}
    trains = []
    for n in range(n_units):
        times = [onsets[s, r] + truth[n, s, r] * TICK_MS / 1000 for s, r in onsets]
        times.append(rng.uniform(0.0, 2.9, size=20))  # before the first presentation: in no trial
        trains.append(rng.permutation(np.concatenate(times)))
    expected = {(n, s, i): truth[n, s, r] for n in range(n_units) for s in by_onset for i, r in enumerate(by_onset[s])}
    presentations = [Presentation(s, onsets[s, r]) for s, r in onsets]
    return trains, presentations, expected, onsets, by_onset


def test_counts_and_spike_times_are_those_of_the_trials_with_missing_repeats_marked():
    trains, presentations, expected, _, _ = _synthetic(np.random.default_rng(0))
    binned = bin_presentations(trains, presentations, N_BINS, DT_MS, tick_ms=TICK_MS)
    assert binned.counts.shape == (4, 3, 4, 60) and binned.repeats == REPEATS
    for (n, s, r), ticks in expected.items():
        row = binned.counts[n, s, r]
        np.testing.assert_array_equal(row[: N_BINS[s]], np.bincount(ticks // PER_BIN, minlength=N_BINS[s]))
        assert (row[N_BINS[s]:] == MISSING).all()  # past the stimulus's own length
        trial = (n * 3 + s) * 4 + r
        np.testing.assert_array_equal(binned.ticks[binned.trial_ptr[trial]: binned.trial_ptr[trial + 1]], ticks)
    assert (binned.counts[:, 1, 2:] == MISSING).all()  # stimulus 1 was played twice: repeats 2 and 3 are missing
    total_in_trials = sum(len(t) for t in expected.values())
    # The spikes outside every trial are not counted.
    assert int(binned.counts[binned.counts >= 0].sum()) == total_in_trials
    assert binned.counts.dtype == np.int8  # a few spikes per bin: the smallest integers that hold them


def test_a_bin_with_more_spikes_than_int8_holds_widens_the_counts_without_losing_any():
    dense = np.full(300, 0.0021)  # 300 spikes inside the first 5 ms bin of the only presentation
    binned = bin_presentations([dense, np.array([0.001])], [Presentation(0, 0.0)], [4], DT_MS, tick_ms=TICK_MS)
    assert binned.counts.dtype == np.int16
    np.testing.assert_array_equal(binned.counts[:, 0, 0], [[300, 0, 0, 0], [1, 0, 0, 0]])


def test_a_unit_that_was_not_recording_has_those_trials_missing_not_zero():
    trains, presentations, _, onsets, by_onset = _synthetic(np.random.default_rng(1))
    first = by_onset[2][0]  # the first playback of stimulus 2
    start = onsets[2, first]
    gap = np.array([[0.0, start + 0.05], [start + 0.2, 1e6]])  # unit 1 stops for a moment inside that trial
    binned = bin_presentations(trains, presentations, N_BINS, DT_MS, recording=[None, gap, None, None],
                               tick_ms=TICK_MS)
    assert (binned.counts[1, 2, 0] == MISSING).all()
    assert (binned.counts[1, 2, 1, : N_BINS[2]] >= 0).all() and (binned.counts[0, 2, 0, :60] >= 0).all()


def test_the_result_is_a_response_set_whose_raster_has_the_exact_spike_times(tmp_path):
    trains, presentations, expected, _, _ = _synthetic(np.random.default_rng(2))
    binned = bin_presentations(trains, presentations, N_BINS, DT_MS, tick_ms=TICK_MS)
    folder = save_response_set(
        tmp_path / "set", name="binned", dt_ms=DT_MS,
        stimuli=[{"id": f"s{s}", "audio": np.zeros(b * 80, np.float32), "sample_rate_hz": 16000}
                 for s, b in enumerate(N_BINS)],
        neurons=[{"id": f"u{n}"} for n in range(4)], counts=binned.counts)
    write_spike_times(str(folder / "spike_times.npz"), binned)
    rs = load_response_set(folder)
    np.testing.assert_array_equal(rs.counts, binned.counts)
    spikes, reason = read_spike_times(folder, (4, 3, 4))
    assert reason is None
    for (n, s, r), ticks in expected.items():
        np.testing.assert_allclose(spikes.times(n, s, r), ticks * TICK_MS / 1000, rtol=0, atol=1e-12)


def test_sources_that_cannot_be_binned_are_refused_with_the_reason():
    with pytest.raises(ResponseSetError, match="names stimulus 5, but there are 3 stimuli"):
        bin_presentations([np.zeros(1)], [Presentation(5, 0.0)], N_BINS, DT_MS)
    with pytest.raises(ResponseSetError, match="stimulus 1 is never presented"):
        bin_presentations([np.zeros(1)], [Presentation(0, 0.0), Presentation(2, 1.0)], N_BINS, DT_MS)
    with pytest.raises(ResponseSetError, match=r"not a whole number of 0\.01 ms ticks"):
        bin_presentations([np.zeros(1)], [Presentation(0, 0.0)], [10], 0.0155)
    with pytest.raises(ResponseSetError, match="names no trial"):
        bin_presentations([np.zeros(1)], [], N_BINS, DT_MS)
