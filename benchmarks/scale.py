"""Past one machine and one probe: fit-grid throughput on 1 and 2 Dask workers, and the app with 5,000 neurons.

Run:

    .venv/bin/python benchmarks/scale.py [--runs 3] [--part grid|neurons|all]
        [--neurons 5000 --stimuli 50 --repeats 10 --seconds 1.0]

Grid: a grid of 8 cells (2 simulated response sets x 2 mel front-ends x 2 seeds, Linear by gradient descent,
20 epochs), run into a fresh folder on a LocalCluster of 1 worker and then of 2 workers, ``--runs`` times each,
alternating, in this run. Printed: cells per minute including the cluster's start (what a user waits for), the
median, and the 2-worker / 1-worker ratio of the medians.

Neurons: a generated response set of ``--neurons`` neurons (mel STRFs plus Poisson noise) x ``--stimuli``
sounds of ``--seconds`` at 16 kHz x ``--repeats`` repeats in 5 ms bins (int8 counts), written once into a
temporary folder and reused. Each measurement is a fresh process:

* fit: a Linear model of every neuron by ridge (closed form, 5-fold cross-validation, no shift test), its time
  and the process's peak resident memory (VmHWM), then the per-neuron recorded statistics (cc_max of every
  neuron, the PSTH tab's table) in the same process;
* window: the real main window offscreen, with a 2 ms GUI-thread timer whose longest gap is the longest stall;
  opening the set and the fitted model, the first visit of the PSTH tab (predictions of every neuron run in
  the background), stepping 30 neurons, scrolling the PSTH table from top to bottom, the STRF tab and stepping
  30 neurons there, scrolling its thumbnails, opening one of the set's sounds (the rates pane then predicts every
  neuron's response to it) and the Spectrograms tab with the rates pane while stepping.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

FS, DT_MS = 16000, 5.0
N_MELS, LAGS = 16, 6


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return float("nan")


# The grid
def _grid_file(folder: Path) -> Path:
    from grid_cases import simulated_set

    for name, seed in (("a", 0), ("b", 1)):
        if not (folder / name / "dataset.json").exists():
            simulated_set(folder / name, seed)
    path = folder / "grid.toml"
    path.write_text('name = "throughput"\nmethods = ["gradient"]\nseeds = [0, 1]\n[datasets]\na = "a"\nb = "b"\n'
                    '[frontends]\nmel = { kind = "mel", args = { n_mels = 8, f_min = 200.0, f_max = 7000.0 } }\n'
                    'mel4 = { kind = "mel", args = { n_mels = 4, f_min = 200.0, f_max = 7000.0 } }\n'
                    '[recipes]\nr = { audio_fs = 16000, temporal_window_size = 6, max_epochs = 20, patience = 20, '
                    'lr = 0.01, significance_shifts = 0 }\n')
    return path


def grid_throughput(runs: int) -> dict[int, list[float]]:
    from strfviewer.backend.grid import load_grid
    from strfviewer.backend.grid.run import run_grid

    folder = Path(tempfile.mkdtemp(prefix="strfviewer-scale-grid-"))
    grid = load_grid(_grid_file(folder))
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(runs):
        for workers in (1, 2):
            out = folder / f"out-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            run = run_grid(grid, out, workers=workers)
            seconds = time.perf_counter() - start
            assert all(o.status == "done" for o in run.outcomes) and len(run.outcomes) == len(grid.cells)
            rates[workers].append(len(grid.cells) / seconds * 60)
    shutil.rmtree(folder, ignore_errors=True)
    return rates


# The 5,000-neuron set
def make_set(root: Path, neurons: int, stimuli: int, repeats: int, seconds: float, seed: int = 0) -> Path:
    """Neurons whose rate is a mel STRF (a Gaussian in frequency times a decaying lag profile) of the sound,
    plus Poisson noise: a Linear model can explain them, and each has its own best frequency."""
    import torch

    from strfviewer.backend.data.responses import save_response_set
    from strfviewer.backend.frontends import make_wav2spec

    rng = np.random.default_rng(seed)
    mel = make_wav2spec("mel", audio_fs=FS, dt_ms=DT_MS, n_mels=N_MELS, f_min=200.0, f_max=7000.0).eval()
    hop = int(FS * DT_MS / 1000)
    n_bins = int(seconds * 1000 / DT_MS)
    best = rng.uniform(0, N_MELS - 1, neurons)
    width = rng.uniform(0.8, 2.5, neurons)
    freq = np.exp(-0.5 * ((np.arange(N_MELS)[None] - best[:, None]) / width[:, None]) ** 2)
    lag = np.exp(-np.arange(LAGS)[None] / rng.uniform(0.7, 2.0, neurons)[:, None])
    lag[:, 2:] -= 0.4 * lag[:, :1]  # excitation then suppression
    strfs = (freq[:, :, None] * lag[:, None, :]).reshape(neurons, -1)  # (N, F*L)
    gain = rng.uniform(0.5, 2.0, neurons)
    base = rng.uniform(0.02, 0.12, neurons)
    counts = np.empty((neurons, stimuli, repeats, n_bins), dtype=np.int8)
    sounds = []
    for s in range(stimuli):
        envelope = np.repeat(rng.uniform(0.05, 1.0, n_bins // 5), 5 * hop)
        sound = (rng.normal(size=n_bins * hop) * envelope).astype(np.float32) * 0.1
        spec = mel(torch.from_numpy(sound).reshape(1, 1, -1))[0, 0].numpy()[:, :n_bins]
        spec = (spec - spec.mean()) / spec.std()
        padded = np.concatenate([np.zeros((N_MELS, LAGS - 1)), spec], axis=1)
        windows = np.stack([padded[:, t:t + LAGS][:, ::-1].reshape(-1) for t in range(n_bins)])  # (T, F*L)
        drive = windows @ strfs.T  # (T, N)
        rate = base[None] * np.log1p(np.exp(gain[None] * drive))  # spikes per bin
        counts[:, s] = np.minimum(rng.poisson(np.repeat(rate.T[:, None], repeats, axis=1)), 127)
        sounds.append(sound)
    return save_response_set(
        root, name=f"generated {neurons} neurons", dt_ms=DT_MS,
        stimuli=[{"id": f"sound{s:02d}", "audio": a, "sample_rate_hz": FS} for s, a in enumerate(sounds)],
        neurons=[{"id": f"unit{n:04d}"} for n in range(neurons)], counts=counts,
        splits={"train": list(range(0, int(stimuli * 0.8))), "val": list(range(int(stimuli * 0.8), int(stimuli * 0.9))),
                "test": list(range(int(stimuli * 0.9), stimuli))}, check=False)


def _child_fit(responses: Path, model: Path) -> dict:
    from strfviewer.backend.data.responses import load_response_set
    from strfviewer.backend.fitting import FitConfig, fit
    from strfviewer.backend.prediction import response_stats

    start = time.perf_counter()
    rs = load_response_set(responses)
    opened = time.perf_counter() - start
    cfg = FitConfig(model="linear", frontend="mel", frontend_kwargs={"n_mels": N_MELS, "f_min": 200.0,
                                                                     "f_max": 7000.0},
                    audio_fs=FS, temporal_window_size=LAGS, method="ridge", significance_shifts=0)
    start = time.perf_counter()
    result = fit(rs, cfg, out=model)
    fit_s = time.perf_counter() - start
    fit_peak = _peak_mb()
    start = time.perf_counter()
    stats = response_stats(rs)
    stats_s = time.perf_counter() - start
    return {"open_s": opened, "fit_s": fit_s, "fit_peak_mb": fit_peak, "stats_s": stats_s,
            "peak_mb": _peak_mb(), "test_cc_norm_mean": result.test_metrics["cc_norm_mean"],
            "counts_mb": rs.counts.nbytes / 1e6, "stats_neurons": len(stats.cc_max)}


def _child_window(responses: Path, model: Path) -> dict:
    from gui import StallMeter, offscreen_window, wait

    from strfviewer.gui.app import import_backend

    import_backend()
    window = offscreen_window()
    meter = StallMeter()
    out: dict[str, float] = {}

    def measured(name: str, action, until=lambda: True, settle_s: float = 0.3) -> None:
        meter.start()
        wait(lambda: False, 0.1)
        start = time.perf_counter()
        action()
        wait(lambda: until() and not window.runner.activeJobs(), 600)
        out[f"{name} (s)"] = time.perf_counter() - start
        wait(lambda: False, settle_s)
        out[f"{name}: longest stall (ms)"] = 1000 * meter.stop()

    def step(view_name: str, count: int = 30) -> None:
        for _ in range(count):
            window.state.set_neuron(window.state.selected_neuron + 1)
            wait(lambda: False, 0.05)

    def scroll(bar) -> None:
        for value in np.linspace(bar.minimum(), bar.maximum(), 40):
            bar.setValue(int(value))
            wait(lambda: False, 0.02)

    measured("open the set and the model", lambda: (window.controller.open_responses(responses),
                                                     window.controller.open_model(model)),
             until=lambda: window.state.responses is not None and window.state.model is not None)
    measured("first visit: PSTH", lambda: window.show_view("psth"),
             until=lambda: bool(window.views["psth"].results))
    psth = window.views["psth"]
    measured("PSTH: step 30 neurons", lambda: step("psth"))
    measured("PSTH: scroll the table", lambda: scroll(psth.table.verticalScrollBar()))
    measured("first visit: STRFs", lambda: window.show_view("strf"),
             until=lambda: window.views["strf"].strf is not None)
    measured("STRFs: step 30 neurons", lambda: step("strf"))
    strf_view = window.views["strf"]
    if hasattr(strf_view, "thumbnail_scrollbar"):
        measured("STRFs: scroll the thumbnails", lambda: scroll(strf_view.thumbnail_scrollbar()))
    sound = next(iter(sorted((responses / "stimuli").glob("*.wav"))))
    measured("open a sound (the rates pane predicts every neuron)", lambda: window.controller.open_audio(sound),
             until=lambda: window.rates_pane is not None and window.rates_pane.rates is not None)
    measured("Spectrograms with rates: step 30 neurons", lambda: (window.show_view("spectrograms"), step("rates")))
    window.close()
    return out


def _child(kind: str, responses: Path, model: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, str(responses), str(model)], check=True,
                            capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median_table(rows: list[dict]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part", choices=["grid", "neurons", "all"], default="all")
    parser.add_argument("--neurons", type=int, default=5000)
    parser.add_argument("--stimuli", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, responses, model = args.child
        body = _child_fit if kind == "fit" else _child_window
        print(json.dumps(body(Path(responses), Path(model))))
        return
    if args.part in ("grid", "all"):
        rates = grid_throughput(args.runs)
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print(f"## Fit grid: 8 cells, {args.runs} runs each, alternating ({os.cpu_count()} cores)\n")
        print("| workers | cells per minute, each run | median |")
        print("|---|---|---|")
        for workers in (1, 2):
            print(f"| {workers} | {', '.join(f'{r:.1f}' for r in rates[workers])} | "
                  f"{statistics.median(rates[workers]):.1f} |")
        print(f"\n2 workers / 1 worker: {two / one:.2f}x\n")
    if args.part in ("neurons", "all"):
        name = f"strfviewer-scale-{args.neurons}x{args.stimuli}x{args.repeats}x{args.seconds:g}"
        folder = Path(tempfile.gettempdir()) / name
        responses = folder / "responses"
        if not (responses / "dataset.json").exists():
            start = time.perf_counter()
            make_set(responses, args.neurons, args.stimuli, args.repeats, args.seconds)
            print(f"(generated the set in {time.perf_counter() - start:.0f} s: {folder})\n")
        model = folder / "model"
        fits = []
        for _ in range(args.runs):
            shutil.rmtree(model, ignore_errors=True)
            fits.append(_child("fit", responses, model))
        windows = [_child("window", responses, model) for _ in range(args.runs)]
        fit = _median_table(fits)
        print(f"## {args.neurons} neurons x {args.stimuli} stimuli x {args.repeats} repeats, {args.seconds:g} s "
              f"each in {DT_MS:g} ms bins (counts {fit['counts_mb']:.0f} MB, int8); medians of {args.runs} "
              "fresh processes\n")
        print("| measurement | median | each run |")
        print("|---|---|---|")
        for key, label in (("open_s", "load the response set (s)"), ("fit_s", "ridge fit of every neuron (s)"),
                           ("fit_peak_mb", "peak memory after the fit (MB)"),
                           ("stats_s", "recorded statistics (cc_max) of every neuron (s)"),
                           ("peak_mb", "peak memory of the process (MB)"),
                           ("test_cc_norm_mean", "mean test cc_norm of the fit")):
            print(f"| {label} | {fit[key]:.3g} | {', '.join(f'{r[key]:.3g}' for r in fits)} |")
        for key, value in _median_table(windows).items():
            print(f"| {key} | {value:.3g} | {', '.join(f'{w[key]:.3g}' for w in windows)} |")


if __name__ == "__main__":
    main()
