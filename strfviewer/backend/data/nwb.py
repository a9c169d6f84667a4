"""Neurodata Without Borders files (the DANDI archive's format) as response sets, through pynwb.

What a lab's file holds and where this reader looks for it:

- **Sounds**: the file's ``stimulus`` (and ``stimulus_template``) groups, one ``TimeSeries`` (or ndx-sound's
  ``AcousticWaveformSeries``) per sound, with a sample rate; or sound files beside the NWB file, named by the
  presentation table.
- **Presentations**: a ``TimeIntervals`` table (``trials`` or one of ``intervals``, such as
  ``playback_trials``) with ``start_time`` and a column that names the sound of each row. Spikes are binned
  over the sound, or over the whole trial (to ``stop_time``) where every presentation of it lasts longer.
- **Units**: the ``units`` table's ``spike_times``, its ``obs_intervals`` (when a unit was recording: a trial
  outside them is missing, not silent) and its other columns (location, quality) as neuron metadata.

When several tables or columns could be the presentations, :func:`inspect_nwb` lists them with its best guess
(``trials`` first, then a column whose name mentions the stimulus or sound); the caller may choose another.
The file is read lazily: only the units' spike trains and the presented sounds are loaded.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResponseSetError, one_line
from .trials import AUDIO_SUFFIXES, ImportedResponses, Presentation, bin_presentations, sound_bins, stimulus_ids

_PREFERRED_WORDS = ("stim", "sound", "song", "call", "wav", "audio")


@dataclass(frozen=True)
class PresentationColumn:
    """A table column that names the sound of each row: ``kind`` "series" (names of the file's stimulus series)
    or "files" (sound files beside the NWB file)."""

    table: str
    column: str
    kind: str
    rows: int
    stimuli: int = 0  # distinct sounds named
    repeats: tuple[int, int] = (0, 0)  # fewest and most presentations of one sound

    @property
    def label(self) -> str:
        """``table.column``, as the command line's --table and --column name it."""
        return f"{self.table}.{self.column}"

    def preview(self) -> str:
        """What choosing this column gives, in a few words."""
        low, high = self.repeats
        each = f"{low}" if low == high else f"{low} to {high}"
        return f"{self.rows} presentations of {self.stimuli} sounds ({each} repeats each), named as {self.kind}"


@dataclass
class NwbSummary:
    """What :func:`read_nwb` would take from a file, before anything is binned."""

    path: Path
    units: int
    series: list[str]  # stimulus series with a sample rate
    candidates: list[PresentationColumn]
    guess: PresentationColumn | None
    repeats: dict[str, int] = field(default_factory=dict)  # per sound, under the guess

    def describe(self) -> str:
        lines = [f"{self.path.name}: NWB, {self.units} units, {len(self.series)} stimulus series"]
        for c in self.candidates:
            mark = " (best guess)" if c == self.guess else ""
            lines.append(f"  presentations: {c.label}, {c.preview()}{mark}")
        if self.repeats:
            low, high = min(self.repeats.values()), max(self.repeats.values())
            each = f"{low}" if low == high else f"{low} to {high}"
            lines.append(f"  {len(self.repeats)} stimuli, {each} repeats each")
        return "\n".join(lines)


def _open(path: Path):
    try:
        from pynwb import NWBHDF5IO
    except ImportError as exc:  # an optional extra
        raise ResponseSetError("reading NWB files needs pynwb: pip install 'strfviewer[nwb]'") from exc
    if not path.is_file():
        raise ResponseSetError(f"{path}: no such file")
    try:
        io = NWBHDF5IO(str(path), "r", load_namespaces=True)
        return io, io.read()
    except Exception as exc:  # h5py and hdmf raise many kinds for a file that is not NWB
        raise ResponseSetError(f"{path.name} is not a readable NWB file ({one_line(exc)})") from None


def _series(nwbfile: Any) -> dict[str, Any]:
    """Stimulus series with a sample rate (sounds), by name."""
    found = {}
    for group in (getattr(nwbfile, "stimulus_template", None) or {}, nwbfile.stimulus or {}):
        for name, series in group.items():
            if getattr(series, "rate", None) and getattr(series, "data", None) is not None:
                found[name] = series
    return found


def _tables(nwbfile: Any) -> dict[str, Any]:
    tables = {}
    if nwbfile.trials is not None:
        tables["trials"] = nwbfile.trials
    for name, table in (nwbfile.intervals or {}).items():
        tables.setdefault(name, table)
    return tables


def _text_column(table: Any, column: str) -> list[str] | None:
    try:
        values = table[column][:]
    except Exception:  # a ragged or reference column is not a column of names
        return None
    if len(values) == 0 or not all(isinstance(v, (str, bytes)) for v in values):
        return None
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def _candidates(nwbfile: Any, series: dict[str, Any], folder: Path) -> list[PresentationColumn]:
    found = []
    for table_name, table in _tables(nwbfile).items():
        for column in table.colnames:
            if column in ("start_time", "stop_time", "tags", "timeseries"):
                continue
            names = _text_column(table, column)
            if names is None:
                continue
            played = Counter(names)
            shape = {"rows": len(names), "stimuli": len(played),
                     "repeats": (min(played.values()), max(played.values()))}
            if series and all(n in series for n in played):
                found.append(PresentationColumn(table_name, column, "series", **shape))
            elif all(n.lower().endswith(AUDIO_SUFFIXES) and (folder / n).is_file() for n in played):
                found.append(PresentationColumn(table_name, column, "files", **shape))
    return found


def _best(candidates: list[PresentationColumn]) -> PresentationColumn | None:
    def rank(c: PresentationColumn) -> tuple[int, int]:
        return (c.table != "trials", not any(w in c.column.lower() for w in _PREFERRED_WORDS))
    return min(candidates, key=rank) if candidates else None


def inspect_nwb(path: str | Path) -> NwbSummary:
    """Units, sounds and the tables that could be the presentations, with the best guess."""
    path = Path(path)
    io, nwbfile = _open(path)
    try:
        return _summary(path, nwbfile)
    finally:
        io.close()


def _summary(path: Path, nwbfile: Any) -> NwbSummary:
    series = _series(nwbfile)
    candidates = _candidates(nwbfile, series, path.parent)
    guess = _best(candidates)
    repeats: dict[str, int] = {}
    if guess is not None:
        for name in _text_column(_tables(nwbfile)[guess.table], guess.column) or []:
            repeats[name] = repeats.get(name, 0) + 1
    units = len(nwbfile.units) if nwbfile.units is not None else 0
    return NwbSummary(path, units, sorted(series), candidates, guess, repeats)


def _mono(data: Any) -> np.ndarray:
    samples = np.asarray(data[:], dtype=np.float32)
    return samples if samples.ndim == 1 else samples.reshape(samples.shape[0], -1).mean(axis=1)


def _sound(choice: PresentationColumn, name: str, series: dict[str, Any], folder: Path) -> tuple[np.ndarray, float]:
    if choice.kind == "series":
        s = series[name]
        return _mono(s.data), float(s.rate)
    from .audio import load_audio

    loaded = load_audio(folder / name)
    return loaded.waveform.numpy(), float(loaded.sample_rate)


def _neuron_metadata(units: Any, index: int) -> dict[str, Any]:
    """A unit's id and its plain columns (numbers, text, booleans) as neuron metadata."""
    unit_id = units.id[index]
    meta: dict[str, Any] = {"id": f"unit-{unit_id}"}
    for column in units.colnames:
        if column in ("spike_times", "obs_intervals", "electrodes", "waveforms", "waveform_mean", "waveform_sd"):
            continue
        try:
            value = units[column][index]
        except Exception:  # a column pynwb cannot index row by row
            continue
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float, bool)) and not (isinstance(value, float) and not math.isfinite(value)):
            meta[column] = value
    return meta


