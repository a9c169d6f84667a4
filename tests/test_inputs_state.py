"""A new front-end pane starts with the frequency range of the data and says why; a session restores exactly
what it saved; the command line's front-ends follow the sound and response set it opens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from strfviewer.backend.data import save_response_set
from strfviewer.backend.data.responses import NeuronInfo
from strfviewer.backend.session import load_session
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import open_inputs
from strfviewer.gui.state import AudioDocument, FrontendSlot, SessionState

FS = 16000


class _Responses:
    hearing_range_hz = (125.0, 40000.0)
    neurons = (NeuronInfo("a", meta={"cf_hz": 200.0}), NeuronInfo("b", meta={"cf_hz": 4000.0}))


def test_a_pane_added_without_arguments_follows_the_response_set_and_says_why(qtbot):
    state = SessionState()
    state.set_responses(_Responses())
    slot = state.add_frontend("mel")
    assert slot.args == {"f_min": 125.0}
    assert slot.note == "lowest frequency 125 Hz: from the response set's hearing range 125–40,000 Hz"
    restored = state.add_frontend("mel", {})  # explicit arguments (a session): kept as they are
    assert restored.args == {} and restored.note == ""
    assert state.add_frontend("icnet").note == ""


def test_without_a_response_set_the_pane_follows_the_sounds_band(qtbot):
    state = SessionState()
    state.set_audio(AudioDocument(None, np.zeros(FS, dtype=np.float32), FS))
    slot = state.add_frontend("gammatone")
    assert slot.args["f_min"] == 50.0 and slot.args["kernel_ms"] > 20.0
    assert slot.note.startswith("lowest frequency 50 Hz: the sound's band")
    assert FrontendSlot("mel", {}, 5.0).note == ""  # positional construction is unchanged


@pytest.fixture
def sound(tmp_path) -> Path:
    path = tmp_path / "call.wav"
    soundfile.write(path, vocalization_like(FS, 0.5), FS)
    return path


def test_a_saved_session_restores_the_arguments_and_older_sessions_still_load(make_window, qtbot, sound, tmp_path):
    window = make_window()
    window.controller.open_audio(sound)
    qtbot.waitUntil(lambda: window.state.audio is not None, timeout=10000)
    slot = window.state.add_frontend("mel")
    assert slot.note and slot.args == {"f_min": 50.0}
    path = tmp_path / "s.strfsession.json"
    window.controller.save_session(path)
    document = json.loads(path.read_text())
    assert document["frontends"] == [{"kind": "mel", "args": {"f_min": 50.0}}]  # the note is not saved

    older = dict(document, frontends=[{"kind": "mel", "args": {}}, {"kind": "gammatone"}])  # as before notes
    path.write_text(json.dumps(older))
    assert [e.args for e in load_session(path).frontends] == [{}, {}]
    again = make_window()
    again.controller.open_session(path)
    assert [(s.kind, s.args, s.note) for s in again.state.frontends] == [("mel", {}, ""), ("gammatone", {}, "")]


def test_the_command_lines_front_ends_follow_the_response_set_it_opens(make_window, qtbot, sound, tmp_path):
    """open_inputs adds the front-ends before the sound and the response set have loaded; once they have, the
    panes take the response set's range (a pane the user edited meanwhile keeps the user's arguments)."""
    root = save_response_set(
        tmp_path / "set", name="set", dt_ms=5.0,
        stimuli=[{"id": "s0", "audio": vocalization_like(FS, 0.3), "sample_rate_hz": FS}],
        neurons=[{"id": "n0", "cf_hz": 300.0}], counts=np.ones((1, 1, 2, 60), dtype=np.int16),
        extra={"hearing_range_hz": [80.0, 7000.0]},
    )
    window = make_window()
    open_inputs(window, audio=[sound], frontends=["mel", "gammatone", "sincnet"], dataset=root)
    mel, gammatone, sincnet = window.state.frontends
    window.state.set_frontend_args(sincnet.id, {"n_filters": 8})  # the user's choice, before the data arrive
    qtbot.waitUntil(lambda: window.state.responses is not None and window.state.audio is not None, timeout=20000)
    assert mel.args == {"f_min": 80.0, "f_max": 7000.0} and "hearing range 80–7,000 Hz" in mel.note
    assert gammatone.args["f_min"] == 80.0 and gammatone.args["f_max"] == 7000.0
    assert sincnet.args == {"n_filters": 8}


def test_editing_the_frequency_range_drops_the_note_that_explained_it(qapp):
    from strfviewer.gui.state import SessionState

    state = SessionState()
    slot = state.add_frontend("mel")
    assert slot.note
    state.set_frontend_args(slot.id, {**slot.args, "compression": "cubic"})
    assert slot.note  # the range is still the suggested one
    state.set_frontend_args(slot.id, {**slot.args, "f_min": 300.0})
    assert slot.note == ""
    state.set_frontend_args(slot.id, {**slot.args, "f_min": 60.0}, note="chosen for a reason")
    assert slot.note == "chosen for a reason"
