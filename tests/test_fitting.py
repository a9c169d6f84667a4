"""Fitting on a small simulated response set: the recipe recovers a known model, caches fixed front-ends,
reports progress, stops on cancel, and writes a loadable model folder with its recipe and scores."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.data.responses import load_response_set, save_response_set
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.fitting import FitConfig, fit
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.jobs import CancelledError

FS, DT = 16000, 5.0


@pytest.fixture(scope="module")
def simulated_set(tmp_path_factory) -> Path:
    """Neurons that are a mel-spectrogram STRF plus Poisson noise: a Linear model can explain them."""
    rng = np.random.default_rng(0)
    mel = make_wav2spec("mel", audio_fs=FS, dt_ms=DT, n_mels=16, f_min=200.0, f_max=7000.0).eval()
    n_stim, n_neurons, n_rep, n_bins = 8, 3, 8, 120
    sounds, rates = [], []
    strfs = rng.normal(0, 1, size=(n_neurons, 16, 4))
    for _ in range(n_stim):
        envelope = np.repeat(rng.uniform(0.05, 1.0, size=n_bins // 6), 6 * 80)
        sound = (rng.normal(size=n_bins * 80) * envelope).astype(np.float32)
        spec = mel(torch.from_numpy(sound).reshape(1, 1, -1))[0, 0].numpy()
        spec = (spec - spec.mean()) / spec.std()
        drive = np.stack([sum(np.roll(spec[f], lag) * strfs[n, f, 3 - lag] for f in range(16) for lag in range(4))
                          for n in range(n_neurons)])
        rates.append(np.log1p(np.exp(drive / 3)))
        sounds.append(sound)
    counts = np.stack([rng.poisson(np.stack([r] * n_rep, axis=1)) for r in rates], axis=1)  # (N, S, R, T)
    root = tmp_path_factory.mktemp("sim") / "set"
    return save_response_set(
        root, name="simulated", dt_ms=DT,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS} for i, a in enumerate(sounds)],
        neurons=[{"id": f"n{i}"} for i in range(n_neurons)], counts=counts.astype(np.int16),
        splits={"train": [0, 1, 2, 3, 4], "val": [5], "test": [6, 7]},
    )


def _config(**kwargs) -> FitConfig:
    base = {"frontend": "mel", "frontend_kwargs": {"n_mels": 16, "f_min": 200.0, "f_max": 7000.0},
            "audio_fs": FS, "temporal_window_size": 6, "lr": 1e-2, "max_epochs": 40, "patience": 10}
    return FitConfig(**{**base, **kwargs})


def test_linear_fit_recovers_a_linear_neuron_and_writes_its_folder(simulated_set, tmp_path):
    rs = load_response_set(simulated_set)
    calls = []
    result = fit(rs, _config(), out=tmp_path / "model", progress=lambda *a: calls.append(a))
    assert result.test_metrics["cc_norm_mean"] > 0.6
    assert 1 <= result.best_epoch <= result.epochs_run <= 40
    assert [c[0] for c in calls if c[0] > 0] == list(range(1, result.epochs_run + 1))
    loaded = load_model(result.folder)
    meta = json.loads((result.folder / "metadata.json").read_text())["strfviewer"]
    assert meta["neurons"] == ["n0", "n1", "n2"] and meta["split"]["test"] == [6, 7]
    assert meta["training"]["lr"] == 1e-2 and meta["training"]["best_epoch"] == result.best_epoch
    assert meta["metrics"]["test"]["cc_norm_mean"] == pytest.approx(result.test_metrics["cc_norm_mean"])
    audio = rs.load_stimulus_audio(6, FS).waveform.reshape(1, 1, -1)
    with torch.no_grad():
        assert torch.allclose(loaded.model(audio), result.model(audio), atol=1e-6)


def test_fixed_frontend_is_computed_once_per_stimulus(simulated_set, monkeypatch):
    rs = load_response_set(simulated_set)
    from strfviewer.backend.frontends.mel import CausalMelSpectrogram

    calls = {"n": 0}
    original = CausalMelSpectrogram.forward

    def counting(self, x):
        calls["n"] += 1
        return original(self, x)

    monkeypatch.setattr(CausalMelSpectrogram, "forward", counting)
    fit(rs, _config(max_epochs=3, patience=3))
    assert calls["n"] == 8  # once per stimulus, not once per step


def test_learnable_frontend_and_ln_model_train(simulated_set):
    rs = load_response_set(simulated_set)
    cfg = _config(model="ln", frontend="sincnet", frontend_kwargs={"n_filters": 16, "kernel_size": 101,
                                                                    "envelope": True}, max_epochs=2)
    before = make_wav2spec("sincnet", audio_fs=FS, dt_ms=DT, n_filters=16, kernel_size=101, envelope=True)
    result = fit(rs, cfg)
    assert not torch.equal(result.model.wav2spec.low_hz_, before.low_hz_)
    assert np.isfinite(result.test_metrics["cc_norm_mean"])


def test_cancel_stops_and_writes_nothing(simulated_set, tmp_path):
    rs = load_response_set(simulated_set)
    cancel = threading.Event()

    def progress(done, total, message):
        if done >= 2:
            cancel.set()

    with pytest.raises(CancelledError):
        fit(rs, _config(), out=tmp_path / "never", progress=progress, cancel=cancel)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("kind,cls,arguments", [
    ("nrf", "NetworkReceptiveField", {"n_hidden": 6}), ("dnet", "DNet", {"n_hidden": 6, "init_tau": 2.5}),
    ("convnet2d", "ConvNet2D", {"n_hidden": 8, "c_hidden": 4, "kernel_size": [5, 4]}),
    ("transformer", "Transformer", {"embedding_dim": 8, "freq_patch_size": 4, "time_patch_size": 4,
                                    "context_window": 6}),
    ("statenet", "StateNet", {"kernel_size": 4, "stride": 2, "hidden_channels": 3, "rnn_type": "GRU"})])
def test_hidden_unit_models_fit_on_cached_features_and_reload(simulated_set, tmp_path, kind, cls, arguments):
    rs = load_response_set(simulated_set)
    slow = {"max_epochs": 60, "patience": 20} if kind == "convnet2d" else {}  # three layers learn more slowly
    result = fit(rs, _config(model=kind, network_kwargs=arguments, **slow), out=tmp_path / kind)
    assert type(result.model).__name__ == cls
    assert all(result.model.init_config[name] == value for name, value in arguments.items())
    assert result.test_metrics["cc_norm_mean"] > 0.5  # linear neurons: six hidden units can follow them
    loaded = load_model(result.folder)
    assert loaded.model_class == cls
    audio = rs.load_stimulus_audio(6, FS).waveform.reshape(1, 1, -1)
    with torch.no_grad():
        assert torch.allclose(loaded.model(audio), result.model(audio), atol=1e-6)
    recipe = json.loads((result.folder / "metadata.json").read_text())["strfviewer"]["training"]
    assert recipe["network_kwargs"] == arguments


@pytest.mark.parametrize(
    "kwargs,fragment",
    [({"model": "rnn"}, "model must be one of"),
     ({"model": "linear", "network_kwargs": {"n_hidden": 4}}, "apply to nrf, dnet, convnet2d"),
     ({"model": "nrf", "network_kwargs": {"init_tau": 3.0}}, "nrf takes only n_hidden"),
     ({"loss": "l1"}, "loss must be one of"),
     ({"lr": 0.0}, "lr must be > 0"), ({"train": [0], "val": [0]}, "in the training split and another")],
)
def test_bad_settings_are_explained(simulated_set, kwargs, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        fit(load_response_set(simulated_set), _config(**kwargs))


def test_fit_command_line(simulated_set, tmp_path):
    out = tmp_path / "cli-model"
    cmd = [sys.executable, "-m", "strfviewer", "fit", str(simulated_set), "--out", str(out),
           "--frontend", "mel", "--frontend-arg", "n_mels=16", "--frontend-arg", "f_min=200",
           "--frontend-arg", "f_max=7000", "--audio-fs", "16000", "--window", "6", "--max-epochs", "3",
           "--neurons", "0-1", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "test cc_norm" in done.stdout and (out / "model.safetensors").is_file()
    info = subprocess.run([sys.executable, "-m", "strfviewer", "info", str(out)], capture_output=True, text=True)
    assert info.returncode == 0 and "Linear model: 2 neurons, mel front-end" in info.stdout
    bad = subprocess.run([*cmd[:5], "--out", str(tmp_path / "x"), "--frontend", "cochlea", "--quiet"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Unknown front-end kind 'cochlea'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_fit_command_line_builds_a_dnet_with_its_arguments(simulated_set, tmp_path):
    out = tmp_path / "cli-dnet"
    cmd = [sys.executable, "-m", "strfviewer", "fit", str(simulated_set), "--out", str(out), "--model", "dnet",
           "--model-arg", "n_hidden=3", "--model-arg", "decay_input=false", "--frontend", "mel",
           "--frontend-arg", "n_mels=16", "--frontend-arg", "f_max=7000", "--audio-fs", "16000", "--window", "4",
           "--max-epochs", "2", "--neurons", "0-1", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = load_model(out)
    assert loaded.model_class == "DNet" and loaded.model.H == 3 and loaded.model.decay_input is False
    refused = subprocess.run([*cmd[:6], str(tmp_path / "never"), "--model", "linear", "--model-arg", "n_hidden=3",
                              "--quiet"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "--model-arg applies to --model icnet, nrf, dnet" in refused.stderr
    assert not (tmp_path / "never").exists()
