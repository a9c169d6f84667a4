"""The model-level causality bank (tests/model_cases.py): no model kind looks into the future, bitwise; the
causality view's Jacobian of each is the exact one; each streams as it runs offline; and the deliberately
broken models show their leak at exactly the frames it reaches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_cases import BANDS, CASE_IDS, HOP, MODEL_CASES, NEURONS, CentredLinear, mel, randomised

from strfviewer.backend.analysis.causality import frame_jacobian
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.models import Transformer
from strfviewer.backend.streaming import Streamer

FRAMES = 24


def _audio(seed: int = 0) -> torch.Tensor:
    return torch.randn(FRAMES * HOP, generator=torch.Generator().manual_seed(seed)) * 0.3


@pytest.mark.parametrize("case", MODEL_CASES, ids=CASE_IDS)
def test_no_output_changes_when_only_later_audio_does(case):
    model = case.build()
    audio = _audio()
    with torch.no_grad():
        before = model(audio.reshape(1, 1, -1))
        for k in (1, 7, 16):
            later = audio.clone()
            later[k * HOP:] += torch.randn(later.shape[0] - k * HOP, generator=torch.Generator().manual_seed(k))
            after = model(later.reshape(1, 1, -1))
            assert torch.equal(before[..., :k], after[..., :k]), f"frames before {k} changed"
            assert not torch.equal(before[..., k:], after[..., k:])  # the perturbation does reach the model


def _naive_rows(model, audio: torch.Tensor, neuron: int) -> np.ndarray:
    x = audio.reshape(1, 1, -1).clone().requires_grad_(True)
    out = model(x)
    rows = [torch.autograd.grad(out[0, neuron, 0, t], x, retain_graph=True)[0][0, 0] for t in range(FRAMES)]
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("case", MODEL_CASES, ids=CASE_IDS)
def test_the_causality_view_s_jacobian_is_exact_and_leaks_nothing(case):
    model = case.build()
    audio = _audio(1)
    result = frame_jacobian(model, audio, neuron=NEURONS - 1)
    reference = _naive_rows(model, audio, NEURONS - 1)
    assert result.leak_is_exactly_zero
    np.testing.assert_allclose(result.jacobian, reference, rtol=0, atol=case.tolerance * np.abs(reference).max())


@pytest.mark.parametrize("case", [c for c in MODEL_CASES if c.streams], ids=[c.name for c in MODEL_CASES
                                                                            if c.streams])
def test_streaming_in_uneven_chunks_gives_the_offline_rates(case):
    model = case.build()
    audio = _audio(2)
    with torch.no_grad():
        offline = model(audio.reshape(1, 1, -1))[0, :, 0].numpy()
    streamer = Streamer(model)
    parts, start = [], 0
    for frames in (1, 5, 2, 9, 7):
        parts.append(streamer.push(audio[start:start + frames * HOP]))
        start += frames * HOP
    streamed = np.concatenate(parts, axis=1)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=case.tolerance * np.abs(offline).max())


def test_a_centred_strf_leaks_exactly_as_far_as_it_looks_ahead():
    lookahead = 2
    model = randomised(CentredLinear(BANDS, 5, NEURONS, wav2spec=mel(), lookahead=lookahead))
    result = frame_jacobian(model, _audio(3), neuron=0)
    assert not result.leak_is_exactly_zero
    jac = np.abs(result.jacobian)
    for t in range(FRAMES):
        last_frame = np.flatnonzero(jac[t] > 1e-7 * jac[t].max()).max() // HOP  # the frame its last sample is in
        assert last_frame == min(t + lookahead, FRAMES - 1), f"frame {t}"
        assert (result.leak_abs[t] > 0) == (t < FRAMES - 1)


def test_a_transformer_without_its_mask_leaks_to_the_end_of_the_audio():
    model = randomised(Transformer(BANDS, embedding_dim=8, out_neurons=NEURONS, wav2spec=mel(), mask_future=False))
    result = frame_jacobian(model, _audio(4), neuron=1)
    assert result.method == "whole signal" and not result.leak_is_exactly_zero
    jac = np.abs(result.jacobian)
    for t in range(FRAMES):
        assert np.flatnonzero(jac[t] > 1e-7 * jac[t].max()).max() // HOP == FRAMES - 1, f"frame {t}"
        assert (result.leak_abs[t] > 0) == (t < FRAMES - 1)
    with pytest.raises(ConfigurationError, match="not masked"):
        Streamer(model)


def test_a_windowed_transformer_s_receptive_field_is_measured_from_its_rows():
    window = 4
    model = randomised(Transformer(BANDS, embedding_dim=8, context_window=window, out_neurons=NEURONS,
                                   wav2spec=mel()))
    result = frame_jacobian(model, _audio(5), neuron=0)
    assert result.method == "whole signal" and result.leak_is_exactly_zero
    # window frames of tokens, each token a mel frame of 10 ms (two hops): the first sample read is that
    # frame's window start, so window + 1 hops back from the frame's end, less the Hann window's zero tap.
    assert window * HOP < result.receptive_field <= (window + 1) * HOP
    unbounded = randomised(Transformer(BANDS, embedding_dim=8, out_neurons=NEURONS, wav2spec=mel()))
    assert frame_jacobian(unbounded, _audio(5), neuron=0).receptive_field is None


def test_gradient_strfs_say_when_the_model_remembers_more_than_they_show():
    from strfviewer.backend.analysis.strf import UNBOUNDED_STRF_FRAMES, gradient_strf

    cases = {case.name: case for case in MODEL_CASES}
    recurrent = gradient_strf(cases["statenet-lc-gru"].build())
    assert recurrent.whole_past and recurrent.weights.shape[-1] == UNBOUNDED_STRF_FRAMES
    assert np.abs(recurrent.weights[..., 0]).max() > 0  # the first lag shown still has gradient: more past exists
    windowed = gradient_strf(cases["dnet"].build())
    assert not windowed.whole_past and windowed.weights.shape[-1] == cases["dnet"].build().memory_frames
