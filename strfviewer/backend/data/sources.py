"""Where a response set comes from: its own folder, or a lab's recording (an NWB file, a CSV table of spikes,
a folder of spike-time text files) read through an importer with the user's choices.

The window and ``--dataset`` open a recording as they open a folder. A recording is imported once into a
cache folder named by the file (its path, size and modification time) and the choices, and read from there
afterwards, so a second opening costs no more than a folder's; the response set remembers the recording and
the choices (:attr:`ResponseSet.origin`, :attr:`ResponseSet.import_choice`), which is what a session stores.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ResponseSetError, short_repr
from .responses import FORMAT_VERSION, ResponseSet, load_response_set
from .trials import ImportedResponses, save_imported

DEFAULT_DT_MS = 5.0
RECORDING_SUFFIXES = (".nwb", ".csv", ".parquet")
_CACHE_LAYOUT = 1  # bump when an importer's output changes, so old cache folders are not reused


@dataclass(frozen=True)
class ImportChoice:
    """How a recording becomes a response set: the bin width, and for an NWB file the presentations' table and
    column (None: the reader's best guess); for a CSV table, the folder of its sounds (None: beside it)."""

    dt_ms: float = DEFAULT_DT_MS
    table: str | None = None
    column: str | None = None
    sounds: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The choices that differ from "the best guess", as a session stores them."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, value: Any) -> ImportChoice:
        """Read back :meth:`to_json`; anything else raises ResponseSetError naming the bad entry."""
        if not isinstance(value, dict):
            raise ResponseSetError(f"import choices must be an object, not {short_repr(value)}")
        dt_ms = value.get("dt_ms", DEFAULT_DT_MS)
        if isinstance(dt_ms, bool) or not isinstance(dt_ms, (int, float)) or not (math.isfinite(dt_ms) and dt_ms > 0):
            raise ResponseSetError(f"import choice dt_ms must be a positive number of ms, not {short_repr(dt_ms)}")
        text = {}
        for key in ("table", "column", "sounds"):
            item = value.get(key)
            if item is not None and not (isinstance(item, str) and item):
                raise ResponseSetError(f"import choice {key} must be a name, not {short_repr(item)}")
            text[key] = item
        return cls(float(dt_ms), **text)


def choice_from_options(options: Any) -> ImportChoice | None:
    """The command line's ``dt_ms``, ``table``, ``column`` and ``sounds`` (argparse attributes) as a choice, or
    None when none of them was given (the window then asks)."""
    given = {k: getattr(options, k, None) for k in ("dt_ms", "table", "column", "sounds")}
    if all(v is None for v in given.values()):
        return None
    dt_ms = given.pop("dt_ms")
    if dt_ms is not None and not dt_ms > 0:
        raise ResponseSetError(f"--dt-ms must be a positive number of ms (got {dt_ms:g})")
    return ImportChoice(DEFAULT_DT_MS if dt_ms is None else float(dt_ms), **given)


def is_recording(path: str | Path) -> bool:
    """Whether ``path`` names a recording to import rather than a response-set folder: an NWB file, a CSV
    table, or a folder of spike-time text files (without a response set's dataset.json)."""
    path = Path(path)
    if path.suffix.lower() in RECORDING_SUFFIXES:
        return True
    from .spikefiles import has_spike_files

    return path.is_dir() and not (path / "dataset.json").exists() and has_spike_files(path)


def read_recording(path: str | Path, choice: ImportChoice) -> ImportedResponses:
    """Bin a recording with ``choice``, through the importer its suffix names."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        from .spiketable import read_spike_table

        return read_spike_table(path, choice.sounds or path.parent, choice.dt_ms)
    if suffix == ".nwb":
        from .nwb import read_nwb

        return read_nwb(path, choice.dt_ms, choice.table, choice.column)
    if path.is_dir():
        from .spikefiles import read_spike_files

        return read_spike_files(path, choice.dt_ms, choice.sounds)
    raise ResponseSetError(f"{path.name}: strfviewer imports NWB files (.nwb), tables of spikes (.csv, .parquet) and "
                           f"folders of spike-time text files, not {suffix or 'files without a suffix'}")


def _cache_key(path: Path, choice: ImportChoice) -> str:
    """The file's (or every file's below the folder's) path, size and modification time, and the choice."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        stamps = [[str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size, p.stat().st_mtime_ns]
                  for p in files]
    except OSError as exc:
        raise ResponseSetError(f"{path}: cannot be read ({exc.strerror or exc}); check the path") from None
    identity = {"source": str(path.resolve()), "files": stamps, "choice": choice.to_json(),
                "layout": [_CACHE_LAYOUT, FORMAT_VERSION]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def open_recording(path: str | Path, choice: ImportChoice, cache: str | Path) -> ResponseSet:
    """The response set of a recording, imported into ``cache`` the first time (or after the file changed)."""
    path = Path(path)
    folder = Path(cache) / f"{path.stem[:40]}-{_cache_key(path, choice)}"
    if not folder.is_dir():
        Path(cache).mkdir(parents=True, exist_ok=True)
        try:
            save_imported(read_recording(path, choice), folder)
        except ResponseSetError:
            if not folder.is_dir():  # not another window importing the same file meanwhile
                raise
    try:
        responses = load_response_set(folder)
    except ResponseSetError:  # a damaged cache entry (a disk that filled up): import it again
        shutil.rmtree(folder, ignore_errors=True)
        save_imported(read_recording(path, choice), folder)
        responses = load_response_set(folder)
    responses.origin, responses.import_choice = path, choice.to_json()
    return responses


def open_responses(path: str | Path, choice: ImportChoice | None, cache: str | Path) -> ResponseSet:
    """A response-set folder as it is, or a recording through :func:`open_recording`."""
    if is_recording(path):
        return open_recording(path, choice or ImportChoice(), cache)
    return load_response_set(path)
