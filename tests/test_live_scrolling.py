"""The pieces behind the live panes, without a microphone: the scrolling frame buffer keeps the newest frames in
order, the inbox hands the worker everything waiting at once (and only its own stream's), the timeline maps
the views' samples back to the device's arrival times, and a rescan shows a newly plugged input."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.live import capture
from strfviewer.backend.live.timeline import InputTimeline
from strfviewer.gui.live import ScrollingFrames, _Inbox


def test_scrolling_frames_keep_the_newest_frames_in_order_at_any_block_size():
    rng = np.random.default_rng(0)
    stream = np.arange(3 * 1000, dtype=np.float32).reshape(3, 1000)
    scroll = ScrollingFrames(3, capacity=50, first=7)
    position = 7
    while position < 1000:
        n = int(rng.integers(1, 80))  # blocks shorter and longer than the capacity
        assert scroll.write(position, stream[:, position:position + n])
        position = min(1000, position + n)
        view = scroll.view
        assert scroll.end == position and view.shape[1] >= min(50, position - 7) and view.shape[1] <= 100
        np.testing.assert_array_equal(view, stream[:, scroll.first:scroll.end])


def test_scrolling_frames_drop_frames_that_do_not_follow_on_or_have_another_channel_count():
    scroll = ScrollingFrames(2, capacity=10)
    assert scroll.write(0, np.ones((2, 4), np.float32))
    assert not scroll.write(5, np.ones((2, 4), np.float32))  # a gap
    assert not scroll.write(4, np.ones((3, 4), np.float32))  # another front-end's frames
    assert scroll.end == 4 and scroll.view.shape == (2, 4)


def test_the_inbox_hands_over_everything_waiting_at_once_and_wakes_the_worker_once():
    inbox = _Inbox()
    assert inbox.put(1, np.zeros(3, np.float32))
    assert not inbox.put(1, np.ones(2, np.float32))  # already woken: no second wake queued
    assert inbox.put(2, np.full(4, 2, np.float32)) is False  # a newer stream's samples wait for it
    np.testing.assert_array_equal(inbox.take(1), [0, 0, 0, 1, 1])
    assert inbox.take(1) is None
    np.testing.assert_array_equal(inbox.take(2), [2, 2, 2, 2])
    assert inbox.put(3, np.zeros(1, np.float32))  # after a take, the next sample wakes the worker again


class _Clock:
    rate = 44100

    def __init__(self) -> None:
        self.asked: list[int] = []

    def arrival_time(self, sample: int) -> float:
        self.asked.append(sample)
        return sample / self.rate


def test_the_timeline_maps_a_view_sample_to_the_device_sample_it_stands_for():
    clock = _Clock()
    timeline = InputTimeline(clock, 16000, delay_s=16 / 44100)
    assert timeline.captured_at(16000) == pytest.approx(1.0 - 16 / 44100, abs=1 / 44100)
    assert clock.asked[-1] == 44100 - 16
    assert timeline.captured_at(0) == 0.0  # before the delay: the first sample


def test_arrival_times_come_from_the_callback_that_delivered_each_block():
    mic = capture.MicrophoneCapture(None, 1000, block_s=0.01)
    mic.arrivals.extend([(10, 5.0), (20, 5.01), (30, 5.02)])
    assert mic.arrival_time(9) == pytest.approx(5.0)  # the last sample of the first block
    assert mic.arrival_time(0) == pytest.approx(5.0 - 9 / 1000)
    assert mic.arrival_time(25) == pytest.approx(5.02 - 4 / 1000)
    assert mic.arrival_time(30) is None  # not arrived yet


def test_a_rescan_shows_an_input_plugged_in_while_the_app_runs(make_window, qtbot, monkeypatch):
    plugged = capture.InputDevice(7, "USB microphone", "ALSA", 1, 48000.0, True)
    monkeypatch.setattr(capture, "input_devices", lambda strict=False, rescan=False: [])
    monkeypatch.setattr(capture, "live_input_unavailable", lambda: "no audio input device is connected")
    window = make_window()
    bar = window.microphone
    bar.refresh_devices()
    assert not bar.record_button.isEnabled()
    monkeypatch.setattr(capture, "input_devices", lambda strict=False, rescan=False: [plugged] if rescan else [])
    bar._rescan.setInterval(50)
    qtbot.waitUntil(lambda: bar.device_box.count() == 1, timeout=5000)
    assert bar.device_box.currentText() == plugged.label and bar.record_button.isEnabled()
    monkeypatch.setattr(capture, "input_devices", lambda strict=False, rescan=False: [])
    qtbot.waitUntil(lambda: bar.device_box.count() == 0, timeout=5000)
    assert not bar.record_button.isEnabled() and bar.record_button.toolTip() == "no audio input device is connected"


def test_the_time_axis_follows_the_live_input_and_returns_to_the_sound_when_it_stops(qtbot):
    from strfviewer.gui.state import AudioDocument, SessionState

    state = SessionState()
    state.set_audio(AudioDocument(None, np.zeros(16000 * 3, np.float32), 16000))
    state.set_live_window(4.0)
    state.start_live_input(timeline=None, rate=16000)
    assert state.view_range == (0.0, 4.0)  # the window fills from the left first
    state.advance_live_input(25.0)
    assert state.view_range == (21.0, 25.0)  # beyond the open sound's 3 s: the input's seconds
    state.stop_live_input()
    assert state.live_input_s is None and state.view_range == (0.0, 3.0)
