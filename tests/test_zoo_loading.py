"""Folders of the Transformer and StateNet in deepSTRF's layout: they load strict and predict the same, are
identified from their tensors without config.json, and say what their tensors cannot (the head count, a mask
left off on purpose)."""

from __future__ import annotations

import json

import pytest
import torch
from model_cases import BANDS, NEURONS, mel, prefilter, randomised
from safetensors.torch import save_file

from strfviewer.backend.checkpoints import MissingModelInfoError, load_model, save_model
from strfviewer.backend.errors import CheckpointError
from strfviewer.backend.models import StateNet, Transformer
from strfviewer.backend.models.readouts import ParametricSigmoid


def _deepstrf_folder(tmp_path, model, name):
    folder = save_model(model, tmp_path / name)
    (folder / "metadata.json").unlink()
    return folder


def _same(a, b, x) -> None:
    with torch.no_grad():
        want = a(x)
        got = b(x)
    assert got.shape == want.shape and ((got - want).abs().max() <= 1e-5 * want.abs().max())


@pytest.mark.parametrize("kwargs", [
    {},
    {"freq_patch_size": 4, "time_patch_size": 3, "context_window": 5, "embedding_dim": 4, "n_heads": 2,
     "n_layers": 2},
    {"freq_patch_size": 2, "embedding_dim": 2, "n_heads": 4, "context_window": 0, "output_activation": "sigmoid"},
])
def test_a_transformer_folder_loads_strict_and_predicts_the_same(kwargs, tmp_path):
    kwargs = dict(kwargs)
    if kwargs.pop("output_activation", None):
        kwargs["output_activation"] = ParametricSigmoid(NEURONS)
    model = randomised(Transformer(BANDS, out_neurons=NEURONS, **{"embedding_dim": 8, **kwargs}))
    folder = _deepstrf_folder(tmp_path, model, "t")
    loaded = load_model(folder)
    assert loaded.model_class == "Transformer" and loaded.model.n_heads == model.n_heads
    assert loaded.model.context_window == model.context_window
    assert not any("n_heads" in note or "context_window" in note for note in loaded.notes)  # config.json says
    _same(model, loaded.model, torch.randn(2, 1, BANDS, 30))


def test_a_bare_transformer_state_dict_is_recognised_and_its_unstored_sizes_are_said(tmp_path):
    model = randomised(Transformer(BANDS, freq_patch_size=6, embedding_dim=4, out_neurons=NEURONS))
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    with pytest.raises(MissingModelInfoError) as asked:
        load_model(path)
    assert asked.value.missing["_model_class"] == "Transformer"
    loaded = load_model(path, description={"_model_class": "Transformer"})
    assert any("n_heads" in note for note in loaded.notes) and any("context_window" in note for note in loaded.notes)
    _same(model, loaded.model, torch.randn(1, 1, BANDS, 20))


def test_a_wrong_head_count_is_refused_by_the_model_not_mistaken(tmp_path):
    folder = _deepstrf_folder(tmp_path, randomised(Transformer(BANDS, embedding_dim=4, out_neurons=NEURONS)), "t")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "n_heads": 5}))
    with pytest.raises(CheckpointError, match="n_heads"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({**config, "embedding_dim": 6}))
    with pytest.raises(CheckpointError, match="embedding_dim=6 but the weights hold 4"):
        load_model(folder)


def test_a_prefiltered_transformer_on_audio_round_trips_with_its_front_end(tmp_path):
    model = randomised(Transformer(BANDS, embedding_dim=4, context_window=4, out_neurons=NEURONS, wav2spec=mel(),
                                   prefiltering=prefilter("adaptrans", 5)))
    loaded = load_model(save_model(model, tmp_path / "t"))
    assert loaded.model.prefiltering.kernel_size == 5 and loaded.frontend.kind == "mel"
    _same(model, loaded.model, torch.randn(1, 1, 30 * 80))


