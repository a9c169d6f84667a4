"""Response sets: recorded spike counts to a list of sound stimuli, in the folder format of docs/formats.md.

A response set is ``dataset.json`` + ``responses.npz`` (``counts``: neurons x stimuli x repeats x bins) +
``stimuli/``. Bin ``t`` of a stimulus covers ``[t * dt, (t + 1) * dt)`` after sound onset; audio sample ``j``
at ``audio_fs`` belongs to bin ``j // hop`` with ``hop = audio_fs * dt / 1000``, which must be a whole number.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from .. import metrics
from ..errors import GridLockError, ResponseSetError, one_line, short_repr
from ..jsonfile import JsonFault, JsonProblem, read_json_object
from .audio import LoadedAudio, audio_info, load_audio

FORMAT_NAME = "strfviewer.responses"
FORMAT_VERSION = 1
DATASET_FILE = "dataset.json"
# The counts array is refused, from its header and before it is read, above this size: a damaged or hostile
# header could otherwise make numpy allocate terabytes. 16 GiB holds e.g. 1000 neurons x 1000 stimuli x 20
# repeats x 200 bins of float32.
MAX_COUNTS_BYTES = 16 << 30
# dataset.json is refused above this size, before it is read: tens of thousands of stimuli and neurons with
# their metadata take a few MiB.
MAX_DATASET_BYTES = 64 << 20
FORMATS_DOC = "docs/formats.md"  # where the folder format is written up for users


@dataclass(frozen=True)
class StimulusInfo:
    """One stimulus: its id, audio file (absolute), true sample rate if the header cannot hold it, metadata."""

    id: str
    file: Path
    sample_rate_hz: float | None = None
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NeuronInfo:
    """One recorded unit: its id, whether it belongs to the default subset, and free metadata."""

    id: str
    valid: bool = True
    meta: dict[str, Any] = field(default_factory=dict)


def missing_counts(counts: np.ndarray) -> np.ndarray:
    """True where a count is missing: NaN in float counts, negative in signed integer ones."""
    if np.issubdtype(counts.dtype, np.floating):
        return np.isnan(counts)
    if np.issubdtype(counts.dtype, np.signedinteger):
        return counts < 0
    return np.zeros(counts.shape, dtype=bool)


def hop_for(audio_fs: float, dt_ms: float) -> int:
    """Samples per bin; raises GridLockError unless ``audio_fs * dt_ms / 1000`` is a whole number."""
    exact = audio_fs * dt_ms / 1000.0
    hop = round(exact)
    if hop < 1 or abs(exact - hop) > 1e-6:
        suggestion = 1000.0 / dt_ms * max(1, hop)
        raise GridLockError(
            f"audio at {audio_fs:g} Hz with {dt_ms:g} ms bins gives {exact:g} samples per bin, not a whole "
            f"number, so audio samples cannot be assigned to bins. Resample the audio to a rate whose samples "
            f"fill each bin exactly, e.g. {suggestion:g} Hz ({max(1, hop)} samples per bin)."
        )
    return hop


@dataclass
class ResponseSet:
    """Spike counts of ``N`` neurons to ``S`` stimuli, ``R`` repeats, ``T`` bins of ``dt_ms`` (NaN = missing)."""

    root: Path
    name: str
    dt_ms: float
    stimuli: list[StimulusInfo]
    neurons: list[NeuronInfo]
    counts: np.ndarray
    splits: dict[str, list[int]] = field(default_factory=dict)
    citation: str | None = None
    species: str | None = None
    hearing_range_hz: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    origin: Path | None = None  # the recording this folder was imported from (an NWB file), if any
    import_choice: dict[str, Any] | None = None  # and how (bin width, presentations), as sources.ImportChoice

    @property
    def source(self) -> Path:
        """What the user opened: the recording, or the folder itself."""
        return self.origin if self.origin is not None else self.root

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(neurons, stimuli, repeats, bins)`` of the stored array."""
        return tuple(self.counts.shape)  # type: ignore[return-value]

    def missing_mask(self) -> np.ndarray:
        """True where a count is missing (negative integers or NaN mark padding)."""
        return missing_counts(self.counts)

    def responses(self, stimuli: list[int] | None = None, neurons: list[int] | None = None) -> np.ndarray:
        """Float32 responses ``(S, N, R, T)`` with NaN padding: the layout of the metrics and of model fitting."""
        s_idx = list(range(len(self.stimuli))) if stimuli is None else list(stimuli)
        n_idx = list(range(len(self.neurons))) if neurons is None else list(neurons)
        block = self.counts[np.ix_(n_idx, s_idx)]
        out = block.astype(np.float32)
        out[missing_counts(block)] = np.nan  # the block's own mask: a whole-array one costs a copy per call
        return np.ascontiguousarray(out.transpose(1, 0, 2, 3))

    def psth(self, neuron: int, stimulus: int) -> np.ndarray:
        """Mean count per bin over the recorded repeats (NaN where no repeat is recorded)."""
        return metrics.psth(self.responses([stimulus], [neuron]))[0, 0, 0]

    def n_bins(self, stimulus: int) -> int:
        """Bins of ``stimulus`` that hold data for at least one neuron and repeat (its length before padding)."""
        present = ~missing_counts(self.counts[:, stimulus]).all(axis=(0, 1))
        return int(np.flatnonzero(present)[-1] + 1) if present.any() else 0

    def valid_neurons(self) -> list[int]:
        """Indices of the neurons marked ``valid`` (the default subset)."""
        return [i for i, n in enumerate(self.neurons) if n.valid]

    def split(self, name: str) -> list[int]:
        """Stimulus indices of a named split; raises ResponseSetError listing the splits that exist."""
        if name not in self.splits:
            known = ", ".join(sorted(self.splits)) or "none"
            raise ResponseSetError(f"response set {self.name!r} has no split {name!r} (splits: {known})")
        return list(self.splits[name])

    def load_stimulus_audio(self, stimulus: int, audio_fs: int, **kwargs: Any) -> LoadedAudio:
        """Audio of a stimulus resampled to ``audio_fs`` and cropped or zero-padded to its bins exactly."""
        info = self.stimuli[stimulus]
        hop = hop_for(audio_fs, self.dt_ms)
        n_bins = self.n_bins(stimulus)
        header = audio_info(info.file)
        seconds = header["frames"] / (info.sample_rate_hz or header["sample_rate"])
        sound_bins = seconds * 1000.0 / self.dt_ms
        if sound_bins > n_bins + 1:
            raise GridLockError(
                f"stimulus {info.id!r}: the sound lasts {seconds:.3f} s ({sound_bins:.1f} bins of {self.dt_ms:g} ms) "
                f"but its responses cover only {n_bins} bins ({n_bins * self.dt_ms / 1000:.3f} s). Check dt_ms in "
                f"{DATASET_FILE}, the stimulus file, and its sample_rate_hz."
            )
        return load_audio(info.file, audio_fs, hop=hop, source_rate=info.sample_rate_hz, n_frames=n_bins, **kwargs)