def _no_presentations(path: Path, nwbfile: Any, series: dict[str, Any]) -> str:
    """Why no column is the presentations: the tables found, and the first name a near-candidate column gives
    that is neither a stimulus series nor a sound file beside the file."""
    tables = _tables(nwbfile)
    listed = ", ".join(f"{n} ({', '.join(t.colnames)})" for n, t in tables.items()) or "none"
    rateless = [name for group in (getattr(nwbfile, "stimulus_template", None) or {}, nwbfile.stimulus or {})
                for name, item in group.items() if not getattr(item, "rate", None)]
    what = f"stimulus series {', '.join(sorted(series))}" if series else "no stimulus series with a rate"
    if rateless:
        what += (f"; {', '.join(rateless[:3])} {'has' if len(rateless) == 1 else 'have'} no sample rate "
                 "(timestamps only): store sounds with rate=")
    for table_name, table in tables.items():
        for column in table.colnames:
            names = _text_column(table, column) if column not in ("start_time", "stop_time") else None
            unknown = [n for n in dict.fromkeys(names or []) if n not in series and not (path.parent / n).is_file()]
            if names and len(unknown) < len(set(names)):  # names some sounds, not all
                return (f"{path.name}: {table_name}.{column} names {unknown[0]!r}, which is neither a stimulus "
                        f"series nor a sound file beside the file ({len(unknown)} of {len(set(names))} names are "
                        f"unknown; {what}); add the missing sounds or fix the names")
    return (f"{path.name}: no table column names the sounds of its presentations (tables: {listed}; {what}); "
            "store each sound as a stimulus TimeSeries and name it in a column of the trials table")


