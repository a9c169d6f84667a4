"""A grid folder's results: the table written after a run, and what the Compare tab and ``render`` show of it.

The table has one row per cell and neuron (a failed cell has one row, with its error), as ``results.csv`` and,
where pyarrow is installed, ``results.parquet``; ``summary.json`` and ``summary.md`` hold each cell's means
and the front-end × data-set matrices of mean test cc_norm, one matrix per model kind, method and recipe. Both
are made from the cells' completion marks, which stay the one source of truth: :func:`read_grid` reads those.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..durable import write_text_durably
from ..errors import DataError
from .cells import GridPaths, read_failure, read_mark
from .spec import CellSpec, FitGridError

GRID_FILE = "grid.json"
RESULT_COLUMNS = ("cell", "dataset", "frontend", "frontend_kind", "frontend_args", "model", "method", "recipe",
                  "seed", "status", "neuron", "neuron_id", "cc", "cc_norm", "cc_max", "p_value", "cell_seconds",
                  "error", "model_folder")


@dataclass(frozen=True)
class CellResult:
    """One cell as its grid folder records it: ``done`` with per-neuron test scores, ``failed`` with its error,
    or ``pending`` (not run yet, or stopped)."""

    spec: CellSpec
    status: str
    model_folder: Path | None = None
    neurons: tuple[str, ...] = ()
    scores: dict[str, np.ndarray] | None = None  # per neuron, NaN where a neuron has no score
    seconds: float | None = None
    error: str | None = None

    @property
    def cc_norm(self) -> np.ndarray:
        return self.scores.get("cc_norm", np.full(len(self.neurons), np.nan)) if self.scores else np.array([])

    @property
    def mean_cc_norm(self) -> float:
        """Mean over neurons with a finite test cc_norm; NaN when there are none."""
        finite = self.cc_norm[np.isfinite(self.cc_norm)]
        return float(finite.mean()) if finite.size else math.nan


@dataclass(frozen=True)
class GridMatrix:
    """Front-end × data-set mean test cc_norm for one model kind, method and recipe (mean over its seeds)."""

    model: str
    method: str
    recipe: str
    frontends: tuple[str, ...]
    datasets: tuple[str, ...]
    cells: tuple[tuple[tuple[CellResult, ...], ...], ...]  # [frontend][dataset] -> that entry's seeds

    @property
    def label(self) -> str:
        return f"{self.model} · {self.method} · {self.recipe}"

    def mean(self) -> np.ndarray:
        """(front-ends, data sets): the mean over finished seeds of each cell's mean test cc_norm (NaN: none)."""
        out = np.full((len(self.frontends), len(self.datasets)), np.nan)
        for f, row in enumerate(self.cells):
            for d, seeds in enumerate(row):
                means = [c.mean_cc_norm for c in seeds if c.status == "done" and math.isfinite(c.mean_cc_norm)]
                if means:
                    out[f, d] = float(np.mean(means))
        return out

    def neuron_values(self, f: int, d: int) -> np.ndarray:
        """Each neuron's test cc_norm, averaged over the entry's finished seeds (neurons without one left out)."""
        done = [c for c in self.cells[f][d] if c.status == "done"]
        if not done:
            return np.array([])
        width = max(len(c.cc_norm) for c in done)
        stacked = np.full((len(done), width), np.nan)
        for i, c in enumerate(done):
            stacked[i, :len(c.cc_norm)] = c.cc_norm
        counted = np.isfinite(stacked).sum(axis=0)
        sums = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
        return sums[counted > 0] / counted[counted > 0]

    def best(self, f: int, d: int) -> CellResult | None:
        """The finished seed with the highest mean test cc_norm: the model a click on the entry opens."""
        done = [c for c in self.cells[f][d] if c.status == "done"]
        return max(done, key=lambda c: c.mean_cc_norm if math.isfinite(c.mean_cc_norm) else -math.inf,
                   default=None)

    def counts(self, f: int, d: int) -> dict[str, int]:
        """How many of the entry's seeds are done, failed and pending."""
        out = {"done": 0, "failed": 0, "pending": 0}
        for c in self.cells[f][d]:
            out[c.status] += 1
        return out


@dataclass(frozen=True)
class GridResults:
    """Everything a grid folder records, read from its completion and failure marks."""

    name: str
    root: Path
    cells: tuple[CellResult, ...]
    matrices: tuple[GridMatrix, ...]

    def count(self, status: str) -> int:
        return sum(1 for c in self.cells if c.status == status)


