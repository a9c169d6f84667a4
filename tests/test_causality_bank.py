"""The contract every front-end meets: shape, determinism, exact causality, input validation.

Parametrised over ``FRONTEND_CASES``; a new front-end joins by adding a case there.
"""

from __future__ import annotations

import pytest
import torch

from frontend_cases import CASE_IDS, FRONTEND_CASES, FrontendCase

PROBE_FRAMES = 40
PROBE_FRAME = 20


@pytest.fixture(params=FRONTEND_CASES, ids=CASE_IDS, scope="module")
def case_module(request):
    case: FrontendCase = request.param
    torch.manual_seed(0)
    return case, case.build().eval()


def test_output_shape(case_module):
    case, module = case_module
    x = torch.randn(3, 1, 30 * module.hop)
    with torch.no_grad():
        y = module(x)
    assert y.shape == (3, 1, module.out_channels, 30)
    assert torch.isfinite(y).all()
    assert module.hop == max(1, round(case.audio_fs * case.dt_ms / 1000))


def test_eval_determinism(case_module):
    _, module = case_module
    x = torch.randn(2, 1, 20 * module.hop)
    with torch.no_grad():
        first = module(x)
        for _ in range(3):
            assert torch.equal(module(x), first)


def _frame_gradient(module, x: torch.Tensor, frame: int) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    y = module(x)
    y[0, 0, :, frame].sum().backward()
    return x.grad[0, 0]


def test_future_gradient_is_exactly_zero(case_module):
    _, module = case_module
    hop = module.hop
    grad = _frame_gradient(module, torch.randn(1, 1, PROBE_FRAMES * hop), PROBE_FRAME)
    end = (PROBE_FRAME + 1) * hop
    future = grad[end:]
    assert torch.count_nonzero(future) == 0, (
        f"frame {PROBE_FRAME} depends on {int(torch.count_nonzero(future))} later samples, "
        f"largest gradient {future.abs().max().item():.3e}"
    )
    own_bin = grad[PROBE_FRAME * hop : end]
    assert own_bin.abs().max() > 0, "the frame does not depend on its own bin"


def test_every_frame_is_causal_under_random_projection(case_module):
    """A random projection over channels, for several frames at once: still exactly zero after each end."""
    _, module = case_module
    hop = module.hop
    x = torch.randn(1, 1, 24 * hop, requires_grad=True)
    y = module(x)
    weights = torch.randn(module.out_channels)
    for frame in (0, 5, 23):
        (grad,) = torch.autograd.grad((y[0, 0, :, frame] * weights).sum(), x, retain_graph=True)
        assert torch.count_nonzero(grad[0, 0, (frame + 1) * hop :]) == 0


@pytest.mark.parametrize(
    "shape",
    [lambda hop: (10 * hop,), lambda hop: (2, 10 * hop), lambda hop: (2, 2, 10 * hop)],
    ids=["1d", "2d", "stereo"],
)
def test_rank_and_channel_validation(case_module, shape):
    _, module = case_module
    with pytest.raises(ValueError, match=r"\(B, 1, T_audio\)"):
        module(torch.randn(*shape(module.hop)))


def test_length_must_be_multiple_of_hop(case_module):
    _, module = case_module
    with pytest.raises(ValueError, match="is not a multiple of hop") as info:
        module(torch.randn(2, 1, 10 * module.hop + 1))
    message = str(info.value)
    assert "Crop or zero-pad" in message and "dt" in message
