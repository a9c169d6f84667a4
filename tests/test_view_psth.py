"""The PSTH view on real widgets: a simulated response set driven by a known Linear model, and NS1 if present.

The scores the view shows are checked against the backend's metrics computed here independently, the neuron
table, keys and population scatter against the state they must write, and models that do not fit the response
set against the reason they must show.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt

from strfviewer.backend import metrics
from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.jobs import check_cancel
from strfviewer.backend.models import Linear
from strfviewer.gui.app import create_application
from strfviewer.gui.jobrunner import JobRunner
from strfviewer.gui.state import SessionState
from strfviewer.gui.views import psth as psth_module
from strfviewer.gui.views.psth import PsthView

FS, DT = 16000, 5.0
N_STIMULI, N_NEURONS, N_REPEATS, N_BINS = 4, 5, 4, 60  # 0.3 s stimuli
HOP = int(FS * DT / 1000)
TEST_SPLIT = [2, 3]
NS1 = Path(__file__).resolve().parents[2] / "shared" / "ns1"  # the shared data folder beside the checkout


def _mel(dt_ms: float = DT):
    return make_wav2spec("mel", audio_fs=FS, dt_ms=dt_ms, n_mels=10, f_min=200.0, f_max=7000.0)


def _random_linear(seed: int, dt_ms: float = DT) -> Linear:
    torch.manual_seed(seed)
    model = Linear(10, 4, N_NEURONS, wav2spec=_mel(dt_ms))
    with torch.no_grad():
        model.readout.strf.kernel.weight.normal_(0.0, 0.3)
    return model.eval()


def _predict(model: torch.nn.Module, rs, stimulus: int) -> np.ndarray:
    """Rates (N, T) of one stimulus, computed here without the view or the fitting code."""
    wave = rs.load_stimulus_audio(stimulus, FS).waveform.reshape(1, 1, -1)
    with torch.no_grad():
        return model(wave)[0, :, 0].numpy()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A response set whose neurons are Poisson draws from a known Linear model's rates, and three models:
    that model, another valid one, and one with 10 ms bins."""
    root = tmp_path_factory.mktemp("psth")
    truth = _random_linear(1)
    rng = np.random.default_rng(0)
    sounds, drives = [], []
    for _ in range(N_STIMULI):
        envelope = np.repeat(rng.uniform(0.05, 1.0, size=N_BINS // 4), 4 * HOP)
        sound = (0.1 * rng.normal(size=N_BINS * HOP) * envelope).astype(np.float32)
        with torch.no_grad():
            drives.append(truth(torch.from_numpy(sound).reshape(1, 1, -1))[0, :, 0].numpy())
        sounds.append(sound)
    drive = np.stack(drives)  # (S, N, T)
    drive = (drive - drive.mean(axis=(0, 2), keepdims=True)) / drive.std(axis=(0, 2), keepdims=True)
    rates = 3.0 * np.log1p(np.exp(1.5 * drive))
    counts = rng.poisson(np.repeat(rates[:, :, None], N_REPEATS, axis=2)).transpose(1, 0, 2, 3)  # (N, S, R, T)
    responses = save_response_set(
        root / "set", name="simulated", dt_ms=DT,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS, "label": "noise"} for i, a in enumerate(sounds)],
        neurons=[{"id": f"n{i}"} for i in range(N_NEURONS)], counts=counts.astype(np.float32),
        splits={"train": [0], "val": [1], "test": TEST_SPLIT},
    )
    return {
        "responses": responses,
        "truth": save_model(truth, root / "truth-linear"),
        "other": save_model(_random_linear(2), root / "other-linear"),
        "coarse": save_model(_random_linear(3, dt_ms=10.0), root / "linear-10ms"),
    }


@pytest.fixture
def view(qtbot):
    create_application()
    state, runner = SessionState(), JobRunner()
    widget = PsthView(state, runner)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    runner.shutdown(5000)


def _open(qtbot, view: PsthView, responses: Path, *models: Path, timeout: int = 30000):
    rs = load_response_set(responses)
    view.state.set_responses(rs)
    loaded = [load_model(m) for m in models]
    for m in loaded:
        view.state.add_model(m)
    qtbot.waitUntil(lambda: view._stats is not None and len(view.results()) == len(loaded)
                    and not view.progress.isVisible(), timeout=timeout)
    return rs, loaded


