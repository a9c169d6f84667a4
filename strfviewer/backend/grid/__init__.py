"""Fit grids: many fits (data sets × front-ends × models × methods × recipes × seeds) run on Dask.

:mod:`.spec` reads a grid file into cells, :mod:`.cells` fits one cell durably on a worker, :mod:`.run` hands
the unfinished cells to a Dask cluster, and :mod:`.results` writes and reads a grid folder's results.
Importing this package imports neither Dask nor torch.
"""

from .results import CellResult, GridMatrix, GridResults, ResultFiles, is_grid_folder, read_grid, write_results
from .spec import CellSpec, FitGridError, GridSpec, load_grid

__all__ = ["CellResult", "CellSpec", "FitGridError", "GridMatrix", "GridResults", "GridSpec", "ResultFiles",
           "is_grid_folder", "load_grid", "read_grid", "write_results"]
