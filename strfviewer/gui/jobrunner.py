"""Run backend work off the GUI thread and hand its outcome back on the GUI thread.

The backend's heavy functions follow the protocol of :mod:`strfviewer.backend.jobs`: they take a progress
callback and a cancel flag. :class:`JobRunner` runs such a function on its own Python thread pool and turns
what the worker reports into Qt signals and callbacks that always run on the GUI thread, because widgets may
only be touched there. Worker threads never call into Qt: they leave their reports in a queue that a GUI timer
empties while jobs run. (Qt code on a worker thread, a queued signal emission or a pool's thread teardown,
can hold a Qt lock while it waits for the GIL; the GUI thread, holding the GIL, then waits for that lock, and
both stop for good. Full test runs hit that now and then until workers stopped touching Qt.)

Every request carries a key (such as ``"strf"``); a new request with the same key supersedes the running one,
whose result is then dropped, so a slow, stale computation never overwrites a newer view.

:meth:`JobRunner.submit` returns the request's :class:`Job`, whose own signals (``progressed``, ``partial``,
``succeeded``, ``failed``, ``finished``) a view connects to directly: nobody filters the runner's window-wide
signals by job. They are delivered on the GUI thread, a turn after ``submit`` at the earliest, so connecting
right after submitting misses nothing; a cancelled or superseded job emits only ``finished``. A job submitted
with an ``owner`` (the view whose widgets its slots touch) is cancelled when the owner is destroyed and then
emits nothing at all, so no slot runs on a deleted widget.
"""

from __future__ import annotations

import concurrent.futures
import gc
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from strfviewer.backend.jobs import CancelFlag, CancelledError, ProgressCallback, check_cancel

logger = logging.getLogger(__name__)

JobFunction = Callable[[ProgressCallback, CancelFlag], Any]
PublishCallback = Callable[[Any], None]  # a worker's partial result, delivered as Job.partial
ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]

# One job at a time by default: torch already spreads each job over the cores, and two jobs in torch at once
# (a batched-gradient backward beside a forward) deadlocked now and then in the full test run.
DEFAULT_MAX_THREADS = 1
DEFAULT_PROGRESS_INTERVAL_MS = 50
DELIVERY_INTERVAL_MS = 10  # how often the GUI thread collects the workers' reports while jobs run

_INT32_MAX = 2**31 - 1
_ids = itertools.count(1)

# Outcomes a worker reports; anything but _OK is never handed to on_result.
_OK, _ERROR, _CANCELLED = "ok", "error", "cancelled"


