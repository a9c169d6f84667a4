"""Ridge STRFs: the closed form is the penalised least-squares solution, cross-validation picks the lambda the
noise calls for and never sees a test stimulus, known STRFs are recovered from Poisson spikes, awkward data
(silence, a constant band, missing bins, a neuron without data) gives finite weights, and the model folder
written predicts what the solver found."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from strfviewer.backend import fitting, ridge
from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.synth import vocalization_like

BANDS, LAGS = 6, 4


def _strfs(n: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth STRFs: a Gaussian blob in band and lag per neuron, of alternating sign."""
    band, lag = np.meshgrid(np.arange(BANDS), np.arange(LAGS), indexing="ij")
    out = []
    for i in range(n):
        centre_band, centre_lag = rng.uniform(1, BANDS - 2), rng.uniform(0.5, LAGS - 1.5)
        out.append((-1) ** i * np.exp(-((band - centre_band) ** 2) / 2 - ((lag - centre_lag) ** 2) / 1.5))
    return np.array(out)


def _correlated(rng: np.random.Generator, bins: int) -> np.ndarray:
    """Frames correlated across neighbouring bands and bins, as a spectrogram's are (where ridge matters)."""
    noise = rng.standard_normal((BANDS + 4, bins + 8))
    kernel_band, kernel_time = np.exp(-np.arange(-2, 3) ** 2 / 2.0), np.exp(-np.arange(-4, 5) ** 2 / 2.0)
    smooth = np.apply_along_axis(lambda row: np.convolve(row, kernel_time, "valid"), 1, noise)
    smooth = np.apply_along_axis(lambda col: np.convolve(col, kernel_band, "valid"), 0, smooth)
    return smooth / smooth.std()


def _simulated(rng: np.random.Generator, strfs: np.ndarray, gains: np.ndarray, n_stimuli: int = 8,
               bins: int = 400, repeats: int = 6) -> list[ridge.RidgeStimulus]:
    """Poisson spike counts of nearly linear neurons: rate = gain * max(0, 1 + 0.3 * drive / std(drive)), where
    the drive is the STRF applied to the frames (rarely rectified)."""
    truth = ridge.RidgeWeights(strfs, np.zeros(strfs.shape[0]))
    stimuli = []
    for _ in range(n_stimuli):
        frames = _correlated(rng, bins)
        drive = truth.predict(frames)
        rate = gains[:, None] * np.maximum(0.0, 1.0 + 0.3 * drive / drive.std(axis=1, keepdims=True))
        counts = rng.poisson(np.repeat(rate[:, None, :], repeats, axis=1))[None].astype(np.float64)
        stimuli.append(ridge.RidgeStimulus(frames, counts))
    return stimuli


def _direct(stimuli, lam_relative: float, smoothness: float, centre_stimuli: bool) -> np.ndarray:
    """The penalised least-squares STRF of neuron 0, solved directly (no eigendecomposition); with
    ``centre_stimuli`` on each stimulus's features and targets minus their own means."""
    designs = [ridge.lagged(s.frames, LAGS) for s in stimuli]
    targets = [s.target[:, 0] for s in stimuli]
    if centre_stimuli:
        designs = [d - d.mean(0) for d in designs]
        targets = [t - t.mean() for t in targets]
    x, y = np.concatenate(designs), np.concatenate(targets)
    z = (x - x.mean(0)) / x.std(0)
    penalty = ridge.smoothness_penalty(BANDS, LAGS, smoothness)
    whitening = np.linalg.inv(np.linalg.cholesky(penalty)).T
    unit = np.linalg.eigvalsh((z @ whitening).T @ (z @ whitening)).mean()
    w = np.linalg.solve(z.T @ z + lam_relative * unit * penalty, z.T @ (y - y.mean()))
    return (w / x.std(0)).reshape(BANDS, LAGS)


