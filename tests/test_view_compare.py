"""The comparison view through its real widgets offscreen: one image and one table row per active front-end,
measured causality and speed, the shared (z-scored) colour scale, model matching and export."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QStandardPaths
from test_compare import FS, GAMMATONE, MEL, fake_model

from strfviewer.backend.analysis.causality import frame_jacobian
from strfviewer.backend.analysis.compare import non_default_args
from strfviewer.backend.analysis.frames import compute_frames
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.synth import vocalization_like
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.settings import settings
from strfviewer.gui.state import AudioDocument, SessionState
from strfviewer.gui.views.compare import COLUMNS, CompareView


@pytest.fixture
def session(qtbot):
    QStandardPaths.setTestModeEnabled(True)
    create_application()
    settings().clear()
    state = SessionState()
    runner = JobRunner()
    state.set_audio(AudioDocument(None, vocalization_like(FS, 0.5), FS))
    yield state, runner
    runner.shutdown(10000)


def _view(qtbot, state, runner) -> CompareView:
    view = CompareView(state, runner)
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitUntil(lambda: view.built, timeout=10000)
    return view


def _wait_measured(qtbot, view: CompareView) -> None:
    qtbot.waitUntil(lambda: view.built and bool(view.rows) and all(r.result is not None for r in view.rows.values())
                    and not view._jobs, timeout=60000)


def _column(view: CompareView, name: str) -> list[str]:
    return [row[COLUMNS.index(name)] for row in view.table_text()]


def test_one_image_and_one_row_per_frontend_with_measured_numbers(session, qtbot):
    state, runner = session
    mel = state.add_frontend("mel", MEL)
    gammatone = state.add_frontend("gammatone", GAMMATONE)
    view = _view(qtbot, state, runner)
    _wait_measured(qtbot, view)

    assert set(view.rows) == {mel.id, gammatone.id}
    assert view.table.rowCount() == 2
    assert _column(view, "front-end") == ["mel", "gammatone"]
    assert _column(view, "parameters") == ["n_mels=10, f_max=7000", "n_filters=10, f_max=7000"]
    assert _column(view, "channels") == ["10", "10"]
    assert _column(view, "hop") == ["80 (5 ms)", "80 (5 ms)"]
    assert _column(view, "causality leak") == ["0 (exact)", "0 (exact)"]
    for text in _column(view, "× real time") + _column(view, "compute (s)"):
        assert math.isfinite(float(text)) and float(text) >= 0
    assert all(float(t) > 0 for t in _column(view, "× real time"))
    assert _column(view, "test cc_norm") == ["-", "-"]

    samples = state.audio.samples
    for slot in (mel, gammatone):
        expected = compute_frames(slot.kind, slot.args, 5.0, samples, FS).frames
        np.testing.assert_allclose(view.rows[slot.id].image.image, expected, rtol=0, atol=1e-6)
        # The image spans the sound on the shared time axis, one row per channel.
        rect = view.rows[slot.id].image.mapRectToParent(view.rows[slot.id].image.boundingRect())
        assert rect.width() == pytest.approx(expected.shape[1] * 80 / FS)
        assert rect.height() == pytest.approx(10)
    # The receptive field is the one the causality Jacobian of the first 0.25 s gives.
    jac = frame_jacobian(make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, **MEL), samples[: FS // 4], mode="projection")
    assert _column(view, "receptive field")[0] == f"{jac.receptive_field / FS * 1000:.1f} ms"

    # The plots follow the session's view range.
    state.set_view_range(0.1, 0.3)
    for row in view.rows.values():
        low, high = row.plot.getViewBox().viewRange()[0]
        assert (low, high) == pytest.approx((0.1, 0.3), abs=1e-6)

    state.remove_frontend(gammatone.id)
    assert set(view.rows) == {mel.id} and view.table.rowCount() == 1


def test_a_pcen_frontend_reports_an_unbounded_receptive_field(session, qtbot):
    state, runner = session
    state.add_frontend("gammatone", {**GAMMATONE, "compression": "pcen"})
    view = _view(qtbot, state, runner)
    _wait_measured(qtbot, view)
    assert _column(view, "receptive field") == ["whole past (recursive)"]
    assert _column(view, "causality leak") == ["0 (exact)"]


def test_changing_a_frontend_remeasures_only_that_row(session, qtbot):
    state, runner = session
    mel = state.add_frontend("mel", MEL)
    gammatone = state.add_frontend("gammatone", GAMMATONE)
    view = _view(qtbot, state, runner)
    _wait_measured(qtbot, view)
    kept = view.rows[gammatone.id].result
    state.set_frontend_args(mel.id, {**MEL, "n_mels": 12})
    qtbot.waitUntil(lambda: _column(view, "channels")[0] == "12" and not view._jobs, timeout=60000)
    assert view.rows[mel.id].image.image.shape[0] == 12
    assert view.rows[gammatone.id].result is kept


def test_shared_scale_zscores_and_uses_one_level_range(session, qtbot):
    state, runner = session
    mel = state.add_frontend("mel", MEL)
    gammatone = state.add_frontend("gammatone", {**GAMMATONE, "compression": "pcen"})
    view = _view(qtbot, state, runner)
    _wait_measured(qtbot, view)
    assert not view.shared_scale.isChecked()
    own = [tuple(view.rows[s.id].image.getLevels()) for s in (mel, gammatone)]
    assert not np.allclose(own[0], own[1], atol=1e-3)

    view.shared_scale.setChecked(True)
    shared = [tuple(view.rows[s.id].image.getLevels()) for s in (mel, gammatone)]
    assert np.allclose(shared[0], shared[1])
    for slot in (mel, gammatone):
        shown = view.rows[slot.id].image.image
        assert abs(float(np.mean(shown))) < 1e-3 and float(np.std(shown)) == pytest.approx(1.0, rel=1e-3)
    pooled = np.concatenate([view.rows[s.id].image.image.ravel() for s in (mel, gammatone)])
    assert shared[0] == pytest.approx(tuple(np.percentile(pooled, [1.0, 99.5])), rel=1e-5)
    assert "z-scored" in view.scale_note.text()
    assert settings().value("compare/shared_scale", type=bool) is True

    other = _view(qtbot, state, runner)  # the toggle is remembered
    assert other.shared_scale.isChecked()

    view.shared_scale.setChecked(False)
    again = [tuple(view.rows[s.id].image.getLevels()) for s in (mel, gammatone)]
    np.testing.assert_allclose(again, own)


def test_the_cc_norm_column_shows_the_matching_model(session, qtbot):
    state, runner = session
    mel = state.add_frontend("mel", MEL)
    state.add_frontend("gammatone", GAMMATONE)
    view = _view(qtbot, state, runner)
    full_config = {k: v for k, v in make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, **MEL).config.items()
                   if k not in ("audio_fs", "hop_ms")}
    state.add_model(fake_model("other", "mel", {**full_config, "n_mels": 20}, [0.9, 0.9]))
    assert _column(view, "test cc_norm") == ["-", "-"]
    state.add_model(fake_model("match", "mel", full_config, [0.2, None, 0.4, 0.9]))
    assert _column(view, "test cc_norm") == ["0.400", "-"]
    item = view.table.item(0, COLUMNS.index("test cc_norm"))
    assert "median over its 3 neurons" in item.toolTip() and "match" in item.toolTip()  # None is no score
    header = view.table.horizontalHeaderItem(COLUMNS.index("test cc_norm")).text()
    assert header == "median test cc_norm (3 neurons)"
    assert non_default_args("mel", state.slot(mel.id).args) == MEL


def test_a_frontend_that_cannot_be_built_is_reported_in_the_view(session, qtbot):
    state, runner = session
    state.add_frontend("mel", {"n_mels": 10, "win_ms": 1.0})  # shorter than the 5 ms hop: invalid
    view = _view(qtbot, state, runner)
    qtbot.waitUntil(lambda: not view.message.isHidden(), timeout=30000)
    assert "win_ms" in view.message.text() and "\n" not in view.message.text()
    assert _column(view, "compute (s)") == ["failed"]


def test_export_writes_the_images_and_the_table(session, qtbot, tmp_path):
    state, runner = session
    state.add_frontend("mel", MEL)
    state.add_frontend("gammatone", GAMMATONE)
    view = CompareView(state, runner)
    qtbot.addWidget(view)
    assert view.export_data() is None  # nothing measured yet: nothing to export
    view.show()
    _wait_measured(qtbot, view)
    png = view.export_button.export(tmp_path / "compare.png")
    assert png.stat().st_size > 1000
    csv = view.export_button.export(tmp_path / "compare.csv")
    table = np.loadtxt(csv, delimiter=",", ndmin=2)
    assert table.shape == (2, 7)
    header = [line for line in csv.read_text().splitlines() if line.startswith("#")]
    assert "mel(n_mels=10, f_max=7000)" in header[0]
    names = header[-1].lstrip("# ").split(",")
    assert table[:, names.index("channels")].tolist() == [10, 10]
    assert table[:, names.index("leak")].tolist() == [0.0, 0.0]
    assert np.isnan(table[:, names.index("test_cc_norm")]).all()


def test_a_hidden_view_measures_only_once_shown(session, qtbot):
    state, runner = session
    state.add_frontend("mel", MEL)
    view = CompareView(state, runner)
    qtbot.addWidget(view)
    qtbot.wait(50)
    assert not view._jobs and all(r.result is None for r in view.rows.values())
    view.show()
    _wait_measured(qtbot, view)


def test_closing_the_view_mid_measurement_drops_its_results(session, qtbot):
    state, runner = session
    state.add_frontend("gammatone", {**GAMMATONE, "compression": "pcen"})
    view = CompareView(state, runner)
    view.show()
    qtbot.waitUntil(lambda: view.built, timeout=10000)
    jobs = list(view._jobs.values())
    assert jobs
    view.deleteLater()
    qtbot.waitUntil(lambda: all(job.cancelled for job in jobs), timeout=5000)
    qtbot.waitUntil(lambda: not runner.activeJobs(), timeout=60000)


def test_the_receptive_field_is_measured_on_sound_not_on_leading_silence(session, qtbot):
    state, runner = session
    sound = state.audio.samples
    silence_first = np.concatenate([np.zeros(sound.shape[0], dtype=np.float32), sound])
    state.set_audio(type(state.audio)(None, silence_first, state.audio.audio_fs))
    state.add_frontend("mel", MEL)
    view = _view(qtbot, state, runner)
    _wait_measured(qtbot, view)
    assert _column(view, "receptive field")[0].endswith(" ms")
