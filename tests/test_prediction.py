"""Predicting a response set with a loaded model: the scores are the backend's metrics of the same predictions,
a model that cannot predict the set says why, and the per-cell helpers read one neuron and stimulus right."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from strfviewer.backend import metrics
from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.jobs import CancelledError
from strfviewer.backend.models import Linear
from strfviewer.backend.prediction import (
    ModelMismatchError,
    PredictionRecipe,
    PredictionRun,
    compute_predictions,
    mean_and_sem,
    metric_split,
    model_name,
    model_recipe,
    predict_model,
    response_stats,
    trial_counts,
)

FS, DT = 16000, 5.0
N_STIMULI, N_NEURONS, N_REPEATS, N_BINS = 3, 3, 3, 40
HOP = int(FS * DT / 1000)
TEST_SPLIT = [1, 2]


def _linear(seed: int, n_neurons: int = N_NEURONS, dt_ms: float = DT) -> Linear:
    torch.manual_seed(seed)
    frontend = make_wav2spec("mel", audio_fs=FS, dt_ms=dt_ms, n_mels=8, f_min=200.0, f_max=7000.0)
    model = Linear(8, 3, n_neurons, wav2spec=frontend)
    with torch.no_grad():
        model.readout.strf.kernel.weight.normal_(0.0, 0.3)
    return model.eval()


def _rates(model: torch.nn.Module, rs, stimulus: int) -> np.ndarray:
    """Rates (N, T) of one stimulus, computed here without the prediction code."""
    wave = rs.load_stimulus_audio(stimulus, FS).waveform.reshape(1, 1, -1)
    with torch.no_grad():
        return model(wave)[0, :, 0].numpy()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("prediction")
    rng = np.random.default_rng(0)
    lengths = [N_BINS - 10, N_BINS, N_BINS]  # stimulus 0 is 10 bins shorter
    sounds = [(0.1 * rng.normal(size=n * HOP)).astype(np.float32) for n in lengths]
    counts = rng.poisson(2.0, size=(N_NEURONS, N_STIMULI, N_REPEATS, N_BINS)).astype(np.int16)
    counts[:, 0, :, N_BINS - 10:] = -1
    counts[1, 1, 0] = -1  # one repeat of one cell not recorded
    responses = save_response_set(
        root / "set", name="tiny", dt_ms=DT,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS} for i, a in enumerate(sounds)],
        neurons=[{"id": f"n{i}"} for i in range(N_NEURONS)], counts=counts,
        splits={"train": [0], "test": TEST_SPLIT},
    )
    return {
        "responses": responses,
        "model": save_model(_linear(1), root / "linear-a"),
        # Its outputs are neurons n2 and n0, in that order: matched by id.
        "by_id": save_model(_linear(2, n_neurons=2), root / "by-id", info={"neurons": ["n2", "n0"]}),
        "coarse": save_model(_linear(3, dt_ms=10.0), root / "linear-10ms"),
        "too_few": save_model(_linear(4, n_neurons=2), root / "two-neurons"),
    }


def test_metric_split_is_the_test_split_or_every_stimulus(files):
    rs = load_response_set(files["responses"])
    assert metric_split(rs) == ("test", TEST_SPLIT)
    rs.splits = {}
    assert metric_split(rs) == ("all stimuli", list(range(N_STIMULI)))


def test_the_recipe_of_a_matching_model(files):
    rs = load_response_set(files["responses"])
    recipe = model_recipe(load_model(files["model"]), rs)
    assert isinstance(recipe, PredictionRecipe)
    assert recipe.neurons == list(range(N_NEURONS)) and recipe.notes == [] and recipe.score_bins is None
    assert recipe.config.frontend == "mel" and recipe.config.audio_fs == FS and recipe.config.smooth
    assert model_recipe(load_model(files["by_id"]), rs).neurons == [2, 0]


def test_models_that_cannot_predict_the_set_say_why(files):
    rs = load_response_set(files["responses"])
    with pytest.raises(ModelMismatchError, match="predicts 10 ms bins; the response set has 5 ms bins"):
        model_recipe(load_model(files["coarse"]), rs)
    with pytest.raises(ModelMismatchError, match=r"predicts 2 neurons; the response set has 3$"):
        model_recipe(load_model(files["too_few"]), rs)


def test_scores_are_the_backend_metrics_of_the_model_rates(files):
    rs = load_response_set(files["responses"])
    loaded = load_model(files["model"])
    ticks = []
    result = predict_model(loaded, rs, TEST_SPLIT, progress=lambda: ticks.append(1))
    assert result.ok and result.name == "linear-a" == model_name(loaded) and len(ticks) == N_STIMULI
    for s in range(N_STIMULI):
        assert result.predictions[s].shape == (N_NEURONS, rs.n_bins(s))
        np.testing.assert_allclose(result.predictions[s], _rates(loaded.model, rs, s), rtol=1e-5, atol=1e-6)
    predictions = np.stack([_rates(loaded.model, rs, s) for s in TEST_SPLIT])[:, :, None]
    responses = metrics.smooth_hann5(rs.responses(TEST_SPLIT), axis=-1)
    np.testing.assert_allclose(result.cc, metrics.cc(predictions, responses), rtol=1e-4)
    np.testing.assert_allclose(result.cc_norm, metrics.cc_norm(predictions, responses), rtol=1e-4)
    np.testing.assert_allclose(result.cc_max, metrics.cc_max(responses), rtol=1e-6)


def test_neurons_a_model_does_not_predict_are_nan(files):
    rs = load_response_set(files["responses"])
    result = predict_model(load_model(files["by_id"]), rs, TEST_SPLIT)
    assert np.isnan(result.predictions[1][1]).all() and np.isfinite(result.predictions[1][[0, 2]]).all()
    assert np.isnan(result.cc[1]) and np.isfinite(result.cc[[0, 2]]).all()


def test_one_job_computes_stats_and_every_model_keeping_the_reasons(files):
    rs = load_response_set(files["responses"])
    models = [load_model(files["coarse"]), load_model(files["model"])]
    reports = []
    run = compute_predictions(rs, models, True, progress=lambda *args: reports.append(args))
    assert isinstance(run, PredictionRun) and run.responses is rs
    assert run.stats.split_name == "test" and run.stats.split == TEST_SPLIT and run.stats.spikes is None
    np.testing.assert_allclose(run.stats.cc_max, response_stats(rs).cc_max)
    coarse, good = run.results
    assert not coarse.ok and "10 ms" in coarse.reason and coarse.model is models[0]
    assert good.ok and good.model is models[1]
    assert reports[-1] == (1 + 2 * N_STIMULI, 1 + 2 * N_STIMULI, "done")
    assert compute_predictions(rs, [], False).stats is None


def test_a_cancelled_job_raises(files):
    rs = load_response_set(files["responses"])
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        compute_predictions(rs, [load_model(files["model"])], False, cancel=cancel)


def test_cell_helpers_read_one_neuron_and_stimulus(files):
    rs = load_response_set(files["responses"])
    cell = trial_counts(rs, 1, 1)
    assert cell.shape == (N_REPEATS, N_BINS) and np.isnan(cell[0]).all()
    np.testing.assert_array_equal(cell[1:], rs.counts[1, 1, 1:])
    assert rs.n_bins(0) == N_BINS - 10


def test_recorded_statistics_a_few_neurons_at_a_time_are_those_of_all_at_once(files, monkeypatch):
    from strfviewer.backend import metrics, prediction

    rs = load_response_set(files["responses"])
    whole = metrics.cc_max(metrics.smooth_hann5(rs.responses(prediction.metric_split(rs)[1]), axis=-1))
    monkeypatch.setattr(prediction, "STATS_CHUNK", 1)
    np.testing.assert_array_equal(prediction.response_stats(rs).cc_max, whole)


def test_mean_and_sem_over_the_recorded_repeats():
    counts = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, np.nan], [2.0, 5.0, np.nan], [np.nan] * 3])
    recorded = mean_and_sem(counts, smooth=False)
    assert recorded.n_repeats == 3
    np.testing.assert_allclose(recorded.mean, [2.0, 3.0, 3.0])
    np.testing.assert_allclose(recorded.sem[:2], [1.0 / np.sqrt(3), np.sqrt(3.0) / np.sqrt(3)])
    assert np.isnan(recorded.sem[2])  # one repeat: no standard error
    smoothed = mean_and_sem(counts, smooth=True)
    np.testing.assert_allclose(smoothed.mean, metrics.psth(metrics.smooth_hann5(counts, axis=-1)[None, None])[0, 0, 0])