def _model_line(view: PsthView, name: str) -> str:
    lines = [text for text in view.legend_texts() if text.startswith(name)]
    assert len(lines) == 1, view.legend_texts()
    return lines[0]


def _legend_value(line: str, metric: str) -> float:
    parts = dict(part.strip().split(" ", 1) for part in line.split("·")[1:])
    return float(parts[metric])


def test_legend_scores_are_the_backend_metrics_of_the_same_predictions(view, qtbot, files):
    rs, (loaded,) = _open(qtbot, view, files["responses"], files["truth"])
    assert view.stimulus() == TEST_SPLIT[0]  # the first test stimulus by default
    assert view.state.selected_neuron == 0
    predictions = np.stack([_predict(loaded.model, rs, s) for s in TEST_SPLIT])[:, :, None]  # (S, N, 1, T)
    responses = metrics.smooth_hann5(rs.responses(TEST_SPLIT), axis=-1)
    expected = {"cc": metrics.cc(predictions, responses), "cc_norm": metrics.cc_norm(predictions, responses),
                "cc_max": metrics.cc_max(responses)}
    assert expected["cc_norm"][0] > 0.3  # the simulated neurons follow the model: the score means something
    line = _model_line(view, "truth-linear")
    shown = view.shown_metrics()["truth-linear"]
    for name, values in expected.items():
        assert _legend_value(line, name) == pytest.approx(values[0], abs=5e-4)
        assert shown[name] == pytest.approx(values[0], rel=1e-5)
    # The curves are the model's rate and the recorded mean of the shown stimulus and neuron.
    _, drawn = view.curves["truth-linear"].getData()
    np.testing.assert_allclose(drawn, _predict(loaded.model, rs, TEST_SPLIT[0])[0], rtol=1e-5, atol=1e-5)
    _, mean = view.curves["recorded"].getData()
    smoothed = metrics.smooth_hann5(rs.responses([TEST_SPLIT[0]], [0]), axis=-1)
    np.testing.assert_allclose(mean, metrics.psth(smoothed)[0, 0, 0], rtol=1e-6)
    # Without smoothing the recorded mean is the plain PSTH.
    view.smooth_box.setChecked(False)
    np.testing.assert_allclose(view.curves["recorded"].getData()[1], rs.psth(0, TEST_SPLIT[0]), rtol=1e-6)
    # The raster shows the binned counts (this set stores no spike times).
    assert view.raster_mode == "counts"
    np.testing.assert_array_equal(view.raster_image.image, rs.counts[0, TEST_SPLIT[0]])


