"""Drawing in steps: a generator run on the GUI thread a few milliseconds per event-loop turn.

Creating many plot items (one curve per channel of a 64-channel bank) costs 1-2 ms each in pyqtgraph and must
happen on the GUI thread; done in one go it freezes the window for hundreds of milliseconds. A view hands such
work to a :class:`Stepwise` as a generator that yields between items; a new run replaces the one in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from PySide6.QtCore import QObject, QTimer

STEP_BUDGET_S = 0.015  # GUI time one event-loop turn may spend on steps (Qt may run two turns back to back)
# "The next event-loop turn" as a timer delay. Qt may run a 0 ms timer that re-arms itself twice in one pass
# of the loop, before other due timers (the playback cursor's); from 1 ms on, due timers take turns.
NEXT_TURN_MS = 1


class StagedBuild(QObject):
    """A view's plots built one per event-loop turn after the view itself, so that no turn builds and first
    paints more than one (about 10 ms to build a pyqtgraph plot and 10-20 ms to paint it the first time).

    ``ensure()`` builds what is left at once, for code that needs every plot now (a result to draw)."""

    def __init__(self, owner: QObject, stages: list[Callable[[], None]]) -> None:
        super().__init__(owner)
        self._stages = list(stages)
        self._timer = QTimer(self, singleShot=True, interval=NEXT_TURN_MS)
        self._timer.timeout.connect(self._next)
        self._timer.start()

    @property
    def done(self) -> bool:
        return not self._stages

    def ensure(self) -> None:
        self._timer.stop()
        while self._stages:
            self._stages.pop(0)()

    def _next(self) -> None:
        if self._stages:
            self._stages.pop(0)()
        if self._stages:
            self._timer.start()


class Stepwise(QObject):
    """Runs one generator at a time, :data:`STEP_BUDGET_S` of it per event-loop turn."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._steps: Iterator[None] | None = None
        self._timer = QTimer(self, interval=NEXT_TURN_MS)
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