def _fail(root: Path, problem: str) -> ResponseSetError:
    return ResponseSetError(f"{root}: {problem}")


def _read_json(root: Path) -> dict[str, Any]:
    path = root / DATASET_FILE
    if not root.exists():
        raise ResponseSetError(f"{root} does not exist. Choose the response-set folder that holds {DATASET_FILE}.")
    if not path.is_file():
        raise _fail(root, f"no {DATASET_FILE} here; a response set is a folder with {DATASET_FILE}, "
                          f"responses.npz and stimuli/ (see {FORMATS_DOC})")
    doc = read_json_object(path, lambda problem: _fail(root, _json_problem(problem)), max_bytes=MAX_DATASET_BYTES)
    if doc.get("format") != FORMAT_NAME:
        raise _fail(root, f"{DATASET_FILE} has format {short_repr(doc.get('format'))}; expected {FORMAT_NAME!r}. "
                          f"Is this a strfviewer response set? (see {FORMATS_DOC})")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(root, f"{DATASET_FILE} has an invalid version {short_repr(version)}; "
                          f"it must be an integer from 1 to {FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        raise _fail(root, f"written by a newer strfviewer (format version {version}; this one reads "
                          f"{FORMAT_VERSION}). Update strfviewer to open it.")
    return doc


def _json_problem(problem: JsonProblem) -> str:
    """What is wrong with dataset.json, and what to do."""
    if problem.fault is JsonFault.UNREADABLE:
        return f"{DATASET_FILE} {problem.reason()}; check its permissions"
    if problem.fault is JsonFault.TOO_LARGE:
        return (f"{DATASET_FILE} {problem.reason()}; a response set's {DATASET_FILE} lists its stimuli and "
                f"neurons and is far smaller. Check that this is the right file (see {FORMATS_DOC})")
    if problem.fault is JsonFault.TOO_DEEP:
        return f"{DATASET_FILE} is nested too deeply to be a response set (see {FORMATS_DOC})"
    if problem.fault is JsonFault.NOT_OBJECT:
        return (f"{DATASET_FILE} must hold a JSON object with format, version, dt_ms, stimuli and neurons "
                f"(see {FORMATS_DOC})")
    return f"{DATASET_FILE} is not valid JSON ({one_line(problem.cause)}); fix it in a text editor (see {FORMATS_DOC})"


def _finite_positive(value: Any) -> float | None:
    """``value`` as a float if it is a finite positive number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return number if math.isfinite(number) and number > 0 else None


def _positive_number(root: Path, doc: dict[str, Any], key: str) -> float:
    value = _finite_positive(doc.get(key))
    if value is None:
        raise _fail(root, f"{key} must be a positive number of milliseconds (got {short_repr(doc.get(key))}); "
                          f"fix it in {DATASET_FILE}")
    return value


def _entries(root: Path, doc: dict[str, Any], key: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list) or not items:
        raise _fail(root, f"{DATASET_FILE} needs a non-empty list {key!r}")
    seen = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(root, f"{key}[{i}] must be an object")
        for name in required:
            if not isinstance(item.get(name), str) or not item[name]:
                raise _fail(root, f"{key}[{i}] needs a non-empty string {name!r}")
        if item["id"] in seen:
            raise _fail(root, f"{key}[{i}] repeats the id {short_repr(item['id'])}; ids must be unique")
        seen.add(item["id"])
    return items


def _stimulus(root: Path, i: int, item: dict[str, Any]) -> StimulusInfo:
    rate = item.get("sample_rate_hz")
    if rate is not None and _finite_positive(rate) is None:
        raise _fail(root, f"stimuli[{i}].sample_rate_hz must be a positive number of Hz or absent "
                          f"(got {short_repr(rate)})")
    file = _inside(root, item["file"], f"stimuli[{i}].file")
    meta = {k: v for k, v in item.items() if k not in ("id", "file", "sample_rate_hz", "label")}
    label = item.get("label")
    return StimulusInfo(item["id"], file, _finite_positive(rate),
                        label if isinstance(label, str) else None, meta)


def _inside(root: Path, name: str, where: str) -> Path:
    """``root / name`` resolved; refused unless it stays inside the response-set folder."""
    try:
        file = (root / name).resolve()
        inside = root.resolve() in file.parents
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, names too long, symlink loops
        raise _fail(root, f"{where} {short_repr(name)} is not a usable file name ({one_line(exc)}); "
                          f"fix it in {DATASET_FILE}") from None
    if not inside:
        raise _fail(root, f"{where} {short_repr(name)} points outside the response-set folder; use a path relative "
                          "to the folder, inside it")
    return file


def _splits(root: Path, doc: dict[str, Any], n_stimuli: int) -> dict[str, list[int]]:
    raw = doc.get("splits") or {}
    if not isinstance(raw, dict):
        raise _fail(root, "splits must map split names to lists of stimulus indices")
    splits = {}
    for name, indices in raw.items():
        ok = isinstance(indices, list) and all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n_stimuli for i in indices
        )
        if not ok:
            raise _fail(root, f"split {short_repr(name)} must list stimulus indices between 0 and {n_stimuli - 1} "
                              f"(got {short_repr(indices)}); fix it in {DATASET_FILE}")
        splits[name] = list(indices)
    return splits


def _counts(root: Path, doc: dict[str, Any], n_neurons: int, n_stimuli: int) -> np.ndarray:
    name = doc.get("responses", "responses.npz")
    if not isinstance(name, str) or not name:
        raise _fail(root, f"responses in {DATASET_FILE} must name the counts file, e.g. \"responses.npz\" "
                          f"(got {short_repr(name)})")
    path = _inside(root, name, "responses")
    if not path.is_file():
        raise _fail(root, f"responses file {short_repr(name)} named in {DATASET_FILE} is missing; put it in the folder "
                          "or fix the name")
    try:
        _check_counts_header(root, path)
        with np.load(path, allow_pickle=False) as archive:
            counts = archive["counts"]
    except ResponseSetError:
        raise
    except MemoryError:
        raise _fail(root, f"{path.name}: not enough memory to read the counts; close other programs or use a "
                          "machine with more memory") from None
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as exc:
        raise _fail(root, f"{path.name} cannot be read as a numpy .npz archive ({one_line(exc)}); write it "
                          "again with numpy.savez(path, counts=counts)") from None
    if counts.ndim != 4:
        raise _fail(root, f"counts must have 4 axes (neurons, stimuli, repeats, bins); got shape {counts.shape}")
    if not (np.issubdtype(counts.dtype, np.integer) or np.issubdtype(counts.dtype, np.floating)):
        raise _fail(root, f"counts must be integers or floats, not {counts.dtype}")
    if counts.shape[:2] != (n_neurons, n_stimuli):
        raise _fail(root, f"counts has shape {counts.shape} but {DATASET_FILE} lists {n_neurons} neurons and "
                          f"{n_stimuli} stimuli; the first two axes must match")
    if np.issubdtype(counts.dtype, np.floating) and np.isinf(counts).any():
        raise _fail(root, "counts contain infinite values; use NaN for missing entries")
    return counts


def _check_counts_header(root: Path, path: Path) -> None:
    """The archive holds a plain (non-object) ``counts`` array within MAX_COUNTS_BYTES, judged from its header
    alone, before numpy allocates what the header claims."""
    if not zipfile.is_zipfile(path):
        raise _fail(root, f"{path.name} cannot be read as a numpy .npz archive (it is not a zip file); write it "
                          "with numpy.savez(path, counts=counts)")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if "counts.npy" not in names:
            found = ", ".join(n.removesuffix(".npy") for n in names)[:200] or "none"
            raise _fail(root, f"{path.name} has no array 'counts' (found: {found}); save the spike counts under "
                              "that name")
        with archive.open("counts.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise _fail(root, f"{path.name}: counts is stored in .npy format version {version}, which holds "
                                  "no plain numeric array; save integer or float counts with numpy.savez")
    if dtype.hasobject:
        raise _fail(root, f"{path.name}: counts cannot be read: it is an array of Python objects, which would "
                          "need pickle (never loaded); save integer or float counts")
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_COUNTS_BYTES:
        raise _fail(root, f"{path.name}: counts of shape {shape} and type {dtype} would need {size / 2**30:.3g} GiB, "
                          f"more than the {MAX_COUNTS_BYTES / 2**30:g} GiB limit; split the response set or store "
                          "smaller integer counts (e.g. uint8)")


def load_response_set(folder: str | Path) -> ResponseSet:
    """Read a response-set folder, checking every documented rule; raises ResponseSetError on any violation."""
    root = Path(folder)
    if root.is_file() and root.name == DATASET_FILE:
        root = root.parent
    doc = _read_json(root)
    dt_ms = _positive_number(root, doc, "dt_ms")
    stimuli = [_stimulus(root, i, item) for i, item in enumerate(_entries(root, doc, "stimuli", ("id", "file")))]
    neuron_items = _entries(root, doc, "neurons", ("id",))
    neurons = [
        NeuronInfo(item["id"], bool(item.get("valid", True)),
                   {k: v for k, v in item.items() if k not in ("id", "valid")})
        for item in neuron_items
    ]
    counts = _counts(root, doc, len(neurons), len(stimuli))
    hearing = doc.get("hearing_range_hz")
    known = {"format", "version", "name", "dt_ms", "stimuli", "neurons", "responses", "splits", "citation",
             "species", "hearing_range_hz"}
    return ResponseSet(
        root=root,
        name=str(doc.get("name") or root.name),
        dt_ms=dt_ms,
        stimuli=stimuli,
        neurons=neurons,
        counts=counts,
        splits=_splits(root, doc, len(stimuli)),
        citation=doc.get("citation") if isinstance(doc.get("citation"), str) else None,
        species=doc.get("species") if isinstance(doc.get("species"), str) else None,
        hearing_range_hz=tuple(hearing) if isinstance(hearing, list) and len(hearing) == 2 else None,
        extra={k: v for k, v in doc.items() if k not in known},
    )


def save_response_set(
    folder: str | Path,
    *,
    name: str,
    dt_ms: float,
    stimuli: list[dict[str, Any]],
    neurons: list[dict[str, Any]],
    counts: np.ndarray,
    splits: dict[str, list[int]] | None = None,
    extra: dict[str, Any] | None = None,
    check: bool = True,
) -> Path:
    """Write a response-set folder. A stimulus dict holds ``id`` and either ``file`` (already in the folder)
    or ``audio`` (a 1-D array) with ``sample_rate_hz``, which is written to ``stimuli/<id>.wav``. With
    ``check``, the folder is read back (a second copy of the counts in memory while ``counts`` is alive)."""
    root = Path(folder)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    entries = []
    for item in stimuli:
        entry = {k: v for k, v in item.items() if k != "audio"}
        if "audio" in item:
            rate = float(item["sample_rate_hz"])
            entry["file"] = f"stimuli/{item['id']}.wav"
            soundfile.write(root / entry["file"], np.asarray(item["audio"], dtype=np.float32),
                            max(1, round(rate)), subtype="FLOAT")
        entries.append(entry)
    doc: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": name,
        "dt_ms": float(dt_ms),
        "stimuli": entries,
        "neurons": list(neurons),
        "responses": "responses.npz",
    }
    if splits:
        doc["splits"] = {k: [int(i) for i in v] for k, v in splits.items()}
    doc.update(extra or {})
    np.savez_compressed(root / "responses.npz", counts=np.asarray(counts))
    (root / DATASET_FILE).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if check:
        load_response_set(root)  # what was written must read back
    return root