def test_bracket_keys_step_through_the_neurons_and_redraw(view, qtbot, files):
    rs, (loaded,) = _open(qtbot, view, files["responses"], files["truth"])
    before = _model_line(view, "truth-linear")
    view.activateWindow()
    view.table.setFocus()
    qtbot.keyClick(view.table, "]")
    assert view.state.selected_neuron == 1
    assert view.table.currentRow() == 1 and "n1" in view.title.text()
    stimulus = view.stimulus()
    np.testing.assert_allclose(view.curves["truth-linear"].getData()[1], _predict(loaded.model, rs, stimulus)[1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(view.raster_image.image, rs.counts[1, stimulus])
    after = _model_line(view, "truth-linear")
    assert after != before
    assert _legend_value(after, "cc_norm") == pytest.approx(view.shown_metrics()["truth-linear"]["cc_norm"], abs=5e-4)
    qtbot.keyClick(view.table, "]")
    qtbot.keyClick(view.table, "[")
    assert view.state.selected_neuron == 1
    qtbot.keyClick(view.table, "[")
    qtbot.keyClick(view.table, "[")  # stays on the first row
    assert view.state.selected_neuron == 0


def test_sorting_by_cc_max_orders_the_rows_and_row_selection_sets_the_neuron(view, qtbot, files):
    _open(qtbot, view, files["responses"], files["truth"])
    table = view.table
    assert [table.header_text(c) for c in range(table.columnCount())] == \
        ["neuron", "cc_max", "truth-\nlinear"]  # a model's column is headed by its name; cc_norm is said beside
    assert table.header_tooltip(2) == "cc_norm of truth-linear over the test split"
    assert "each model's cc_norm" in view.table_caption.text()
    header = table.horizontalHeader()
    click = QPoint(header.sectionViewportPosition(1) + header.sectionSize(1) // 2, header.height() // 2)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=click)
    values = [table.cell(row, 1).key for row in range(table.rowCount())]
    expected = np.sort(view._stats.cc_max)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values, expected)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=click)
    values = [table.cell(row, 1).key for row in range(table.rowCount())]
    np.testing.assert_allclose(values, expected[::-1])
    # Each row's cc_max belongs to the neuron in its first column.
    for row in range(table.rowCount()):
        neuron = table.cell(row, 0).neuron
        assert table.cell(row, 1).key == view._stats.cc_max[neuron]
        assert table.cell(row, 0).text == f"n{neuron}"
    # Clicking a row selects its neuron; ] then moves down the sorted order.
    table.selectRow(3)
    third = table.cell(3, 0).neuron
    assert view.state.selected_neuron == third
    view.step_neuron(1)
    assert view.state.selected_neuron == table.cell(4, 0).neuron


def test_clicking_a_population_point_selects_its_neuron(view, qtbot, files):
    _open(qtbot, view, files["responses"], files["truth"])
    result = view.valid_results()[0]
    assert view.population_box.currentText() == "truth-linear"
    points = view.scatter.points()
    assert sorted(int(p.data()) for p in points) == list(range(N_NEURONS))
    for p in points:
        assert p.pos().x() == pytest.approx(view._stats.cc_max[int(p.data())])
        assert p.pos().y() == pytest.approx(result.cc_norm[int(p.data())])
    heights = view.histogram.opts["height"]
    assert int(np.sum(heights)) == N_NEURONS
    target = next(p for p in points if int(p.data()) == 3)
    plot = view.scatter_plot
    scene_pos = plot.getViewBox().mapViewToScene(QPointF(target.pos()))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene_pos))
    if view.state.selected_neuron != 3:  # the offscreen platform may not deliver scene clicks: use the handler
        view._points_clicked(view.scatter, [target])
    assert view.state.selected_neuron == 3
    assert view.table.currentRow() == 3
    x, y = view.scatter_highlight.getData()
    assert (x[0], y[0]) == pytest.approx((view._stats.cc_max[3], result.cc_norm[3]))
    assert view.histogram_line.value() == pytest.approx(result.cc_norm[3])


def test_a_model_with_other_bins_is_listed_with_its_reason(view, qtbot, files):
    _open(qtbot, view, files["responses"], files["coarse"], files["truth"])
    assert view.mismatch_label.isVisibleTo(view)
    text = view.mismatch_label.text()
    assert "linear-10ms" in text and "10 ms" in text and "5 ms" in text and "\n" not in text
    assert [r.name for r in view.valid_results()] == ["truth-linear"]
    assert view.table.columnCount() == 3
    assert [t for t in view.legend_texts() if t.startswith("linear-10ms")] == []
    assert view.population_box.count() == 1
    assert "Could not" not in view.status.text()


def test_export_writes_the_figure_and_the_shown_data(view, qtbot, files, tmp_path):
    _open(qtbot, view, files["responses"], files["truth"], files["other"])
    for suffix in (".png", ".svg"):
        path = view.export_button.export(tmp_path / f"psth{suffix}")
        assert path.stat().st_size > 1000
    path = view.export_button.export(tmp_path / "psth.csv")
    lines = path.read_text().splitlines()
    assert lines[1] == "# time_s,recorded_mean,recorded_sem,pred_truth_linear,pred_other_linear"
    table = np.loadtxt(path, delimiter=",", comments="#")
    assert table.shape == (N_BINS, 5)
    np.testing.assert_allclose(table[:, 0], (np.arange(N_BINS) + 0.5) * DT / 1000, rtol=1e-6)
    np.testing.assert_allclose(table[:, 1], view.curves["recorded"].getData()[1], rtol=1e-6)
    np.testing.assert_allclose(table[:, 4], view.curves["other-linear"].getData()[1], rtol=1e-6, atol=1e-7)


