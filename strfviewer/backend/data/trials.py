"""From a recording's own clock to a response set: spike trains of sorted units and the times each sound was
played become binned counts ``(neurons, stimuli, repeats, bins)`` and the exact spike times behind them.

Every importer (NWB files, spike-time text files, spike tables) reduces its source to the same three things:
each unit's spike times, the presentations (which stimulus, from when), and optionally when each unit was
recording. Binning happens here, once, so every source gets the same rules:

- A presentation's spikes are counted from its onset, in ticks of ``tick_ms`` (10 us by default); the bin of
  a spike is its tick divided by the ticks per bin, so the raster and the counts never disagree.
- Bin ``t`` covers ``[t * dt, (t + 1) * dt)`` after onset; a stimulus has ``n_bins`` of them (its sound's length
  in whole bins, or longer for a post-stimulus window).
- Repeats are numbered per stimulus in order of onset. A stimulus played fewer times than the most-played one
  has its missing repeats marked missing, as has every trial of a unit that was not recording for all of it:
  missing, never zero.
- Counts are the smallest signed integers that hold them (``int8`` unless a bin holds more than 127 spikes),
  with :data:`MISSING` (-1) where missing, as the response-set format allows: a quarter of float32's memory,
  which matters for hundreds of units (500 units x 200 stimuli x 20 repeats x 200 bins is 400 MB as int8).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResponseSetError

DEFAULT_TICK_MS = 0.01  # 10 us, as the demo's spike times
MISSING = -1  # a count that was not recorded
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")  # sound files an importer recognises


@dataclass(frozen=True)
class Presentation:
    """One playback of stimulus ``stimulus`` (an index into the stimuli), starting at ``onset_s`` on the
    recording's clock."""

    stimulus: int
    onset_s: float


@dataclass
class BinnedTrials:
    """Counts ``(N, S, R, T)`` (signed integers, :data:`MISSING` where missing), and every trial's spikes in
    ticks from onset in the layout of ``spike_times.npz`` (trial ``i = (n * S + s) * R + r`` holds
    ``ticks[trial_ptr[i]:trial_ptr[i + 1]]``)."""

    counts: np.ndarray
    ticks: np.ndarray
    trial_ptr: np.ndarray
    tick_ms: float
    repeats: list[int]  # presentations of each stimulus


@dataclass
class ImportedResponses:
    """A response set read from a recording, ready to be written as a folder (:func:`save_imported`)."""

    name: str
    dt_ms: float
    stimuli: list[dict[str, Any]]  # id, audio (1-D float32), sample_rate_hz
    neurons: list[dict[str, Any]]
    binned: BinnedTrials
    source: dict[str, Any]


def stimulus_id(name: str) -> str:
    """A stimulus id usable as a file name: the sound's name without folders, suffix or odd characters."""
    stem = Path(name).stem if name.lower().endswith(AUDIO_SUFFIXES) else name
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "stimulus"


def stimulus_ids(names: list[str]) -> list[str]:
    """:func:`stimulus_id` of each name, made unique where two names differ only in characters a file name
    cannot hold."""
    ids: list[str] = []
    for name in names:
        base = candidate = stimulus_id(name)
        while candidate in ids:
            candidate = f"{base}-{len(ids)}"
        ids.append(candidate)
    return ids


def sound_bins(n_samples: int, sample_rate: float, dt_ms: float) -> int:
    """Whole bins of ``dt_ms`` a sound of ``n_samples`` at ``sample_rate`` fills (a stimulus's length)."""
    return math.floor(n_samples * 1000.0 / (sample_rate * dt_ms) + 1e-9)


def _ticks_per_bin(dt_ms: float, tick_ms: float) -> int:
    ratio = dt_ms / tick_ms
    if not (ratio >= 1 and math.isclose(ratio, round(ratio), rel_tol=0, abs_tol=1e-6)):
        raise ResponseSetError(f"a {dt_ms:g} ms bin is not a whole number of {tick_ms:g} ms ticks; choose a bin "
                               "width that is a multiple of the tick")
    return round(ratio)