@pytest.mark.parametrize("centre_stimuli", [True, False])
@pytest.mark.parametrize("smoothness", [0.0, 3.0])
def test_the_closed_form_is_the_direct_penalised_least_squares_solution(smoothness, centre_stimuli):
    rng = np.random.default_rng(1)
    stimuli = _simulated(rng, _strfs(2, rng), np.array([3.0, 3.0]), n_stimuli=3, bins=120)
    config = ridge.RidgeConfig(lambdas=(0.3,), folds=3, smoothness=smoothness, centre_stimuli=centre_stimuli)
    solved = ridge.fit_ridge(stimuli, LAGS, config)
    np.testing.assert_allclose(solved.weights.strfs[0], _direct(stimuli, 0.3, smoothness, centre_stimuli),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("centre_stimuli", [True, False])
def test_with_a_vanishing_lambda_it_is_ordinary_least_squares(centre_stimuli):
    """Pooled: one intercept. Centred on each stimulus: the slopes of a fit with one intercept per stimulus,
    and the intercept that makes the mean prediction the mean target."""
    rng = np.random.default_rng(2)
    stimuli = _simulated(rng, _strfs(1, rng), np.array([4.0]), n_stimuli=2, bins=150)
    solved = ridge.fit_ridge(stimuli, LAGS, ridge.RidgeConfig(lambdas=(1e-12,), folds=2,
                                                              centre_stimuli=centre_stimuli))
    x = np.concatenate([ridge.lagged(s.frames, LAGS) for s in stimuli])
    y = np.concatenate([s.target for s in stimuli])[:, 0]
    which = np.repeat(np.arange(len(stimuli)), [s.frames.shape[1] for s in stimuli])
    offsets = np.eye(len(stimuli))[which] if centre_stimuli else np.ones((len(x), 1))
    coefficients = np.linalg.lstsq(np.column_stack([x, offsets]), y, rcond=None)[0]
    slopes = coefficients[: x.shape[1]]
    np.testing.assert_allclose(solved.weights.strfs[0].reshape(-1), slopes, rtol=1e-6, atol=1e-9)
    assert solved.weights.intercepts[0] == pytest.approx(y.mean() - x.mean(0) @ slopes, rel=1e-6)


def test_known_strfs_are_recovered_and_noisier_neurons_get_larger_lambdas():
    rng = np.random.default_rng(3)
    strfs = _strfs(6, rng)
    gains = np.array([20.0, 20.0, 20.0, 0.2, 0.2, 0.2])  # few spikes: noisy PSTHs
    solved = ridge.fit_ridge(_simulated(rng, strfs, gains), LAGS)
    recovered = [np.corrcoef(solved.weights.strfs[i].ravel(), strfs[i].ravel())[0, 1] for i in range(6)]
    assert min(recovered[:3]) > 0.9 and min(recovered[3:]) > 0.5, recovered  # 6 seeds: >= 0.95 and >= 0.57
    assert np.median(solved.chosen[3:]) > np.median(solved.chosen[:3]), solved.chosen
    assert np.all(np.isfinite(solved.cv_cc_norm[:, :3])) and solved.cv_cc_norm.shape == (len(solved.lambdas), 6)


def test_a_shared_lambda_is_one_value_for_every_neuron():
    rng = np.random.default_rng(4)
    solved = ridge.fit_ridge(_simulated(rng, _strfs(3, rng), np.array([5.0, 1.0, 0.3])), LAGS,
                             ridge.RidgeConfig(shared_lambda=True))
    assert len(set(solved.chosen.tolist())) == 1
    assert solved.chosen[0] == solved.lambdas[np.nanargmax(solved.pooled_curve)]


def test_silence_a_constant_band_missing_bins_and_a_neuron_without_data_give_finite_weights():
    rng = np.random.default_rng(5)
    stimuli = _simulated(rng, _strfs(3, rng), np.array([5.0, 5.0, 5.0]), n_stimuli=4, bins=200)
    stimuli[0].frames[:] = 0.0  # a silent stimulus
    for s in stimuli:
        s.frames[2] = 1.5  # a band that never changes
    stimuli[1].responses[0, 1, :, 50:120] = np.nan  # neuron 1 misses bins
    for s in stimuli:
        s.responses[0, 2] = np.nan  # neuron 2 has no data at all
    solved = ridge.fit_ridge(stimuli, LAGS)
    assert np.all(np.isfinite(solved.weights.strfs)) and np.all(np.isfinite(solved.weights.intercepts))
    # At lag 0 the constant band is the same as the intercept: no weight (other lags see the zeros before
    # each stimulus starts, so they may carry some).
    assert np.abs(solved.weights.strfs[:2, 2, LAGS - 1]).max() < 1e-9
    assert solved.unfit == [2] and np.all(solved.weights.strfs[2] == 0.0)
    assert np.isfinite(solved.cv_cc_norm[:, 1]).all()  # the neuron with gaps is scored on its valid bins


def test_bad_settings_are_refused_with_a_message():
    stimuli = _simulated(np.random.default_rng(6), _strfs(1, np.random.default_rng(6)), np.array([1.0]), 1, 50)
    with pytest.raises(ConfigurationError, match="at least 2 training stimuli"):
        ridge.fit_ridge(stimuli, LAGS)
    with pytest.raises(ConfigurationError, match="positive"):
        ridge.RidgeConfig(lambdas=(0.0,)).validate()
    with pytest.raises(ConfigurationError, match="Linear models only"):
        fitting.FitConfig(model="ln", method="ridge").validate()


FS = 16000


@pytest.fixture(scope="module")
def response_folder(tmp_path_factory):
    rng = np.random.default_rng(7)
    counts = rng.poisson(2.0, size=(3, 7, 4, 60)).astype(np.int16)
    return save_response_set(
        tmp_path_factory.mktemp("responses") / "ridge", name="ridge test", dt_ms=5.0,
        stimuli=[{"id": f"s{i}", "audio": vocalization_like(FS, 0.3, seed=i), "sample_rate_hz": FS}
                 for i in range(7)],
        neurons=[{"id": f"n{i}"} for i in range(3)], counts=counts,
        splits={"train": [0, 1, 2, 3], "val": [4], "test": [5, 6]},
    )


def test_a_ridge_fit_writes_a_linear_model_that_predicts_what_the_solver_found(response_folder, tmp_path,
                                                                                 monkeypatch):
    seen = []
    solve = ridge.fit_ridge_in_chunks

    def spy(frames, responses_of, *args, **kwargs):
        seen.extend(frames)
        seen_fit.append(solve(frames, responses_of, *args, **kwargs))
        return seen_fit[-1]

    seen_fit: list = []
    monkeypatch.setattr(ridge, "fit_ridge_in_chunks", spy)
    rs = load_response_set(response_folder)
    cfg = fitting.FitConfig(method="ridge", frontend="mel", frontend_kwargs={"n_mels": 8, "f_max": 7000.0},
                            audio_fs=FS, temporal_window_size=3, ridge_folds=3)
    result = fitting.fit(rs, cfg, out=tmp_path / "ridge-model")
    # Cross-validation saw the training and validation stimuli only, each once; the test stimuli never.
    assert len(seen) == 5
    folds = result.diagnostics["folds"]
    assert sorted(i for fold in folds for i in fold) == [0, 1, 2, 3, 4]
    loaded = load_model(result.folder)
    metadata = json.loads((result.folder / "metadata.json").read_text())
    assert metadata["strfviewer"]["training"]["ridge"]["chosen_lambda"] == seen_fit[0].chosen.tolist()
    assert metadata["strfviewer"]["training"]["method"] == "ridge"
    stimulus = rs.load_stimulus_audio(5, FS).waveform.reshape(1, 1, -1)
    with torch.no_grad():
        rates = loaded.model(stimulus)[0, :, 0].numpy()
        frames = loaded.model.wav2spec(stimulus)[0, 0].double().numpy()
    np.testing.assert_allclose(rates, seen_fit[0].weights.predict(frames), rtol=1e-4, atol=1e-5)
    assert result.test_metrics["cc_norm"] is not None and len(result.test_metrics["cc"]) == 3


def _smooth(x: np.ndarray) -> np.ndarray:
    kernel = np.exp(-np.arange(-6, 7) ** 2 / 8.0)
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, "same"), -1, x)


