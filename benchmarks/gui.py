"""How responsive the app is: time from launch to a shown window, and the longest GUI-thread stall while a
LEAF spectrogram of 60 s of audio is computed and while live mode runs.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui.py [--launches N] [--seconds S]``.

* Launch: ``strfviewer --demo`` is started ``N`` times (after one warm-up launch, so files are in the page
  cache); the app prints the wall-clock time of its first event-loop turn after ``show()`` and quits. The
  median and the worst of the launches are printed.
* Stalls: a 2 ms timer on the GUI thread records the longest gap between its ticks (the longest time the
  event loop could not react) while (a) a LEAF spectrogram of ``S`` seconds of 48 kHz audio is computed in
  the background and drawn, and (b) live mode plays 5 s of audio through mel, gammatone (PCEN) and LEAF.
* Demo actions (``--demo-repeats R``): the common actions of a demo in a fresh window each time (the demo
  opened, the first visit of each tab, Compute in the causality tab, ten neuron steps in the PSTH tab), each
  started from the event loop as a click would be; the longest stall of each, median and worst of ``R``
  windows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def launch_seconds(runs: int) -> list[float]:
    env = {**os.environ, "STRFVIEWER_REPORT_SHOWN": "1", "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM",
                                                                                            "offscreen")}
    command = [sys.executable, "-m", "strfviewer", "--demo"]
    times = []
    for i in range(runs + 1):
        start = time.time()
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120).stdout
        shown = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("shown-at"))
        if i > 0:  # the first launch only warms the page cache
            times.append(shown - start)
    return times


class StallMeter:
    """Longest gap between the ticks of a fast GUI-thread timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer(interval=2)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.worst = max(self.worst, now - self.last)
        self.last = now

    def start(self) -> None:
        self.last, self.worst = None, 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst


def offscreen_window():
    """The real main window with a silent player and a throw-away settings folder, shown (offscreen)."""
    import tempfile

    from PySide6.QtCore import QStandardPaths

    from strfviewer.gui.app import create_application
    from strfviewer.gui.main_window import MainWindow
    from strfviewer.gui.playback import NullPlayer
    from strfviewer.gui.reporter import ErrorReporter
    from strfviewer.gui.settings import settings

    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()
    reporter = ErrorReporter(os.path.join(tempfile.gettempdir(), "strfviewer-bench.log"))
    reporter.modal = False
    window = MainWindow(reporter, player=NullPlayer())
    window.confirm_close = False
    window.show()
    return window


def wait(condition, timeout_s: float, poll_ms: int = 20) -> None:
    """Run the real event loop (idle in Qt, as in the app) until ``condition()`` holds or time runs out."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.perf_counter() + timeout_s
    loop = QEventLoop()
    poll = QTimer(interval=poll_ms)
    poll.timeout.connect(lambda: (condition() or time.perf_counter() > deadline) and loop.quit())
    poll.start()
    loop.exec()
    poll.stop()


def stalls(seconds: float) -> tuple[float, float, float, float]:
    from strfviewer.backend.synth import vocalization_like
    from strfviewer.gui.app import import_backend

    import_backend()  # as the app does in a thread at launch

    window = offscreen_window()

    meter = StallMeter()
    long_sound = np.tile(vocalization_like(48000, 3.0), int(np.ceil(seconds / 3.0)))[: int(seconds * 48000)]
    window.controller.set_generated_audio(long_sound, 48000)
    wait(lambda: False, 0.5)
    meter.start()
    wait(lambda: False, 0.1)  # ticks running before the action, so a stall inside it is seen
    start = time.perf_counter()
    slot = window.state.add_frontend("leaf")
    pane = window.panes[slot.id]
    wait(lambda: pane.frames is not None and pane.status.text() == "", 600)
    compute_s = time.perf_counter() - start
    wait(lambda: False, 0.2)
    leaf_stall = meter.stop()

    window.state.clear_frontends()
    window.controller.set_generated_audio(vocalization_like(48000, 5.0), 48000)
    for kind, args in (("mel", {}), ("gammatone", {"compression": "pcen"}), ("leaf", {})):
        window.state.add_frontend(kind, args)
    wait(lambda: all(p.frames is not None and p.status.text() == "" for p in window.panes.values()), 120)
    window.live_box.setChecked(True)
    finished = []
    window.player.finished.connect(lambda: finished.append(True))
    meter.start()
    wait(lambda: False, 0.1)
    window.player.play()
    wait(lambda: bool(finished), 30)
    wait(lambda: all((p._live is None or p._live.complete) for p in window.panes.values()), 30)
    live_stall = meter.stop()
    live_complete = all(np.isfinite(p.frames).all() for p in window.panes.values())
    window.close()
    return compute_s, leaf_stall, live_stall, float(live_complete)


def _measured(meter: StallMeter, window, action, settle_s: float = 0.3, timeout_s: float = 180) -> float:
    """The longest stall while ``action`` runs from the event loop and until the window's jobs are done."""
    from PySide6.QtCore import QTimer

    meter.start()
    wait(lambda: False, 0.1)
    done = []
    QTimer.singleShot(0, lambda: (action(), done.append(True)))
    wait(lambda: bool(done) and not window.runner.activeJobs(), timeout_s)
    wait(lambda: False, settle_s)
    return meter.stop()


