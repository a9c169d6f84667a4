"""Long recordings: windowed frames equal (or closely warm up to) the whole-recording frames, panes compute
only about the visible window and reuse it, the overview is decimated, and loading mixes blocks to mono."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from strfviewer.backend.data import load_audio
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import ICNet
from strfviewer.backend.streaming import run_in_chunks
from strfviewer.backend.synth import vocalization_like
from strfviewer.backend.windows import compute_window, warmup_frames
from strfviewer.gui import windowing
from strfviewer.gui.state import AudioDocument

FS = 16000


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    """Eight seconds of calls over a little noise (PCEN sees a loud past before each window)."""
    x = np.concatenate([vocalization_like(FS, 2.0, seed=i) for i in range(4)]).astype(np.float32)
    return x + 0.01 * np.random.default_rng(0).standard_normal(x.shape[0]).astype(np.float32)


FIR = [("mel", {}), ("gammatone", {}), ("sincnet", {}), ("icnet", {})]
RECURSIVE = [("gammatone", {"compression": "pcen"}), ("leaf", {})]


@pytest.mark.parametrize(("kind", "args"), FIR)
def test_fir_window_equals_the_whole_recording(audio, kind, args):
    frontend = make_wav2spec(kind, audio_fs=FS, dt_ms=5.0, **args).eval()
    whole = run_in_chunks(frontend, audio)
    scale = np.abs(whole).max()
    for first, last in [(0, 50), (1000, 1300), (1555, whole.shape[1])]:
        window = compute_window(frontend, audio, first, last)
        assert window.exact and window.warmup_s == 0.0 and window.frames.shape == (whole.shape[0], last - first)
        np.testing.assert_allclose(window.frames, whole[:, first:last], atol=1e-5 * scale)


@pytest.mark.parametrize(("kind", "args"), RECURSIVE)
def test_recursive_window_is_warmed_up_within_the_bound(audio, kind, args):
    frontend = make_wav2spec(kind, audio_fs=FS, dt_ms=5.0, **args).eval()
    whole = run_in_chunks(frontend, audio)
    first, last = 1200, 1500  # 6 s in: the warm-up (under 3 s) starts after the sound's start
    window = compute_window(frontend, audio, first, last)
    assert not window.exact
    assert warmup_frames(frontend) * 0.005 <= window.warmup_s < 5
    reference = whole[:, first:last]
    assert np.abs(window.frames - reference).max() <= 1e-4 * np.abs(reference).max()
    # A warm-up that reaches the start of the sound is exact.
    early = compute_window(frontend, audio, 100, 200)
    assert early.exact
    np.testing.assert_allclose(early.frames, whole[:, 100:200], atol=1e-5 * np.abs(whole).max())


def test_model_window_equals_the_whole_recording(audio):
    model = ICNet(FS, 5).eval()
    whole = run_in_chunks(model, audio)
    window = compute_window(model, audio, 900, 1100)
    assert window.exact
    np.testing.assert_allclose(window.frames, whole[:, 900:1100], atol=1e-5 * np.abs(whole).max())


def test_stereo_file_is_mixed_block_by_block(tmp_path, monkeypatch):
    monkeypatch.setattr("strfviewer.backend.data.audio._READ_BLOCK", 1000)  # many blocks, one partial
    rng = np.random.default_rng(3)
    stereo = rng.uniform(-0.5, 0.5, (10_500, 2)).astype(np.float32)
    soundfile.write(tmp_path / "s.wav", stereo, FS, subtype="FLOAT")
    loaded = load_audio(tmp_path / "s.wav")
    np.testing.assert_array_equal(loaded.waveform.numpy(), stereo.mean(axis=1))
    assert loaded.source_frames == 10_500 and loaded.n_source_channels == 2


# The GUI on a "long" sound: three minutes at 16 kHz with the long-sound threshold lowered to 30 s.


@pytest.fixture
def long_window(make_window, monkeypatch):
    monkeypatch.setattr(windowing, "LONG_SOUND_S", 30.0)
    monkeypatch.setattr(windowing, "DEBOUNCE_MS", 10)
    win = make_window()
    sound = np.tile(vocalization_like(FS, 2.0), 90).astype(np.float32)  # 180 s
    win.controller.set_generated_audio(sound, FS)
    return win


def _submissions(pane, monkeypatch) -> list:
    """Record every job the pane submits (each is one computation of a window)."""
    calls = []
    submit = pane.runner.submit

    def counting(*args, **kwargs):
        calls.append(kwargs.get("key"))
        return submit(*args, **kwargs)

    monkeypatch.setattr(pane.runner, "submit", counting)
    return calls


def _wait_window(qtbot, pane):
    qtbot.waitUntil(lambda: pane.frames is not None and pane.status.text() == "" and pane.window.pending is None,
                    timeout=20000)


def test_a_long_sound_opens_on_a_short_window_and_computes_about_it(long_window, qtbot, monkeypatch):
    win = long_window
    assert win.state.view_range == (0.0, windowing.INITIAL_VIEW_S)
    slot = win.state.add_frontend("mel")
    pane = win.panes[slot.id]
    _wait_window(qtbot, pane)
    # The 10 s view plus a 5 s margin on the right (none before 0): 15 s of 5 ms frames, not 180 s.
    assert pane.first_frame == 0 and pane.frames.shape[1] == 3000
    assert "computed 0.0–15.0 s" in pane.note.text()
    calls = _submissions(pane, monkeypatch)

    win.state.set_view_range(2.0, 6.0)  # zoom in: inside what is computed
    win.state.set_view_range(9.0, 14.0)  # pan within the margin
    qtbot.wait(100)
    assert calls == [] and pane.frames.shape[1] == 3000

    win.state.set_view_range(100.0, 110.0)  # scroll out of it: the new view plus margins
    qtbot.waitUntil(lambda: pane.first_frame == 19000, timeout=20000)
    _wait_window(qtbot, pane)
    assert len(calls) == 1 and pane.frames.shape[1] == 4000
    assert pane.image.mapRectToParent(pane.image.boundingRect()).left() == pytest.approx(95.0)
    header = pane.export_data()[1]
    assert "only the computed window" in header and "frame 19000" in header


def test_a_recursive_front_end_on_a_window_says_it_is_warmed_up(long_window, qtbot):
    win = long_window
    win.state.set_view_range(60.0, 64.0)
    slot = win.state.add_frontend("gammatone", {"compression": "pcen"})
    pane = win.panes[slot.id]
    _wait_window(qtbot, pane)
    assert pane.first_frame == 11600 and "warmed up" in pane.note.text()


def test_a_zoomed_out_view_computes_at_most_the_cap(long_window, qtbot, monkeypatch):
    monkeypatch.setattr(windowing, "MAX_SPAN_S", 40.0)
    win = long_window
    slot = win.state.add_frontend("mel")
    pane = win.panes[slot.id]
    _wait_window(qtbot, pane)
    win.state.set_view_range(0.0, 180.0)
    qtbot.waitUntil(lambda: pane.first_frame == 14000, timeout=20000)  # 70-110 s around the centre
    _wait_window(qtbot, pane)
    assert pane.frames.shape[1] == 8000


def test_the_overview_of_a_long_sound_is_an_envelope(long_window):
    t, y = long_window.overview.curve.getData()
    assert t.size <= 5000 and y.size == t.size
    assert t[-1] > 170.0  # it spans the whole sound


def test_a_short_sound_is_still_computed_whole(long_window, qtbot):
    win = long_window
    win.state.set_audio(AudioDocument(None, vocalization_like(FS, 2.0).astype(np.float32), FS))
    assert win.state.view_range == (0.0, 2.0)
    slot = win.state.add_frontend("mel")
    pane = win.panes[slot.id]
    _wait_window(qtbot, pane)
    assert pane.first_frame == 0 and pane.frames.shape[1] == 400 and pane.note.text() == ""


def test_an_excerpt_is_the_whole_short_sound_or_the_visible_part_of_a_long_one(monkeypatch):
    monkeypatch.setattr(windowing, "LONG_SOUND_S", 30.0)
    short = np.zeros(20 * FS, dtype=np.float32)
    part, note = windowing.excerpt(short, FS, (2.0, 3.0))
    assert part is short and note is None
    long = np.arange(120 * FS, dtype=np.float32)
    part, note = windowing.excerpt(long, FS, (50.0, 60.0))
    assert part[0] == 50 * FS and part.shape[0] == 10 * FS and "50.0–60.0 s" in note
    part, _ = windowing.excerpt(long, FS, (0.0, 120.0))  # zoomed out: at most LONG_SOUND_S seconds
    assert part.shape[0] == 30 * FS


def test_compare_measures_the_visible_part_of_a_long_sound_at_its_time(long_window, qtbot):
    win = long_window
    win.state.add_frontend("mel")
    win.state.set_view_range(100.0, 104.0)
    view = win.show_view("compare")
    qtbot.waitUntil(lambda: bool(view.rows) and all(r.result is not None for r in view.rows.values())
                    and not view._jobs, timeout=60000)
    (row,) = view.rows.values()
    assert row.result.window.frames.shape[1] == 4 * FS // row.result.hop  # 4 s, not 180 s
    assert row.extra["rect"].x() == pytest.approx(100.0)
    assert "visible 100.0–104.0 s" in view.status.text()


def test_the_envelope_of_an_opened_file_is_computed_with_the_load_not_on_the_gui_thread(make_window, qtbot,
                                                                                        tmp_path):
    from strfviewer.gui.controller import load_audio_document

    path = tmp_path / "long.wav"
    soundfile.write(path, np.tile(vocalization_like(FS, 2.0), 40), FS)  # 80 s
    document = load_audio_document(path)
    assert document.overview is not None and document.overview[0].size <= 5000
    win = make_window()
    win.controller.open_audio(path)
    qtbot.waitUntil(lambda: win.state.audio is not None, timeout=20000)
    _, shown_y = win.overview.curve.getData()
    np.testing.assert_array_equal(shown_y, win.state.audio.overview[1])
