"""Fit grids on a real 2-worker Dask LocalCluster: every cell fits into a whole model folder, a failing cell
does not stop the others, a killed worker's cell is fitted again, an interrupted run resumes, a rerun fits
nothing twice, and the results table agrees with the model folders it lists."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="fit grids run on Dask: pip install 'strfviewer[grid]'")

import psutil

from grid_cases import two_data_sets
from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.grid import FitGridError, load_grid, read_grid
from strfviewer.backend.grid.cells import GridPaths
from strfviewer.backend.grid.run import run_grid
from strfviewer.cli import main

RECIPE = ('quick = { audio_fs = 16000, temporal_window_size = 6, max_epochs = 8, patience = 4, lr = 0.01, '
          'significance_shifts = 20 }')


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    root = two_data_sets(tmp_path_factory.mktemp("grid-data"))
    return root


def _grid(folder: Path, *, frontends: str, methods: str = '["ridge"]', seeds: str = "[0]") -> Path:
    path = folder / "grid.toml"
    path.write_text(f'name = "test grid"\nmethods = {methods}\nseeds = {seeds}\n\n'
                    f'[datasets]\na = "a"\nb = "b"\n\n[frontends]\n{frontends}\n\n[recipes]\n{RECIPE}\n')
    return path


MEL = 'mel = { kind = "mel", args = { n_mels = 8, f_min = 200.0, f_max = 7000.0 } }'
MEL4 = 'mel4 = { kind = "mel", args = { n_mels = 4, f_min = 200.0, f_max = 7000.0 } }'
BAD = 'bad = { kind = "mel", args = { n_mels = -3 } }'


def _check_folders(out: Path, expected_done: int) -> None:
    """Every finished cell's folder loads, and its mark's scores are the ones in its metadata."""
    results = read_grid(out)
    done = [c for c in results.cells if c.status == "done"]
    assert len(done) == expected_done
    for cell in done:
        loaded = load_model(cell.model_folder)
        recorded = json.loads((cell.model_folder / "metadata.json").read_text())["strfviewer"]["metrics"]["test"]
        assert cell.neurons == ("n0", "n1", "n2")
        np.testing.assert_allclose(cell.cc_norm, [np.nan if v is None else v for v in recorded["cc_norm"]])
        assert loaded.model is not None
    leftovers = [p.name for p in (out / "cells").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_grid_with_a_failing_cell_finishes_the_others_and_writes_its_table(datasets, tmp_path, capsys):
    grid = _grid(datasets, frontends="\n".join([MEL, MEL4, BAD]))
    out = tmp_path / "out"
    code = main(["fit-grid", str(grid), "--out", str(out), "--workers", "2", "--quiet"])
    assert code == 1  # some cells failed: the command says so in its exit code
    printed = capsys.readouterr().out
    assert "mean test cc_norm, linear · ridge · quick" in printed and "| bad | failed | failed |" in printed
    _check_folders(out, expected_done=4)
    results = read_grid(out)
    failed = [c for c in results.cells if c.status == "failed"]
    assert {c.spec.frontend for c in failed} == {"bad"} and all("n_mels" in c.error for c in failed)
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 3 + 2  # a row per finished cell and neuron, one per failed cell
    by_cell = {c.spec.id: c for c in results.cells}
    for row in rows:
        cell = by_cell[row["cell"]]
        if row["status"] == "failed":
            assert row["neuron"] == "" and row["error"] == cell.error
        else:
            assert float(row["cc_norm"]) == pytest.approx(cell.cc_norm[int(row["neuron"])])
            assert (out / row["model_folder"] / "metadata.json").is_file()
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert [(r["cell"], r["neuron"]) for r in table] == [(r["cell"], int(r["neuron"]) if r["neuron"] else None)
                                                          for r in rows]
    summary = json.loads((out / "summary.json").read_text())
    matrix = summary["matrices"][0]
    assert matrix["frontends"] == ["mel", "mel4", "bad"] and matrix["datasets"] == ["a", "b"]
    assert matrix["mean_test_cc_norm"][2] == [None, None]
    assert matrix["mean_test_cc_norm"][0][0] == pytest.approx(
        np.nanmean(by_cell[results.matrices[0].cells[0][0][0].spec.id].cc_norm))


def test_a_rerun_fits_nothing_twice_and_a_finished_grid_starts_no_cluster(datasets, tmp_path):
    grid = load_grid(_grid(datasets, frontends=MEL))
    out = tmp_path / "out"
    first = run_grid(grid, out, workers=2)
    assert [o.status for o in first.outcomes] == ["done", "done"] and first.skipped == 0
    paths = GridPaths(out.resolve())
    stamps = {c.id: (paths.mark(c.id).stat().st_mtime_ns, (paths.model(c.id) / "model.safetensors").stat().st_mtime_ns)
              for c in grid.cells}
    started = []
    again = run_grid(grid, out, workers=2, on_start=lambda *a: started.append(a))
    assert again.skipped == 2 and again.outcomes == [] and started == []
    assert stamps == {c.id: (paths.mark(c.id).stat().st_mtime_ns,
                             (paths.model(c.id) / "model.safetensors").stat().st_mtime_ns) for c in grid.cells}


def _kill_the_busiest_worker_once(killed: list[int]):
    def kill(outcome) -> None:
        if killed:
            return
        workers = [p for p in psutil.Process().children(recursive=True) if "python" in p.name().lower()]
        victim = max(workers, key=lambda p: p.cpu_times().user)  # the one busy fitting
        killed.append(victim.pid)
        os.kill(victim.pid, signal.SIGKILL)

    return kill


def test_a_killed_worker_costs_only_its_attempt(datasets, tmp_path):
    grid = load_grid(_grid(datasets, frontends="\n".join([MEL, MEL4]), methods='["gradient"]', seeds="[0, 1]"))
    killed: list[int] = []
    run = run_grid(grid, tmp_path / "out", workers=2, retries=2, on_outcome=_kill_the_busiest_worker_once(killed))
    assert killed  # one worker was killed while the grid still had cells to fit
    assert len(run.outcomes) == 8 and all(o.status == "done" for o in run.outcomes), run.failed
    _check_folders(tmp_path / "out", expected_done=8)


def test_a_cell_whose_worker_dies_past_its_retries_is_recorded_and_refitted_on_rerun(datasets, tmp_path):
    grid = load_grid(_grid(datasets, frontends="\n".join([MEL, MEL4]), methods='["gradient"]', seeds="[0, 1]"))
    out = tmp_path / "out"
    run = run_grid(grid, out, workers=2, retries=0, on_outcome=_kill_the_busiest_worker_once([]))
    lost = run.failed
    assert lost and all("worker died" in o.error for o in lost)  # no retry: the cells it was running are lost
    assert len(run.outcomes) == 8 and read_grid(out).count("done") == 8 - len(lost)
    rerun = run_grid(grid, out, workers=2)
    assert sorted(o.cell_id for o in rerun.outcomes) == sorted(o.cell_id for o in lost)
    _check_folders(out, expected_done=8)


def test_an_interrupted_grid_resumes_where_it_stopped(datasets, tmp_path):
    grid = load_grid(_grid(datasets, frontends="\n".join([MEL, MEL4]), methods='["gradient"]', seeds="[0, 1]"))
    out = tmp_path / "out"

    def interrupt(outcome) -> None:
        raise KeyboardInterrupt

    stopped = run_grid(grid, out, workers=2, on_outcome=interrupt)
    assert stopped.interrupted and len(stopped.outcomes) == 1
    finished = read_grid(out).count("done")
    assert 1 <= finished < 8
    resumed = run_grid(grid, out, workers=2)
    assert resumed.skipped == finished and len(resumed.outcomes) == 8 - finished
    _check_folders(out, expected_done=8)


def test_grid_files_are_checked_before_anything_runs(tmp_path):
    def grid(text: str) -> Path:
        path = tmp_path / "g.toml"
        path.write_text(text)
        return path

    base = f'[datasets]\na = "a"\n[frontends]\n{MEL}\n'
    with pytest.raises(FitGridError, match="not a TOML file"):
        load_grid(grid("models = [linear"))
    with pytest.raises(FitGridError, match="unknown keys model"):
        load_grid(grid('model = "ln"\n' + base))
    with pytest.raises(FitGridError, match="'cnn' is not one of"):
        load_grid(grid('models = ["cnn"]\n' + base))
    with pytest.raises(FitGridError, match="front-end 'x' needs kind"):
        load_grid(grid('[datasets]\na = "a"\n[frontends]\nx = { kind = "fft" }\n'))
    with pytest.raises(FitGridError, match="recipe 'r' sets seed, which a recipe cannot set"):
        load_grid(grid(base + "[recipes]\nr = { seed = 3 }\n"))
    with pytest.raises(FitGridError, match=r"recipe 'r' with model 'linear': .*lr must be > 0"):
        load_grid(grid(base + "[recipes]\nr = { lr = -1.0 }\n"))
    with pytest.raises(FitGridError, match="names folders"):
        load_grid(grid('[datasets]\n"a/b" = "a"\n[frontends]\n' + MEL + "\n"))
    spec = load_grid(grid('models = ["linear", "ln"]\nmethods = ["ridge", "gradient"]\n' + base))
    assert [(c.model, c.method) for c in spec.cells] == [("linear", "ridge"), ("linear", "gradient"),
                                                         ("ln", "gradient")]
    assert any("ridge fits Linear models only" in line for line in spec.left_out)
    assert spec.cells[0].dataset_path == str((tmp_path / "a").resolve())


def test_a_cell_id_is_stable_and_changes_with_what_defines_the_cell(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(f'[datasets]\na = "a"\n[frontends]\n{MEL}\n[recipes]\nr = {{ max_epochs = 5 }}\n')
    first = load_grid(path).cells[0].id
    assert load_grid(path).cells[0].id == first and first.startswith("a_mel_linear_gradient_r_s0-")
    path.write_text(f'[datasets]\na = "a"\n[frontends]\n{MEL}\n[recipes]\nr = {{ max_epochs = 6 }}\n')
    assert load_grid(path).cells[0].id != first