def demo_actions(repeats: int) -> dict[str, list[float]]:
    """Longest stall (s) of each common demo action, one list entry per fresh window."""
    from strfviewer.cli import build_gui_parser
    from strfviewer.gui.app import _open_requested, import_backend

    import_backend()  # as the app does in a thread at launch

    results: dict[str, list[float]] = {}
    meter = StallMeter()
    for _ in range(repeats):
        window = offscreen_window()

        def step_neurons(window=window) -> None:
            view = window.views["psth"]
            for _ in range(10):
                view.step_neuron(1)
                wait(lambda: False, 0.15)

        def causality_compute(window=window) -> None:
            view = window.views["causality"]
            view.compute()

        actions = [
            ("open the demo", lambda window=window: _open_requested(window, build_gui_parser().parse_args(["--demo"]))),
            ("first visit: Spectrograms", lambda window=window: window.show_view("spectrograms")),
            ("first visit: Filters", lambda window=window: window.show_view("filters")),
            ("first visit: Causality", lambda window=window: window.show_view("causality")),
            ("Causality: Compute", causality_compute),
            ("first visit: STRFs", lambda window=window: window.show_view("strf")),
            ("first visit: Compare", lambda window=window: window.show_view("compare")),
            ("PSTH: 10 neuron steps", lambda window=window: (window.show_view("psth"), step_neurons())),
        ]
        for name, action in actions:
            results.setdefault(name, []).append(_measured(meter, window, action))
        window.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--demo-repeats", type=int, default=3)
    parser.add_argument("--only-demo", action="store_true", help="measure the demo actions only")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    actions = demo_actions(args.demo_repeats)
    # Without a bytecode cache each first visit also compiles its view's module (20-30 ms), which an installed
    # app never does: run with PYTHONDONTWRITEBYTECODE unset to measure what users get.
    cache = "off (first visits include compiling their modules)" if sys.dont_write_bytecode else "on"
    print(f"platform {os.environ['QT_QPA_PLATFORM']}, {os.cpu_count()} CPUs, bytecode cache {cache}\n")
    print(f"| demo action | longest GUI stall, median of {args.demo_repeats} windows | worst | target |")
    print("|---|---:|---:|---:|")
    for name, values in actions.items():
        print(f"| {name} | {1000 * statistics.median(values):.0f} ms | {1000 * max(values):.0f} ms | <= 100 ms |")
    print()
    if args.only_demo:
        return
    times = launch_seconds(args.launches)
    compute_s, leaf_stall, live_stall, live_complete = stalls(args.seconds)
    print("| measurement | value | target |")
    print("|---|---:|---:|")
    print(f"| launch to shown window, median of {len(times)} warm launches | {statistics.median(times):.2f} s | "
          "<= 2.5 s |")
    print(f"| launch to shown window, worst of {len(times)} | {max(times):.2f} s | |")
    print(f"| LEAF spectrogram of {args.seconds:g} s of 48 kHz audio: compute and draw | {compute_s:.2f} s | |")
    print(f"| longest GUI stall during that | {1000 * leaf_stall:.0f} ms | <= 100 ms |")
    print(f"| longest GUI stall while live mode plays 5 s (mel, gammatone PCEN, LEAF) | {1000 * live_stall:.0f} ms | "
          "<= 100 ms |")
    print(f"| live frames complete at the end | {'yes' if live_complete else 'NO'} | |")


if __name__ == "__main__":
    main()
