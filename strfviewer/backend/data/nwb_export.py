"""A response set, with the open models' predictions, written as an NWB file for the lab's pipeline.

What the file holds, so that :func:`strfviewer.backend.data.nwb.read_nwb` reads the same response set back:

- each stimulus's sound as a ``TimeSeries`` in ``stimulus``, named by its id;
- one ``trials`` row per recorded (stimulus, repeat), laid end to end on the file's clock, each a second after
  the last, in stimulus then repeat order, with the columns ``stimulus`` (its id) and ``repeat``;
- one unit per neuron: its spike times on that clock (the exact ones where the response set has them,
  otherwise each bin's spikes at the bin's centre, which bins back to the same counts), ``obs_intervals`` that
  leave out the trials missing for it, and the columns ``neuron_id`` and ``valid``;
- a processing module ``predictions``: per model and stimulus, a ``TimeSeries`` of shape (bins, neurons) at
  one sample per bin from sound onset (spikes per bin; NaN for a neuron the model does not predict), named
  ``<model> | <stimulus id>``.

The file is written beside its target and renamed into place: it appears whole or not at all.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import ResponseSetError, one_line
from ..jobs import CancelFlag, ProgressCallback, check_cancel, report
from .responses import ResponseSet, missing_counts

GAP_S = 1.0  # between two exported trials
PREDICTIONS_MODULE = "predictions"


def _spike_source(rs: ResponseSet):
    """Spike times after onset of one trial, in seconds: exact if the folder has them, else bin centres."""
    from .spikes import read_spike_times

    exact, _ = read_spike_times(rs.root, tuple(rs.counts.shape[:3]))
    if exact is not None:
        return exact.times, True
    dt_s = rs.dt_ms / 1000.0

    def centres(n: int, s: int, r: int) -> np.ndarray:
        counts = np.clip(np.asarray(rs.counts[n, s, r]), 0, None).astype(np.int64)
        return np.repeat((np.arange(len(counts)) + 0.5) * dt_s, counts)

    return centres, False


def export_nwb(rs: ResponseSet, path: str | Path, predictions: dict[str, list[np.ndarray]] | None = None,
               progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> Path:
    """Write ``rs`` and ``predictions`` (model name -> per stimulus ``(N, T_s)``) to the NWB file ``path``."""
    try:
        import pynwb
    except ImportError as exc:
        raise ResponseSetError("writing NWB files needs pynwb: pip install 'strfviewer[nwb]'") from exc
    target = Path(path)
    if target.suffix.lower() != ".nwb":
        target = target.with_name(target.name + ".nwb")
    n_neurons, n_stimuli, n_repeats, _ = rs.counts.shape
    predictions = predictions or {}
    for name, per_stimulus in predictions.items():
        if len(per_stimulus) != n_stimuli or any(np.shape(p)[0] != n_neurons for p in per_stimulus):
            raise ResponseSetError(f"the predictions of {name} do not match the response set's {n_neurons} "
                                   f"neurons and {n_stimuli} stimuli")
    total = n_stimuli + n_neurons + 1
    report(progress, 0, total, "sounds")
    nwbfile = pynwb.NWBFile(
        session_description=f"strfviewer export of the response set {rs.name}",
        identifier=f"strfviewer-{rs.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}",
        session_start_time=datetime.now(timezone.utc),
        source_script="strfviewer", source_script_file_name="strfviewer",
    )
    from .audio import load_audio

    for s, info in enumerate(rs.stimuli):
        # At the file's own rate (a rate the WAV header cannot hold, such as 24414.0625 Hz, is rounded to
        # whole Hz by the reader; the series keeps the one the response set states).
        loaded = load_audio(info.file, source_rate=info.sample_rate_hz)
        rate = info.sample_rate_hz or float(loaded.sample_rate)
        nwbfile.add_stimulus(pynwb.TimeSeries(name=info.id, data=loaded.waveform.reshape(-1).numpy(), unit="a.u.",
                                              rate=float(rate), description=info.label or info.id))
        report(progress, s + 1, total, "sounds")
        check_cancel(cancel)

    # (N, S, R): a unit's trial holds data; one stimulus at a time, not a mask of the whole array
    recorded = np.stack([~missing_counts(rs.counts[:, s]).all(axis=2) for s in range(n_stimuli)], axis=1)
    length_s = [rs.n_bins(s) * rs.dt_ms / 1000.0 for s in range(n_stimuli)]
    nwbfile.add_trial_column(name="stimulus", description="id of the sound played (a stimulus series)")
    nwbfile.add_trial_column(name="repeat", description="the presentation's repeat number for its sound")
    onsets: dict[tuple[int, int], float] = {}
    clock = GAP_S
    for s in range(n_stimuli):
        for r in range(n_repeats):
            if recorded[:, s, r].any():
                onsets[s, r] = clock
                nwbfile.add_trial(start_time=clock, stop_time=clock + length_s[s], stimulus=rs.stimuli[s].id,
                                  repeat=r)
                clock += length_s[s] + GAP_S
    if not onsets:
        raise ResponseSetError(f"the response set {rs.name} has no recorded trial to export")

    spikes, exact = _spike_source(rs)
    nwbfile.units = pynwb.misc.Units(name="units", description=(
        "spike times exact from the response set" if exact else
        "spike times at bin centres: the response set has only binned counts"))
    nwbfile.add_unit_column(name="neuron_id", description="the neuron's id in the strfviewer response set")
    nwbfile.add_unit_column(name="valid", description="whether the neuron is in the response set's default subset")
    for n, neuron in enumerate(rs.neurons):
        times, intervals = [], []
        for (s, r), onset in onsets.items():
            if not recorded[n, s, r]:
                continue
            times.append(onset + spikes(n, s, r))
            start, stop = onset - GAP_S / 2, onset + length_s[s] + GAP_S / 2
            if intervals and abs(intervals[-1][1] - start) < 1e-9:
                intervals[-1][1] = stop  # recording through consecutive trials: one interval
            else:
                intervals.append([start, stop])
        train = np.sort(np.concatenate(times)) if times else np.zeros(0)
        nwbfile.add_unit(spike_times=train, obs_intervals=intervals or None, neuron_id=neuron.id,
                         valid=bool(neuron.valid))
        report(progress, n_stimuli + n + 1, total, "units")
        check_cancel(cancel)

    if predictions:
        module = nwbfile.create_processing_module(PREDICTIONS_MODULE, "model predictions per stimulus (spikes per "
                                                  "bin from sound onset; NaN: neuron not predicted)")
        for name, per_stimulus in predictions.items():
            for s, prediction in enumerate(per_stimulus):
                module.add(pynwb.TimeSeries(
                    name=f"{name} | {rs.stimuli[s].id}", data=np.asarray(prediction, dtype=np.float32).T,
                    unit="spikes per bin", rate=1000.0 / rs.dt_ms, starting_time=0.0,
                    description=f"{name}'s prediction of every neuron for stimulus {rs.stimuli[s].id}"))
    partial = target.with_name(f".{target.stem}.partial-{os.getpid()}.nwb")
    try:
        with pynwb.NWBHDF5IO(str(partial), "w") as io:
            io.write(nwbfile)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ResponseSetError(f"cannot write {target} ({one_line(exc)}); choose another folder") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    report(progress, total, total, "written")
    return target

