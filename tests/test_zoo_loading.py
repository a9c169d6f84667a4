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
from strfviewer.backend.models import Transformer
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
