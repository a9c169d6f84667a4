"""Work spread over event-loop turns: a view's plots built one per turn, and curves drawn a few per turn."""

from __future__ import annotations

import time

from PySide6.QtCore import QCoreApplication, QObject

from strfviewer.gui.app import create_application
from strfviewer.gui.stepwise import StagedBuild, Stepwise


def test_staged_build_runs_one_stage_per_turn_and_the_rest_on_demand(qtbot):
    create_application()
    owner, ran = QObject(), []
    staged = StagedBuild(owner, [lambda: ran.append(1), lambda: ran.append(2), lambda: ran.append(3)])
    assert ran == [] and not staged.done  # nothing in the turn that created it
    time.sleep(0.005)
    QCoreApplication.processEvents()  # one pass of the event loop: one stage
    assert ran == [1]
    staged.ensure()  # what a result needing every plot does
    assert ran == [1, 2, 3] and staged.done
    qtbot.wait(20)
    assert ran == [1, 2, 3]  # each stage once


def test_staged_build_is_dropped_with_its_owner(qtbot):
    create_application()
    owner, ran = QObject(), []
    StagedBuild(owner, [lambda: ran.append(1)])
    owner.deleteLater()
    qtbot.wait(50)
    assert ran == []


def test_a_new_stepwise_run_replaces_the_one_in_progress(qtbot):
    create_application()
    drawn = []

    def steps(name, n):
        for i in range(n):
            drawn.append((name, i))
            yield

    stepwise = Stepwise()
    stepwise.run(steps("old", 10_000_000))
    qtbot.waitUntil(lambda: len(drawn) > 0, timeout=2000)
    stepwise.run(steps("new", 3))
    qtbot.waitUntil(lambda: not stepwise.busy, timeout=2000)
    assert drawn[-3:] == [("new", 0), ("new", 1), ("new", 2)]
    assert all(name == "old" for name, _ in drawn[:-3]) and len(drawn) < 10_000_000
