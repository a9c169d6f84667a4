"""Drawing in steps: a generator run on the GUI thread a few milliseconds per event-loop turn.

Creating many plot items (one curve per channel of a 64-channel bank) costs 1-2 ms each in pyqtgraph and must
happen on the GUI thread; done in one go it freezes the window for hundreds of milliseconds. A view hands such
work to a :class:`Stepwise` as a generator that yields between items; a new run replaces the one in progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from PySide6.QtCore import QObject, QTimer

STEP_BUDGET_S = 0.03  # GUI time one event-loop turn may spend on steps


class Stepwise(QObject):
    """Runs one generator at a time, :data:`STEP_BUDGET_S` of it per event-loop turn."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._steps: Iterator[None] | None = None
        self._timer = QTimer(self, interval=0)
        self._timer.timeout.connect(self._step)

    @property
    def busy(self) -> bool:
        return self._steps is not None

    def run(self, steps: Iterator[None]) -> None:
        """Start ``steps`` on the next event-loop turn (dropping the rest of a run in progress), so that what
        asked for them (building a view, delivering a result) ends its own turn first."""
        self._steps = steps
        self._timer.start()

    def cancel(self) -> None:
        self._steps = None
        self._timer.stop()

    def _step(self) -> None:
        steps = self._steps
        deadline = time.perf_counter() + STEP_BUDGET_S
        try:
            while steps is not None and time.perf_counter() < deadline:
                next(steps)
                if self._steps is not steps:  # a step started another run
                    return
        except StopIteration:
            if self._steps is steps:
                self.cancel()
