"""The PSTH tab as a demo audience sees it (issue 13, item 10): a legend that never covers a trace, every raster
row whole, a histogram line that says what it is, and a neuron table that fits without sideways scrolling."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from test_view_psth import N_REPEATS, _open, files  # noqa: F401  (files: the module's fixture)

from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.state import SessionState
from strfviewer.gui.views.psth import PsthView, header_lines, raster_ticks

DEMO_NAMES = ("linear-mel", "linear-gammatone-pcen", "linear-sincnet", "linear-leaf", "icnet-small")


@pytest.fixture
def view(qtbot):
    create_application()
    state, runner = SessionState(), JobRunner()
    widget = PsthView(state, runner)
    qtbot.addWidget(widget)
    widget.resize(1024, 700)  # about what the PSTH tab gets in the default 1280-px window
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    runner.shutdown(5000)


def _drawn_labels(axis) -> list[tuple[QRectF, str]]:
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _flags, text in texts]


def _five_models(files, tmp_path):  # noqa: F811
    """The known model under the demo's five names: five prediction curves and five table columns."""
    folders = []
    for name in DEMO_NAMES:
        folder = tmp_path / name
        shutil.copytree(files["truth"], folder)
        folders.append(folder)
    return folders


def test_the_legend_lives_under_the_psth_never_over_its_traces(view, qtbot, files, tmp_path):  # noqa: F811
    _open(qtbot, view, files["responses"], *_five_models(files, tmp_path), timeout=60000)
    qtbot.wait(50)
    texts = view.legend_texts()
    assert len(texts) == 1 + len(DEMO_NAMES) and texts[0].startswith("recorded")
    for plot in (view.plain_plot, view.linked_plot):  # not an item of either PSTH plot
        assert view.legend.scene() is not plot.scene()
        assert plot.getPlotItem().legend is None
    stack = view.psth_stack.geometry()
    strip = view.legend_view.geometry()
    assert strip.top() >= stack.bottom() and strip.left() >= stack.left() - 1  # below the plot, in its column
    legend = view.legend.mapRectToScene(view.legend.boundingRect())
    shown = QRectF(view.legend_view.mapToScene(view.legend_view.viewport().rect()).boundingRect())
    assert shown.contains(legend), (shown, legend)  # every line of it readable, none cut off


def test_every_raster_row_is_whole_and_numbered(view, qtbot, files):  # noqa: F811
    _open(qtbot, view, files["responses"], files["truth"])
    qtbot.wait(50)
    low, high = view.raster_plot.getViewBox().viewRange()[1]
    assert low < 0 and high > N_REPEATS  # a margin: the top and bottom rows visibly end inside the plot
    labels = _drawn_labels(view.raster_plot.getAxis("left"))
    assert sorted(int(text) for _rect, text in labels) == list(range(1, N_REPEATS + 1))
    bounds = view.raster_plot.getAxis("left").boundingRect()
    assert all(bounds.contains(rect) for rect, _text in labels)  # the top label is not cut in half
    assert raster_ticks(3) == [(0.5, "1"), (1.5, "2"), (2.5, "3")]
    assert [label for _y, label in raster_ticks(40)] == [str(r) for r in range(1, 41, 4)]


def test_the_histogram_says_what_its_red_line_is(view, qtbot, files):  # noqa: F811
    _open(qtbot, view, files["responses"], files["truth"])
    title = view.histogram_plot.getPlotItem().titleLabel.text
    assert "red line" in title and "selected neuron" in title
    assert view.histogram_line.pen.color().name() in title and view.histogram_line.isVisible()
    assert "median cc_norm" in view.scatter_plot.getPlotItem().titleLabel.text


def test_the_neuron_table_fits_without_sideways_scrolling(view, qtbot, files, tmp_path):  # noqa: F811
    _open(qtbot, view, files["responses"], *_five_models(files, tmp_path), timeout=60000)
    qtbot.wait(50)
    table = view.table
    assert table.columnCount() == 2 + len(DEMO_NAMES)
    assert table.horizontalHeader().length() <= table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()
    header = table.horizontalHeader()
    for column, name in enumerate(DEMO_NAMES, start=2):
        text, tip = table.header_text(column), table.header_tooltip(column)
        assert text.replace("\n", "") == name and name in tip and "cc_norm" in tip
        lines = text.split("\n")
        widest = max(header.fontMetrics().horizontalAdvance(line) for line in lines)
        assert header.sectionSize(column) >= widest  # each line of the name readable in full
    assert header_lines("linear-gammatone-pcen") == "linear-\ngammatone-\npcen"
    assert header_lines("n") == "n"
