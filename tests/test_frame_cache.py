"""The shared frame cache: the same request is computed once (also when two jobs ask at the same time), an
equal copy of a sound is another sound, a cancelled computation leaves the work to whoever waits, memory stays
within its budget, and in the window the spectrogram pane and Compare share one computation."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QStandardPaths

from strfviewer.backend.analysis import frame_cache
from strfviewer.backend.analysis.compare import measure_frontend
from strfviewer.backend.analysis.frame_cache import FrameCache
from strfviewer.backend.analysis.frames import compute_frames
from strfviewer.backend.jobs import CancelledError
from strfviewer.backend.synth import vocalization_like

FS = 16000
MEL = {"n_mels": 8, "f_max": 7000.0}


class _Flag:
    def __init__(self) -> None:
        self.cancelled = False

    def is_set(self) -> bool:
        return self.cancelled


@pytest.fixture
def counted(monkeypatch):
    """compute_frames as the cache calls it, counting calls (and optionally slowed down)."""
    calls: list[tuple] = []
    compute = frame_cache.compute_frames
    delay = {"s": 0.0}

    def counting(kind, args, dt_ms, samples, audio_fs, progress=None, cancel=None, span=None):
        calls.append((kind, dict(args), dt_ms, span))
        deadline = time.monotonic() + delay["s"]
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled")
            time.sleep(0.01)
        return compute(kind, args, dt_ms, samples, audio_fs, progress, cancel, span)

    monkeypatch.setattr(frame_cache, "compute_frames", counting)
    return calls, delay


def test_the_same_request_is_computed_once_and_equals_the_uncached_frames(counted):
    calls, _ = counted
    cache = FrameCache()
    samples = vocalization_like(FS, 0.3)
    first = cache.frames("mel", MEL, 5.0, samples, FS)
    again = cache.frames("mel", dict(reversed(list(MEL.items()))), 5.0, samples, FS)  # key order is irrelevant
    assert again is first and len(calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first.frames, compute_frames("mel", MEL, 5.0, samples, FS).frames)
    assert first.seconds > 0


@pytest.mark.parametrize("change", ["args", "dt_ms", "span", "copy of the sound", "kind"])
def test_any_difference_in_the_request_is_another_computation(counted, change):
    calls, _ = counted
    cache = FrameCache()
    samples = vocalization_like(FS, 0.3)
    request = {"kind": "mel", "args": MEL, "dt_ms": 5.0, "samples": samples, "audio_fs": FS}
    cache.frames(**request)
    other = dict(request)
    if change == "args":
        other["args"] = {**MEL, "n_mels": 6}
    elif change == "dt_ms":
        other["dt_ms"] = 10.0
    elif change == "span":
        other["span"] = (0.0, 0.2)
    elif change == "copy of the sound":
        other["samples"] = samples.copy()  # equal values, but another sound as far as the cache knows
    else:
        other["kind"], other["args"] = "gammatone", {"n_filters": 8, "f_max": 7000.0}
    result = cache.frames(**other)
    assert len(calls) == 2 and cache.misses == 2 and cache.hits == 0
    expected = compute_frames(other["kind"], other["args"], other["dt_ms"], other["samples"], FS,
                              span=other.get("span"))
    np.testing.assert_array_equal(result.frames, expected.frames)


def _in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["result"] = target(*args, **kwargs)
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_two_jobs_asking_at_once_share_one_computation(counted):
    calls, delay = counted
    delay["s"] = 0.3
    cache = FrameCache()
    samples = vocalization_like(FS, 0.3)
    threads = [_in_thread(cache.frames, "mel", MEL, 5.0, samples, FS) for _ in range(3)]
    for thread, _ in threads:
        thread.join(30)
    results = [out["result"] for _, out in threads]
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_a_cancelled_computation_leaves_the_work_to_the_job_that_waits(counted):
    calls, delay = counted
    delay["s"] = 0.5
    cache = FrameCache()
    samples = vocalization_like(FS, 0.3)
    first_flag = _Flag()
    first, first_out = _in_thread(cache.frames, "mel", MEL, 5.0, samples, FS, cancel=first_flag)
    time.sleep(0.1)
    second, second_out = _in_thread(cache.frames, "mel", MEL, 5.0, samples, FS)
    time.sleep(0.1)
    first_flag.cancelled = True
    first.join(30)
    second.join(30)
    assert isinstance(first_out["error"], CancelledError)
    assert len(calls) == 2  # the waiting job computed the frames itself
    np.testing.assert_array_equal(second_out["result"].frames, compute_frames("mel", MEL, 5.0, samples, FS).frames)
    assert cache.frames("mel", MEL, 5.0, samples, FS) is second_out["result"]


def test_a_job_waiting_for_another_stops_when_it_is_cancelled(counted):
    _, delay = counted
    delay["s"] = 2.0
    cache = FrameCache()
    samples = vocalization_like(FS, 0.3)
    first_flag, waiting_flag = _Flag(), _Flag()
    first, _ = _in_thread(cache.frames, "mel", MEL, 5.0, samples, FS, cancel=first_flag)
    time.sleep(0.1)
    waiting, waiting_out = _in_thread(cache.frames, "mel", MEL, 5.0, samples, FS, cancel=waiting_flag)
    time.sleep(0.1)
    waiting_flag.cancelled = True
    waiting.join(1.0)
    assert not waiting.is_alive() and isinstance(waiting_out["error"], CancelledError)
    first_flag.cancelled = True
    first.join(30)


def test_the_least_recently_used_frames_go_when_the_budget_is_exceeded(counted):
    calls, _ = counted
    samples = vocalization_like(FS, 0.3)
    probe = compute_frames("mel", MEL, 5.0, samples, FS)
    one = probe.frames.nbytes
    cache = FrameCache(max_bytes=samples.nbytes + 2 * one + one // 2)  # the sound once and two frame arrays
    for n_mels in (8, 7):
        cache.frames("mel", {**MEL, "n_mels": n_mels}, 5.0, samples, FS)
    cache.frames("mel", MEL, 5.0, samples, FS)  # 8 mels: now the most recently used
    cache.frames("mel", {**MEL, "n_mels": 6}, 5.0, samples, FS)  # 7 mels, the least recent, goes
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.nbytes == samples.nbytes + probe.frames.nbytes + probe.frames.nbytes * 6 // 8  # the sound once
    count = len(calls)
    cache.frames("mel", MEL, 5.0, samples, FS)
    assert len(calls) == count  # kept
    cache.frames("mel", {**MEL, "n_mels": 7}, 5.0, samples, FS)
    assert len(calls) == count + 1  # evicted, so computed again


def test_a_measurement_on_cached_frames_reports_the_time_they_took(counted):
    calls, _ = counted
    cache = FrameCache()
    samples = vocalization_like(FS, 0.3)
    window = cache.frames("mel", MEL, 5.0, samples, FS)
    measured = measure_frontend("mel", MEL, 5.0, samples, FS, cache=cache)
    assert len(calls) == 1 and measured.window is window
    assert measured.seconds == window.seconds
    assert measured.rtf == pytest.approx(0.3 / window.seconds)


def test_the_pane_and_compare_compute_a_front_end_once(qtbot, counted):
    from strfviewer.gui.app import create_application
    from strfviewer.gui.jobrunner import JobRunner
    from strfviewer.gui.settings import settings
    from strfviewer.gui.state import AudioDocument, SessionState
    from strfviewer.gui.views.compare import CompareView
    from strfviewer.gui.views.spectrogram import SpectrogramPane

    calls, _ = counted
    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()
    state, runner = SessionState(), JobRunner()
    try:
        state.set_audio(AudioDocument(None, vocalization_like(FS, 0.5), FS))
        slot = state.add_frontend("mel", MEL)
        pane = SpectrogramPane(state, runner, slot.id)
        qtbot.addWidget(pane)  # it computes its frames as it is built (one job: a second would replace it)
        qtbot.waitUntil(lambda: pane.frames is not None and not runner.activeJobs(), timeout=30000)
        compare = CompareView(state, runner)
        qtbot.addWidget(compare)
        compare.show()
        qtbot.waitUntil(lambda: compare.built and slot.id in compare.rows
                        and compare.rows[slot.id].result is not None, timeout=60000)
        assert len(calls) == 1 and state.frame_cache.hits >= 1
        assert compare.rows[slot.id].result.window.frames is pane.frames
    finally:
        runner.shutdown(10000)