class Job(QObject):
    """Handle of one submitted request: what it is, the flag that stops it, and its own signals.

    ``progressed(done, total, message)`` (throttled, counts scaled into Qt's int), ``partial(value)`` for what
    the worker publishes before it ends, ``succeeded(result)`` or ``failed(exception)``, then ``finished()``
    once whatever the outcome. Created and emitted on the GUI thread; the worker only reads the cancel flag.
    """

    progressed = Signal(int, int, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, key: str, description: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.id: int = next(_ids)
        self.key = key
        self.description = description
        self.cancel_event = threading.Event()
        self._done = threading.Event()
        self.orphaned = False  # its owner is gone: nothing more is emitted

    def orphan(self, *_args: object) -> None:
        """The owner was destroyed: stop the work and emit nothing more, ``finished`` included."""
        self.orphaned = True
        self.cancel()

    def cancel(self) -> None:
        """Ask the work to stop; whatever it still produces is dropped, never delivered."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested (directly, by a newer job with the same key, or by shutdown)."""
        return self.cancel_event.is_set()

    @property
    def done(self) -> bool:
        """Whether the worker has returned; set on the worker thread, so it may precede the ``finished`` signal."""
        return self._done.is_set()

    def __repr__(self) -> str:
        state = "done" if self.done else "cancelled" if self.cancelled else "running"
        return f"Job(id={self.id}, key={self.key!r}, description={self.description!r}, {state})"


@dataclass
class _Entry:
    """What the runner remembers of a job until its outcome has been handled on the GUI thread."""

    job: Job
    on_result: ResultCallback | None
    on_error: ErrorCallback | None


# What a worker reports, in the order it happens: (kind, job id, *details).
_STARTED, _PROGRESSED, _PUBLISHED, _ENDED = "started", "progressed", "published", "ended"


_busy_runners = 0


def _pause_cyclic_gc(busy: bool) -> None:
    """No cyclic garbage collection on the GUI thread while any job runs; back to normal once all are idle.

    A collection pass on the GUI thread holds the GIL while it destroys whatever cycles it finds; in full test
    runs one of those destructors sometimes waited on a running worker that needed the GIL, and both stopped
    for good. Reference counting still frees everything else at once; cycles wait until the jobs are done.
    """
    global _busy_runners
    _busy_runners += 1 if busy else -1
    if _busy_runners > 0:
        gc.disable()
    else:
        _busy_runners = 0
        gc.enable()


class _Worker:
    """Runs one job's function in the pool and puts its progress and outcome in the runner's report queue.

    It holds no Qt object, not even the :class:`Job` (only its id, its events and its description): a Python
    wrapper of a QObject whose last reference went away on a pool thread would be torn down there. For the
    same reason the function, whose closure may hold widgets, goes back to the GUI thread with the outcome and
    is released there."""

    def __init__(self, job: Job, fn: Callable[..., Any], reports: queue.SimpleQueue, interval_s: float,
                 publishes: bool) -> None:
        self._id = job.id
        self._description = repr(job)
        self._cancel = job.cancel_event
        self._done = job._done
        self._fn: Callable[..., Any] | None = fn
        self._publishes = publishes
        self._reports = reports
        self._interval_s = interval_s
        self._last_report = float("-inf")

    def _progress(self, done: int, total: int, message: str) -> None:
        """Progress callback given to the function; doubles as a cancellation point for progress-only loops."""
        check_cancel(self._cancel)
        now = time.monotonic()
        if done != total and now - self._last_report < self._interval_s:
            return  # throttled: the GUI needs no more than a few updates per second
        self._last_report = now
        self._reports.put((_PROGRESSED, self._id, done, total, message))

    def _publish(self, value: Any) -> None:
        """Publish callback given to a function submitted with ``publishes=True``; also a cancellation point."""
        check_cancel(self._cancel)
        self._reports.put((_PUBLISHED, self._id, value))

    def run(self) -> None:
        """Run the function, catching everything: an exception escaping into the pool thread helps nobody."""
        fn, self._fn = self._fn, None
        outcome, value = _CANCELLED, None
        try:
            self._reports.put((_STARTED, self._id))
            check_cancel(self._cancel)  # superseded or cancelled while still queued: do not start at all
            assert fn is not None
            if self._publishes:
                value = fn(self._progress, self._cancel, self._publish)
            else:
                value = fn(self._progress, self._cancel)
            outcome = _OK
        except CancelledError:
            logger.debug("%s stopped on cancellation", self._description)
        except BaseException as exc:
            logger.error("%s failed", self._description, exc_info=True)
            outcome, value = _ERROR, exc
        finally:
            self._done.set()
            self._reports.put((_ENDED, self._id, outcome, value, fn))  # fn is released on the GUI thread
            del fn, value


def _fit_int32(done: int, total: int) -> tuple[int, int]:
    """Scale counts into Qt's ``int`` so huge totals (samples, say) still draw a sensible progress bar."""
    done, total = int(done), int(total)
    largest = max(abs(done), abs(total))
    if largest <= _INT32_MAX:
        return done, total
    scale = _INT32_MAX / largest
    return int(done * scale), int(total * scale)


class JobRunner(QObject):
    """Runs backend functions on a private Python thread pool and delivers everything on the GUI thread.

    Create it on the GUI thread, and call :meth:`shutdown` before the application quits so that no worker
    outlives it. Signals: ``started(job)`` when a worker begins, ``progress(job, done, total, message)``
    (throttled; the final ``done == total`` report always comes through), ``finished(job)`` once per job
    whatever the outcome, ``failed(job, exception)`` for errors of jobs submitted without ``on_error``, and
    ``busyChanged(bool)`` when the runner goes from idle to busy and back.
    """

    started = Signal(object)
    progress = Signal(object, int, int, str)
    finished = Signal(object)
    failed = Signal(object, object)
    busyChanged = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        max_threads: int = DEFAULT_MAX_THREADS,
        progress_interval_ms: int = DEFAULT_PROGRESS_INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        if max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, got {max_threads}")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_threads, thread_name_prefix="strfviewer-job")
        self._futures: set[concurrent.futures.Future] = set()
        self._interval_s = max(0, progress_interval_ms) / 1000.0
        self._reports: queue.SimpleQueue = queue.SimpleQueue()
        self._delivery = QTimer(self)
        self._delivery.setInterval(DELIVERY_INTERVAL_MS)
        self._delivery.timeout.connect(self._deliver)
        self._entries: dict[int, _Entry] = {}
        self._latest: dict[str, Job] = {}
        self._busy = False
        self._closed = False

    def submit(
        self,
        fn: JobFunction | Callable[[ProgressCallback, CancelFlag, PublishCallback], Any],
        *,
        key: str,
        description: str,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        publishes: bool = False,
        owner: QObject | None = None,
    ) -> Job:
        """Run ``fn(progress, cancel)`` in the pool (``fn(progress, cancel, publish)`` with ``publishes``: each
        ``publish(value)`` arrives as the job's ``partial`` signal); a running job with the same key is
        cancelled and dropped. ``on_result`` / ``on_error`` are called as ``succeeded`` / ``failed`` are
        emitted; an error nobody handles (no ``on_error``) also goes to the runner's ``failed`` signal, which
        the window reports. With an ``owner``, the job is orphaned (cancelled, silent) when the owner is
        destroyed.

        After :meth:`shutdown` (the window is closing) a request is not run: the returned job is already
        cancelled. Views with a pending timer may still ask during shutdown, and that must not raise.
        """
        if self._closed:
            logger.debug("%s requested after shutdown; not run", description)
            job = Job(key, description, self)
            job.cancel()
            return job
        previous = self._latest.get(key)
        if previous is not None:
            logger.debug("%r superseded by a new request", previous)
            previous.cancel()
        job = Job(key, description, self)
        if owner is not None:
            owner.destroyed.connect(job.orphan)
        self._latest[key] = job
        self._entries[job.id] = _Entry(job, on_result, on_error)
        logger.debug("submitting %r", job)
        future = self._pool.submit(_Worker(job, fn, self._reports, self._interval_s, publishes).run)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        self._delivery.start()
        self._set_busy(True)
        return job

    def cancel(self, key: str) -> bool:
        """Cancel every unfinished job with this key; returns whether there was one."""
        jobs = [entry.job for entry in self._entries.values() if entry.job.key == key]
        for job in jobs:
            job.cancel()
        return bool(jobs)

    def cancel_all(self) -> None:
        """Cancel every unfinished job; their results and errors will be dropped."""
        for entry in self._entries.values():
            entry.job.cancel()

    def activeJobs(self) -> list[Job]:
        """Jobs submitted whose outcome has not been handled yet, oldest first."""
        if self._closed:  # nothing is delivered any more: a job counts as long as its worker runs
            self._entries = {job_id: e for job_id, e in self._entries.items() if not e.job.done}
        return [entry.job for entry in self._entries.values()]

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel everything, wait for the pool, and drop all later deliveries; returns whether all stopped."""
        self._closed = True
        self.cancel_all()
        self._delivery.stop()
        _, running = concurrent.futures.wait(list(self._futures), timeout=max(0, timeout_ms) / 1000.0)
        stopped = not running
        self._pool.shutdown(wait=False, cancel_futures=True)  # idle threads end now; a late one when it returns
        if self._busy:  # nothing is delivered after shutdown, busyChanged included; still release the pause
            self._busy = False
            _pause_cyclic_gc(False)
        if not stopped:
            running = [entry.job for entry in self._entries.values() if not entry.job.done]
            logger.warning("job runner shut down with %d job(s) still running: %r", len(running), running)
        return stopped

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            _pause_cyclic_gc(busy)
            self.busyChanged.emit(busy)

    def _deliver(self) -> None:
        """Hand on everything the workers have reported since the last call, in order (on the GUI thread)."""
        handlers = {_STARTED: self._on_started, _PROGRESSED: self._on_progress, _PUBLISHED: self._on_published,
                    _ENDED: self._on_ended}
        while not self._closed:
            try:
                kind, job_id, *details = self._reports.get_nowait()
            except queue.Empty:
                break
            entry = self._entries.get(job_id)
            if kind == _ENDED:
                details = details[:2]  # the job's function (details[2]) is let go here, on the GUI thread
            if entry is not None:
                handlers[kind](entry.job, *details)
        if not self._entries or self._closed:
            self._delivery.stop()

    def _on_started(self, job: Job) -> None:
        if not self._closed and job.id in self._entries:
            self.started.emit(job)

    def _on_progress(self, job: Job, done: int, total: int, message: str) -> None:
        if self._closed or job.cancelled or job.id not in self._entries:
            return  # a superseded or cancelled job's progress would mislead the progress bar
        scaled = _fit_int32(done, total)
        job.progressed.emit(*scaled, message)
        self.progress.emit(job, *scaled, message)

    def _on_published(self, job: Job, value: object) -> None:
        if not self._closed and not job.cancelled and job.id in self._entries:
            job.partial.emit(value)

    def _on_ended(self, job: Job, outcome: str, value: object) -> None:
        if self._closed:
            return
        entry = self._entries.pop(job.id, None)
        if entry is None:
            return
        # Forget the job before the callbacks run, so that one submitting a follow-up with the same key
        # does not cancel this finished job.
        if self._latest.get(job.key) is job:
            del self._latest[job.key]
        try:
            if job.cancelled:
                logger.debug("%r ended after cancellation (%s); its outcome is dropped", job, outcome)
            elif outcome == _OK:
                job.succeeded.emit(value)
                if entry.on_result is not None:
                    entry.on_result(value)
            elif outcome == _ERROR:
                assert isinstance(value, BaseException)
                job.failed.emit(value)
                if entry.on_error is not None:
                    entry.on_error(value)
                else:
                    self.failed.emit(job, value)
        finally:
            if not job.orphaned:
                job.finished.emit()
            self.finished.emit(job)
            self._set_busy(bool(self._entries))
            job.deleteLater()  # its signals are spent; Python references keep the handle readable
