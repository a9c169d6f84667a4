"""The GUI's job runner: delivery on the GUI thread, progress, cancellation, superseding and shutdown."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QObject

from strfviewer.backend.errors import DataError
from strfviewer.backend.jobs import check_cancel
from strfviewer.gui.jobrunner import Job, JobRunner

TIMEOUT_MS = 10_000


class Recorder:
    """Collects callbacks and signals of a runner, noting whether each callback ran on the GUI thread."""

    def __init__(self, runner: JobRunner) -> None:
        self.results: list[object] = []
        self.errors: list[BaseException] = []
        self.on_gui_thread: list[bool] = []
        self.started: list[Job] = []
        self.progress: list[tuple[Job, int, int, str]] = []
        self.finished: list[Job] = []
        self.failed: list[tuple[Job, BaseException]] = []
        self.busy: list[bool] = []
        runner.started.connect(self.started.append)
        runner.progress.connect(lambda job, done, total, message: self.progress.append((job, done, total, message)))
        runner.finished.connect(self.finished.append)
        runner.failed.connect(lambda job, exc: self.failed.append((job, exc)))
        runner.busyChanged.connect(self.busy.append)

    def on_result(self, value: object) -> None:
        self.on_gui_thread.append(threading.current_thread() is threading.main_thread())
        self.results.append(value)

    def on_error(self, exc: BaseException) -> None:
        self.on_gui_thread.append(threading.current_thread() is threading.main_thread())
        self.errors.append(exc)


@pytest.fixture
def gates() -> Iterator[list[threading.Event]]:
    """Events that tests use to hold workers; all are opened at teardown so no worker is left blocked."""
    events: list[threading.Event] = []
    yield events
    for event in events:
        event.set()


@pytest.fixture
def runner(qtbot, gates) -> Iterator[JobRunner]:
    job_runner = JobRunner(max_threads=2)  # some tests need an older and a newer job running at once
    yield job_runner
    for event in gates:
        event.set()
    assert job_runner.shutdown(timeout_ms=TIMEOUT_MS)


def _gate(gates: list[threading.Event]) -> threading.Event:
    event = threading.Event()
    gates.append(event)
    return event


class LongLoop:
    """A long job that pauses after its first step, so the test can cancel it at a known point.

    Unless cancellation stops it, it runs all its steps, sets ``reached_end`` and returns "completed".
    """

    def __init__(self, gates: list[threading.Event], *, use_progress_only: bool) -> None:
        self.use_progress_only = use_progress_only
        self.entered = threading.Event()
        self.proceed = _gate(gates)
        self.reached_end = threading.Event()

    def __call__(self, progress, cancel) -> str:
        for step in range(500):
            if step == 1:
                self.entered.set()
                self.proceed.wait()
            if not self.use_progress_only:
                check_cancel(cancel)
            progress(step, 500, "working")
            time.sleep(0.001)
        self.reached_end.set()
        return "completed"


def test_result_is_delivered_on_the_gui_thread(qtbot, runner):
    record = Recorder(runner)
    worker_threads: list[threading.Thread] = []

    def work(progress, cancel):
        worker_threads.append(threading.current_thread())
        return 42

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS):
        job = runner.submit(work, key="answer", description="the answer", on_result=record.on_result)
    assert record.results == [42]
    assert record.on_gui_thread == [True]
    assert worker_threads and worker_threads[0] is not threading.main_thread()
    assert record.started == [job] and record.finished == [job]
    assert job.done and not job.cancelled
    assert record.errors == [] and record.failed == []


def test_progress_arrives_and_ends_with_done_equal_total(qtbot, runner):
    record = Recorder(runner)

    def work(progress, cancel):
        for step in range(1, 21):
            progress(step, 20, f"step {step}")
        return "ok"

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS):
        job = runner.submit(work, key="p", description="progress", on_result=record.on_result)
    assert record.progress, "no progress signal arrived"
    assert all(reported is job for reported, *_ in record.progress)
    assert record.progress[-1][1:] == (20, 20, "step 20")
    assert record.results == ["ok"]


def test_progress_is_throttled_but_the_final_report_comes_through(qtbot):
    # An interval so long that only the first and final reports pass.
    runner = JobRunner(max_threads=2, progress_interval_ms=3_600_000)
    record = Recorder(runner)

    def work(progress, cancel):
        for step in range(101):
            progress(step, 100, f"step {step}")
        return None

    try:
        with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS):
            runner.submit(work, key="t", description="throttled", on_result=record.on_result)
        assert [(done, total) for _, done, total, _ in record.progress] == [(0, 100), (100, 100)]
    finally:
        assert runner.shutdown(timeout_ms=TIMEOUT_MS)


def test_huge_progress_counts_fit_into_qt_int(qtbot, runner):
    record = Recorder(runner)

    def work(progress, cancel):
        progress(10**12, 10**12, "samples")

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS):
        runner.submit(work, key="h", description="huge", on_result=record.on_result)
    ((_, done, total, _),) = record.progress
    assert done == total > 0


@pytest.mark.parametrize("use_progress_only", [False, True], ids=["check_cancel", "progress-only"])
def test_cancel_stops_a_long_job_and_delivers_nothing(qtbot, runner, gates, use_progress_only):
    record = Recorder(runner)
    loop = LongLoop(gates, use_progress_only=use_progress_only)
    job = runner.submit(loop, key="long", description="long loop", on_result=record.on_result, on_error=record.on_error)
    qtbot.waitUntil(loop.entered.is_set, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS):
        assert runner.cancel("long")
        loop.proceed.set()
    assert not loop.reached_end.is_set(), "the job ran to its end despite cancellation"
    assert job.cancelled and job.done
    assert record.results == [] and record.errors == [] and record.failed == []
    assert record.finished == [job]
    assert runner.activeJobs() == []
    assert not runner.cancel("long")


@pytest.mark.parametrize("old_outcome", ["result", "error"])
def test_superseded_job_is_dropped_even_when_it_finishes_later(qtbot, runner, gates, old_outcome):
    record = Recorder(runner)
    old_entered, release_old = threading.Event(), _gate(gates)

    def old_work(progress, cancel):
        old_entered.set()
        release_old.wait()  # deliberately deaf to cancellation: it completes after the newer job
        if old_outcome == "error":
            raise DataError("stale failure")
        return "old"

    def new_work(progress, cancel):
        return "new"

    old = runner.submit(old_work, key="strf", description="old", on_result=record.on_result, on_error=record.on_error)
    qtbot.waitUntil(old_entered.is_set, timeout=TIMEOUT_MS)
    new = runner.submit(new_work, key="strf", description="new", on_result=record.on_result, on_error=record.on_error)
    assert old.cancelled and not new.cancelled
    qtbot.waitUntil(lambda: new in record.finished, timeout=TIMEOUT_MS)
    assert record.results == ["new"]
    assert not old.done, "the older job must still be running for this test to prove anything"

    release_old.set()
    qtbot.waitUntil(lambda: old in record.finished, timeout=TIMEOUT_MS)
    assert record.results == ["new"]
    assert record.errors == [] and record.failed == []


def test_a_superseded_queued_job_never_runs(qtbot, gates):
    runner = JobRunner(max_threads=1)
    record = Recorder(runner)
    blocker_entered, release_blocker = threading.Event(), _gate(gates)
    ran: list[str] = []

    def blocker(progress, cancel):
        blocker_entered.set()
        release_blocker.wait()
        return "blocker"

    def make(name: str):
        def work(progress, cancel):
            ran.append(name)
            return name

        return work

    try:
        runner.submit(blocker, key="a", description="blocker", on_result=record.on_result)
        qtbot.waitUntil(blocker_entered.is_set, timeout=TIMEOUT_MS)
        first = runner.submit(make("first"), key="b", description="first", on_result=record.on_result)
        second = runner.submit(make("second"), key="b", description="second", on_result=record.on_result)
        release_blocker.set()
        qtbot.waitUntil(lambda: {first, second} <= set(record.finished), timeout=TIMEOUT_MS)
        assert ran == ["second"]
        assert sorted(record.results) == ["blocker", "second"]
    finally:
        release_blocker.set()
        assert runner.shutdown(timeout_ms=TIMEOUT_MS)


def test_a_user_error_reaches_on_error_and_is_logged(qtbot, runner, caplog):
    record = Recorder(runner)
    problem = DataError("the response set has no trials")

    def work(progress, cancel):
        raise problem

    with (
        caplog.at_level(logging.ERROR, logger="strfviewer.gui.jobrunner"),
        qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS),
    ):
        runner.submit(work, key="e", description="load", on_result=record.on_result, on_error=record.on_error)
    assert record.errors == [problem]
    assert record.on_gui_thread == [True]
    assert record.results == [] and record.failed == []
    logged = [r for r in caplog.records if r.name == "strfviewer.gui.jobrunner" and r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None and logged[0].exc_info[1] is problem


def test_an_unexpected_error_without_on_error_emits_failed(qtbot, runner):
    record = Recorder(runner)

    def work(progress, cancel):
        return 1 / 0

    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT_MS) as blocker:
        job = runner.submit(work, key="z", description="divide", on_result=record.on_result)
    failed_job, exc = blocker.args
    assert failed_job is job
    assert isinstance(exc, ZeroDivisionError)
    assert record.results == []


def test_busy_changed_toggles_true_then_false(qtbot, runner, gates):
    record = Recorder(runner)
    release = _gate(gates)

    def work(progress, cancel):
        release.wait()
        return "done"

    job = runner.submit(work, key="b", description="busy", on_result=record.on_result)
    assert record.busy == [True]
    assert runner.activeJobs() == [job]
    release.set()
    qtbot.waitUntil(lambda: record.busy == [True, False], timeout=TIMEOUT_MS)
    assert runner.activeJobs() == []
    assert record.results == ["done"]


def test_shutdown_while_running_stops_in_time_and_drops_late_results(qtbot):
    runner = JobRunner(max_threads=2)
    record = Recorder(runner)
    entered = threading.Event()

    def work(progress, cancel):
        entered.set()
        for _ in range(1000):  # ~10 s unless cancelled; returns a result even when cancelled
            if cancel.is_set():
                return "late"
            time.sleep(0.01)
        return "never cancelled"

    job = runner.submit(work, key="s", description="shutdown", on_result=record.on_result, on_error=record.on_error)
    qtbot.waitUntil(entered.is_set, timeout=TIMEOUT_MS)
    assert runner.shutdown(timeout_ms=5000)
    assert job.done and job.cancelled
    QCoreApplication.processEvents()  # the worker's report was queued before shutdown returned
    qtbot.wait(50)
    assert record.results == [] and record.errors == [] and record.failed == []
    assert record.finished == []
    assert runner.activeJobs() == []
    ran = threading.Event()
    late = runner.submit(lambda progress, cancel: ran.set(), key="s", description="too late",
                         on_result=record.on_result)
    assert late.cancelled
    qtbot.wait(100)
    assert not ran.is_set() and record.results == []


def _job_signals(job: Job) -> list[tuple]:
    """Everything a job's own signals emit, in order, each noted with whether it came on the GUI thread."""
    seen: list[tuple] = []
    main = threading.main_thread

    job.progressed.connect(lambda d, t, m: seen.append(("progressed", d, t, m, threading.current_thread() is main())))
    job.partial.connect(lambda v: seen.append(("partial", v, threading.current_thread() is main())))
    job.succeeded.connect(lambda v: seen.append(("succeeded", v, threading.current_thread() is main())))
    job.failed.connect(lambda e: seen.append(("failed", type(e).__name__, threading.current_thread() is main())))
    job.finished.connect(lambda: seen.append(("finished", threading.current_thread() is main())))
    return seen


