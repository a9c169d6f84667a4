"""Front-end throughput on 5 s of 48 kHz audio: median wall time, real-time factor, size, receptive field.

Run: ``.venv/bin/python benchmarks/frontends.py [--repeats N] [--seconds S]``. Prints a markdown table.
Settings follow issue #2: dt 5 ms, batch 1, eval mode, no grad, 2 threads; SincNet uses the NS1 notebook
configuration (34 filters, 753 taps, envelope, 10 ms window, 500-22627 Hz).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.frontends.blockconv import direct_engine

AUDIO_FS = 48000
DT_MS = 5.0

CONFIGS = [
    ("mel", "mel", {}),
    ("gammatone (log)", "gammatone", {}),
    ("gammatone (pcen)", "gammatone", {"compression": "pcen"}),
    ("sincnet (envelope, K=753)", "sincnet",
     {"kernel_size": 753, "envelope": True, "env_window_ms": 10.0, "f_min": 500.0, "f_max": 22627.0}),
    ("leaf", "leaf", {}),
    ("icnet encoder", "icnet", {}),
]


def receptive_field(module: torch.nn.Module, frames: int = 120, probe: int = 100) -> str:
    """Samples from the earliest sample with |gradient| > 1e-6 of the largest, to the end of frame ``probe``.

    The relative threshold ignores the ~1e-9 round-off the FFT engine leaves on zero taps of its partitions.
    """
    hop = module.hop
    x = torch.randn(1, 1, frames * hop, requires_grad=True)
    module(x)[0, 0, :, probe].sum().backward()
    grad = x.grad[0, 0].abs()
    first = int(torch.nonzero(grad > 1e-6 * grad.max()).min())
    if first == 0:
        return f"whole past (IIR; > {(probe + 1) * hop})"
    return str((probe + 1) * hop - first)


def median_time(module: torch.nn.Module, audio: torch.Tensor, repeats: int) -> float:
    times = []
    with torch.no_grad():
        for _ in range(3):  # warm-up: thread pool, allocator, FFT plans
            module(audio)
        for _ in range(repeats):
            start = time.perf_counter()
            module(audio)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    hop = round(AUDIO_FS * DT_MS / 1000)
    n = int(args.seconds * AUDIO_FS) // hop * hop
    audio = torch.randn(1, 1, n) * 0.1
    duration = n / AUDIO_FS

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {duration:g} s at {AUDIO_FS} Hz, "
          f"median of {args.repeats} runs after three warm-ups\n")
    print("| front-end | median wall (ms) | real-time factor | direct-convolution engine (ms) | speed-up | "
          "parameters | receptive field (samples) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for label, kind, kwargs in CONFIGS:
        module = make_wav2spec(kind, audio_fs=AUDIO_FS, dt_ms=DT_MS, **kwargs).eval()
        fast = median_time(module, audio, args.repeats)
        if kind == "mel":  # an STFT, no FIR stage: the engines do not apply
            direct_ms, speedup = "n/a", "n/a"
        else:
            with direct_engine():
                direct = median_time(module, audio, args.repeats)
            direct_ms, speedup = f"{direct * 1e3:.1f}", f"{direct / fast:.2f}x"
        params = sum(p.numel() for p in module.parameters())
        rf = receptive_field(module)
        print(f"| {label} | {fast * 1e3:.1f} | {duration / fast:.1f}x | {direct_ms} | {speedup} | "
              f"{params:,} | {rf} |")


if __name__ == "__main__":
    main()