def test_the_broken_transformer_keeps_its_unmasked_attention_and_says_so(tmp_path):
    model = randomised(Transformer(BANDS, embedding_dim=4, out_neurons=NEURONS, mask_future=False))
    folder = save_model(model, tmp_path / "broken")
    assert "mask_future" not in json.loads((folder / "config.json").read_text())
    loaded = load_model(folder)
    assert loaded.model.mask_future is False and any("not masked" in note for note in loaded.notes)
    _same(model, loaded.model, torch.randn(1, 1, BANDS, 25))


@pytest.mark.parametrize("kwargs", [
    {"connectivity": "LC", "rnn_type": "GRU"},
    {"connectivity": "FC", "rnn_type": "LSTM", "kernel_size": 5, "stride": 2, "hidden_channels": 4},
    {"connectivity": "CONV", "rnn_type": "vanilla", "kernel_size": 6, "stride": 4},
    {"connectivity": "LC", "rnn_type": "LMU", "hidden_channels": 3},
])
def test_a_statenet_folder_loads_strict_and_predicts_the_same(kwargs, tmp_path):
    model = randomised(StateNet(BANDS, out_neurons=NEURONS, **{"kernel_size": 4, **kwargs}), scale=0.2)
    folder = _deepstrf_folder(tmp_path, model, "s")
    loaded = load_model(folder)
    assert loaded.model_class == "StateNet" and loaded.model.connectivity == kwargs["connectivity"]
    _same(model, loaded.model, torch.randn(2, 1, BANDS, 30))
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    guessed = load_model(bare, description={"_model_class": "StateNet", "stride": model.S, "kernel_size": model.K,
                                            "n_frequency_bands": BANDS})
    assert guessed.model.backbone == model.backbone and guessed.model.F == BANDS
    _same(model, guessed.model, torch.randn(1, 1, BANDS, 20))


def test_a_bare_statenet_without_its_band_count_says_what_it_assumed(tmp_path):
    model = randomised(StateNet(BANDS, kernel_size=4, stride=3, hidden_channels=2, out_neurons=NEURONS))
    bare = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bare))
    loaded = load_model(bare, description={"_model_class": "StateNet"})
    assert loaded.model.F == 10  # the fewest bands that give its 3 encoder positions; 12 are indistinguishable
    assert any("10 bands (stride 3) are assumed" in note for note in loaded.notes)


def test_a_statenet_with_a_prefilter_and_front_end_streams_after_loading(tmp_path):
    from strfviewer.backend.streaming import Streamer

    model = randomised(StateNet(BANDS, kernel_size=4, hidden_channels=3, out_neurons=NEURONS, wav2spec=mel(),
                                prefiltering=prefilter("icadaptation", 5)))
    loaded = load_model(save_model(model, tmp_path / "s")).model
    audio = torch.randn(30 * 80) * 0.3
    streamer = Streamer(loaded)
    streamed = torch.cat([torch.from_numpy(streamer.push(part)) for part in audio.split(7 * 80)], dim=1)
    with torch.no_grad():
        offline = model(audio.reshape(1, 1, -1))[0, :, 0]
    assert (streamed - offline).abs().max() <= 1e-5 * offline.abs().max()


@pytest.mark.parametrize("backbone,needs", [("Mamba", "mambapy"), ("S4", "pytorch_lightning")])
def test_a_backbone_strfviewer_does_not_build_is_refused_naming_what_it_needs(backbone, needs, tmp_path):
    folder = _deepstrf_folder(tmp_path, randomised(StateNet(BANDS, kernel_size=4, out_neurons=NEURONS)), "s")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "rnn_type": backbone}))
    with pytest.raises(CheckpointError, match=needs) as refused:
        load_model(folder)
    assert "GRU" in str(refused.value)


def test_an_unknown_model_class_lists_every_supported_one(tmp_path):
    folder = _deepstrf_folder(tmp_path, randomised(StateNet(BANDS, kernel_size=4, out_neurons=NEURONS)), "s")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "_model_class": "Mamba2Net"}))
    with pytest.raises(CheckpointError, match="not supported") as refused:
        load_model(folder)
    assert all(name in str(refused.value) for name in ("StateNet", "Transformer", "ConvNet2D", "DNet"))
