"""One grid cell on disk and its fit: what runs on a worker, and how a finished cell is told from an unfinished one.

A grid folder holds ``cells/<id>/`` (the cell's model folder, as ``strfviewer fit`` writes it), and beside it
``done/<id>.json``, the completion mark. The mark is written, atomically and fsynced, only after the model
folder is in place and fsynced, so a cell with a mark is finished and whole, whatever was killed when. A cell
whose fit raised gets ``failed/<id>.json`` (its one-line error and traceback) instead, and the grid goes on.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..durable import write_text_durably
from ..errors import DataError, one_line
from ..jsonfile import read_json_object
from .spec import CellSpec

MARK_VERSION = 1
SCORES = ("cc", "cc_norm", "cc_max", "p_value")
MARK_MAX_BYTES = 256 * 1024 * 1024  # a mark holds four scores per neuron: 5,000 neurons take about 0.5 MB
_MODEL_FILES = ("config.json", "metadata.json", "model.safetensors")


@dataclass(frozen=True)
class GridPaths:
    """Where a grid folder keeps each part."""

    root: Path

    @property
    def cells(self) -> Path:
        return self.root / "cells"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    def model(self, cell_id: str) -> Path:
        return self.cells / cell_id

    def mark(self, cell_id: str) -> Path:
        return self.done / f"{cell_id}.json"

    def failure(self, cell_id: str) -> Path:
        return self.failed / f"{cell_id}.json"

    def make(self) -> None:
        for folder in (self.cells, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class CellOutcome:
    """What became of one cell: ``done`` (with its mean test cc_norm), ``failed`` (with its error)."""

    cell_id: str
    status: str
    seconds: float
    error: str | None = None
    cc_norm_mean: float | None = None


def _read_record(path: Path, max_bytes: int) -> dict[str, Any] | None:
    """A mark or failure record, or None when there is none or it cannot be read (a damaged one is no mark)."""
    if not path.is_file():
        return None
    try:
        return read_json_object(path, lambda problem: DataError(problem.reason()), max_bytes=max_bytes)
    except DataError:
        return None


def read_mark(paths: GridPaths, cell_id: str) -> dict[str, Any] | None:
    """The completion mark of a finished cell whose model folder is whole, or None (never finished, or damaged)."""
    mark = _read_record(paths.mark(cell_id), MARK_MAX_BYTES)
    if mark is None or not isinstance(mark.get("cell"), dict) or mark["cell"].get("id") != cell_id:
        return None
    folder = paths.model(cell_id)
    if not all((folder / name).is_file() for name in _MODEL_FILES):
        return None
    return mark


def read_failure(paths: GridPaths, cell_id: str) -> dict[str, Any] | None:
    """The record of a cell whose last run failed, or None."""
    return _read_record(paths.failure(cell_id), MARK_MAX_BYTES)


def remove_leftovers(paths: GridPaths) -> int:
    """Remove what killed fits left behind (temporary model folders, temporary marks); how many were removed."""
    removed = 0
    for folder in (paths.cells, paths.done, paths.failed):
        for leftover in folder.glob(".*"):
            if leftover.suffix in (".tmp", ".old"):
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                removed += 1
    return removed


def _scores(metrics: dict[str, Any]) -> dict[str, Any]:
    return {name: metrics[name] for name in SCORES if name in metrics}


def _plain(value: Any) -> Any:
    """JSON-ready: NaN and infinities (a neuron without a score) become null, as in a model's metadata."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    write_text_durably(path, json.dumps(_plain(doc), indent=1, allow_nan=False) + "\n")


def _stamp() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def run_cell(cell: CellSpec, root: str, torch_threads: int | None = None) -> CellOutcome:
    """Fit one cell into its model folder, then mark it complete; a fit that raises is recorded as failed.

    This runs on a Dask worker. Every exception of the fit is the cell's (a bad front-end argument, a response
    set that does not load, a full disk): it is recorded with its traceback and returned, so the grid goes on.
    A worker that dies mid-fit leaves no mark, and the scheduler runs the cell again elsewhere."""
    import torch

    from ..data.responses import load_response_set
    from ..fitting import FitConfig, fit

    if torch_threads:
        torch.set_num_threads(torch_threads)
    paths = GridPaths(Path(root))
    start = time.perf_counter()
    try:
        rs = load_response_set(cell.dataset_path)
        cfg = FitConfig(**cell.config_fields(rs.valid_neurons()))
        result = fit(rs, cfg, out=paths.model(cell.id))
        test = result.test_metrics or {}
        mark = {
            "version": MARK_VERSION,
            "cell": cell.to_json(),
            "model_folder": f"cells/{cell.id}",
            "seconds": round(time.perf_counter() - start, 3),
            "fit_seconds": round(result.seconds, 3),
            "neurons": [rs.neurons[i].id for i in (cfg.neurons if cfg.neurons is not None
                                                   else range(len(rs.neurons)))],
            "test": _scores(test),
            "test_summary": {k: v for k, v in test.items() if k.endswith(("_mean", "_median"))},
            "val_cc_norm_mean": (result.val_metrics or {}).get("cc_norm_mean"),
            **_stamp(),
        }
        _write_json(paths.mark(cell.id), mark)
    except Exception as exc:  # one cell's failure, whatever it is, is recorded and must not stop the grid
        seconds = time.perf_counter() - start
        error = f"{type(exc).__name__}: {one_line(exc)}"
        _write_json(paths.failure(cell.id), {"cell": cell.to_json(), "error": error, "seconds": round(seconds, 3),
                                             "traceback": traceback.format_exc(), **_stamp()})
        return CellOutcome(cell.id, "failed", seconds, error=error)
    paths.failure(cell.id).unlink(missing_ok=True)
    return CellOutcome(cell.id, "done", mark["seconds"], cc_norm_mean=mark["test_summary"].get("cc_norm_mean"))


def record_lost(paths: GridPaths, cell: CellSpec, error: str) -> CellOutcome:
    """Record a cell that never returned (its workers kept dying, or the scheduler lost it) as failed."""
    _write_json(paths.failure(cell.id), {"cell": cell.to_json(), "error": error, "seconds": None,
                                         "traceback": None, **_stamp()})
    return CellOutcome(cell.id, "failed", 0.0, error=error)
