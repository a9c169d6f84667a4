"""How fast the app ends when its window is closed in the middle of work.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/lifecycle.py [--repeats N]``.

Each scenario runs in a fresh process that builds the real window (silent player), starts the work, waits
until it is under way, closes the window and goes through the app's own exit path (``app.finish``). The parent
measures from the moment the close starts (printed by the child) to the end of the process, the number the
user feels. Scenarios: playback with live mode (gammatone PCEN and LEAF), a LEAF Linear fit, a LEAF Jacobian,
an ICNet-encoder Jacobian (rows of about half a second each on 2 cores, so its job may be abandoned).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCENARIOS = ("playback+live", "fit", "jacobian-leaf", "jacobian-icnet")


def child(scenario: str) -> None:
    import tempfile

    import numpy as np
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from strfviewer.backend.data.responses import load_response_set, save_response_set
    from strfviewer.backend.fitting import FitConfig, fit_into_folder
    from strfviewer.backend.model_folders import OutputFolder
    from strfviewer.backend.synth import vocalization_like
    from strfviewer.gui.app import finish

    sys.path.insert(0, str(Path(__file__).parent))
    from gui import offscreen_window

    window = offscreen_window()
    app = QApplication.instance()
    folder = tempfile.mkdtemp()
    fs = 48000
    window.controller.set_generated_audio(vocalization_like(fs, 10.0 if scenario == "playback+live" else 1.0), fs)
    if scenario == "playback+live":
        window.state.add_frontend("gammatone", {"compression": "pcen"})
        window.state.add_frontend("leaf")
        window.live_box.setChecked(True)
        window.player.play()
        started = lambda: window.live.running and window.state.cursor_s > 0.5  # noqa: E731
    elif scenario == "fit":
        rng = np.random.default_rng(0)
        sounds = [vocalization_like(fs, 1.0, seed=i) for i in range(4)]
        rs = load_response_set(save_response_set(
            os.path.join(folder, "set"), name="bench", dt_ms=5.0,
            stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": fs} for i, a in enumerate(sounds)],
            neurons=[{"id": f"n{i}"} for i in range(8)], counts=rng.poisson(1.0, (8, 4, 2, 200)).astype(np.int16),
            splits={"train": [0, 1], "val": [2], "test": [3]}))
        config = FitConfig(model="linear", frontend="leaf", audio_fs=fs, max_epochs=1000, patience=1000)
        epochs = []
        target = OutputFolder.claim(Path(folder) / "m")
        window.runner.progress.connect(lambda job, done, total, message: epochs.append(done))
        window.runner.submit(
            lambda progress, cancel: fit_into_folder(rs, config, target, progress, cancel),
            key="fit", description="fit", on_result=lambda value: None)
        started = lambda: len(epochs) >= 2  # noqa: E731
    else:
        window.state.add_frontend("leaf" if scenario == "jacobian-leaf" else "icnet")
        view = window.show_view("causality")
        view.auto_box.setChecked(False)
        view.compute()
        started = lambda: view.request is not None and window.runner.activeJobs() != []  # noqa: E731

    def close_when_started() -> None:
        if not started():
            QTimer.singleShot(20, close_when_started)
            return
        time.sleep(0.3)  # well inside the work
        sys.stdout.write(f"closing-at {time.time():.6f}\n")
        sys.stdout.flush()
        window.close()

    QTimer.singleShot(0, close_when_started)
    code = app.exec()
    sys.stdout.write(f"closed-at {time.time():.6f}\nabandoned {window.work_abandoned}\n")
    sys.stdout.flush()
    code = finish(window, code)
    sys.stdout.flush()
    sys.exit(code)


def measure(scenario: str) -> tuple[float, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    process = subprocess.Popen([sys.executable, __file__, "--child", scenario], env=env, stdout=subprocess.PIPE,
                               text=True)
    out, _ = process.communicate(timeout=300)
    ended = time.time()
    closing = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("closing-at"))
    closed = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("closed-at"))
    return ended - closing, closed - closing, "abandoned True" in out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"close to process end, median of {args.repeats} runs (s); target <= 2 s")
    print(f"| {'scenario':<16} | close to exit, median (s) | worst (s) | of which closing the window (s) "
          "| work left running at close |")
    print(f"|{'-' * 18}|{'-' * 26}:|----------:|{'-' * 31}:|{'-' * 29}|")
    for scenario in SCENARIOS:
        runs = [measure(scenario) for _ in range(args.repeats)]
        times = [run[0] for run in runs]
        closing = statistics.median(run[1] for run in runs)
        abandoned = sum(run[2] for run in runs)
        print(f"| {scenario:<16} | {statistics.median(times):25.2f} | {max(times):9.2f} | {closing:30.2f} "
              f"| {abandoned} of {len(runs)} runs |")


if __name__ == "__main__":
    main()