def test_the_shift_test_is_calibrated_on_null_neurons_and_finds_real_ones():
    from strfviewer.backend import metrics

    rng = np.random.default_rng(8)
    drive = _smooth(rng.standard_normal((3, 400, 1, 200)))
    unrelated = _smooth(rng.standard_normal((3, 400, 1, 200)))
    silent_model = rng.poisson(np.ones((3, 400, 5, 200))).astype(float)
    p_null = metrics.shift_p_values(unrelated, silent_model, n_shifts=200)
    assert 0.02 <= np.mean(p_null < 0.05) <= 0.085  # about 5 % of 400 null neurons (measured: 3.75 %)
    assert 0.14 <= np.mean(p_null < 0.2) <= 0.26
    driven = rng.poisson(np.exp(0.5 * drive) * np.ones((1, 1, 5, 1))).astype(float)
    p_real = metrics.shift_p_values(drive, driven, n_shifts=200)
    assert np.mean(p_real < 0.05) > 0.95 and p_real.min() == pytest.approx(1 / 201)


def test_the_shifted_correlations_are_those_of_rolled_predictions_with_missing_bins_and_unequal_lengths():
    from strfviewer.backend import metrics

    rng = np.random.default_rng(3)
    pred = rng.standard_normal((3, 4, 1, 50))
    pred[1, :, :, 37:] = np.nan  # a shorter stimulus, NaN-padded
    pred[2, 0, 0, 5] = np.nan  # one missing predicted bin
    resp = rng.poisson(3.0, size=(3, 4, 6, 50)).astype(float)
    resp[0, 2, :, 10:14] = np.nan  # bins no repeat recorded
    resp[2, 1, 2:, 20:] = np.nan  # repeats that stop early
    offsets = metrics.shift_offsets([50, 37, 50], 40, min_shift=5, seed=1)
    assert offsets[:, 1].max() < 37 and (offsets >= 5).all()
    expected = []
    for row in offsets:
        rolled = pred.copy()
        for s, n in enumerate([50, 37, 50]):
            rolled[s, ..., :n] = np.roll(pred[s, ..., :n], row[s], axis=-1)
        expected.append(metrics.cc(rolled, resp))
    np.testing.assert_allclose(metrics.shifted_cc(pred, resp, offsets), np.array(expected), rtol=1e-9, atol=1e-12)