def test_a_job_handle_carries_its_own_progress_partials_and_result(qtbot, runner):
    def work(progress, cancel, publish):
        for i in range(3):
            publish(i)
        progress(1, 1, "done")
        return "result"

    job = runner.submit(work, key="k", description="work", publishes=True)
    seen = _job_signals(job)  # connected after submit: nothing is delivered before the next turn
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == "finished", timeout=TIMEOUT_MS)
    assert [s[:2] for s in seen] == [("partial", 0), ("partial", 1), ("partial", 2), ("progressed", 1),
                                     ("succeeded", "result"), ("finished", True)]
    assert all(s[-1] for s in seen)  # all on the GUI thread


def test_a_failing_job_emits_failed_and_unhandled_errors_still_reach_the_window(qtbot, runner):
    recorder = Recorder(runner)

    def work(progress, cancel):
        raise DataError("bad file")

    job = runner.submit(work, key="k", description="reading")
    seen = _job_signals(job)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] == "finished", timeout=TIMEOUT_MS)
    assert [s[:2] for s in seen] == [("failed", "DataError"), ("finished", True)]
    assert [job for job, _ in recorder.failed] == [job]  # no on_error: the window reports it
    handled = runner.submit(work, key="k2", description="reading", on_error=recorder.on_error)
    qtbot.waitUntil(lambda: bool(recorder.errors), timeout=TIMEOUT_MS)
    assert len(recorder.failed) == 1 and handled.done