def is_grid_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a fit grid's output folder (it has the grid's description, grid.json)."""
    return (Path(folder) / GRID_FILE).is_file()


def write_grid_file(root: Path, doc: dict[str, Any]) -> None:
    write_text_durably(root / GRID_FILE, json.dumps(doc, indent=1) + "\n")


def _array(values: Any, n: int) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        return np.full(n, np.nan)
    return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                     for v in values])


def cell_result(paths: GridPaths, spec: CellSpec) -> CellResult:
    """What the grid folder records of ``spec``."""
    mark = read_mark(paths, spec.id)
    if mark is not None:
        neurons = tuple(str(n) for n in mark.get("neurons", []))
        test = mark.get("test") or {}
        scores = {name: _array(test.get(name), len(neurons)) for name in ("cc", "cc_norm", "cc_max", "p_value")
                  if name in test}
        seconds = mark.get("seconds")
        return CellResult(spec, "done", paths.model(spec.id), neurons, scores,
                          float(seconds) if isinstance(seconds, (int, float)) else None)
    failure = read_failure(paths, spec.id)
    if failure is not None:
        return CellResult(spec, "failed", error=str(failure.get("error", "failed")))
    return CellResult(spec, "pending")


def _matrices(cells: tuple[CellResult, ...]) -> tuple[GridMatrix, ...]:
    groups: dict[tuple[str, str, str], list[CellResult]] = {}
    for cell in cells:
        groups.setdefault((cell.spec.model, cell.spec.method, cell.spec.recipe), []).append(cell)
    matrices = []
    for (model, method, recipe), members in groups.items():
        frontends = tuple(dict.fromkeys(c.spec.frontend for c in members))
        datasets = tuple(dict.fromkeys(c.spec.dataset for c in members))
        table = tuple(tuple(tuple(c for c in members if c.spec.frontend == f and c.spec.dataset == d)
                            for d in datasets) for f in frontends)
        matrices.append(GridMatrix(model, method, recipe, frontends, datasets, table))
    return tuple(matrices)


def read_grid(folder: str | Path) -> GridResults:
    """The results of the grid last run into ``folder``; raises FitGridError for a folder that is not one."""
    root = Path(folder).expanduser()
    if not is_grid_folder(root):
        raise FitGridError(f"{root} is not a fit-grid folder (it has no {GRID_FILE}); choose the folder that "
                           "'strfviewer fit-grid GRID.toml --out FOLDER' wrote")
    try:
        doc = json.loads((root / GRID_FILE).read_text(encoding="utf-8"))
        specs = [CellSpec.from_json(c) for c in doc["cells"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FitGridError(f"{root / GRID_FILE} is damaged ({type(exc).__name__}); rerun the grid to rewrite "
                           "it (finished cells are kept)") from exc
    paths = GridPaths(root)
    cells = tuple(cell_result(paths, spec) for spec in specs)
    return GridResults(str(doc.get("name", root.name)), root, cells, _matrices(cells))


# Writing the table
def _number(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _rows(results: GridResults) -> Iterator[dict[str, Any]]:
    for cell in results.cells:
        if cell.status == "pending":
            continue
        spec = cell.spec
        base = {"cell": spec.id, "dataset": spec.dataset, "frontend": spec.frontend,
                "frontend_kind": spec.frontend_kind, "frontend_args": json.dumps(spec.frontend_args, sort_keys=True),
                "model": spec.model, "method": spec.method, "recipe": spec.recipe, "seed": spec.seed,
                "status": cell.status, "cell_seconds": cell.seconds, "error": cell.error,
                "model_folder": str(cell.model_folder.relative_to(results.root)) if cell.model_folder else None}
        if cell.status == "failed":
            yield {**base, "neuron": None, "neuron_id": None, "cc": None, "cc_norm": None, "cc_max": None,
                   "p_value": None}
            continue
        scores = cell.scores or {}
        for i, neuron_id in enumerate(cell.neurons):
            yield {**base, "neuron": i, "neuron_id": neuron_id,
                   **{name: _number(scores[name][i]) if name in scores else None
                      for name in ("cc", "cc_norm", "cc_max", "p_value")}}


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _write_csv(results: GridResults, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for row in _rows(results):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    tmp.replace(target)


def _write_parquet(results: GridResults, target: Path) -> None:
    """One row group per batch of cells, so a grid of thousands of neurons is never held as one table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.float64() if name in ("cc", "cc_norm", "cc_max", "p_value", "cell_seconds")
                         else pa.int64() if name in ("seed", "neuron") else pa.string()) for name in RESULT_COLUMNS])
    tmp = target.with_name(f".{target.name}.tmp")
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(tmp, schema) as writer:
        for row in _rows(results):
            batch.append(row)
            if len(batch) >= 100_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    tmp.replace(target)


