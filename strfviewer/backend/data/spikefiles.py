"""Spike-time text files beside sound files, as the public auditory data sets (CRCNS aa-1, aa-2) share them.

The layout, as those sets describe it: a folder per unit (cell), holding for each stimulus a pair of text
files with the same number, ``spikeK`` and ``stimK`` (directly, or in one sub-folder per stimulus class such
as ``conspecific``):

- ``stimK`` names the sound file that was played (its first line; a bare name is looked for in the sounds
  folder, then beside the text file, then in an ``all_stims`` folder beside or above the source);
- ``spikeK`` has one line per trial: that trial's spike times in milliseconds after sound onset, separated
  by spaces, tabs or commas (an empty line is a trial without spikes, so a file has no blank last line).
  Times before onset are dropped, since bins start at onset, and so are times after the sound.

Every unit need not hear every sound, nor as often: a response set holds every sound any unit heard, and a
unit's trials that did not happen are missing, not zero.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ResponseSetError, one_line
from .trials import ImportedResponses, Presentation, bin_presentations, sound_bins, stimulus_ids

_SPIKE_FILE = re.compile(r"^spike(\d+)$")
_GAP_S = 1.0  # between two trials on the common clock the binning uses
MAX_LINE_SPIKES = 1_000_000


def has_spike_files(folder: Path) -> bool:
    """Whether ``folder`` (or a folder below it) holds spike-time files."""
    return any(p.is_file() and _SPIKE_FILE.match(p.name) for p in folder.rglob("spike*"))


def _unit_folders(source: Path) -> list[Path]:
    """Folders that hold ``spikeK`` files, each a unit or a class of one unit's stimuli, in name order."""
    folders = sorted({p.parent for p in source.rglob("spike*") if p.is_file() and _SPIKE_FILE.match(p.name)})
    if not folders:
        raise ResponseSetError(f"{source}: no spike-time files (spike1, spike2, … beside stim1, stim2, …) in it or "
                               "its sub-folders; give the folder of a data set's cells")
    return folders


def _unit_of(folder: Path, source: Path) -> str:
    """The unit a folder of spike files belongs to: the cell folder (above a stimulus-class folder)."""
    relative = folder.relative_to(source)
    parts = relative.parts
    return "/".join(parts[:-1]) if len(parts) > 1 else (parts[0] if parts else source.name)


def _sound_path(name: str, stim_file: Path, source: Path, sounds: Path | None) -> Path:
    places = [p for p in (sounds, stim_file.parent, source / "all_stims", source.parent / "all_stims") if p]
    for place in places:
        for candidate in (place / name, place / f"{name}.wav"):
            if candidate.is_file():
                return candidate
    raise ResponseSetError(f"{stim_file} names the sound {name!r}, which is in none of "
                           f"{', '.join(str(p) for p in places)}; give its folder as the sounds folder")


def _trials(path: Path) -> list[np.ndarray]:
    """A spike file's trials: spike times in seconds after onset."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ResponseSetError(f"{path} cannot be read as text ({one_line(exc)})") from None
    trials = []
    for number, line in enumerate(lines, 1):
        fields = [f for f in re.split(r"[\s,]+", line.strip()) if f]
        if len(fields) > MAX_LINE_SPIKES:
            raise ResponseSetError(f"{path}, line {number}: more than {MAX_LINE_SPIKES} spikes in one trial")
        try:
            times = np.array([float(f) for f in fields], dtype=np.float64) / 1000.0
        except ValueError:
            raise ResponseSetError(f"{path}, line {number}: not a list of spike times in ms "
                                   f"({line.strip()[:60]!r})") from None
        if not np.isfinite(times).all():
            raise ResponseSetError(f"{path}, line {number}: a spike time is not a finite number")
        trials.append(times)
    return trials


def read_spike_files(source: str | Path, dt_ms: float, sounds: str | Path | None = None) -> ImportedResponses:
    """Bin a folder of spike-time text files (see the module docstring) against the sounds they name."""
    from .audio import load_audio

    source = Path(source)
    if not source.is_dir():
        raise ResponseSetError(f"{source} is not a folder of spike-time files")
    sound_folder = Path(sounds) if sounds else None
    units: list[str] = []
    heard: dict[tuple[int, Path], list[np.ndarray]] = {}  # (unit, sound) -> trials
    for folder in _unit_folders(source):
        unit = _unit_of(folder, source)
        if unit not in units:
            units.append(unit)
        for spike_file in sorted(folder.iterdir(), key=lambda p: p.name):
            match = _SPIKE_FILE.match(spike_file.name)
            if not match:
                continue
            stim_file = folder / f"stim{match.group(1)}"
            if not stim_file.is_file():
                raise ResponseSetError(f"{spike_file} has no {stim_file.name} beside it to name its sound")
            name = (stim_file.read_text(encoding="utf-8", errors="replace").strip().splitlines() or [""])[0].strip()
            if not name:
                raise ResponseSetError(f"{stim_file} is empty: it should name the sound file that was played")
            sound = _sound_path(name, stim_file, source, sound_folder).resolve()
            heard.setdefault((units.index(unit), sound), []).extend(_trials(spike_file))
    order = list(dict.fromkeys(sound for _, sound in heard))
    loaded = [load_audio(path) for path in order]
    n_bins = [sound_bins(a.waveform.shape[0], a.sample_rate, dt_ms) for a in loaded]
    repeats = [max(len(trials) for (_, s), trials in heard.items() if s == sound) for sound in order]
    # One clock for everyone: presentation r of sound s is the same slot for every unit; a unit that heard
    # the sound fewer times was "not recording" in the slots it lacks.
    stride = max(n_bins) * dt_ms / 1000.0 + _GAP_S
    slots = [(s, r) for s in range(len(order)) for r in range(repeats[s])]
    onset = {slot: i * stride for i, slot in enumerate(slots)}
    trains, recording = [], []
    for n in range(len(units)):
        times, intervals = [], []
        for s, sound in enumerate(order):
            for r, trial in enumerate(heard.get((n, sound), [])):
                start = onset[s, r]
                times.append(start + trial[(trial >= 0) & (trial < stride - _GAP_S)])
                intervals.append([start - _GAP_S / 2, start + stride - _GAP_S / 2])  # a margin for rounding
        trains.append(np.concatenate(times) if times else np.zeros(0))
        recording.append(np.asarray(intervals, dtype=np.float64).reshape(-1, 2))
    presentations = [Presentation(s, t) for (s, _), t in onset.items()]
    binned = bin_presentations(trains, presentations, n_bins, dt_ms, recording)
    ids = stimulus_ids([path.name for path in order])
    stimuli = [{"id": sid, "audio": a.waveform.numpy(), "sample_rate_hz": float(a.sample_rate), "label": p.name}
               for sid, p, a in zip(ids, order, loaded, strict=True)]
    return ImportedResponses(source.name, dt_ms, stimuli, [{"id": u} for u in units], binned,
                             {"spike_files": str(source), "dt_ms": dt_ms})
