"""The exact spike-time reader: the documented layout is read trial by trial, and every file it does not
understand comes back with a reason instead of an error (the raster then shows the binned counts)."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.data.spikes import SPIKE_TIMES_FILE, SpikeTimes, read_spike_times

SHAPE = (2, 3, 2)  # neurons, stimuli, repeats
TICK_MS = 0.01


def _trials() -> list[np.ndarray]:
    """Trial i holds the ticks 100 * i + [0, i): a different, recognisable count per trial."""
    return [100 * i + np.arange(i, dtype=np.int32) for i in range(int(np.prod(SHAPE)))]


def _write(root, **arrays) -> None:
    np.savez(root / SPIKE_TIMES_FILE, **arrays)


def _valid(**overrides) -> dict[str, np.ndarray]:
    trials = _trials()
    arrays = {"spike_ticks": np.concatenate(trials), "trial_ptr": np.cumsum([0, *map(len, trials)]),
              "tick_ms": np.float64(TICK_MS), "shape": np.array(SHAPE)}
    arrays.update(overrides)
    return arrays


def test_a_trial_is_its_slice_of_ticks_in_seconds(tmp_path):
    _write(tmp_path, **_valid())
    spikes, note = read_spike_times(tmp_path, SHAPE)
    assert note is None and isinstance(spikes, SpikeTimes)
    assert spikes.shape == SHAPE and spikes.tick_s == pytest.approx(TICK_MS / 1000)
    n_stimuli, n_repeats = SHAPE[1], SHAPE[2]
    for neuron in range(SHAPE[0]):
        for stimulus in range(n_stimuli):
            for repeat in range(n_repeats):
                trial = (neuron * n_stimuli + stimulus) * n_repeats + repeat
                np.testing.assert_allclose(spikes.times(neuron, stimulus, repeat),
                                           (100 * trial + np.arange(trial)) * TICK_MS / 1000)


def test_the_shape_key_is_optional(tmp_path):
    arrays = _valid()
    del arrays["shape"]
    _write(tmp_path, **arrays)
    spikes, note = read_spike_times(tmp_path, SHAPE)
    assert note is None and spikes is not None


def test_no_file_is_no_spikes_and_no_reason(tmp_path):
    assert read_spike_times(tmp_path, SHAPE) == (None, None)


def test_missing_keys_are_named(tmp_path):
    arrays = _valid()
    del arrays["trial_ptr"], arrays["tick_ms"]
    _write(tmp_path, **arrays)
    spikes, note = read_spike_times(tmp_path, SHAPE)
    assert spikes is None
    assert note == f"{SPIKE_TIMES_FILE} has no trial_ptr, tick_ms: the raster shows binned counts"


@pytest.mark.parametrize("overrides", [{"shape": np.array([2, 3, 3])}, {"trial_ptr": np.arange(5)},
                                       {"tick_ms": np.float64(0.0)}])
def test_another_shape_or_a_bad_tick_is_refused(tmp_path, overrides):
    _write(tmp_path, **_valid(**overrides))
    spikes, note = read_spike_times(tmp_path, SHAPE)
    assert spikes is None
    assert note == f"{SPIKE_TIMES_FILE} does not match the counts' shape {SHAPE}: the raster shows binned counts"


def test_a_damaged_file_cannot_be_read(tmp_path):
    (tmp_path / SPIKE_TIMES_FILE).write_bytes(b"PK\x03\x04garbage")
    spikes, note = read_spike_times(tmp_path, SHAPE)
    assert spikes is None and note.startswith(f"{SPIKE_TIMES_FILE} cannot be read (")
