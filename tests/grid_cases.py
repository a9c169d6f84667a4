"""A small fit grid for the tests: simulated response sets, and a grid folder made without Dask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from strfviewer.backend.data.responses import save_response_set
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.grid import load_grid
from strfviewer.backend.grid.cells import GridPaths, run_cell
from strfviewer.backend.grid.results import write_grid_file, write_results

FS, DT = 16000, 5.0


def simulated_set(root: Path, seed: int) -> Path:
    """Three neurons that are mel STRFs plus Poisson noise, 8 stimuli of 0.6 s: a fit takes about a second."""
    rng = np.random.default_rng(seed)
    mel = make_wav2spec("mel", audio_fs=FS, dt_ms=DT, n_mels=8, f_min=200.0, f_max=7000.0).eval()
    n_bins, sounds, rates = 120, [], []
    strfs = rng.normal(0, 1, size=(3, 8, 4))
    for _ in range(8):
        sound = (rng.normal(size=n_bins * 80) * np.repeat(rng.uniform(0.05, 1, n_bins // 6), 480)).astype(np.float32)
        spec = mel(torch.from_numpy(sound).reshape(1, 1, -1))[0, 0].numpy()
        spec = (spec - spec.mean()) / spec.std()
        drive = np.stack([sum(np.roll(spec[f], lag) * strfs[n, f, 3 - lag] for f in range(8) for lag in range(4))
                          for n in range(3)])
        rates.append(np.log1p(np.exp(drive / 3)))
        sounds.append(sound)
    counts = np.stack([rng.poisson(np.stack([r] * 6, axis=1)) for r in rates], axis=1)
    return save_response_set(root, name=f"sim{seed}", dt_ms=DT,
                             stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS} for i, a in enumerate(sounds)],
                             neurons=[{"id": f"n{i}"} for i in range(3)], counts=counts.astype(np.int16),
                             splits={"train": [0, 1, 2, 3, 4], "val": [5], "test": [6, 7]})



def two_data_sets(root: Path) -> Path:
    """Response sets ``a`` and ``b`` (seeds 0 and 1) in ``root``, which grid files name relative to it."""
    simulated_set(root / "a", 0)
    simulated_set(root / "b", 1)
    return root


def grid_folder_without_dask(grid_file: Path, out: Path) -> Path:
    """Fit every cell of ``grid_file`` here, one after another, into ``out``: the folder a grid run writes, for
    tests of what reads it (the runner's own tests use a real Dask cluster)."""
    grid = load_grid(grid_file)
    paths = GridPaths(out)
    paths.make()
    write_grid_file(out, grid.to_json())
    for cell in grid.cells:
        run_cell(cell, str(out), torch_threads=1)
    write_results(out)
    return out