def test_a_fit_reports_p_values_and_flags_neurons_whose_cc_max_is_too_low(response_folder, tmp_path):
    rs = load_response_set(response_folder)
    cfg = fitting.FitConfig(method="ridge", frontend="mel", frontend_kwargs={"n_mels": 8, "f_max": 7000.0},
                            audio_fs=FS, temporal_window_size=3, ridge_folds=3, significance_shifts=50)
    test = fitting.fit(rs, cfg).test_metrics
    assert len(test["p_value"]) == 3 and all(p is None or 1 / 51 <= p <= 1 for p in test["p_value"])
    # Pure Poisson counts: no signal to find, so cc_max is low and every neuron is flagged.
    assert test["unreliable_cc_norm"] == [i for i, c in enumerate(test["cc_max"]) if c is None or c < 0.3]
    assert test["unreliable_cc_norm"] and test["significance_shifts"] == 50


@pytest.mark.parametrize(("model", "frontend", "kwargs", "expected"), [
    ("linear", "mel", {"n_mels": 8}, "ridge"),
    ("linear", "gammatone", {"n_filters": 8, "compression": "pcen"}, "ridge"),
    ("linear", "sincnet", {"n_filters": 8}, "gradient"),  # its filters learn: only gradient descent moves them
    ("ln", "mel", {"n_mels": 8}, "gradient"),  # the nonlinearity has no closed form
])
def test_the_preferred_method_is_ridge_only_for_a_linear_model_on_a_frontend_with_nothing_to_learn(
        model, frontend, kwargs, expected):
    cfg = fitting.FitConfig(model=model, frontend=frontend, frontend_kwargs=kwargs, audio_fs=FS)
    assert fitting.preferred_method(cfg, 5.0) == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_the_cross_products_on_a_gpu_give_the_cpu_fit():
    rng = np.random.default_rng(4)
    stimuli = _simulated(rng, _strfs(3, rng), np.array([5.0, 5.0, 5.0]), n_stimuli=4, bins=200)
    on_cpu = ridge.fit_ridge(stimuli, LAGS)
    on_gpu = ridge.fit_ridge(stimuli, LAGS, device="cuda")
    np.testing.assert_allclose(on_gpu.weights.strfs, on_cpu.weights.strfs, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(on_gpu.chosen, on_cpu.chosen)


def test_a_fit_read_one_neuron_at_a_time_gives_the_same_model_and_scores(response_folder, monkeypatch):
    """Thousands of neurons are fitted and scored a chunk at a time: chunks change the memory, not the numbers."""
    rs = load_response_set(response_folder)
    cfg = fitting.FitConfig(method="ridge", frontend="mel", frontend_kwargs={"n_mels": 8, "f_max": 7000.0},
                            audio_fs=FS, temporal_window_size=3, ridge_folds=3, significance_shifts=50,
                            ridge_shared_lambda=True)
    whole = fitting.fit(rs, cfg)
    monkeypatch.setattr(fitting, "NEURON_CHUNK", 1)
    reads = []
    responses = rs.responses
    monkeypatch.setattr(rs, "responses", lambda s, n: (reads.append(len(n)), responses(s, n))[1])
    chunked = fitting.fit(rs, cfg)
    assert max(reads) == 1  # never more than one neuron's responses at once
    for a, b in zip(whole.model.state_dict().values(), chunked.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    assert whole.diagnostics["chosen_lambda"] == chunked.diagnostics["chosen_lambda"]
    for split in ("test_metrics", "val_metrics"):
        for key, value in getattr(whole, split).items():
            assert getattr(chunked, split)[key] == pytest.approx(value, nan_ok=True), (split, key)