class _UnitColumn(Sequence):
    """A ragged column of the units table, read one unit at a time (a file's spike times can be gigabytes)."""

    def __init__(self, units: Any, column: str) -> None:
        self.units, self.column = units, column

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return np.asarray(self.units[self.column][index], dtype=np.float64)


def read_nwb(path: str | Path, dt_ms: float, table: str | None = None, column: str | None = None) -> ImportedResponses:
    """Bin the file's units around its presentations at ``dt_ms``; ``table`` / ``column`` choose the
    presentations (default: :func:`inspect_nwb`'s best guess)."""
    path = Path(path)
    io, nwbfile = _open(path)
    try:
        summary = _summary(path, nwbfile)
        choice = summary.guess
        if table is not None or column is not None:
            matches = [c for c in summary.candidates if (table is None or c.table == table)
                       and (column is None or c.column == column)]
            if not matches:
                listed = ", ".join(f"{c.table}.{c.column}" for c in summary.candidates) or "none"
                raise ResponseSetError(f"{path.name}: no presentation column {table or '*'}.{column or '*'} "
                                       f"names the sounds (columns that do: {listed})")
            choice = _best(matches)
        if nwbfile.units is None or len(nwbfile.units) == 0:
            raise ResponseSetError(f"{path.name} has no units table (no sorted spikes): nothing to bin")
        series = _series(nwbfile)
        if choice is None:
            raise ResponseSetError(_no_presentations(path, nwbfile, series))
        rows = _tables(nwbfile)[choice.table]
        names = _text_column(rows, choice.column) or []
        onsets = np.asarray(rows["start_time"][:], dtype=np.float64)
        order = list(dict.fromkeys(names))  # sounds in order of first presentation
        sounds = [_sound(choice, name, series, path.parent) for name in order]
        n_bins = [sound_bins(len(audio), rate, dt_ms) for audio, rate in sounds]
        # A trial longer than its sound (a post-stimulus window the lab recorded) keeps its whole window: the
        # bins reach to the end of the shortest presentation of that sound.
        if "stop_time" in rows.colnames:
            lengths = (np.asarray(rows["stop_time"][:], dtype=np.float64) - onsets) * 1000.0 / dt_ms
            for i, name in enumerate(order):
                shortest = min(length for n, length in zip(names, lengths, strict=True) if n == name)
                n_bins[i] = max(n_bins[i], math.floor(shortest + 1e-6))
        short = [order[i] for i, b in enumerate(n_bins) if b < 1]
        if short:
            raise ResponseSetError(f"{path.name}: sound {short[0]!r} is shorter than one {dt_ms:g} ms bin")
        index = {name: i for i, name in enumerate(order)}
        presentations = [Presentation(index[n], float(t)) for n, t in zip(names, onsets, strict=True)]
        units = nwbfile.units
        has_obs = "obs_intervals" in units.colnames
        trains = _UnitColumn(units, "spike_times")  # read unit by unit while binning
        recording = [np.asarray(units["obs_intervals"][i], dtype=np.float64).reshape(-1, 2) if has_obs else None
                     for i in range(len(units))]
        binned = bin_presentations(trains, presentations, n_bins, dt_ms, recording)
        if binned.ticks.size == 0 and any(len(units["spike_times"][i]) for i in range(min(len(units), 50))):
            first, last = float(onsets.min()), float(onsets.max())
            raise ResponseSetError(f"{path.name}: no spike of any unit falls inside a presentation of "
                                   f"{choice.label} ({len(onsets)} presentations from {first:g} s to {last:g} s); "
                                   "are the presentations on the units' clock? Choose another table, or check "
                                   "its start_time")
        neurons = [_neuron_metadata(units, i) for i in range(len(units))]
        stimuli = [{"id": sid, "audio": audio, "sample_rate_hz": rate, "label": name}
                   for sid, name, (audio, rate) in zip(stimulus_ids(order), order, sounds, strict=True)]
        source = {"nwb": path.name, "identifier": str(nwbfile.identifier), "presentations":
                  f"{choice.table}.{choice.column}", "dt_ms": dt_ms}
        return ImportedResponses(str(nwbfile.session_description or path.stem), dt_ms, stimuli, neurons, binned,
                                 source)
    finally:
        io.close()
