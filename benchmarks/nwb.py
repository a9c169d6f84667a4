"""Opening a lab's NWB recording: time from the file to the first PSTH, and peak memory, for a generated file
of 500 units, 200 stimuli and 20 repeats (the size issue 18 names).

Run:

    .venv/bin/python benchmarks/nwb.py [--units 500 --stimuli 200 --repeats 20] [--runs 3] [--raw-mb 0]

The file is written once with pynwb into a temporary folder:

* 200 sounds of ``--seconds`` (1 s) at 16 kHz as stimulus ``TimeSeries``;
* 4000 presentations in shuffled order with 0.3 s between them, in ``trials`` (column ``stimulus``) and in a
  second table that names the same sounds (``playback_trials``), so the reader has to guess;
* 500 units of Poisson spikes at ``--rate`` (6 Hz), each with its ``obs_intervals`` (one unit in ten stops
  recording for a minute) and a ``location`` column;
* with ``--raw-mb M``, an ``acquisition`` ElectricalSeries of M MB (int16) that opening must not read: a lab's
  file usually holds its raw or LFP data beside the sorted units.

Each run is a fresh Python process (so its peak resident memory is that of the run alone) that does what the
window does: summarise the file for the dialog (``inspect_nwb``), import it with the best guess at 5 ms into
an empty cache folder (``open_recording``: read, bin, write the response-set folder, read it back) and compute
the PSTH of the first neuron and stimulus (the PSTH tab's first picture), then the recorded statistics of
every neuron (cc_max, the tab's table, computed in the background). A second process opens it again from the
cache. Printed: medians over ``--runs`` runs, the peak resident memory of the process and its resident memory
after the imports (Python, numpy, torch, pynwb: the floor any reader pays).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

FS = 16000
DT_MS = 5.0


def make_file(path: Path, units: int, stimuli: int, repeats: int, seconds: float, rate_hz: float,
              raw_mb: float, seed: int = 0) -> None:
    """Write the benchmark's NWB file (see the module docstring)."""
    import pynwb
    from pynwb.ecephys import ElectricalSeries

    rng = np.random.default_rng(seed)
    nwbfile = pynwb.NWBFile(session_description="benchmark recording", identifier="benchmark",
                            session_start_time=datetime(2026, 12, 3, tzinfo=timezone.utc))
    names = [f"sound_{s:03d}" for s in range(stimuli)]
    for name in names:
        sound = (0.05 * rng.standard_normal(int(seconds * FS))).astype(np.float32)
        nwbfile.add_stimulus(pynwb.TimeSeries(name=name, data=sound, unit="Pa", rate=float(FS)))
    order = rng.permutation(np.repeat(np.arange(stimuli), repeats))
    onsets = 1.0 + np.arange(len(order)) * (seconds + 0.3)
    duration = float(onsets[-1] + seconds + 1.0)
    nwbfile.add_trial_column(name="stimulus", description="the sound played")
    for s, onset in zip(order, onsets, strict=True):
        nwbfile.add_trial(start_time=float(onset), stop_time=float(onset + seconds), stimulus=names[s])
    other = pynwb.epoch.TimeIntervals(name="playback_trials", description="the same playbacks, from the player")
    other.add_column(name="sound", description="the sound played")
    for s, onset in zip(order, onsets, strict=True):
        other.add_row(start_time=float(onset), stop_time=float(onset + seconds), sound=names[s])
    nwbfile.add_time_intervals(other)
    nwbfile.add_unit_column(name="location", description="brain area")
    for n in range(units):
        train = np.sort(rng.uniform(0.0, duration, size=rng.poisson(rate_hz * duration)))
        intervals = [[0.0, duration]]
        if n % 10 == 0:  # stops for a minute in the middle
            intervals = [[0.0, duration / 2], [duration / 2 + 60.0, duration]]
        nwbfile.add_unit(spike_times=train, obs_intervals=intervals, location=f"A1-{n % 4}")
    if raw_mb > 0:
        device = nwbfile.create_device(name="probe")
        group = nwbfile.create_electrode_group("shank", description="shank", location="A1", device=device)
        for _ in range(32):
            nwbfile.add_electrode(group=group, location="A1")
        region = nwbfile.create_electrode_table_region(list(range(32)), "all channels")
        samples = int(raw_mb * 1e6 / (32 * 2))
        raw = rng.integers(-500, 500, size=(samples, 32), dtype=np.int16)
        nwbfile.add_acquisition(ElectricalSeries(name="lfp", data=raw, electrodes=region, rate=1000.0))
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: after fork and exec, Linux carries the
    parent's peak into it (the benchmark's parent holds the whole generated file while writing it)."""
    return _status_mb("VmHWM")


def run_once(path: Path, cache: Path) -> dict:
    """One opening, as the window does it (in this process)."""
    from strfviewer.backend.data.nwb import inspect_nwb
    from strfviewer.backend.data.sources import ImportChoice, open_recording
    from strfviewer.backend.prediction import mean_and_sem, response_stats, trial_counts

    floor = _rss_mb()
    start = time.perf_counter()
    summary = inspect_nwb(path)
    summarised = time.perf_counter()
    rs = open_recording(path, ImportChoice(DT_MS, summary.guess.table, summary.guess.column), cache)
    recorded = mean_and_sem(trial_counts(rs, 0, 0), smooth=True)  # what the PSTH tab draws first
    done = time.perf_counter()
    stats = response_stats(rs)  # the tab's table of cc_max per neuron, computed in the background
    stats_done = time.perf_counter()
    assert np.isfinite(recorded.mean).any() and np.isfinite(stats.cc_max).any()
    return {"summary_s": summarised - start, "open_s": done - start, "stats_s": stats_done - done, "floor_mb": floor,
            "peak_mb": _peak_mb(),
            "counts_mb": rs.counts.nbytes / 1e6, "shape": list(rs.counts.shape), "dtype": str(rs.counts.dtype)}


def _child(path: Path, cache: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), str(cache)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--stimuli", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each sound")
    parser.add_argument("--rate", type=float, default=6.0, help="spikes per second of each unit")
    parser.add_argument("--raw-mb", type=float, default=0.0, help="raw data the reader must not load (MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(run_once(Path(args.child[0]), Path(args.child[1]))) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recording.nwb"
        start = time.perf_counter()
        make_file(path, args.units, args.stimuli, args.repeats, args.seconds, args.rate, args.raw_mb)
        made = time.perf_counter() - start
        size = path.stat().st_size / 1e6
        cold, warm = [], []
        for run in range(args.runs):
            cache = Path(tmp) / f"cache-{run}"
            cold.append(_child(path, cache))
            warm.append(_child(path, cache))
            shutil.rmtree(cache)
    first = cold[0]
    print(f"file: {args.units} units, {args.stimuli} stimuli x {args.repeats} repeats of {args.seconds:g} s, "
          f"{args.rate:g} Hz spikes, {args.raw_mb:g} MB raw data: {size:.0f} MB (written in {made:.0f} s)")
    print(f"counts: {first['shape']} {first['dtype']} = {first['counts_mb']:.0f} MB; medians of {args.runs} runs, "
          "each a fresh process\n")
    print("| opening | file to PSTH (s) | of which the dialog's summary (s) | then cc_max of every neuron (s) "
          "| peak RSS (MB) | RSS after imports (MB) | peak / file size |")
    print("|---|---|---|---|---|---|---|")
    for label, runs in (("first (import into the cache)", cold), ("again (from the cache)", warm)):
        peak = statistics.median(r["peak_mb"] for r in runs)
        print(f"| {label} | {statistics.median(r['open_s'] for r in runs):.1f} | "
              f"{statistics.median(r['summary_s'] for r in runs):.2f} | "
              f"{statistics.median(r['stats_s'] for r in runs):.1f} | {peak:.0f} | "
              f"{statistics.median(r['floor_mb'] for r in runs):.0f} | {peak / size:.2f} |")


if __name__ == "__main__":
    main()
