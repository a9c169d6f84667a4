"""Loaded by each local Dask worker process as it starts (a Dask preload).

Ctrl-C in a terminal reaches every process of the group, the workers too. The run that started them cancels
their cells and closes the cluster itself, so a worker ignores the interrupt instead of dying mid-write with a
traceback of its own.
"""

from __future__ import annotations

import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    """Dask calls this in the worker process, on its main thread, before the worker takes tasks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
