"""Running a grid's unfinished cells on Dask: a ``LocalCluster`` sized to this machine, or an existing scheduler.

Dask does the scheduling; this module only decides what to submit and records what comes back. Finished cells
(a completion mark and a whole model folder) are never submitted again. A worker that dies mid-fit, killed or
out of memory, costs that attempt only: the scheduler runs the cell again on another worker, up to ``retries``
more times (Dask's ``allowed-failures``), after which the cell is recorded as failed and the grid goes on.
An interrupted run cancels what is in flight and leaves finished cells marked; the next run resumes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: runs into one folder are not guarded
    fcntl = None

from ..errors import ConfigurationError, StrfviewerError, one_line
from .cells import CellOutcome, GridPaths, read_mark, record_lost, remove_leftovers, run_cell
from .results import ResultFiles, write_grid_file, write_results
from .spec import CellSpec, GridSpec

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 2  # after a worker death: two more attempts, then the cell is recorded as failed
LOCK_FILE = ".lock"


class GridBusyError(StrfviewerError):
    """Another fit-grid run is writing into the same folder."""


class DaskMissingError(ConfigurationError):
    """Dask's distributed package is not installed."""


@dataclass
class GridRun:
    """What one run did: cells it found finished, what became of the others, and whether it was interrupted."""

    grid: GridSpec
    root: Path
    skipped: int
    outcomes: list[CellOutcome] = field(default_factory=list)
    interrupted: bool = False
    files: ResultFiles | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


@dataclass(frozen=True)
class ClusterInfo:
    """What the run is using, for the user: workers, torch threads each, and the dashboard's address."""

    workers: int
    torch_threads: int | None
    dashboard: str | None
    scheduler: str


def machine_cores() -> int:
    """The cores this process may use (a SLURM or container CPU set counts, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return os.cpu_count() or 1


def local_layout(pending: int, workers: int | None = None) -> tuple[int, int]:
    """Worker processes and torch threads per worker for a local cluster: one single-task process per core
    (no more than there are cells), and the cores shared out so that workers × threads never exceeds them."""
    cores = machine_cores()
    count = workers if workers else max(1, min(cores, pending))
    return count, max(1, cores // count)


@contextlib.contextmanager
def grid_lock(root: Path) -> Iterator[None]:
    """Hold the grid folder for this run; a second run into the same folder is refused, not interleaved."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    handle = open(root / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GridBusyError(f"another 'strfviewer fit-grid' is writing into {root}; wait for it to finish, or "
                                "choose another --out") from None
        yield
    finally:
        handle.close()


def pending_cells(grid: GridSpec, paths: GridPaths) -> list[CellSpec]:
    """The cells of ``grid`` without a completion mark and a whole model folder, in grid order."""
    return [cell for cell in grid.cells if read_mark(paths, cell.id) is None]


def _fit_on_worker(cell: CellSpec, root: str, torch_threads: int | None) -> CellOutcome:
    """The task Dask runs: on a worker we did not size (an existing scheduler), torch gets the worker's share of
    the cores it may use, so tasks running side by side do not oversubscribe them."""
    if torch_threads is None:
        from distributed import get_worker

        torch_threads = max(1, machine_cores() // max(1, get_worker().state.nthreads))
    return run_cell(cell, root, torch_threads)


def _import_distributed() -> Any:
    if importlib.util.find_spec("distributed") is None:
        raise DaskMissingError("fit-grid runs on Dask, which is not installed; pip install 'strfviewer[grid]' "
                               "(and 'strfviewer[slurm]' for a SLURM cluster)")
    import distributed

    return distributed


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int, torch_threads: int, retries: int) -> Iterator[tuple[Any, str]]:
    distributed = _import_distributed()
    import dask

    if scheduler is not None:
        client = distributed.Client(scheduler, timeout="30s")
        try:
            yield client, scheduler
        finally:
            client.close()
        return
    dashboard = "127.0.0.1:0" if importlib.util.find_spec("bokeh") is not None else None
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=dashboard, silence_logs=logging.ERROR,
                                           preload=["strfviewer.backend.grid.worker_init"],
                                           env={"OMP_NUM_THREADS": str(torch_threads),
                                                "MKL_NUM_THREADS": str(torch_threads)})
    client = distributed.Client(cluster)
    try:
        yield client, "local"
    finally:
        with contextlib.suppress(Exception):
            client.close()
        with contextlib.suppress(Exception):
            cluster.close()