def bin_presentations(spike_times: Sequence[np.ndarray], presentations: list[Presentation], n_bins: list[int],
                      dt_ms: float, recording: Sequence[np.ndarray | None] | None = None,
                      tick_ms: float = DEFAULT_TICK_MS) -> BinnedTrials:
    """Bin each unit's spike times (seconds, any order) around each presentation.

    ``spike_times`` may read each unit's train when indexed (a lazy sequence), so only one is in memory at a
    time. ``n_bins[s]`` is stimulus ``s``'s length in bins; ``recording[n]`` the intervals ``(K, 2)`` in seconds during
    which unit ``n`` was recording (None: throughout). A stimulus never presented is refused, as is a
    presentation of an unknown stimulus.
    """
    n_stimuli = len(n_bins)
    if n_stimuli == 0 or not presentations:
        raise ResponseSetError("no stimulus presentations to bin: the source names no trial")
    for p in presentations:
        if not 0 <= p.stimulus < n_stimuli:
            raise ResponseSetError(f"a presentation at {p.onset_s:g} s names stimulus {p.stimulus}, but there are "
                                   f"{n_stimuli} stimuli")
    order = sorted(range(len(presentations)), key=lambda i: (presentations[i].stimulus, presentations[i].onset_s))
    repeats = [0] * n_stimuli
    slots: list[tuple[int, int, float]] = []  # (stimulus, repeat, onset) in trial order
    for i in order:
        p = presentations[i]
        slots.append((p.stimulus, repeats[p.stimulus], p.onset_s))
        repeats[p.stimulus] += 1
    never = [s for s, r in enumerate(repeats) if r == 0]
    if never:
        raise ResponseSetError(f"stimulus {never[0]} is never presented ({len(never)} of {n_stimuli} stimuli are "
                               "not); leave unplayed sounds out of the stimuli")
    per_bin = _ticks_per_bin(dt_ms, tick_ms)
    tick_s = tick_ms / 1000.0
    n_units, n_rep, longest = len(spike_times), max(repeats), max(n_bins)
    stimulus = np.array([s for s, _, _ in slots])
    repeat = np.array([r for _, r, _ in slots])
    onset = np.array([t for _, _, t in slots], dtype=np.float64)
    length = np.asarray(n_bins, dtype=np.int64)[stimulus] * per_bin  # ticks of each presentation
    stop = onset + length * tick_s
    counts = np.full((n_units, n_stimuli, n_rep, longest), MISSING, dtype=np.int8)
    past_end = np.arange(longest)[None, :] >= np.asarray(n_bins)[stimulus][:, None]  # (P, T): after the sound
    per_trial = np.zeros((n_units, n_stimuli, n_rep), dtype=np.int64)  # spikes of each trial
    chunks = []
    tick_type = np.int32 if int(length.max()) < 2**31 else np.int64  # as the demo writes spike_ticks
    for n in range(n_units):
        train = spike_times[n]
        times = np.sort(np.asarray(train, dtype=np.float64))
        intervals = None if recording is None or recording[n] is None else np.asarray(recording[n], dtype=float)
        covered = np.ones(len(slots), dtype=bool) if intervals is None else np.any(
            (intervals[None, :, 0] <= onset[:, None]) & (intervals[None, :, 1] >= stop[:, None]), axis=1)
        # Every presentation's window of spikes at once (a tick of margin either side for the rounding).
        low, high = np.searchsorted(times, onset - tick_s), np.searchsorted(times, stop + tick_s)
        sizes = high - low
        trial = np.repeat(np.arange(len(slots)), sizes)
        index = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(low, sizes)
        ticks = np.floor((times[index] - onset[trial]) / tick_s + 0.5).astype(np.int64)
        keep = (ticks >= 0) & (ticks < length[trial]) & covered[trial]
        ticks, trial = ticks[keep], trial[keep]
        binned = np.bincount(trial * longest + ticks // per_bin, minlength=len(slots) * longest)
        rows = binned.reshape(len(slots), longest)
        rows[past_end | ~covered[:, None]] = MISSING  # a unit not recording throughout: the trial is missing
        if rows.max(initial=0) > np.iinfo(counts.dtype).max:  # a bin with more spikes than int8 holds
            counts = counts.astype(np.min_scalar_type(-int(rows.max())))
        counts[n, stimulus, repeat] = rows
        per_trial[n, stimulus, repeat] = np.bincount(trial, minlength=len(slots))
        # In presentation order, which is (stimulus, repeat) order: the file's trial order.
        chunks.append(ticks.astype(tick_type))
    trial_ptr = np.concatenate([[0], np.cumsum(per_trial.reshape(-1))]).astype(np.int64)
    flat = np.concatenate(chunks) if chunks else np.zeros(0, dtype=tick_type)
    return BinnedTrials(counts, flat, trial_ptr, tick_ms, repeats)


def save_imported(imported: ImportedResponses, folder: str | Path) -> Path:
    """Write an importer's result (name, dt_ms, stimuli, neurons, binned, source) as a response-set folder with
    its exact spike times. The folder appears whole or not at all: it is written beside, then renamed. It is
    not read back here (that would hold two copies of a large recording's counts): callers load it."""
    from .responses import save_response_set

    target = Path(folder)
    if target.exists():
        raise ResponseSetError(f"{target} already exists; choose a new folder for the response set")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        save_response_set(partial, name=imported.name, dt_ms=imported.dt_ms, stimuli=imported.stimuli,
                          neurons=imported.neurons, counts=imported.binned.counts,
                          extra={"source": imported.source}, check=False)
        write_spike_times(str(partial / "spike_times.npz"), imported.binned)
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def write_spike_times(path: str, trials: BinnedTrials) -> None:
    """``spike_times.npz`` for ``trials``, as :func:`strfviewer.backend.data.spikes.read_spike_times` reads it."""
    n, s, r, _ = trials.counts.shape
    np.savez_compressed(path, spike_ticks=trials.ticks, trial_ptr=trials.trial_ptr,
                        tick_ms=np.float64(trials.tick_ms), shape=np.array([n, s, r], dtype=np.int64))