def _cell_summary(cell: CellResult) -> dict[str, Any]:
    out: dict[str, Any] = {"cell": cell.spec.id, "dataset": cell.spec.dataset, "frontend": cell.spec.frontend,
                           "model": cell.spec.model, "method": cell.spec.method, "recipe": cell.spec.recipe,
                           "seed": cell.spec.seed, "status": cell.status}
    if cell.status == "done":
        cc_norm = cell.cc_norm
        finite = cc_norm[np.isfinite(cc_norm)]
        out.update({"neurons": len(cell.neurons), "neurons_scored": int(finite.size),
                    "cc_norm_mean": _number(cell.mean_cc_norm),
                    "cc_norm_median": _number(float(np.median(finite))) if finite.size else None,
                    "seconds": cell.seconds})
    if cell.error:
        out["error"] = cell.error
    return out


def _matrix_doc(matrix: GridMatrix) -> dict[str, Any]:
    mean = matrix.mean()
    return {"model": matrix.model, "method": matrix.method, "recipe": matrix.recipe,
            "frontends": list(matrix.frontends), "datasets": list(matrix.datasets),
            "mean_test_cc_norm": [[_number(v) for v in row] for row in mean]}


def matrix_text(matrix: GridMatrix) -> str:
    """A matrix as a Markdown table: front-ends down, data sets across; an entry none of whose seeds finished
    says whether they failed or were not run, one with a score but no finite mean reads '-'."""
    mean = matrix.mean()
    lines = [f"mean test cc_norm, {matrix.label}", "",
             "| front-end | " + " | ".join(matrix.datasets) + " |",
             "|---|" + "---|" * len(matrix.datasets)]
    for f, frontend in enumerate(matrix.frontends):
        cells = []
        for d in range(len(matrix.datasets)):
            counts = matrix.counts(f, d)
            if not counts["done"]:
                cells.append("failed" if counts["failed"] else "not run")
                continue
            text = "-" if not math.isfinite(mean[f, d]) else f"{mean[f, d]:.3f}"
            if counts["failed"] or counts["pending"]:
                text += f" ({counts['done']} of {sum(counts.values())} seeds)"
            cells.append(text)
        lines.append(f"| {frontend} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class ResultFiles:
    csv: Path
    parquet: Path | None
    summary: Path
    summary_text: Path


def write_results(folder: str | Path) -> ResultFiles:
    """Write the results table (CSV, and Parquet where pyarrow is installed) and the summary of ``folder``."""
    results = read_grid(folder)
    root = results.root
    try:
        _write_csv(results, root / "results.csv")
        parquet = root / "results.parquet" if parquet_available() else None
        if parquet is not None:
            _write_parquet(results, parquet)
        doc = {"grid": results.name, "cells": [_cell_summary(c) for c in results.cells],
               "done": results.count("done"), "failed": results.count("failed"),
               "pending": results.count("pending"), "matrices": [_matrix_doc(m) for m in results.matrices]}
        write_text_durably(root / "summary.json", json.dumps(doc, indent=1, allow_nan=False) + "\n")
        failures = [f"- {c.spec.id}: {c.error}" for c in results.cells if c.status == "failed"]
        text = [f"# {results.name}", "",
                f"{doc['done']} cells done, {doc['failed']} failed, {doc['pending']} not run.", ""]
        text += [part for m in results.matrices for part in (matrix_text(m), "")]
        if failures:
            text += ["## Failed cells", "", *failures, ""]
        write_text_durably(root / "summary.md", "\n".join(text))
    except OSError as exc:
        raise DataError(f"cannot write the results of {root} ({exc.strerror or exc}); free space or choose "
                        "another --out, then rerun (finished cells are kept)") from exc
    return ResultFiles(root / "results.csv", parquet, root / "summary.json", root / "summary.md")
