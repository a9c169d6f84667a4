"""Long recordings: time from opening a 60-minute 48 kHz file to the first frames drawn in a pane, time for a
scroll by one view width to draw, the longest GUI stall while scrolling, and each front-end's peak memory.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/long_audio.py [--minutes M] [--scrolls N]
[--skip KIND ...]``.

A mono 16-bit WAV of ``M`` minutes (synthetic calls tiled over noise) is written block by block to a temporary
folder. Each front-end then runs in a fresh process (so each peak is its own): an offscreen MainWindow with
the NullPlayer and that front-end's pane opens the file (it opens on its first seconds and computes that
view plus a margin), then the view is moved ``N`` times by one view width, each move waiting for the pane to
draw (the ~100 ms debounce included). Peak memory is ``ru_maxrss``; "before open" is the process (Python,
Qt, torch, the window) before the file is opened, so the difference is what the sound and its frames cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FS = 48000
CONFIGS = {
    "mel": ("mel", {}),
    "gammatone (log)": ("gammatone", {}),
    "gammatone (pcen)": ("gammatone", {"compression": "pcen"}),
    "sincnet": ("sincnet", {}),
    "leaf": ("leaf", {}),
    "icnet encoder": ("icnet", {}),
}


def write_sound(path: Path, minutes: float, block_s: float = 60.0) -> None:
    """Calls tiled over noise, written a block at a time so this script never holds the whole sound."""
    import soundfile

    from strfviewer.backend.synth import vocalization_like

    call = vocalization_like(FS, 2.0).astype(np.float32)
    rng = np.random.default_rng(0)
    total, block = round(minutes * 60 * FS), round(block_s * FS)
    with soundfile.SoundFile(str(path), "w", FS, 1, subtype="PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            tiled = np.resize(call, n) * 0.5 + 0.02 * rng.standard_normal(n).astype(np.float32)
            f.write(np.clip(tiled, -1, 1))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_child(kind: str, args: dict, path: Path, scrolls: int) -> dict:
    """In this process: open ``path`` in a window with one pane of ``kind``; time the first draw and scrolls."""
    from strfviewer.gui.app import import_backend

    import_backend()  # as the app does in a thread at launch
    sys.path.insert(0, str(Path(__file__).parent))
    from gui import StallMeter, offscreen_window
    from gui import wait as wait_until

    window = offscreen_window()

    def wait(condition, timeout_s: float) -> None:
        wait_until(condition, timeout_s, poll_ms=5)

    slot = window.state.add_frontend(kind, args)
    pane = window.panes[slot.id]
    shown = []
    pane.framesShown.connect(lambda _sid: shown.append(time.perf_counter()))
    wait(lambda: False, 0.3)
    before = _peak_mib()
    start = time.perf_counter()
    window.controller.open_audio(path)
    wait(lambda: bool(shown) and pane.window.pending is None, 600)
    open_s = shown[-1] - start if shown else float("nan")
    note = pane.note.text()

    meter = StallMeter()
    scroll_s = []
    meter.start()
    for _ in range(scrolls):
        first = pane.first_frame
        view_start, view_stop = window.state.view_range
        width = view_stop - view_start
        shown.clear()
        begin = time.perf_counter()
        window.state.set_view_range(view_start + width, view_stop + width)
        wait(lambda f=first: bool(shown) and pane.first_frame != f and pane.window.pending is None, 600)
        scroll_s.append(shown[-1] - begin if shown else float("nan"))
    stall = meter.stop()
    result = {"open_s": open_s, "scroll_s": scroll_s, "stall_s": stall, "before_mib": before,
              "peak_mib": _peak_mib(), "frames": int(pane.frames.shape[1]), "note": note,
              "duration_s": window.state.audio.duration_s}
    window.close()
    window.runner.shutdown(3000)
    window.live.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--scrolls", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[], help="front-ends to leave out, e.g. leaf 'icnet encoder'")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        kind, args = CONFIGS[options.child]
        print(json.dumps(run_child(kind, args, Path(options.path), options.scrolls)))
        return

    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.wav"
        begin = time.perf_counter()
        write_sound(path, options.minutes)
        print(f"wrote {options.minutes:g} min of {FS} Hz mono ({path.stat().st_size / 2**20:.0f} MiB, 16-bit) in "
              f"{time.perf_counter() - begin:.1f} s; {os.cpu_count()} CPUs; float32 samples in memory: "
              f"{options.minutes * 60 * FS * 4 / 2**20:.0f} MiB\n")
        print(f"| front-end | open to first frames drawn | scroll by one view to drawn, median of {options.scrolls} "
              "| longest GUI stall while scrolling | frames computed | peak RSS | RSS before open | note |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for name in CONFIGS:
            if name in options.skip:
                continue
            command = [sys.executable, __file__, "--child", name, "--path", str(path),
                       "--scrolls", str(options.scrolls)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                print(f"| {name} | failed: {done.stderr.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(lines[-1])
            print(f"| {name} | {r['open_s']:.2f} s | {statistics.median(r['scroll_s']):.2f} s | "
                  f"{1000 * r['stall_s']:.0f} ms | {r['frames']} | {r['peak_mib']:.0f} MiB | {r['before_mib']:.0f} MiB "
                  f"| {r['note']} |", flush=True)


if __name__ == "__main__":
    main()
