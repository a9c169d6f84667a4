"""How a model was fitted, read from its metadata (or from what a running fit reports): the model card's lines
and the curves of its fit report.

A gradient fit records one entry per epoch (training loss, validation cc_norm) and its best epoch; a ridge fit
records its lambda grid, each neuron's cross-validated cc_norm for every lambda and the lambda each neuron got.
A running fit publishes the same blocks as it goes (``fitting.fit(publish=...)``), so the fit dialog draws its
curve with the very function the model card uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import MIN_CC_MAX, SIGNIFICANCE_LEVEL


@dataclass
class Curve:
    """One line of a plot; ``faint`` lines (one per neuron) sit behind the summary line."""

    label: str
    x: np.ndarray
    y: np.ndarray
    faint: bool = False


@dataclass
class Panel:
    """One plot: its axes, lines and an optional vertical marker (the chosen lambda, the best epoch)."""

    title: str
    x_label: str
    y_label: str
    curves: list[Curve]
    log_x: bool = False
    marker: float | None = None
    marker_label: str = ""


@dataclass
class FitReport:
    """What the model card shows: ``method`` ("ridge", "gradient" or None when the metadata does not say),
    (label, value) lines, and the panels of the fit report (none when nothing was recorded)."""

    method: str | None
    lines: list[tuple[str, str]] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)


def _numbers(values: Any) -> np.ndarray:
    """A list from JSON as floats, None (and anything not a number) as NaN."""
    if not isinstance(values, list):
        return np.zeros(0)
    return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
                     for v in values])


def _ridge_panel(block: dict[str, Any]) -> Panel | None:
    lambdas = _numbers(block.get("lambdas"))
    pooled = _numbers(block.get("cv_cc_norm_pooled"))
    if lambdas.size == 0 or pooled.size != lambdas.size or not np.all(lambdas > 0):
        return None
    rows = block.get("cv_cc_norm")
    per_neuron = [_numbers(row) for row in rows] if isinstance(rows, list) else []
    curves = []
    if per_neuron and all(row.size == per_neuron[0].size for row in per_neuron) and len(per_neuron) == lambdas.size:
        grid = np.stack(per_neuron)  # (lambdas, neurons)
        curves = [Curve(f"neuron {n}", lambdas, grid[:, n], faint=True) for n in range(grid.shape[1])]
    curves.append(Curve("mean over neurons", lambdas, pooled))
    chosen = _numbers(block.get("chosen_lambda"))
    chosen = chosen[np.isfinite(chosen) & (chosen > 0)]
    marker = float(np.median(chosen)) if chosen.size else None
    folds = block.get("folds")
    k = f"{len(folds)}-fold " if isinstance(folds, list) and folds else ""
    return Panel(f"Ridge: {k}cross-validated cc_norm for each lambda", "lambda (relative to the mean eigenvalue)",
                 "held-out cc_norm", curves, log_x=True, marker=marker, marker_label="median chosen lambda")


def _gradient_panels(history: Any, best_epoch: Any) -> list[Panel]:
    if not isinstance(history, list) or not history:
        return []
    entries = [h for h in history if isinstance(h, dict)]
    epochs = _numbers([h.get("epoch") for h in entries])
    marker = float(best_epoch) if isinstance(best_epoch, (int, float)) and best_epoch > 0 else None
    panels = []
    for key, title, label in (("val_cc_norm", "Validation cc_norm after each epoch", "validation cc_norm"),
                              ("train_loss", "Training loss per epoch", "training loss")):
        values = _numbers([h.get(key) for h in entries])
        if np.isfinite(values).any():
            panels.append(Panel(title, "epoch", label, [Curve(label, epochs, values)], marker=marker,
                                marker_label="best epoch (restored)"))
    return panels


def _scores(test: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    cc_norm = _numbers(test.get("cc_norm"))
    finite = cc_norm[np.isfinite(cc_norm)]
    if finite.size:
        lines.append(("test cc_norm", f"mean {finite.mean():.3f}, median {np.median(finite):.3f} over "
                                      f"{finite.size} neurons"))
    p = _numbers(test.get("p_value"))
    if np.isfinite(p).any():
        shifts = test.get("significance_shifts")
        against = f" against {shifts} circular shifts" if isinstance(shifts, int) else ""
        lines.append(("significant", f"{int(np.sum(p < SIGNIFICANCE_LEVEL))} of {int(np.isfinite(p).sum())} neurons "
                                     f"at p < {SIGNIFICANCE_LEVEL:g}{against}"))
    unreliable = test.get("unreliable_cc_norm")
    if isinstance(unreliable, list):
        n = len(unreliable)
        lines.append(("unreliable cc_norm", f"{n} neuron{'' if n == 1 else 's'} with cc_max below {MIN_CC_MAX:g}"))
    return lines


def _training(info: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The metadata's training block (empty when absent) and its ridge block (None when absent)."""
    info = info if isinstance(info, dict) else {}
    training = info.get("training") if isinstance(info.get("training"), dict) else {}
    return training, training.get("ridge") if isinstance(training.get("ridge"), dict) else None


def _method(training: dict[str, Any], ridge_block: dict[str, Any] | None) -> str | None:
    """"ridge" or "gradient" as the metadata says (a model with epochs but no method name: gradient)."""
    if ridge_block is not None:
        return "ridge"
    if training.get("method") in ("ridge", "gradient"):
        return training["method"]
    epochs = training.get("epochs_run")
    return "gradient" if isinstance(epochs, int) and epochs > 0 else None


def fit_report(info: dict[str, Any] | None) -> FitReport:
    """The report of a model from its strfviewer metadata block (``metadata.json["strfviewer"]``); a model
    fitted elsewhere (deepSTRF) gets whatever its metadata holds, possibly nothing."""
    info = info if isinstance(info, dict) else {}
    training, ridge_block = _training(info)
    report = FitReport(_method(training, ridge_block))
    if ridge_block is not None:
        chosen = _numbers(ridge_block.get("chosen_lambda"))
        chosen = chosen[np.isfinite(chosen)]
        folds = ridge_block.get("folds")
        how = "closed-form ridge"
        if isinstance(folds, list) and folds:
            how += f", {len(folds)}-fold cross-validation over whole stimuli"
        if ridge_block.get("shared_lambda"):
            how += ", one lambda for all neurons"
        report.lines.append(("fitted by", how))
        if chosen.size:
            report.lines.append(("lambda", f"median {np.median(chosen):.3g} (from {chosen.min():.3g} to "
                                           f"{chosen.max():.3g})"))
        panel = _ridge_panel(ridge_block)
        report.panels = [panel] if panel is not None else []
    elif training:
        epochs, best = training.get("epochs_run"), training.get("best_epoch")
        if isinstance(epochs, int) and epochs > 0:
            optimizer = training.get("optimizer") or "gradient descent"
            report.lines.append(("fitted by", f"{optimizer}, early stopping on validation cc_norm"))
            report.lines.append(("epochs", f"{epochs} run, best {best} restored"))
        report.panels = _gradient_panels(training.get("history"), best)
    seconds = training.get("seconds")
    if isinstance(seconds, (int, float)):
        report.lines.append(("fit time", f"{seconds:.1f} s"))
    metrics = info.get("metrics") if isinstance(info.get("metrics"), dict) else {}
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    report.lines.extend(_scores(test))
    return report


def method_label(info: dict[str, Any] | None) -> str:
    """Short name of how a model was fitted, for a table cell: "ridge", "gradient" or "-" when not recorded."""
    return _method(*_training(info)) or "-"