def test_a_superseded_job_only_says_it_finished(qtbot, runner, gates):
    gate = threading.Event()
    gates.append(gate)

    def slow(progress, cancel, publish):
        gate.wait(TIMEOUT_MS / 1000)
        publish("stale rows")
        return "stale"

    old = runner.submit(slow, key="same", description="old", publishes=True)
    old_seen = _job_signals(old)
    new = runner.submit(lambda progress, cancel: "fresh", key="same", description="new")
    new_seen = _job_signals(new)
    gate.set()
    qtbot.waitUntil(lambda: bool(old_seen and new_seen) and old_seen[-1][0] == new_seen[-1][0] == "finished",
                    timeout=TIMEOUT_MS)
    assert [s[0] for s in old_seen] == ["finished"]
    assert [s[:2] for s in new_seen] == [("succeeded", "fresh"), ("finished", True)]


def test_a_job_whose_owner_is_destroyed_is_cancelled_and_says_nothing(qtbot, runner, gates):
    """A view closed mid-job: its job stops, and no slot of the view runs on its deleted widgets."""
    gate = threading.Event()
    gates.append(gate)
    recorder = Recorder(runner)

    def slow(progress, cancel, publish):
        gate.wait(TIMEOUT_MS / 1000)
        publish("rows")
        progress(1, 1, "done")
        return "late"

    owner = QObject()
    job = runner.submit(slow, key="k", description="owned", publishes=True, owner=owner,
                        on_result=recorder.on_result)
    seen = _job_signals(job)
    with qtbot.waitSignal(owner.destroyed, timeout=TIMEOUT_MS):
        owner.deleteLater()
    assert job.cancelled and job.orphaned
    gate.set()
    qtbot.waitUntil(lambda: job in recorder.finished, timeout=TIMEOUT_MS)  # the window still learns it ended
    assert seen == [] and recorder.results == []
