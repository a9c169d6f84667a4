"""Playback: the silent wall-clock player and the device fallbacks.

Timing assertions are deliberately loose: CI machines stall, so only the order of magnitude is checked.
"""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.gui.playback import (
    NullPlayer,
    Player,
    QtAudioPlayer,
    _import_multimedia,
    _resample_linear,
    make_player,
)

FS = 16000


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * FS)) / FS
    return (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.fixture
def player(qtbot) -> NullPlayer:
    p = NullPlayer()
    p.set_audio(_tone(1.0), FS)
    yield p
    p.stop()


def test_null_player_advances_in_wall_clock_time(qtbot, player):
    positions: list[float] = []
    player.positionChanged.connect(positions.append)
    assert player.duration() == pytest.approx(1.0)
    with qtbot.waitSignal(player.stateChanged, timeout=1000) as blocker:
        player.play()
    assert blocker.args == ["playing"] and player.state() == "playing"
    qtbot.wait(200)
    assert 0.05 < player.position() < 0.6
    assert len(positions) >= 2, "positionChanged should tick while playing"
    assert positions == sorted(positions) and all(0.0 <= p <= 1.0 for p in positions)


def test_pause_freezes_and_seek_while_paused(qtbot, player):
    player.play()
    qtbot.wait(100)
    player.pause()
    assert player.state() == "paused"
    frozen = player.position()
    assert frozen > 0.0
    qtbot.wait(150)
    assert player.position() == frozen
    with qtbot.waitSignal(player.positionChanged, timeout=1000) as blocker:
        player.seek(0.7)
    assert blocker.args == [pytest.approx(0.7)]
    assert player.position() == pytest.approx(0.7) and player.state() == "paused"
    player.seek(5.0)
    assert player.position() == pytest.approx(1.0)
    player.seek(-1.0)
    assert player.position() == 0.0


def test_seek_while_playing_continues_from_there(qtbot, player):
    player.play()
    qtbot.wait(300)
    player.seek(0.1)  # the clock restarts at the new position: it does not keep the 300 ms already played
    qtbot.wait(50)
    assert player.state() == "playing"
    assert 0.1 < player.position() < 0.35


def test_toggle_and_stop(qtbot, player):
    player.toggle()
    assert player.state() == "playing"
    qtbot.wait(50)
    player.toggle()
    assert player.state() == "paused"
    player.toggle()
    assert player.state() == "playing"
    player.stop()
    assert player.state() == "stopped" and player.position() == 0.0


def test_finished_at_the_end_of_a_short_clip(qtbot):
    p = NullPlayer()
    p.set_audio(_tone(0.15), FS)
    states: list[str] = []
    p.stateChanged.connect(states.append)
    at_finish: list[float] = []
    p.finished.connect(lambda: at_finish.append(p.position()))
    with qtbot.waitSignal(p.finished, timeout=3000):
        p.play()
    assert at_finish == [pytest.approx(0.15)], "finished is emitted while the position is at the end"
    assert p.state() == "stopped" and states == ["playing", "stopped"]
    assert p.position() == 0.0, "after finished the position returns to 0"


def test_set_audio_stops_and_rewinds(qtbot, player):
    player.play()
    qtbot.wait(50)
    player.set_audio(_tone(0.5), FS)
    assert player.state() == "stopped" and player.position() == 0.0 and player.duration() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        player.set_audio(np.zeros((2, 10), dtype=np.float32), FS)


def test_play_without_audio_does_nothing(qtbot):
    p = NullPlayer()
    with qtbot.assertNotEmitted(p.stateChanged), qtbot.assertNotEmitted(p.positionChanged, wait=100):
        p.play()
    assert p.state() == "stopped" and p.position() == 0.0 and p.duration() == 0.0
    assert not p.is_available()


def test_make_player_falls_back_without_a_device(qtbot):
    p = make_player()
    assert isinstance(p, Player)
    assert isinstance(p, NullPlayer) or p.is_available()
    assert isinstance(make_player(prefer_null=True), NullPlayer)


def test_qt_audio_player_reports_an_unopenable_device(qtbot):
    qtm = _import_multimedia()
    if qtm is None:
        pytest.skip("QtMultimedia cannot be imported here")
    p = QtAudioPlayer(device=qtm.QAudioDevice())  # a null device never opens
    assert not p.is_available()
    p.set_audio(_tone(0.5), FS)
    p.seek(0.2)
    with qtbot.waitSignal(p.error, timeout=2000) as blocker:
        p.play()
    message = blocker.args[0]
    assert isinstance(message, str) and message and "\n" not in message
    assert p.state() == "stopped"
    assert p.position() == pytest.approx(0.2)


def test_resample_linear_keeps_duration_and_values():
    x = np.linspace(-1, 1, 16000, dtype=np.float32)
    y = _resample_linear(x, 16000, 48000)
    assert y.dtype == np.float32 and y.size == 48000
    assert y[0] == pytest.approx(-1.0) and np.all(np.diff(y) >= 0)
    assert _resample_linear(x, 16000, 16000) is x
