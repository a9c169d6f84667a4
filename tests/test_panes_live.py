"""Live mode draws the open sound: a new stream after a sound switch or a changed front-end, a resumed one after
pause, and nothing of a stream that no longer matches (late frames are dropped, never an error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from strfviewer.backend.analysis.frames import compute_frames
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.live import LiveEngine, write_frames

FS = 16000


@pytest.fixture
def window(make_window):
    return make_window()


def _sounds(tmp_path: Path) -> list[Path]:
    paths = []
    for index in range(2):
        paths.append(tmp_path / f"sound{index}.wav")
        soundfile.write(paths[-1], vocalization_like(FS, 0.8, seed=index + 3), FS)
    return paths


def _open(win, qtbot, path: Path) -> None:
    win.controller.open_audio(path)
    qtbot.waitUntil(lambda: win.state.audio is not None and win.state.audio.path == path, timeout=10000)


def _offline(win, slot) -> np.ndarray:
    return compute_frames(slot.kind, dict(slot.args), 5.0, win.state.audio.samples, FS).frames


def _play_into_the_sound_and_pause(win, qtbot, seconds: float = 0.15) -> None:
    """Play until the live panes have frames past ``seconds``, then pause (Space)."""
    win.player.toggle()
    qtbot.waitUntil(lambda: win.state.cursor_s > seconds and all(
        p.status.text() == "live" and p._live is not None and p._live.end > 0 for p in win.panes.values()),
        timeout=10000)
    win.player.toggle()
    assert win.player.state() == "paused"


def _play_to_the_end(win, qtbot) -> None:
    with qtbot.waitSignal(win.player.finished, timeout=10000):
        win.player.toggle()
    for pane in win.panes.values():
        qtbot.waitUntil(lambda p=pane: p.status.text() == "live" and (p._live is None or p._live.complete),
                        timeout=10000)


def _assert_offline(win, slot) -> None:
    pane, expected = win.panes[slot.id], _offline(win, slot)
    assert pane.frames.shape == expected.shape
    np.testing.assert_allclose(pane.frames, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def _model(tmp_path: Path) -> Path:
    from strfviewer.backend.checkpoints import save_model
    from strfviewer.backend.frontends import make_wav2spec
    from strfviewer.backend.models import LinearNonlinear

    frontend = make_wav2spec("gammatone", audio_fs=FS, dt_ms=5.0, compression="pcen", n_filters=10, f_max=7000.0)
    return save_model(LinearNonlinear(10, 5, 4, wav2spec=frontend).eval(), tmp_path / "ln-model")


def test_live_after_a_sound_switch_draws_the_new_sound_in_every_pane(window, qtbot, tmp_path):
    """Demo → L → Space … Space → Ctrl+Down → Space: the panes restart live on the new sound."""
    from strfviewer.backend.streaming import run_in_chunks

    first, second = _sounds(tmp_path)
    window.state.audio_files = [first, second]
    _open(window, qtbot, first)
    slots = [window.state.add_frontend("mel", {"f_max": 7000.0}),
             window.state.add_frontend("gammatone", {"compression": "pcen", "f_max": 7000.0})]
    window.controller.open_model(_model(tmp_path))
    qtbot.waitUntil(lambda: window.rates_pane is not None and window.rates_pane.rates is not None, timeout=20000)
    window.live_box.setChecked(True)
    _play_into_the_sound_and_pause(window, qtbot)
    window.step_sound(1)
    qtbot.waitUntil(lambda: window.state.audio.path == second, timeout=10000)
    _play_to_the_end(window, qtbot)
    for slot in slots:
        _assert_offline(window, slot)
    rates = window.rates_pane
    qtbot.waitUntil(lambda: (rates._live is None or rates._live.complete), timeout=10000)
    expected = run_in_chunks(window.state.model.model, window.state.audio.samples)
    np.testing.assert_allclose(rates.rates, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert window.reporter.last is None


def test_resuming_after_pause_continues_with_the_offline_frames(window, qtbot, tmp_path):
    _open(window, qtbot, _sounds(tmp_path)[0])
    slot = window.state.add_frontend("gammatone", {"compression": "pcen", "f_max": 7000.0})
    window.live_box.setChecked(True)
    _play_into_the_sound_and_pause(window, qtbot)
    generation = window.live.generation
    _play_to_the_end(window, qtbot)
    assert window.live.generation == generation  # the same stream went on
    _assert_offline(window, slot)


def test_a_changed_channel_count_restarts_live_without_an_error(window, qtbot, tmp_path):
    """Live mode has run once; n_mels 34 → 40 while paused, then play: 40-channel frames, no error."""
    _open(window, qtbot, _sounds(tmp_path)[0])
    slot = window.state.add_frontend("mel", {"f_max": 7000.0})
    pane = window.panes[slot.id]
    window.live_box.setChecked(True)
    _play_to_the_end(window, qtbot)
    _assert_offline(window, slot)
    _play_into_the_sound_and_pause(window, qtbot)
    pane.params_button.click()
    pane.form.editor("n_mels").setValue(40)
    pane.form.apply_now()
    assert window.state.slot(slot.id).args["n_mels"] == 40
    qtbot.waitUntil(lambda: pane.frames.shape[0] == 40, timeout=20000)
    _play_to_the_end(window, qtbot)
    _assert_offline(window, slot)
    assert window.reporter.last is None


def test_unticking_live_mid_sound_leaves_no_blank_frames(window, qtbot, tmp_path):
    _open(window, qtbot, _sounds(tmp_path)[0])
    slot = window.state.add_frontend("mel", {"f_max": 7000.0})
    pane = window.panes[slot.id]
    qtbot.waitUntil(lambda: pane.frames is not None and np.isfinite(pane.frames).all(), timeout=20000)
    window.live_box.setChecked(True)
    _play_into_the_sound_and_pause(window, qtbot)
    assert not np.isfinite(pane.frames).all()  # live frames stop at the pause
    computed = window.state.frame_cache.misses
    window.live_box.setChecked(False)
    assert not window.live.running
    qtbot.waitUntil(lambda: pane.status.text() == "" and np.isfinite(pane.frames).all(), timeout=20000)
    _assert_offline(window, slot)
    assert window.state.frame_cache.misses == computed  # the offline frames from before live mode, not again


def test_live_frames_reach_the_panes_through_the_session_state(window, qtbot, tmp_path):
    from strfviewer.gui.state import LiveStream

    _open(window, qtbot, _sounds(tmp_path)[0])
    slot = window.state.add_frontend("mel", {"n_mels": 8, "f_max": 7000.0})
    pane = window.panes[slot.id]
    qtbot.waitUntil(lambda: pane.frames is not None, timeout=20000)
    arrived: list[int] = []
    window.state.liveFramesArrived.connect(lambda stream_id, first, frames: arrived.append(stream_id))
    window.live_box.setChecked(True)
    _play_to_the_end(window, qtbot)
    assert slot.id in arrived
    # Whatever feeds the state (a file's stream now, a microphone later) is what the pane draws.
    window.live_box.setChecked(False)
    window.state.start_live_stream(slot.id, LiveStream(4, 80, FS, 8))
    assert pane.frames.shape == (8, 4) and not np.isfinite(pane.frames).any()
    frames = np.arange(16, dtype=np.float32).reshape(8, 2)
    window.state.add_live_frames(slot.id, 1, frames)
    window.state.add_live_frames(slot.id + 1000, 0, np.ones((8, 4), np.float32))  # another stream: not this pane
    np.testing.assert_array_equal(pane.frames[:, 1:3], frames)
    assert not np.isfinite(pane.frames[:, [0, 3]]).any()


def test_a_stopped_stream_delivers_nothing(qtbot):
    engine = LiveEngine()
    try:
        prepared, frames = [], []
        engine.prepared.connect(lambda *args: prepared.append(args))
        engine.frames.connect(lambda *args: frames.append(args))
        samples = vocalization_like(FS, 0.3)
        engine.start(samples, FS, [(1, "mel", {"f_max": 7000.0}, 5.0)])
        engine.advance(0.3, FS)
        engine.stop()  # before the worker's answers reach the GUI thread: all of them are stale
        engine.start(samples, FS, [(2, "mel", {"f_max": 7000.0, "n_mels": 12}, 5.0)])
        engine.finish(samples.shape[0])
        qtbot.waitUntil(lambda: sum(f[2].shape[1] for f in frames) >= 60, timeout=10000)
        assert [p[0] for p in prepared] == [2]
        assert {f[0] for f in frames} == {2} and {f[2].shape[0] for f in frames} == {12}
    finally:
        assert engine.shutdown()


def test_frames_of_another_channel_count_are_dropped():
    buffer = np.zeros((40, 10), dtype=np.float32)
    assert write_frames(buffer, 2, np.ones((34, 4), dtype=np.float32)) == 0
    assert not buffer.any()
    assert write_frames(buffer, 8, np.ones((40, 4), dtype=np.float32)) == 10
    assert buffer[:, 8:].all() and not buffer[:, :8].any()


def test_a_long_sound_plays_live_from_the_cursor_with_the_offline_frames(window, qtbot, tmp_path):
    """Longer than a minute: live mode streams from the cursor (warmed up on what comes before), the panes
    scroll with playback and hold the live window's seconds, and their frames are the offline ones."""
    from strfviewer.backend.windows import compute_window

    path = tmp_path / "long.wav"
    rng = np.random.default_rng(4)
    soundfile.write(path, (0.1 * rng.standard_normal(FS * 65)).astype(np.float32), FS)
    _open(window, qtbot, path)
    slot = window.state.add_frontend("gammatone", {"compression": "pcen", "n_filters": 16})
    pane = window.panes[slot.id]
    window.live_window_box.setValue(3)
    window.state.set_cursor(40.0)
    window.live_box.setChecked(True)
    window.player.toggle()
    qtbot.waitUntil(lambda: window.state.cursor_s > 40.5 and pane._live is not None and pane._live.seconds > 0.4,
                    timeout=10000)
    window.player.toggle()
    hop = pane.hop
    assert pane._live.start == 40 * FS // hop and pane.status.text() == "live"
    start, stop = window.state.view_range
    assert stop == pytest.approx(window.state.cursor_s, abs=0.1) and stop - start == pytest.approx(3.0)
    qtbot.waitUntil(lambda: pane._live.end * hop >= window.player.position() * FS - hop, timeout=10000)
    from strfviewer.backend.frontends import make_wav2spec

    frontend = make_wav2spec(slot.kind, audio_fs=FS, dt_ms=slot.dt_ms, **slot.args)
    first, live = pane.first_frame, pane.frames.copy()
    expected = compute_window(frontend, window.state.audio.samples, first, first + live.shape[1]).frames
    np.testing.assert_allclose(live, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