def _dashboard(client: Any) -> str | None:
    if importlib.util.find_spec("bokeh") is None:
        return None
    with contextlib.suppress(Exception):
        return client.dashboard_link
    return None


def _outcome(future: Any, cell: CellSpec, paths: GridPaths, retries: int) -> CellOutcome:
    distributed = _import_distributed()
    try:
        return future.result()
    except distributed.KilledWorker:
        mark = read_mark(paths, cell.id)  # it may have finished just before its worker died
        if mark is not None:
            return CellOutcome(cell.id, "done", float(mark.get("seconds") or 0.0))
        return record_lost(paths, cell, f"its worker died while fitting it, {retries + 1} attempt(s) (out of "
                                        "memory, or killed); rerun the grid to try again")
    except Exception as exc:  # the cell never ran to its own error handling: lost in transit, not a fit error
        return record_lost(paths, cell, f"{type(exc).__name__}: {one_line(exc)}")


def run_grid(grid: GridSpec, root: str | Path, *, scheduler: str | None = None, workers: int | None = None,
             retries: int = DEFAULT_RETRIES,
             on_start: Callable[[ClusterInfo, int, int], None] | None = None,
             on_outcome: Callable[[CellOutcome], None] | None = None) -> GridRun:
    """Run every unfinished cell of ``grid`` into ``root``, then write the results table and summary.

    ``on_start(cluster, pending, skipped)`` is called once the cluster is up, ``on_outcome`` once per cell as it
    finishes. Ctrl-C (KeyboardInterrupt) cancels what is in flight and returns with ``interrupted`` set."""
    if retries < 0:
        raise ConfigurationError(f"retries must be >= 0 (got {retries})")
    if workers is not None and workers < 1:
        raise ConfigurationError(f"workers must be >= 1 (got {workers})")
    paths = GridPaths(Path(root).expanduser().resolve())
    paths.make()
    with grid_lock(paths.root):
        remove_leftovers(paths)
        write_grid_file(paths.root, grid.to_json())
        pending = pending_cells(grid, paths)
        run = GridRun(grid, paths.root, len(grid.cells) - len(pending))
        if pending:
            count, threads = local_layout(len(pending), workers)
            with _client(scheduler, count, threads, retries) as (client, where):
                torch_threads = None if scheduler is not None else threads
                n_workers = len(client.scheduler_info().get("workers", {})) or count
                if on_start is not None:
                    on_start(ClusterInfo(n_workers, torch_threads, _dashboard(client), where), len(pending),
                             run.skipped)
                run.interrupted = _submit_all(client, pending, paths, torch_threads, retries, run, on_outcome)
        run.files = write_results(paths.root)
    return run


def _submit_all(client: Any, pending: list[CellSpec], paths: GridPaths, torch_threads: int | None, retries: int,
                run: GridRun, on_outcome: Callable[[CellOutcome], None] | None) -> bool:
    """Submit the cells, collect them as they finish; True when interrupted (what is in flight is cancelled)."""
    distributed = _import_distributed()
    tag = uuid.uuid4().hex[:6]  # keys unique to this run: a scheduler may still hold an earlier run's
    futures = {}
    for cell in pending:
        future = client.submit(_fit_on_worker, cell, str(paths.root), torch_threads, key=f"fit-{cell.id}-{tag}",
                               pure=False)
        futures[future.key] = (future, cell)
    try:
        for future in distributed.as_completed([f for f, _ in futures.values()]):
            _, cell = futures[future.key]
            outcome = _outcome(future, cell, paths, retries)
            run.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    except KeyboardInterrupt:
        log.warning("interrupted: cancelling the cells in flight; finished cells are kept, rerun to resume")
        with contextlib.suppress(Exception):
            client.cancel([f for f, _ in futures.values()], force=True)
        return True
    return False