def test_stimulus_and_population_model_are_remembered(view, qtbot, files, tmp_path):
    _open(qtbot, view, files["responses"], files["truth"], files["other"])
    assert view.population_box.currentText() == "other-linear"  # default: the latest model
    view.stimulus_box.setCurrentIndex(1)  # the user's choice goes to the state, which every view follows
    assert view.state.selected_stimulus == 1 and view.stimulus() == 1
    view.population_box.setCurrentIndex(view.population_box.findText("truth-linear"))
    assert view.curves["recorded"].getData()[1].shape == (N_BINS,)
    assert view.psth_plot.getViewBox().viewRange()[0] == pytest.approx([0.0, N_BINS * DT / 1000])
    fresh = SessionState()  # a new window opening the same set remembers both choices
    fresh.set_responses(view.state.responses)
    for model in view.state.models:
        fresh.add_model(model)
    again = PsthView(fresh, view.runner)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: len(again.results()) == 2 and not again.progress.isVisible(), timeout=30000)
    assert again.stimulus() == 1
    assert again.population_box.currentText() == "truth-linear"


def test_the_stimulus_that_is_the_open_sound_uses_the_shared_time_axis(view, qtbot, files):
    from strfviewer.gui.state import AudioDocument

    rs, _ = _open(qtbot, view, files["responses"], files["truth"])
    assert view.psth_plot is view.plain_plot
    audio = rs.load_stimulus_audio(TEST_SPLIT[0], FS)
    view.state.set_audio(AudioDocument(rs.stimuli[TEST_SPLIT[0]].file, audio.waveform.numpy(), FS))
    assert view.psth_plot is view.linked_plot
    view.state.set_neuron(1)  # a redraw keeps the shared cursor line
    assert view.linked_plot.cursor in view.linked_plot.getPlotItem().items
    view.state.set_view_range(0.1, 0.2)
    assert view.raster_plot.getViewBox().viewRange()[0] == pytest.approx([0.1, 0.2], abs=1e-3)
    assert any(t.startswith("truth-linear") for t in view.legend_texts())
    view.state.set_stimulus(0)
    assert view.psth_plot is view.plain_plot
    assert view.stimulus_box.currentIndex() == 0  # the box follows the state


def test_spike_times_are_drawn_when_the_set_stores_them(view, qtbot, files, tmp_path):
    import shutil

    folder = shutil.copytree(files["responses"], tmp_path / "with-spikes")
    rs = load_response_set(folder)
    rng = np.random.default_rng(5)
    tick_ms = 0.05
    trials, ptr = [], [0]
    for n in range(N_NEURONS):
        for s in range(N_STIMULI):
            for r in range(N_REPEATS):
                bins = np.repeat(np.arange(N_BINS), rs.counts[n, s, r].astype(int))
                ticks = np.sort(((bins + rng.uniform(0, 0.99, bins.size)) * DT / tick_ms).astype(np.int32))
                trials.append(ticks)
                ptr.append(ptr[-1] + ticks.size)
    np.savez(folder / "spike_times.npz", spike_ticks=np.concatenate(trials), trial_ptr=np.array(ptr),
             tick_ms=np.float64(tick_ms), shape=np.array([N_NEURONS, N_STIMULI, N_REPEATS]))
    _open(qtbot, view, folder)
    assert view.raster_mode == "spikes"
    x, y = view.raster_ticks.getData()
    s = view.stimulus()
    assert x.size == 2 * rs.counts[0, s].sum()
    first_repeat = x[(y > 0) & (y < 1)][::2]
    np.testing.assert_array_equal(np.histogram(first_repeat, np.arange(N_BINS + 1) * DT / 1000)[0],
                                  rs.counts[0, s, 0])


