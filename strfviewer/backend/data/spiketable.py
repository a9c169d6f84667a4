"""A plain table of spikes as a response set: one row per spike, its unit, stimulus, trial and time, in a CSV
file or a Parquet file (with pyarrow: the ``parquet`` extra).

The columns are ``unit``, ``stimulus``, ``trial`` and ``time_s`` (seconds after that trial's sound onset); a
CSV header row names them, in any order, and other columns are ignored. ``stimulus`` names a sound file in the
sounds folder (with or without its suffix). A stimulus has as many trials as its highest trial number plus
one: a trial without any row had no spikes (so every trial must appear for some unit, or be given by a
later one). Units and stimuli keep the order of their first row.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ResponseSetError, one_line
from .trials import AUDIO_SUFFIXES, ImportedResponses, Presentation, bin_presentations, sound_bins, stimulus_ids

COLUMNS = ("unit", "stimulus", "trial", "time_s")


def _sound_file(folder: Path, name: str) -> Path:
    candidates = [folder / name] + [folder / f"{name}{suffix}" for suffix in AUDIO_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path
    raise ResponseSetError(f"stimulus {name!r}: no sound file {name} (or {name}.wav, .flac…) in {folder}")


def _csv_rows(path: Path) -> list[tuple[str, str, int, float]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            _check_columns(path, reader.fieldnames or [])
            return [(r["unit"], r["stimulus"], int(r["trial"]), float(r["time_s"])) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ResponseSetError(f"{path.name} cannot be read as a CSV table ({one_line(exc)})") from None
    except (TypeError, ValueError) as exc:
        raise ResponseSetError(f"{path.name}: a trial is not a whole number or a time not a number "
                               f"({one_line(exc)})") from None


def _parquet_rows(path: Path) -> list[tuple[str, str, int, float]]:
    try:
        import pyarrow.parquet as parquet
    except ImportError as exc:  # an optional extra
        raise ResponseSetError("reading Parquet tables needs pyarrow: pip install 'strfviewer[parquet]'") from exc
    try:
        names = parquet.read_schema(path).names
        _check_columns(path, names)
        table = parquet.read_table(path, columns=list(COLUMNS))
        units, stimuli = (table.column(c).cast("string").to_pylist() for c in ("unit", "stimulus"))
        trials = np.asarray(table.column("trial").to_numpy(zero_copy_only=False))
        times = np.asarray(table.column("time_s").to_numpy(zero_copy_only=False), dtype=np.float64)
    except ResponseSetError:
        raise
    except Exception as exc:  # pyarrow raises its own kinds for a file that is not Parquet
        raise ResponseSetError(f"{path.name} cannot be read as a Parquet table ({one_line(exc)})") from None
    if not np.issubdtype(trials.dtype, np.integer):
        raise ResponseSetError(f"{path.name}: the trial column holds {trials.dtype}, not whole numbers")
    return list(zip(units, stimuli, trials.tolist(), times.tolist(), strict=True))


def _check_columns(path: Path, names: list[str]) -> None:
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ResponseSetError(f"{path.name}: no column {', '.join(missing)} (the header has "
                               f"{', '.join(names) or 'nothing'}); name the columns {', '.join(COLUMNS)}")


def read_spike_table(path: str | Path, sounds: str | Path, dt_ms: float) -> ImportedResponses:
    """Bin the spikes of a CSV or Parquet table (see the module docstring) against the sounds in ``sounds``."""
    from .audio import load_audio

    path, sounds = Path(path), Path(sounds)
    rows = _parquet_rows(path) if path.suffix.lower() == ".parquet" else _csv_rows(path)
    if not rows:
        raise ResponseSetError(f"{path.name} has no spikes")
    units = list(dict.fromkeys(r[0] for r in rows))
    names = list(dict.fromkeys(r[1] for r in rows))
    if any(r[2] < 0 for r in rows):
        raise ResponseSetError(f"{path.name}: trial numbers start at 0; a row has a negative one")
    trials = {name: 1 + max(r[2] for r in rows if r[1] == name) for name in names}
    loaded = [load_audio(_sound_file(sounds, name)) for name in names]
    n_bins = [sound_bins(a.waveform.shape[0], a.sample_rate, dt_ms) for a in loaded]
    # Each trial gets its own stretch of one clock, a second apart, so the common binning applies unchanged.
    stride = max(n_bins) * dt_ms / 1000.0 + 1.0
    onset: dict[tuple[int, int], float] = {}
    for s, name in enumerate(names):
        for t in range(trials[name]):
            onset[s, t] = len(onset) * stride
    index, unit_index = {name: s for s, name in enumerate(names)}, {u: n for n, u in enumerate(units)}
    trains: list[list[float]] = [[] for _ in units]
    for unit, name, trial, time_s in rows:
        trains[unit_index[unit]].append(onset[index[name], trial] + time_s)
    presentations = [Presentation(s, t) for (s, _), t in onset.items()]
    binned = bin_presentations([np.asarray(t) for t in trains], presentations, n_bins, dt_ms)
    stimuli = [{"id": sid, "audio": a.waveform.numpy(), "sample_rate_hz": float(a.sample_rate), "label": name}
               for sid, name, a in zip(stimulus_ids(names), names, loaded, strict=True)]
    return ImportedResponses(path.stem, dt_ms, stimuli, [{"id": str(u)} for u in units], binned,
                             {"spike_table": path.name, "sounds": str(sounds), "dt_ms": dt_ms})
