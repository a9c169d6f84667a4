"""Live input through the virtual microphone: capture-to-pixel latency, CPU load, lost samples and GUI stalls,
per front-end and for the LN and ICNet demo models, at 10 ms and 50 ms capture blocks.

Run (needs the virtual microphone, as .ci/run starts it):

    mkdir -p /tmp/vmic && scripts/virtual_mic.sh start /tmp/vmic > /tmp/vmic/env.sh && . /tmp/vmic/env.sh
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/live_input.py [--seconds S] [--repeats R]

Each case is a fresh offscreen main window with one front-end pane (or, for a model, only the predicted
rates pane of that model) recording from the virtual microphone while ``paplay`` plays ``S`` seconds of a
vocalisation-like sound into it. Measured:

* latency: from the moment a sample reached strfviewer (PortAudio's callback) to the first paint of the
  image that holds its frame, the app's own measurement (``state.liveLatencyMeasured``); median and worst of
  every paint. The device and the sound server add PortAudio's input latency before that (printed apart).
* CPU: process CPU time over wall time while recording, in % of one core (the machine's other work shows).
* lost: samples the ring overwrote plus device overflows (goal 0).
* stall: the longest gap between the ticks of a 2 ms GUI-thread timer while recording (goal <= 100 ms).

Medians over ``R`` repeats of each case are printed (worst latency: the worst of all repeats).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui import StallMeter, offscreen_window, wait

DEMO_MODELS = Path(__file__).resolve().parents[1] / "strfviewer" / "resources" / "demo" / "models"
CASES = [
    ("mel", ("frontend", "mel", {})),
    ("gammatone (PCEN)", ("frontend", "gammatone", {"compression": "pcen"})),
    ("SincNet", ("frontend", "sincnet", {})),
    ("LEAF", ("frontend", "leaf", {})),
    ("ICNet encoder", ("frontend", "icnet", {})),
    ("LN model (gammatone PCEN)", ("model", "linear-gammatone-pcen", None)),
    ("ICNet model", ("model", "icnet-small", None)),
]


def run_case(case, block_s: float, played: Path, seconds: float) -> dict:
    what, name, args = case
    window = offscreen_window()
    state = window.state
    state.clear_frontends()
    if what == "frontend":
        state.add_frontend(name, args)
    else:
        window.controller.open_model(DEMO_MODELS / name)
        wait(lambda: state.model is not None, 60)
        state.clear_frontends()
    bar = window.microphone
    bar.block_s = block_s
    bar.folder = Path(tempfile.mkdtemp(prefix="strfviewer-bench-"))
    wait(lambda: bar.available, 10)
    latencies: list[float] = []
    state.liveLatencyMeasured.connect(latencies.append)
    meter = StallMeter()
    bar.record_button.click()
    wait(lambda: False, 0.5)  # the stream settles before the sound starts
    meter.start()
    cpu, wall = time.process_time(), time.perf_counter()
    player = subprocess.Popen(["paplay", "-d", os.environ["STRFVIEWER_VIRTUAL_SINK"], str(played)])
    wait(lambda: player.poll() is not None, seconds + 10)
    wait(lambda: False, 0.3)
    load = (time.process_time() - cpu) / (time.perf_counter() - wall)
    stall = meter.stop()
    ring = bar.capture.ring
    lost = ring.dropped + ring.overflows
    input_latency = bar.capture.input_latency_s or 0.0
    bar.record_button.click()
    window.close()
    shutil.rmtree(bar.folder, ignore_errors=True)
    return {"latencies": latencies, "load": load, "lost": lost, "stall": stall, "input": input_latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    from strfviewer.backend.live.capture import live_input_unavailable
    from strfviewer.backend.synth import vocalization_like
    from strfviewer.gui.app import import_backend

    if not os.environ.get("STRFVIEWER_VIRTUAL_SINK") or live_input_unavailable():
        sys.exit("no virtual microphone: start one with scripts/virtual_mic.sh (see this file's docstring)")
    import_backend()
    played = Path(tempfile.mkdtemp(prefix="strfviewer-bench-")) / "call.wav"
    soundfile.write(played, 0.5 * vocalization_like(48000, options.seconds, seed=2), 48000, subtype="FLOAT")
    print(f"{options.seconds:g} s played into the virtual microphone, {options.repeats} repeats per case; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'case':<27}{'block':>6}{'median ms':>11}{'worst ms':>10}{'paints':>8}{'CPU %':>7}{'lost':>6}"
          f"{'stall ms':>10}{'device ms':>11}")
    for label, case in CASES:
        for block_s in (0.01, 0.05):
            runs = [run_case(case, block_s, played, options.seconds) for _ in range(options.repeats)]
            medians = [statistics.median(r["latencies"]) for r in runs if r["latencies"]]
            worst = max((max(r["latencies"]) for r in runs if r["latencies"]), default=float("nan"))
            print(f"{label:<27}{1000 * block_s:>4.0f}ms"
                  f"{1000 * statistics.median(medians) if medians else float('nan'):>11.0f}{1000 * worst:>10.0f}"
                  f"{statistics.median(len(r['latencies']) for r in runs):>8.0f}"
                  f"{100 * statistics.median(r['load'] for r in runs):>7.0f}"
                  f"{max(r['lost'] for r in runs):>6d}{1000 * statistics.median(r['stall'] for r in runs):>10.0f}"
                  f"{1000 * statistics.median(r['input'] for r in runs):>11.1f}", flush=True)
    shutil.rmtree(played.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