def test_cancel_stops_the_job_and_predict_computes_again(view, qtbot, files, monkeypatch):
    real = psth_module.compute_predictions
    started, release = threading.Event(), threading.Event()

    def slow(rs, models, with_stats, progress=None, cancel=None):
        started.set()
        while not release.is_set():
            check_cancel(cancel)
            progress(0, 1, "waiting")
            release.wait(0.01)
        return real(rs, models, with_stats, progress, cancel)

    monkeypatch.setattr(psth_module, "compute_predictions", slow)
    view.state.set_responses(load_response_set(files["responses"]))
    view.state.add_model(load_model(files["truth"]))
    assert started.wait(5)
    qtbot.waitUntil(lambda: view.cancel_button.isVisible(), timeout=5000)
    view.cancel_button.click()
    qtbot.waitUntil(lambda: "cancelled" in view.status.text(), timeout=5000)
    assert view.results() == [] and not view.progress.isVisible()
    release.set()
    view.predict_button.click()
    qtbot.waitUntil(lambda: len(view.results()) == 1 and not view.progress.isVisible(), timeout=30000)
    assert view.valid_results()[0].name == "truth-linear"


def test_without_responses_the_view_says_what_to_open(view):
    assert "Open a response set" in view.status.text()
    assert view.export_data() is None and view.table.rowCount() == 0
    view.step_neuron(1)  # nothing to step through: no error
    assert view.state.selected_neuron == 0


@pytest.mark.skipif(not (NS1 / "dataset.json").is_file(), reason=f"the NS1 recordings are not at {NS1}")
def test_ns1_scores_match_the_backend_fit(view, qtbot, tmp_path):
    from strfviewer.backend.fitting import FitConfig, fit

    rs = load_response_set(NS1)
    neurons = [0, 1, 2]
    config = FitConfig(frontend="mel", frontend_kwargs={"n_mels": 16, "f_min": 200.0, "f_max": 7000.0},
                       audio_fs=FS, temporal_window_size=3, neurons=neurons, train=[0, 1], val=[14],
                       n_bins=200, max_epochs=2, patience=2, lr=1e-2)
    result = fit(rs, config, out=tmp_path / "ns1-linear")
    view.state.set_responses(rs)
    view.state.add_model(load_model(result.folder))
    qtbot.waitUntil(lambda: len(view.results()) == 1 and not view.progress.isVisible(), timeout=90000)
    (shown,) = view.valid_results()
    assert shown.score_bins == 200 and shown.smooth
    for name in ("cc", "cc_norm", "cc_max"):
        expected = np.array(result.test_metrics[name], dtype=float)
        np.testing.assert_allclose(shown.__getattribute__(name)[neurons], expected, rtol=1e-4, atol=1e-5)
        assert np.isnan(np.delete(shown.__getattribute__(name), neurons)).all()
    view.state.set_neuron(2)
    line = _model_line(view, "ns1-linear")
    assert _legend_value(line, "cc_norm") == pytest.approx(result.test_metrics["cc_norm"][2], abs=5e-4)
    assert view.stimulus() == rs.split("test")[0]
    # NS1 stores exact spike times: the raster draws them, one tick per counted spike.
    assert view.raster_mode == "spikes"
    x, _ = view.raster_ticks.getData()
    assert x.size == 2 * int(rs.counts[2, view.stimulus()].sum())


def test_the_table_marks_predictions_the_shift_test_does_not_find_and_unreliable_cc_norm(view, qtbot, files):
    rs, _ = _open(qtbot, view, files["responses"], files["truth"], files["other"])
    by_name = {r.name: r for r in view.results()}
    split = view._stats.split
    for column, name in ((2, "truth-linear"), (3, "other-linear")):
        result = by_name[name]
        pred = metrics.stack_stimuli([result.predictions[s][None, :, None, :] for s in split])
        resp = metrics.smooth_hann5(rs.responses(split), axis=-1)
        expected = metrics.shift_p_values(pred, resp, n_shifts=result.significance_shifts)
        np.testing.assert_allclose(result.p_value, expected)
        for row in range(view.table.rowCount()):
            neuron = view.table.cell(row, 0).neuron
            cell = view.table.cell(row, column)
            significant = expected[neuron] < metrics.SIGNIFICANCE_LEVEL
            assert cell.text.endswith(" n.s.") != significant
            assert f"p = {expected[neuron]:.3g} against 1000 circular shifts" in cell.tooltip
            low = view._stats.cc_max[neuron] < metrics.MIN_CC_MAX
            assert cell.italic == low
            caution = view.table.cell(row, 1).foreground
            assert (caution is not None and caution.name() == "#b9770e") == low
    # The model that made the spikes is found for every neuron.
    assert np.all(by_name["truth-linear"].p_value < metrics.SIGNIFICANCE_LEVEL)
    assert "not significant against circular shifts" in view.table_caption.text()


