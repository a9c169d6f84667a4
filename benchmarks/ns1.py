"""deepSTRF's NS1 protocol on the real recordings in ../shared/ns1: mean test cc_norm and wall time per front-end.

All 119 neurons; train 0-13, val 14-16, test 17-19; audio resampled to 48 kHz; the first 999 bins; targets
smoothed with the 5-tap Hann window [0, .5, 1, .5, 0]; Linear readout with T = 9; MSE; AdamW lr 1e-3
(LEAF 3e-3); at most 100 epochs, patience 30, best validation epoch restored.

Zoo rows (``--frontend statenet-gru``, ``transformer``, ``linear-spectrogram``) fit that model on a fixed mel
spectrogram with deepSTRF's recipe for it (StateNet: at most 80 epochs, patience 15).

``--method ridge`` (or ``both``, the two in the same run) fits the front-end rows' Linear models in closed
form instead: 5-fold cross-validation over the 17 training and validation sounds, one lambda per neuron,
refit on all 17 (``strfviewer fit --method ridge``); ``--pooled-means`` adds a ridge row that centres features
and responses over all stimuli together instead of on each stimulus's own means. The table gives the wall
time and, apart, the part of it spent loading sounds and computing the fixed front-end features, which both
methods share.

Run: ``.venv/bin/python benchmarks/ns1.py [--frontend KIND ...] [--method gradient|ridge|both]
[--pooled-means] [--repeats N] [--data FOLDER] [--device cpu|cuda] [--max-epochs N]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from strfviewer.backend.data.responses import load_response_set
from strfviewer.backend.fitting import FitConfig, fit

NS1 = Path(__file__).resolve().parents[2] / "shared" / "ns1"

ROWS = {
    "mel": ("mel", {}, 1e-3),
    "gammatone-log": ("gammatone", {}, 1e-3),
    "gammatone-pcen": ("gammatone", {"compression": "pcen"}, 1e-3),
    "sincnet": ("sincnet", {"kernel_size": 753, "envelope": True, "env_window_ms": 10.0, "f_min": 500.0,
                            "f_max": 22627.0}, 1e-3),
    "leaf": ("leaf", {}, 3e-3),
}
# Zoo rows: the model on a fixed mel spectrogram (as deepSTRF's StateNet checkpoint, fitted on NS1's own
# spectrogram), with deepSTRF's recipe for it: (model, model arguments, lr, max epochs, patience).
ZOO_ROWS = {
    "statenet-gru": ("statenet", {"rnn_type": "GRU"}, 1e-3, 80, 15),
    "transformer": ("transformer", {}, 1e-3, 100, 30),
    "linear-spectrogram": ("linear", {}, 1e-3, 100, 30),  # the baseline of the zoo rows, fitted the same way
}
PUBLISHED = {"mel": "0.573", "gammatone-log": "~0.46", "gammatone-pcen": "~0.54 (reversed bank)",
             "sincnet": "0.340", "leaf": "0.708", "icnet": "0.659", "statenet-gru": "0.770 (NS1 spectrogram)",
             "transformer": "none published", "linear-spectrogram": "0.548-0.552 (NS1 spectrogram)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frontend", action="append", choices=[*ROWS, "icnet", *ZOO_ROWS],
                        help="row(s) to run (default: the front-end rows on CPU); the zoo rows "
                             f"({', '.join(ZOO_ROWS)}) fit each model on a fixed mel spectrogram")
    parser.add_argument("--data", type=Path, default=NS1,
                        help="response set (default: ../shared/ns1; the published column is NS1's only)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--method", choices=["gradient", "ridge", "both"], default="gradient",
                        help="how the front-end rows' Linear models are fitted")
    parser.add_argument("--smoothness", type=float, default=0.0, help="ridge: lag/frequency smoothness weight")
    parser.add_argument("--repeats", type=int, default=1,
                        help="fit each row this many times and give the median times (the scores do not change: "
                             "every fit is seeded)")
    parser.add_argument("--pooled-means", action="store_true",
                        help="also fit ridge with features and responses centred over all stimuli together")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rs = load_response_set(args.data)
    rows = args.frontend or list(ROWS)
    is_ns1 = args.data.resolve() == NS1.resolve()
    print(f"{'NS1' if is_ns1 else rs.name} from {args.data}: {rs.shape[0]} neurons; device {args.device}; "
          f"torch {torch.__version__}\n")
    print("| front-end | method | test cc_norm (mean) | test cc_norm (median) | test cc (mean) | epochs or lambda | "
          "wall time (s) | of which features (s) | fit alone (s) | published |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    methods = ["gradient", "ridge"] if args.method == "both" else [args.method]
    if args.pooled_means and "ridge" in methods:
        methods.append("ridge (pooled means)")
    for row in rows:
        if row == "icnet" and not args.device.startswith("cuda"):
            print("| icnet | gradient | not run: needs --device cuda (about 5 M parameters; hours on this CPU) "
                  "| | | | | | | 0.659 |")
            continue
        for method in methods if row in ROWS else ["gradient"]:
            cfg = _config(row, method, args)
            walls, features = [], []
            for _ in range(max(1, args.repeats)):
                start = time.perf_counter()
                result = fit(rs, cfg)
                walls.append(time.perf_counter() - start)
                features.append(result.feature_seconds)
            wall, feature_seconds = statistics.median(walls), statistics.median(features)
            fit_alone = statistics.median(w - f for w, f in zip(walls, features, strict=True))
            test = result.test_metrics
            if result.diagnostics is not None:
                chosen = sorted(result.diagnostics["chosen_lambda"])
                how = f"lambda median {chosen[len(chosen) // 2]:.3g}"
            else:
                how = f"{result.best_epoch} / {result.epochs_run}"
            print(f"| {row} | {method} | {test['cc_norm_mean']:.3f} | {test['cc_norm_median']:.3f} | "
                  f"{test['cc_mean']:.3f} | {how} | {wall:.1f} | {feature_seconds:.1f} | {fit_alone:.1f} | "
                  f"{PUBLISHED[row] if is_ns1 else '-'} |", flush=True)


def _config(row: str, method: str, args: argparse.Namespace) -> FitConfig:
    if row in ZOO_ROWS:
        model, kwargs, lr, epochs, patience = ZOO_ROWS[row]
        return FitConfig(model=model, network_kwargs=kwargs, frontend="mel", spectrogram_input=True, lr=lr,
                         n_bins=999, device=args.device, max_epochs=min(epochs, args.max_epochs),
                         patience=min(patience, args.patience))
    if row == "icnet":
        return FitConfig(model="icnet", loss="poisson", lr=4e-4, n_bins=999, device=args.device,
                         max_epochs=args.max_epochs, patience=args.patience)
    kind, kwargs, lr = ROWS[row]
    return FitConfig(model="linear", frontend=kind, frontend_kwargs=kwargs, lr=lr, n_bins=999, device=args.device,
                     max_epochs=args.max_epochs, patience=args.patience, method=method.split()[0],
                     ridge_smoothness=args.smoothness, ridge_centre_stimuli="pooled" not in method)


if __name__ == "__main__":
    main()
