"""Export of results: the open response set with models' predictions of it, computed here and written by
``data.nwb_export`` (which, being data, knows nothing of models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.nwb_export import export_nwb
from .data.responses import ResponseSet
from .jobs import CancelFlag, ProgressCallback, report
from .prediction import compute_predictions


def export_with_models(rs: ResponseSet, models: list, path: str | Path, progress: ProgressCallback | None = None,
                       cancel: CancelFlag | None = None) -> tuple[Path, list[str]]:
    """Job body: predict ``rs`` with every model that can, and export it all; returns the file and a note per
    model left out (it cannot predict this response set)."""

    def first_half(done: int, total: int, what: str) -> None:
        report(progress, done, 2 * total, what)

    run = compute_predictions(rs, models, with_stats=False, progress=first_half, cancel=cancel)
    left_out = [f"{r.name}: {r.reason}" for r in run.results if not r.ok]
    predictions: dict[str, list[np.ndarray]] = {}
    for r in run.results:
        if r.ok:
            name = base = r.name.replace("/", "_")  # NWB names cannot hold '/'
            while name in predictions:  # two models of the same name
                name = f"{base} ({len(predictions) + 1})"
            predictions[name] = r.predictions

    def second_half(done: int, total: int, what: str) -> None:
        report(progress, total + done, 2 * total, what)

    return export_nwb(rs, path, predictions, second_half, cancel), left_out
