"""The frame-level stages front-ends are built from: causal pooling, PCEN and compressions.

Each stage is causal at the frame rate: frame ``t`` of a pooled signal reads samples before ``(t + 1) * hop``
only, and the PCEN smoother is a forward first-order recursion with zero initial state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Values below this are treated as zero by the root and magnitude stages, so their gradients stay finite
# on silent input (d/dx x^(1/3) and d/dx sqrt(x) are infinite at 0). The output changes by < 1e-10.
TINY = 1e-30


def causal_average_pool(x: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """Mean over samples ``[(t + 1) * hop - window, (t + 1) * hop)`` for each frame (zeros before the start)."""
    return F.avg_pool1d(F.pad(x, (window - hop, 0)), window, stride=hop)


def frames_from_block_sums(block_sums: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """Average pool from per-hop block sums ``(B, C, T)`` when ``window`` is a whole number of hops.

    Frame ``t`` is the sum of blocks ``t - m + 1 .. t`` (``m = window / hop``, zeros before the start) over
    ``window``: the same mean as :func:`causal_average_pool` on the samples, summed in another order.
    """
    m = window // hop
    if m == 1:
        return block_sums / window
    padded = F.pad(block_sums, (m - 1, 0))
    return padded.unfold(-1, m, 1).sum(-1) / window


def frames_from_segment_products(partial: torch.Tensor) -> torch.Tensor:
    """Weighted pool from per-block products ``(B, C, T, m)`` with the ``m`` hop-long weight segments.

    ``partial[..., b, q]`` is block ``b`` dotted with weight segment ``q`` (segment ``m - 1`` is the most
    recent hop). Frame ``t`` adds ``partial[..., t - m + 1 + q, q]`` over ``q``; blocks before the start are 0.
    """
    m = partial.shape[-1]
    frames = partial.shape[-2]
    padded = F.pad(partial, (0, 0, m - 1, 0))
    return sum(padded[..., q : q + frames, q] for q in range(m))


def causal_weighted_pool(x: torch.Tensor, weights: torch.Tensor, hop: int) -> torch.Tensor:
    """Per-channel weighted sum over the ``L`` samples ending at each frame's end.

    ``x`` is ``(B, C, T)``, ``weights`` is ``(C, L)`` with the most recent sample last.
    """
    channels, length = weights.shape
    return F.conv1d(F.pad(x, (length - hop, 0)), weights.unsqueeze(1), stride=hop, groups=channels)


_SCAN_BLOCK = 64


def pcen_smoother(
    energy: torch.Tensor, s: torch.Tensor | float, initial: torch.Tensor | None = None
) -> torch.Tensor:
    """``M[t] = (1 - s) M[t-1] + s E[t]`` along the last axis, from ``M[-1] = initial`` (default 0), so a
    stream can carry the state from one chunk to the next; ``s`` scalar or per channel.

    Computed as a blocked scan: within blocks of 64 frames a lower-triangular decay matrix (exact zeros
    above the diagonal, so the future never enters), across blocks the carried state. Unlike a sample loop
    it is built from matmuls, so batched vector-Jacobian products (vmap) work through it.
    """
    s = torch.as_tensor(s, dtype=energy.dtype, device=energy.device)
    length = energy.shape[-1]
    block = min(_SCAN_BLOCK, max(1, length))
    lag = torch.arange(block, device=energy.device)
    keep = torch.log1p(-s)
    carry = torch.exp((lag + 1).to(energy.dtype) * keep[..., None])  # decay of the state entering a block
    if s.dim() == 1:  # per channel: broadcast over (channel, row, column) of the decay matrices
        s, keep = s[:, None, None], keep[:, None, None]
    causal = lag[:, None] >= lag[None, :]
    steps = (lag[:, None] - lag[None, :]).clamp(min=0).to(energy.dtype)  # 0 above the diagonal: no overflow
    decay = torch.where(causal, s * torch.exp(steps * keep), torch.zeros((), dtype=energy.dtype))
    pad = (-length) % block
    e = torch.nn.functional.pad(energy, (0, pad)).unflatten(-1, (-1, block))  # (..., n_blocks, block)
    local = torch.matmul(e.unsqueeze(-2), decay.transpose(-1, -2).unsqueeze(-3)).squeeze(-2)
    outputs, state = [], initial
    for b in range(e.shape[-2]):
        block_out = local[..., b, :] if state is None else local[..., b, :] + state.unsqueeze(-1) * carry
        outputs.append(block_out)
        state = block_out[..., -1]
    return torch.cat(outputs, dim=-1)[..., :length]


def pcen(
    energy: torch.Tensor,
    s: torch.Tensor | float,
    alpha: torch.Tensor | float,
    delta: torch.Tensor | float,
    r: torch.Tensor | float,
    eps: float,
) -> torch.Tensor:
    """Per-channel energy normalisation (Wang et al. 2017) of ``(B, C, T)`` frame energies.

    ``(E / (eps + M) ** alpha + delta) ** r - delta ** r`` with the causal smoother ``M``. Per-channel
    parameters are ``(C,)`` tensors; scalars apply to every channel.
    """
    return pcen_normalise(energy, pcen_smoother(energy, s), alpha, delta, r, eps)


def pcen_normalise(
    energy: torch.Tensor,
    smooth: torch.Tensor,
    alpha: torch.Tensor | float,
    delta: torch.Tensor | float,
    r: torch.Tensor | float,
    eps: float,
) -> torch.Tensor:
    """The pointwise part of :func:`pcen`, given the smoother ``M``."""

    def per_channel(v: torch.Tensor | float) -> torch.Tensor | float:
        return v.unsqueeze(-1) if isinstance(v, torch.Tensor) and v.dim() == 1 else v

    alpha, delta, r = per_channel(alpha), per_channel(delta), per_channel(r)
    return (energy / (eps + smooth) ** alpha + delta) ** r - delta**r


def log_floor(x: torch.Tensor, floor: float) -> torch.Tensor:
    """``ln(max(x, floor))``."""
    return torch.log(torch.clamp(x, min=floor))


def cube_root(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 0) ** (1/3)`` with a finite gradient at 0."""
    return torch.clamp(x, min=TINY) ** (1.0 / 3.0)


def log1p_rectified(x: torch.Tensor) -> torch.Tensor:
    """``ln(1 + max(x, 0))``."""
    return torch.log1p(torch.clamp(x, min=0.0))


def magnitude(power: torch.Tensor) -> torch.Tensor:
    """``sqrt(power)`` with a finite gradient where the power is exactly zero."""
    return torch.sqrt(torch.clamp(power, min=TINY))