def test_a_neuron_whose_repeats_barely_agree_is_flagged_in_both_its_cells(qtbot):
    from types import SimpleNamespace

    from strfviewer.gui.views.neurontable import NeuronTableModel

    result = SimpleNamespace(name="m", cc_norm=np.array([1.2, 0.5]), p_value=np.array([0.001, 0.001]),
                             significance_shifts=200)
    model = NeuronTableModel()
    model.set_table(["low", "fine"], np.zeros(2, dtype=bool), np.array([0.21, 0.8]), [result], str, "test")
    cell = model.cell(model.row_of(0), 2)
    assert cell.text == "1.200" and cell.italic
    assert "cc_max below 0.3" in cell.tooltip and "p = 0.001 against 200 circular shifts" in cell.tooltip
    low, fine = model.cell(model.row_of(0), 1), model.cell(model.row_of(1), 1)
    assert low.foreground.name() == "#b9770e" and "below 0.3" in low.tooltip
    assert fine.tooltip == "" and fine.text == "0.800" and fine.foreground is None
    assert not model.cell(model.row_of(1), 2).italic


def test_sorting_puts_missing_scores_last_in_both_orders_and_keeps_the_selection(qtbot):
    from PySide6.QtCore import QItemSelectionModel

    from strfviewer.gui.views.neurontable import NeuronTable

    table = NeuronTable()
    qtbot.addWidget(table)
    cc_max = np.array([0.5, np.nan, 0.9, 0.1, 0.5])
    table.neuron_model.set_table([f"n{i}" for i in range(5)], np.zeros(5, dtype=bool), cc_max, [], str, "test")
    table.selectionModel().select(table.neuron_model.index(table.neuron_model.row_of(2), 0),
                                  QItemSelectionModel.SelectionFlag.ClearAndSelect
                                  | QItemSelectionModel.SelectionFlag.Rows)
    table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert [table.cell(r, 0).neuron for r in range(5)] == [3, 0, 4, 2, 1]  # ties in neuron order, NaN last
    assert table.selected_rows() == {3}  # still neuron 2
    table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert [table.cell(r, 0).neuron for r in range(5)] == [2, 0, 4, 3, 1]
    assert table.selected_rows() == {0}
    assert table.cell(4, 1).text == "–"


def test_a_repeat_that_was_not_recorded_is_a_grey_band_not_an_empty_row(view, qtbot, files, tmp_path):
    import shutil

    folder = shutil.copytree(files["responses"], tmp_path / "gap")
    with np.load(folder / "responses.npz") as archive:
        counts = archive["counts"].astype(np.float32)
    counts[0, :, 2] = np.nan  # neuron 0 was not recording during every stimulus's third repeat
    np.savez(folder / "responses.npz", counts=counts)
    _open(qtbot, view, folder)
    assert view.missing_repeats == [2]
    image = view.raster_missing.image
    assert image is not None and image[:, 0].tolist() == [0, 0, 1, 0]
    rect = view.raster_missing.mapRectToParent(view.raster_missing.boundingRect())
    assert (rect.top(), rect.height()) == (0.0, N_REPEATS)  # the band is row 3 of the rows the ticks label
    assert "repeats 3 not recorded" in view.raster_plot.toolTip()
    assert not view.plain_plot.getAxis("left").autoSIPrefix  # spikes per bin read as they are
    view.state.set_neuron(1)
    qtbot.waitUntil(lambda: view.neuron() == 1, timeout=5000)
    assert view.missing_repeats == [] and view.raster_missing.image is None
