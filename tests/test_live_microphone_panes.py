"""The panes follow the microphone live: through the virtual microphone (started by .ci/run), a played sound's
live frames and predicted rates equal the offline ones of the recording, across a stalled GUI, with the
latency measured; the panes scroll and keep the live window's seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from strfviewer.backend.analysis.frames import compute_frames
from strfviewer.backend.live import capture
from strfviewer.backend.synth import vocalization_like

SINK = os.environ.get("STRFVIEWER_VIRTUAL_SINK")
needs_microphone = pytest.mark.skipif(
    not SINK or shutil.which("paplay") is None or capture.live_input_unavailable() is not None,
    reason="no virtual microphone: start one with scripts/virtual_mic.sh (as .ci/run does) to run this test",
)
MODEL_FS = 16000  # the device runs at 44.1 kHz: the live resampler converts


def _model(tmp_path: Path) -> Path:
    from strfviewer.backend.checkpoints import save_model
    from strfviewer.backend.frontends import make_wav2spec
    from strfviewer.backend.models import LinearNonlinear

    frontend = make_wav2spec("gammatone", audio_fs=MODEL_FS, dt_ms=5.0, compression="pcen", n_filters=10,
                             f_max=7000.0)
    return save_model(LinearNonlinear(10, 5, 4, wav2spec=frontend).eval(), tmp_path / "ln-model")


def _play(tmp_path: Path, seconds: float, gain: float = 0.5) -> subprocess.Popen:
    played = tmp_path / "call.wav"
    sound = vocalization_like(48000, seconds, seed=5)
    soundfile.write(played, gain * sound / np.abs(sound).max(), 48000, subtype="FLOAT")
    return subprocess.Popen(["paplay", "-d", SINK, str(played)])


@needs_microphone
def test_live_panes_equal_the_offline_frames_of_what_the_microphone_captured(make_window, qtbot, tmp_path):
    window = make_window()
    window.controller.open_model(_model(tmp_path))
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=20000)
    window.state.add_frontend("mel")
    bar, state = window.microphone, window.state
    bar.folder = tmp_path
    qtbot.waitUntil(lambda: bar.available, timeout=5000)
    bar.record_button.click()
    assert bar.capture is not None and bar.resampler.source_rate == bar.capture.rate
    assert state.live_input_s is not None
    player = _play(tmp_path, 1.0, gain=1.5)  # beyond full scale: the float path lets it through
    qtbot.wait(300)
    time.sleep(0.6)  # the GUI thread stalls: capture goes on in PortAudio's thread
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=10000)
    qtbot.wait(400)
    bar._timer.stop()  # hold the recording where it is while the panes catch up with it
    recorded = bar.recording.samples()
    panes = {slot.id: window.panes[slot.id] for slot in state.frontends}
    rates_pane = window.rates_pane

    def caught_up() -> bool:
        wanted = recorded.shape[0]
        return all(p._live is not None and p._live.end * p.hop >= wanted - p.hop for p in panes.values()) and \
            rates_pane._live is not None and rates_pane._live.end * rates_pane.hop >= wanted - rates_pane.hop

    qtbot.waitUntil(caught_up, timeout=20000)
    assert bar.capture.ring.dropped == 0 and bar.capture.ring.overflows == 0
    assert bar.recording.seconds > 1.0 and np.abs(recorded).max() > 0.05  # the played sound came through
    for slot in state.frontends:
        pane = panes[slot.id]
        live, first = pane.frames.copy(), pane.first_frame
        expected = compute_frames(slot.kind, dict(slot.args), slot.dt_ms, recorded, MODEL_FS).frames
        end = min(first + live.shape[1], expected.shape[1] - 1)  # the offline last frame is zero-padded
        np.testing.assert_allclose(live[:, : end - first], expected[:, first:end], rtol=0,
                                   atol=1e-5 * np.abs(expected).max())
    from strfviewer.backend.analysis.frames import frames_for_span

    rates = frames_for_span(state.model.model, recorded, MODEL_FS, None).frames
    live, first = rates_pane.rates.copy(), rates_pane.first_frame
    end = min(first + live.shape[1], rates.shape[1] - 1)
    np.testing.assert_allclose(live[:, : end - first], rates[:, first:end], rtol=0, atol=1e-5 * np.abs(rates).max())
    qtbot.waitUntil(lambda: bool(bar.latencies), timeout=5000)
    assert all(0 < seconds < 5 for _, seconds in bar.latencies)
    bar._timer.start()
    bar.record_button.click()
    qtbot.waitUntil(lambda: state.audio is not None and state.audio.path is not None, timeout=10000)
    assert state.live_input_s is None and state.audio.audio_fs == MODEL_FS
    saved = state.audio.samples[: recorded.shape[0]]  # clipped to full scale before the panes saw it, as saved
    assert np.abs(recorded).max() == 1.0 and np.abs(saved - recorded).max() < 2e-7  # 24-bit FLAC


@needs_microphone
def test_the_panes_scroll_with_the_microphone_keeping_the_live_window(make_window, qtbot, tmp_path):
    window = make_window()
    window.state.add_frontend("mel")
    window.live_window_box.setValue(2)
    bar, state = window.microphone, window.state
    bar.folder = tmp_path
    qtbot.waitUntil(lambda: bar.available, timeout=5000)
    bar.record_button.click()
    player = _play(tmp_path, 3.0)
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=15000)
    qtbot.wait(300)
    seconds = state.live_input_s
    assert seconds > 2.5
    start, stop = state.view_range
    assert stop == pytest.approx(seconds, abs=0.05) and stop - start == pytest.approx(2.0, abs=1e-6)
    pane = window.panes[state.frontends[0].id]
    shown = pane.frames.shape[1] * pane.hop / pane.audio_fs
    assert 2.0 <= shown <= 4.0 + 0.05  # the window's seconds and at most as many again, not all of it
    assert pane.first_frame * pane.hop / pane.audio_fs <= start  # the view is covered
    assert pane.status.text() == "live"
    qtbot.wait(150)  # the overview redraws its trace at most ten times a second
    traced_t, traced = window.overview.curve.getData()
    assert traced_t[-1] == pytest.approx(seconds, abs=0.2) and traced.max() > 0.05  # the recording, not the sound
    bar.record_button.click()
    qtbot.waitUntil(lambda: state.audio is not None and state.audio.path is not None, timeout=10000)
    assert state.view_range == (0.0, state.audio.duration_s)
