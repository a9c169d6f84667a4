"""Causality heatmaps of the deepSTRF zoo: the time of one neuron's Jacobian of 1 s of 48 kHz audio (200
frames x 48,000 samples) per model, on deepSTRF's default sizes and a 34-band mel front-end, against a Linear
model in the same run.

Per model: how the rows were computed (local windows where the model's memory is bounded and does not count
positions; the whole signal otherwise), the Jacobian's wall and CPU time, the display preparation
(``build_display``), and the leak. Medians of ``--runs`` runs.

Run: ``.venv/bin/python benchmarks/zoo_causality.py [--seconds S] [--runs N] [--threads T] [--only NAME]``.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from strfviewer.backend.analysis.causality import frame_jacobian
from strfviewer.backend.analysis.causality_display import build_display
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import (
    ConvNet2D,
    DNet,
    Linear,
    LinearNonlinear,
    NetworkReceptiveField,
    StateNet,
    Transformer,
)
from strfviewer.backend.models.prefilters import make_prefiltering

NEURONS = 119  # NS1's


def _mel() -> torch.nn.Module:
    return make_wav2spec("mel", audio_fs=48000, dt_ms=5.0)


MODELS = {
    "Linear (T=9)": lambda: Linear(34, 9, NEURONS, wav2spec=_mel()),
    "LinearNonlinear": lambda: LinearNonlinear(34, 9, NEURONS, wav2spec=_mel()),
    "Linear + AdapTrans (K=651)": lambda: Linear(34, 9, NEURONS, wav2spec=_mel(),
                                                 prefiltering=make_prefiltering("adaptrans", 34, 5.0)),
    "NRF": lambda: NetworkReceptiveField(34, 9, 20, NEURONS, wav2spec=_mel()),
    "DNet": lambda: DNet(34, 9, 20, out_neurons=NEURONS, wav2spec=_mel()),
    "ConvNet2D": lambda: ConvNet2D(34, out_neurons=NEURONS, wav2spec=_mel()),
    "StateNet (LC, GRU)": lambda: StateNet(34, out_neurons=NEURONS, wav2spec=_mel()),
    "StateNet (FC, LSTM)": lambda: StateNet(34, connectivity="FC", rnn_type="LSTM", out_neurons=NEURONS,
                                            wav2spec=_mel()),
    "Transformer": lambda: Transformer(34, out_neurons=NEURONS, wav2spec=_mel()),
    "Transformer (window 20, 2 layers, 4 heads)": lambda: Transformer(
        34, freq_patch_size=17, context_window=20, n_heads=4, n_layers=2, out_neurons=NEURONS, wav2spec=_mel()),
}


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="model name prefix to run (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hop = 240
    audio = torch.randn(int(args.seconds * 48000) // hop * hop, generator=torch.Generator().manual_seed(0)) * 0.1
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {audio.shape[0] // hop} frames x "
          f"{audio.shape[0]} samples ({args.seconds:g} s at 48 kHz), neuron 0 of {NEURONS}, medians of {args.runs} "
          "runs; wall (CPU) seconds\n")
    print("| model | method | Jacobian | display prep | total | vs Linear | leak |")
    print("|---|---|---:|---:|---:|---:|---|")
    baseline = None
    for name, build in MODELS.items():
        if args.only and not any(name.startswith(p) for p in args.only):
            continue
        model = build().eval()
        frame_jacobian(model, audio[: 20 * hop], neuron=0)  # warm-up
        jac, jac_cpu, prep = [], [], []
        for _ in range(args.runs):
            result, wall, cpu = _timed(lambda m=model: frame_jacobian(m, audio, neuron=0))
            jac.append(wall)
            jac_cpu.append(cpu)
            prep.append(_timed(lambda r=result: build_display(r.jacobian, r.hop, r.receptive_field,
                                                              leaks=not r.leak_is_exactly_zero))[1])
        total = statistics.median(jac) + statistics.median(prep)
        baseline = total if baseline is None else baseline
        leak = "0 (exact)" if result.leak_is_exactly_zero else f"{result.leak:.2e}"
        print(f"| {name} | {result.method} | {statistics.median(jac):.2f} ({statistics.median(jac_cpu):.2f}) | "
              f"{statistics.median(prep):.3f} | {total:.2f} | {total / baseline:.1f}x | {leak} |", flush=True)


if __name__ == "__main__":
    main()
