"""Streaming real-time factor (seconds of audio per second of compute) per front-end and for ICNet with 119
neurons, pushing 5 ms and 50 ms chunks of 48 kHz audio, with the offline RTF on the same audio for reference.

Run: ``.venv/bin/python benchmarks/streaming.py [--seconds S] [--repeats R] [--threads N]``. Each figure is the
median of R runs (after one warm-up). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import ICNet
from strfviewer.backend.streaming import Streamer

FS = 48000
CONFIGS = [
    ("mel", lambda: make_wav2spec("mel", audio_fs=FS, dt_ms=5.0)),
    ("gammatone (log)", lambda: make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0)),
    ("gammatone (pcen)", lambda: make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, compression="pcen")),
    ("sincnet", lambda: make_wav2spec("sincnet", audio_fs=FS, dt_ms=5.0)),
    ("leaf", lambda: make_wav2spec("leaf", audio_fs=FS, dt_ms=5.0)),
    ("icnet encoder", lambda: make_wav2spec("icnet", audio_fs=FS, dt_ms=5.0)),
    ("ICNet, 119 neurons", lambda: ICNet(FS, 119)),
]


def streaming_rtf(module: torch.nn.Module, audio: np.ndarray, chunk: int) -> float:
    streamer = Streamer(module)
    start = time.perf_counter()
    for i in range(0, audio.shape[0], chunk):
        streamer.push(audio[i : i + chunk])
    return audio.shape[0] / FS / (time.perf_counter() - start)


def offline_rtf(module: torch.nn.Module, audio: np.ndarray) -> float:
    x = torch.from_numpy(audio).reshape(1, 1, -1)
    start = time.perf_counter()
    with torch.no_grad():
        module(x)
    return audio.shape[0] / FS / (time.perf_counter() - start)


def median_of(repeats: int, measure) -> float:
    measure()  # warm-up
    return statistics.median(measure() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    audio = (0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * FS) // 2400 * 2400)).astype(np.float32)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {audio.shape[0] / FS:g} s of 48 kHz audio, "
          f"median of {args.repeats}\n")
    print("| module | stream RTF, 5 ms chunks | stream RTF, 50 ms chunks | offline RTF |")
    print("|---|---:|---:|---:|")
    for label, build in CONFIGS:
        module = build().eval()
        short = median_of(args.repeats, lambda m=module: streaming_rtf(m, audio, 240))
        long = median_of(args.repeats, lambda m=module: streaming_rtf(m, audio, 2400))
        offline = median_of(args.repeats, lambda m=module: offline_rtf(m, audio))
        print(f"| {label} | {short:.1f}x | {long:.1f}x | {offline:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
