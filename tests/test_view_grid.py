"""The Compare tab opens a fit grid's folder: its matrices show each entry's mean test cc_norm in its colour,
failed entries say so, the plot shows every neuron, and double-clicking an entry opens that model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from grid_cases import grid_folder_without_dask, two_data_sets
from strfviewer.backend.grid import read_grid

FRONTENDS = ('mel = { kind = "mel", args = { n_mels = 8, f_min = 200.0, f_max = 7000.0 } }\n'
             'mel4 = { kind = "mel", args = { n_mels = 4, f_min = 200.0, f_max = 7000.0 } }\n'
             'bad = { kind = "mel", args = { n_mels = -3 } }\n')


@pytest.fixture(scope="module")
def grid_folder(tmp_path_factory) -> Path:
    root = two_data_sets(tmp_path_factory.mktemp("view-grid"))
    (root / "grid.toml").write_text(
        'name = "view test"\nmethods = ["ridge"]\nseeds = [0, 1]\n[datasets]\na = "a"\nb = "b"\n'
        f'[frontends]\n{FRONTENDS}[recipes]\nr = {{ audio_fs = 16000, temporal_window_size = 6, '
        'significance_shifts = 0 }\n')
    return grid_folder_without_dask(root / "grid.toml", root / "out")


def _open(window, qtbot, folder: Path):
    window.controller.open_grid(folder)
    qtbot.waitUntil(lambda: window.state.grid is not None, timeout=20000)
    view = window.views["compare"]
    qtbot.waitUntil(lambda: view.pages.currentWidget() is view.grid_panel, timeout=5000)
    return view.grid_panel


def test_a_grid_folder_opens_in_the_compare_tab_as_matrices(make_window, qtbot, grid_folder):
    window = make_window()
    panel = _open(window, qtbot, grid_folder)
    assert window.current_view() == "compare"
    results = read_grid(grid_folder)
    matrix = results.matrices[0]
    assert [panel.matrix_choice.itemText(i) for i in range(panel.matrix_choice.count())] == ["linear · ridge · r"]
    table = panel.table
    assert [table.verticalHeaderItem(r).text() for r in range(table.rowCount())] == ["mel", "mel4", "bad"]
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == ["a", "b"]
    mean = matrix.mean()
    for f in range(2):
        for d in range(2):
            item = table.item(f, d)
            assert item.text() == f"{mean[f, d]:.3f}  (2 seeds)"
            assert 0.3 < mean[f, d] < 1  # the simulated neurons are mel STRFs: the fits explain them
            assert item.background().color() == panel.colour(mean[f, d])
            expected = np.mean([c.mean_cc_norm for c in matrix.cells[f][d]])
            assert mean[f, d] == pytest.approx(expected)
    assert table.item(2, 0).text() == "failed" and "n_mels" in table.item(2, 0).toolTip()
    # Colour follows the score: the higher mean is drawn in a different colour from the lower one.
    assert panel.colour(0.2) != panel.colour(0.9)
    best = np.unravel_index(np.nanargmax(mean), mean.shape)
    assert (table.currentRow(), table.currentColumn()) == tuple(int(i) for i in best)


def test_the_plot_shows_every_neuron_of_the_chosen_data_set(make_window, qtbot, grid_folder):
    import pyqtgraph as pg

    panel = _open(make_window(), qtbot, grid_folder)
    panel.table.setCurrentCell(1, 1)
    matrix = panel.matrix
    scatters = [i for i in panel.plot.getPlotItem().items if isinstance(i, pg.ScatterPlotItem)]
    assert len(scatters) == 2  # mel and mel4 have scores on b; bad has none
    for f, scatter in enumerate(scatters):
        y = scatter.getData()[1]
        np.testing.assert_allclose(np.sort(y), np.sort(matrix.neuron_values(f, 1)))
        assert np.all(np.abs(scatter.getData()[0] - f) < 0.25)  # each front-end in its own column
    ticks = panel.plot.getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == ["mel", "mel4", "bad"]
    labels = [i for i in panel.plot.getPlotItem().items if isinstance(i, pg.TextItem)]
    assert panel.empty_labels == ["failed"] and len(labels) == 1  # bad's column says why it is empty
    assert labels[0].pos().x() == 2 and labels[0].textItem.toPlainText() == "failed"
    assert "b:" in panel.plot.getPlotItem().titleLabel.text
    assert "mel4 on b" in panel.detail.text()


def test_double_clicking_an_entry_opens_its_best_seed(make_window, qtbot, grid_folder):
    window = make_window()
    panel = _open(window, qtbot, grid_folder)
    matrix = panel.matrix
    best = matrix.best(0, 1)
    assert best.mean_cc_norm == max(c.mean_cc_norm for c in matrix.cells[0][1])
    panel.table.cellDoubleClicked.emit(0, 1)
    qtbot.waitUntil(lambda: len(window.state.models) == 1, timeout=20000)
    assert Path(window.state.models[0].path).resolve() == best.model_folder.resolve()
    assert panel.open_entry(2, 0) is None  # every seed failed: nothing to open
    assert math.isnan(matrix.mean()[2, 0])


def test_a_folder_that_is_not_a_grid_is_refused_with_a_message(make_window, qtbot, tmp_path):
    window = make_window()
    window.controller.open_grid(tmp_path)
    qtbot.waitUntil(lambda: window.reporter.last is not None, timeout=10000)
    assert "not a fit-grid folder" in window.reporter.last[0] and window.state.grid is None


def test_render_draws_a_grid(qapp, grid_folder, tmp_path):
    from strfviewer.cli import main

    out = tmp_path / "grid.png"
    assert main(["render", "--grid", str(grid_folder), "--view", "compare", "--out", str(out),
                 "--size", "900x500", "--scale", "1"]) == 0
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 500)
    colours = {image.pixelColor(x, y).name() for x in range(0, 900, 7) for y in range(0, 500, 7)}
    assert len(colours) > 20  # matrix colours, points and text, not a blank page
