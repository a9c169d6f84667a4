"""Model folders: strfviewer round trips, deepSTRF folders (described or not), ICNet aliases, safe .pt loading."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from strfviewer.backend.checkpoints import load_model, save_model
from strfviewer.backend.errors import CheckpointError, MissingModelInfoError, UnsafeCheckpointError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import ICNet, Linear, LinearNonlinear


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model.eval()


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


@pytest.mark.parametrize(
    "kind,kwargs",
    [("mel", {}), ("gammatone", {"compression": "pcen"}), ("sincnet", {"kernel_size": 101, "envelope": True}),
     ("leaf", {"n_filters": 20, "learn_pooling": False})],
)
def test_strfviewer_folder_round_trip(tmp_path, kind, kwargs):
    frontend = make_wav2spec(kind, audio_fs=16000, dt_ms=5.0, **kwargs)
    model = _randomised(LinearNonlinear(frontend.out_channels, 9, 4, wav2spec=frontend))
    info = {"neurons": ["a", "b", "c", "d"], "metrics": {"test": {"cc_norm_mean": 0.5}}}
    folder = save_model(model, tmp_path / "m", info=info)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "metadata.json",
                                                         "model.safetensors"]
    loaded = load_model(folder)
    assert loaded.model_class == "LinearNonlinear" and loaded.info["neurons"] == info["neurons"]
    assert loaded.info["wav2spec"]["kind"] == kind and loaded.info["audio_fs"] == 16000
    assert loaded.frontend.config == frontend.config
    assert not loaded.model.training
    _same_outputs(model, loaded.model, torch.randn(1, 1, 30 * 80))
    assert load_model(folder / "config.json").model_class == "LinearNonlinear"


def test_spectrogram_model_round_trip(tmp_path):
    model = _randomised(Linear(34, 9, 3))
    loaded = load_model(save_model(model, tmp_path / "spec"))
    assert loaded.frontend is None and loaded.info["input"] == "spectrogram"
    assert json.loads((tmp_path / "spec" / "config.json").read_text())["wav2spec"] is None
    _same_outputs(model, loaded.model, torch.randn(2, 1, 34, 20))


def _deepstrf_linear_config(out_neurons: int) -> dict:
    """config.json of a waveform Linear model as deepSTRF writes it: the front-end argument is absent."""
    return {"_model_class": "Linear", "kernel": None, "n_frequency_bands": 34, "out_neurons": out_neurons,
            "output_activation": None, "prefiltering": None, "temporal_window_size": 9}


def _deepstrf_folder(root: Path, model: torch.nn.Module, config: dict, state: dict | None = None) -> Path:
    """A folder as deepSTRF 0.1.0 writes it: config without module arguments, no strfviewer block."""
    root.mkdir()
    (root / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file({k: v.contiguous() for k, v in (state or model.state_dict()).items()}, str(root / "model.safetensors"))
    (root / "metadata.json").write_text(json.dumps({"dataset": "NS1", "library": "deepSTRF"}))
    return root


def test_deepstrf_mel_folder_without_frontend_description(tmp_path):
    frontend = make_wav2spec("mel", audio_fs=48000, dt_ms=5.0)
    model = _randomised(Linear(34, 9, 5, wav2spec=frontend))
    config = _deepstrf_linear_config(5)
    folder = _deepstrf_folder(tmp_path / "ds", model, config)
    with pytest.raises(MissingModelInfoError) as info:
        load_model(folder)
    missing = info.value.missing
    assert missing["kind"] == "mel" and missing["audio_fs"] == 48000 and missing["dt_ms"] == 5.0
    assert "audio_fs" in str(info.value) and "mel front-end" in str(info.value)
    loaded = load_model(folder, audio_fs=48000, dt_ms=5.0)
    assert loaded.frontend.kind == "mel" and loaded.notes
    _same_outputs(model, loaded.model, torch.randn(1, 1, 40 * 240))


def test_deepstrf_reversed_gammatone_reproduces_its_output(tmp_path):
    frontend = make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0, compression="pcen")
    model = _randomised(Linear(34, 9, 3, wav2spec=frontend))
    state = model.state_dict()
    state["wav2spec._kernels"] = state["wav2spec._kernels"].flip(-1)  # deepSTRF's orientation
    model.load_state_dict(state)
    config = _deepstrf_linear_config(3)
    folder = _deepstrf_folder(tmp_path / "gt", model, config, state)
    loaded = load_model(folder, audio_fs=48000, dt_ms=5.0, frontend={"modes": {"compression": "pcen"}})
    assert loaded.frontend.orientation() == "reversed"
    _same_outputs(model, loaded.model, torch.randn(1, 1, 40 * 240))


def test_deepstrf_leaf_guesses_rate_and_bin_width_from_shapes(tmp_path):
    model = _randomised(Linear(34, 9, 2, wav2spec=make_wav2spec("leaf", audio_fs=48000, dt_ms=5.0)))
    config = _deepstrf_linear_config(2)
    folder = _deepstrf_folder(tmp_path / "leaf", model, config)
    with pytest.raises(MissingModelInfoError) as info:
        load_model(folder)
    guess = info.value.missing
    loaded = load_model(folder, audio_fs=guess["audio_fs"], dt_ms=guess["dt_ms"])
    _same_outputs(model, loaded.model, torch.randn(1, 1, 30 * 240))


def test_deepstrf_icnet_with_aliased_decoder(tmp_path):
    model = _randomised(ICNet(16000, 3, n_filters=6, encoder_channels=8, bottleneck_channels=5))
    state = dict(model.state_dict())
    state["readout.weight"] = state["decoder.weight"].clone()
    state["readout.bias"] = state["decoder.bias"].clone()
    torch.save(state, tmp_path / "icnet.pt")  # deepSTRF cannot save_pretrained ICNet; it uses torch.save
    description = {"_model_class": "ICNet", **model.init_config}
    loaded = load_model(tmp_path / "icnet.pt", description=description)
    _same_outputs(model, loaded.model, torch.randn(1, 1, 20 * 80))
    folder = save_model(loaded.model, tmp_path / "icnet-folder")
    assert not [k for k in load_file(str(folder / "model.safetensors")) if k.startswith("readout.")]
    again = load_model(folder)
    _same_outputs(model, again.model, torch.randn(1, 1, 20 * 80))


def test_bare_pt_state_dict_needs_a_description(tmp_path):
    model = _randomised(Linear(34, 9, 2))
    torch.save({"state_dict": model.state_dict()}, tmp_path / "fit.pt")
    with pytest.raises(MissingModelInfoError) as info:
        load_model(tmp_path / "fit.pt")
    assert info.value.missing == {"_model_class": "Linear"}
    loaded = load_model(tmp_path / "fit.pt", description={"_model_class": "Linear"})
    _same_outputs(model, loaded.model, torch.randn(1, 1, 34, 12))


class _Payload:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "code-ran"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"weight": _Payload(str(marker))}, f)
    # A bare pickle: torch's tensors-only reader cannot tell it from damaged bytes, and says both.
    with pytest.raises(UnsafeCheckpointError, match=r"damaged, or it holds pickled objects.*never runs code"):
        load_model(tmp_path / "evil.pt", description={"_model_class": "Linear"})
    # torch.save's zip format: the reader names what the object would import.
    torch.save({"weight": _Payload(str(marker))}, tmp_path / "evil-zip.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"would run code stored in the file .*GLOBAL.*never executes"):
        load_model(tmp_path / "evil-zip.pt", description={"_model_class": "Linear"})
    assert not marker.exists()
    # The payload is real: plain unpickling would have run it.
    with open(tmp_path / "evil.pt", "rb") as f:
        pickle.load(f)
    assert marker.exists()


@pytest.mark.parametrize(
    "setup,fragment",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "has no model.safetensors"),
        (lambda root: (root.mkdir(), (root / "model.safetensors").write_bytes(b"junk"),
                       (root / "config.json").write_text('{"_model_class": "Linear"}')), "not a readable safetensors"),
        (lambda root: (root.mkdir(), save_file({"x": torch.zeros(1)}, str(root / "model.safetensors")),
                       (root / "config.json").write_text("{oops")), "not valid JSON"),
        (lambda root: (root.mkdir(), save_file({"x": torch.zeros(1)}, str(root / "model.safetensors")),
                       (root / "config.json").write_text('{"_model_class": "LMUNet"}')),
         "'LMUNet' is not supported"),
    ],
    ids=["missing", "empty-folder", "corrupt-weights", "bad-config", "unsupported-class"],
)
def test_bad_model_folders_are_explained(tmp_path, setup, fragment):
    root = tmp_path / "model"
    setup(root)
    with pytest.raises(CheckpointError) as info:
        load_model(root)
    assert fragment in str(info.value)


def test_weights_that_do_not_fit_are_explained(tmp_path):
    model = Linear(34, 9, 2)
    folder = save_model(model, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["out_neurons"] = 7
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_model(folder)
