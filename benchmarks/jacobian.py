"""Causality heatmaps: how long the Jacobian of a segment (default 1 s of 48 kHz audio, 200 frames x 48,000
samples) takes per front-end, split into its parts, against the 0.3 s a heatmap may take to follow the view.

Per front-end kind: the random-projection Jacobian (``frame_jacobian``, in the job), the display preparation
(``build_display``: screen reductions, lag image, scale statistics; also in the job), and what the GUI thread
does with the result (pick the visible part for an 800 x 400 px heatmap and the lag view, apply the colour
scale). Medians of ``--runs`` runs, wall time and process CPU time (CPU time is the steadier of the two on a
shared machine). Optionally a naive per-frame backward loop, timed on ``--naive-frames`` frames and scaled.

Run: ``.venv/bin/python benchmarks/jacobian.py [--seconds S] [--runs N] [--threads T] [--naive-frames N]
[--only PREFIX] [--skip PREFIX]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from strfviewer.backend.analysis.causality import frame_jacobian
from strfviewer.backend.analysis.causality_display import build_display
from strfviewer.backend.frontends import make_wav2spec

CONFIGS = [
    ("mel", "mel", {}),
    ("gammatone (log)", "gammatone", {}),
    ("gammatone (pcen)", "gammatone", {"compression": "pcen"}),
    ("sincnet (envelope, K=753)", "sincnet", {"kernel_size": 753, "envelope": True, "env_window_ms": 10.0}),
    ("sincnet (strided)", "sincnet", {}),
    ("leaf", "leaf", {}),
    ("icnet encoder", "icnet", {}),
]
TARGET_S = 0.3  # the heatmap of 1 s of audio should follow the view range this fast
SCREEN = (800, 400)  # heatmap pixels the GUI thread draws for


def naive_seconds_per_frame(module: torch.nn.Module, audio: torch.Tensor, weights: torch.Tensor, n: int) -> float:
    x = audio.reshape(1, 1, -1).clone().requires_grad_(True)
    start = time.perf_counter()
    y = module(x)
    frames = np.linspace(0, y.shape[-1] - 1, n).astype(int)
    for t in frames:
        torch.autograd.grad(y[0, 0, :, t] @ weights, x, retain_graph=True)
    return (time.perf_counter() - start) / n


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def gui_draw(display, n_samples: int) -> None:
    """What the view does on the GUI thread with a finished result (and on every zoom)."""
    scale = display.scale()
    scale.transform(display.heat.window(0, n_samples, *SCREEN).image)
    scale.transform(display.lag.window(0, display.lag.shape[1], SCREEN[0] // 2, SCREEN[1]).image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive-frames", type=int, default=0, help="frames of the naive loop (0: skip it)")
    parser.add_argument("--only", action="append", default=[], help="row label prefix to run (repeatable)")
    parser.add_argument("--skip", action="append", default=[], help="row label prefix to skip")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hop = 240
    audio = torch.randn(int(args.seconds * 48000) // hop * hop, generator=torch.Generator().manual_seed(0)) * 0.1
    n_frames = audio.shape[0] // hop
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {n_frames} frames x {audio.shape[0]} "
          f"samples ({args.seconds:g} s at 48 kHz), medians of {args.runs} runs; wall (CPU) seconds\n")
    print("| front-end | method | Jacobian | display prep | GUI thread (ms) | total | <= 0.3 s | first rows "
          "| naive loop, scaled | leak |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---|")
    for label, kind, kwargs in CONFIGS:
        if any(label.startswith(p) for p in args.skip) or (args.only and not any(label.startswith(p)
                                                                                  for p in args.only)):
            continue
        module = make_wav2spec(kind, audio_fs=48000, dt_ms=5.0, **kwargs).eval()
        frame_jacobian(module, audio[: 20 * hop], mode="projection")  # warm-up (first-use imports, allocator)
        times: dict[str, list[float]] = {key: [] for key in ("jac", "jac_cpu", "prep", "prep_cpu", "gui")}
        for _ in range(args.runs):
            result, wall, cpu = _timed(lambda m=module: frame_jacobian(m, audio, mode="projection"))
            times["jac"].append(wall)
            times["jac_cpu"].append(cpu)
            display, wall, cpu = _timed(lambda r=result: build_display(
                r.jacobian, r.hop, r.receptive_field, leaks=not r.leak_is_exactly_zero))
            times["prep"].append(wall)
            times["prep_cpu"].append(cpu)
            times["gui"].append(_timed(lambda d=display: gui_draw(d, audio.shape[0]))[1])
        median = {key: statistics.median(values) for key, values in times.items()}
        total = median["jac"] + median["prep"]
        # Progressive mode (as the GUI runs the ICNet encoder): when do the first rows appear?
        first_rows: list[float] = []
        start = time.perf_counter()
        frame_jacobian(module, audio, mode="projection",
                       rows_ready=lambda *_, seen=first_rows, t0=start: seen.append(time.perf_counter() - t0))
        naive = "–"
        if args.naive_frames:
            weights = torch.randn(module.out_channels, generator=torch.Generator().manual_seed(0))
            weights /= np.sqrt(module.out_channels)
            naive = f"{naive_seconds_per_frame(module, audio, weights, args.naive_frames) * n_frames:.1f}"
        leak = "0 (exact)" if result.leak_is_exactly_zero else f"{result.leak:.2e}"
        verdict = "yes" if total <= TARGET_S else f"no ({total / TARGET_S:.1f}x)"
        print(f"| {label} | {result.method} | {median['jac']:.2f} ({median['jac_cpu']:.2f}) | {median['prep']:.3f} "
              f"({median['prep_cpu']:.3f}) | {1000 * median['gui']:.1f} | {total:.2f} | {verdict} | "
              f"{first_rows[0]:.2f} | {naive} | {leak} |", flush=True)


if __name__ == "__main__":
    main()
