"""Causality heatmaps: time for the random-projection Jacobian of 1 s of 48 kHz audio (200 frames x 48,000
samples) per front-end, against a naive per-frame backward loop measured in the same run.

Run: ``.venv/bin/python benchmarks/jacobian.py [--seconds S] [--naive-frames N]``. The naive loop is timed on
``N`` frames and scaled to all frames (it is linear in the number of frames). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from strfviewer.backend.analysis.causality import frame_jacobian
from strfviewer.backend.frontends import make_wav2spec

CONFIGS = [
    ("mel", "mel", {}),
    ("gammatone (log)", "gammatone", {}),
    ("gammatone (pcen)", "gammatone", {"compression": "pcen"}),
    ("sincnet (envelope, K=753)", "sincnet", {"kernel_size": 753, "envelope": True, "env_window_ms": 10.0}),
    ("leaf", "leaf", {}),
    ("icnet encoder", "icnet", {}),
]


def naive_seconds_per_frame(module: torch.nn.Module, audio: torch.Tensor, weights: torch.Tensor, n: int) -> float:
    x = audio.reshape(1, 1, -1).clone().requires_grad_(True)
    start = time.perf_counter()
    y = module(x)
    frames = np.linspace(0, y.shape[-1] - 1, n).astype(int)
    for t in frames:
        torch.autograd.grad(y[0, 0, :, t] @ weights, x, retain_graph=True)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--naive-frames", type=int, default=10)
    parser.add_argument("--skip", action="append", default=[], help="row label prefix to skip")
    args = parser.parse_args()
    torch.set_num_threads(2)
    audio = torch.randn(int(args.seconds * 48000) // 240 * 240) * 0.1
    n_frames = audio.shape[0] // 240
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {n_frames} frames x {audio.shape[0]} "
          f"samples\n")
    print("| front-end | method | Jacobian (s) | naive loop, scaled (s) | speed-up | per frame (ms) | first rows (s) "
          "| leak |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for label, kind, kwargs in CONFIGS:
        if any(label.startswith(p) for p in args.skip):
            continue
        module = make_wav2spec(kind, audio_fs=48000, dt_ms=5.0, **kwargs).eval()
        frame_jacobian(module, audio[: 20 * 240], mode="projection")  # warm-up (first-use imports, allocator)
        result = frame_jacobian(module, audio, mode="projection")
        # Progressive mode (as the GUI runs it): when do the first rows appear?
        first_rows: list[float] = []
        start = time.perf_counter()
        frame_jacobian(module, audio, mode="projection",
                       rows_ready=lambda *_, seen=first_rows, t0=start: seen.append(time.perf_counter() - t0))
        weights = torch.randn(module.out_channels, generator=torch.Generator().manual_seed(0))
        weights /= np.sqrt(module.out_channels)
        naive = naive_seconds_per_frame(module, audio, weights, args.naive_frames) * n_frames
        leak = "0 (exact)" if result.leak_is_exactly_zero else f"{result.leak:.2e}"
        print(f"| {label} | {result.method} | {result.seconds:.2f} | {naive:.1f} | {naive / result.seconds:.1f}x | "
              f"{1000 * result.seconds / n_frames:.1f} | {first_rows[0]:.2f} | {leak} |", flush=True)


if __name__ == "__main__":
    main()
