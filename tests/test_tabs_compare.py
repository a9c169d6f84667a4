"""The compare tab read as a user reads it (issue 13, item 11): strips tall enough to see channels in (scrolling
when there are many), a colour bar per strip in the front-end's unit, and a cc_norm column that says what it is."""

from __future__ import annotations

import pytest
from test_compare import FS, GAMMATONE, MEL, fake_model
from test_view_compare import _column, _view, _wait_measured, session  # noqa: F401

from strfviewer.backend.frontends import make_wav2spec
from strfviewer.gui.views.common import value_unit
from strfviewer.gui.views.compare import CC_NORM_HEADER, COLUMNS, ZSCORE_UNIT

MIN_IMAGE_PX = 120


def _full_config(kind: str, args: dict) -> dict:
    return {k: v for k, v in make_wav2spec(kind, audio_fs=FS, dt_ms=5.0, **args).config.items()
            if k not in ("audio_fs", "hop_ms")}


def test_strips_stay_readable_and_scroll_when_there_are_many(session, qtbot):  # noqa: F811
    state, runner = session
    for n in range(6):
        state.add_frontend("mel", {**MEL, "n_mels": 10 + n})
    view = _view(qtbot, state, runner)  # 900 x 700: six strips do not fit
    _wait_measured(qtbot, view)
    qtbot.wait(50)
    for row in view.rows.values():
        assert row.plot.getViewBox().height() >= MIN_IMAGE_PX
    scroll = view.images_area.parentWidget().parentWidget()
    assert scroll.verticalScrollBar().isVisible() and scroll.verticalScrollBar().maximum() > 0
    # The table is as tall as its rows: the images get the rest of the view.
    rows = view.table.rowCount() * view.table.verticalHeader().defaultSectionSize()
    assert view.table.height() <= rows + 80


def test_each_strip_has_a_colour_bar_in_its_front_ends_unit(session, qtbot):  # noqa: F811
    state, runner = session
    mel = state.add_frontend("mel", MEL)
    pcen = state.add_frontend("gammatone", {**GAMMATONE, "compression": "pcen"})
    view = _view(qtbot, state, runner)
    _wait_measured(qtbot, view)
    for slot in (mel, pcen):
        row = view.rows[slot.id]
        assert row.colorbar.scene() is row.plot.scene()
        assert row.colorbar.getAxis("left").labelText == row.result.window.unit
        assert tuple(row.colorbar.levels()) == pytest.approx(tuple(row.image.getLevels()))
        assert tuple(row.colorbar.levels()) == pytest.approx(view.image_levels()[slot.id])
    assert view.rows[pcen.id].result.window.unit == value_unit("gammatone", {**GAMMATONE, "compression": "pcen"})
    view.shared_scale.setChecked(True)
    for slot in (mel, pcen):
        row = view.rows[slot.id]
        assert row.colorbar.getAxis("left").labelText == ZSCORE_UNIT
        assert tuple(row.colorbar.levels()) == pytest.approx(view.image_levels()[slot.id])
    # The strips' plot areas line up: same left edge, same width.
    boxes = [view.rows[s.id].plot.getViewBox().sceneBoundingRect() for s in (mel, pcen)]
    assert boxes[0].left() == pytest.approx(boxes[1].left()) and boxes[0].width() == pytest.approx(boxes[1].width())


def test_the_cc_norm_column_says_it_is_a_median_over_n_neurons(session, qtbot):  # noqa: F811
    state, runner = session
    state.add_frontend("mel", MEL)
    state.add_frontend("gammatone", GAMMATONE)
    view = _view(qtbot, state, runner)
    column = COLUMNS.index("test cc_norm")
    assert view.table.horizontalHeaderItem(column).text() == CC_NORM_HEADER
    state.add_model(fake_model("mel-model", "mel", _full_config("mel", MEL), [0.1, 0.5, float("nan"), 0.7]))
    assert _column(view, "test cc_norm") == ["0.500", "-"]
    assert view.table.horizontalHeaderItem(column).text() == "median test cc_norm (3 neurons)"
    assert "when it was fitted" in view.table.item(0, column).toolTip()
    state.add_model(fake_model("gt-model", "gammatone", _full_config("gammatone", GAMMATONE), [0.2, 0.4]))
    assert _column(view, "test cc_norm") == ["0.500", "0.300"]
    assert view.table.horizontalHeaderItem(column).text() == CC_NORM_HEADER  # 3 and 2 neurons: said per row
    assert "its 2 neurons" in view.table.item(1, column).toolTip()
