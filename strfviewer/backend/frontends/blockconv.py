"""Causal FIR filtering that is exact to the last bit at frame level, and fast.

Every front-end filters audio with causal FIR kernels (PyTorch correlation convention: tap ``K-1`` multiplies
the current sample, tap ``0`` the sample ``K-1`` steps back, zeros before the start). Two engines compute it:

* ``direct``: ``torch.nn.functional.conv1d`` on the left-padded input. Best for short kernels.
* ``blocked``: uniformly partitioned overlap-save FFT convolution (the frequency-domain delay line of
  Gardner 1995 with uniform partitions). The output is produced in blocks of ``block`` samples, and block
  ``b`` is computed only from FFTs of input segments that end at ``(b + 1) * block``. When ``block`` divides
  the samples-per-frame count, every output frame is therefore a function of the samples up to its end and
  of nothing later, not even through FFT round-off: the gradient of frame ``t`` with respect to any later
  sample is exactly zero. (One FFT over the whole signal would spread round-off into the past.)

Both engines agree to float32 round-off, so weights trained with one load into the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from ..errors import ConfigurationError

# Floats one chunk of blocks may hold in its largest intermediate: small enough to stay in cache (the
# FFTs run about 4x faster there on a 2-core machine), large enough to amortise per-call overhead.
_CHUNK_FLOATS = 1 << 20


def _fast_fft_size(n: int) -> int:
    """Smallest size >= n whose only prime factors are 2, 3 and 5 (fast for pocketfft and MKL)."""
    size = n
    while True:
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


def prefer_blocked(kernel_size: int, block: int, in_channels: int = 1) -> bool:
    """Whether the FFT engine is expected to beat direct convolution (measured on a 2-core x86 CPU)."""
    if block < 8 or kernel_size < 48:
        return False
    return kernel_size * min(in_channels, 16) >= 96


def causal_correlate(
    x: torch.Tensor,
    weight: torch.Tensor,
    *,
    stride: int = 1,
    block: int | None = None,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Causal multi-channel FIR correlation ``(B, C_in, T) -> (B, C_out, T // stride)``.

    ``weight`` has shape ``(C_out, C_in, K)``. Output ``j`` reads input samples
    ``[(j + 1) * stride - K, (j + 1) * stride)`` (for ``K < stride``: ``[j * stride, j * stride + K)``), which
    equals ``conv1d`` after ``max(0, K - stride)`` zeros of left padding. ``block=None`` uses direct
    convolution. With ``block`` set (a multiple of ``stride`` that divides ``T``) the blocked FFT engine is
    used: output samples in ``[b * block, (b + 1) * block)`` depend on input samples before
    ``(b + 1) * block`` only.

    ``reduce`` (blocked engine, ``stride == 1`` only) is applied to each chunk of output blocks, shaped
    ``(B, C_out, n_blocks_in_chunk, block)``, while it is still in cache; its results are concatenated along
    axis 2. Front-ends use it to rectify and pool without writing the full-rate output to memory.
    """
    if block is None:
        pad = max(0, weight.shape[-1] - stride)
        return F.conv1d(F.pad(x, (pad, 0)), weight, stride=stride)
    if reduce is not None:
        if stride != 1:
            raise ValueError("causal_correlate: reduce needs stride 1")
        return torch.cat(list(_blocked_chunks(x, weight, block, reduce)), dim=2)
    chunks = [c.flatten(2) for c in _blocked_chunks(x, weight, block, None)]
    full = torch.cat(chunks, dim=-1) if len(chunks) > 1 else chunks[0]
    return full if stride == 1 else full[..., stride - 1 :: stride]


def _blocked_chunks(
    x: torch.Tensor,
    weight: torch.Tensor,
    block: int,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None,
) -> Iterator[torch.Tensor]:
    """Yield ``reduce(y)`` (or ``y``) for consecutive chunks ``y`` of output blocks ``(B, C_out, n, block)``."""
    batch, c_in, length = x.shape
    c_out, _, k = weight.shape
    if length % block:
        raise ConfigurationError(
            f"blocked FIR: input length {length} is not a multiple of the block size {block}"
        )
    n_blocks = length // block
    # Partition the impulse response. One partition of length K when the kernel fits beside a block;
    # otherwise a frequency-domain delay line: partition p holds lags [p * block, (p + 1) * block), except
    # the last, which holds as many lags as the FFT size leaves room for (block + 1 with a 2-block FFT).
    if k <= block:
        part, n_parts = k, 1
        n_fft = _fast_fft_size(block + k - 1)
    else:
        n_fft = _fast_fft_size(2 * block - 1)
        part = n_fft - block + 1
        n_parts = 1 + math.ceil((k - part) / block)
    seg_len = block + part - 1

    # Impulse response h[j] = weight[..., K-1-j], cut into partitions of `part` lags (zero-padded).
    h = F.pad(weight.flip(-1), (0, (n_parts - 1) * block + part - k))
    pieces = [h[..., p * block : p * block + (block if p < n_parts - 1 else part)] for p in range(n_parts)]
    h = torch.stack([F.pad(piece, (0, part - piece.shape[-1])) for piece in pieces])  # (P, C_out, C_in, part)
    h_spec = torch.fft.rfft(h.transpose(1, 2), n=n_fft)  # (P, C_in, C_out, bins)
    n_bins = h_spec.shape[-1]
    # (bins, P * C_in, C_out): partition-major contraction axis, matching the stacked input below.
    h_mat = h_spec.permute(3, 0, 1, 2).reshape(n_bins, n_parts * c_in, c_out).contiguous()

    # Input segment of block b spans samples [(b + 1) * block - seg_len, (b + 1) * block).
    # Partition p of block b reuses the segment spectrum of block b - p (p * block samples earlier).
    x_pad = F.pad(x, (seg_len - block + (n_parts - 1) * block, 0))
    per_block = batch * max(n_bins * (n_parts * c_in + c_out) * 2, c_out * n_fft)
    chunk = max(1, min(n_blocks, _CHUNK_FLOATS // per_block))
    for start in range(0, n_blocks, chunk):
        n_chunk = min(n_blocks, start + chunk) - start
        # Segments of blocks start - P + 1 .. start + n_chunk - 1, in padded coordinates.
        window = x_pad[..., start * block : (start + n_chunk + n_parts - 2) * block + seg_len]
        segments = window.unfold(-1, seg_len, block)  # (B, C_in, n_chunk + P - 1, seg_len)
        x_spec = torch.fft.rfft(segments, n=n_fft).permute(3, 2, 0, 1)  # (bins, n + P - 1, B, C_in)
        # Stack [X_b, X_{b-1}, ..., X_{b-P+1}] along the contraction axis.
        shifted = [x_spec[:, n_parts - 1 - p : n_parts - 1 - p + n_chunk] for p in range(n_parts)]
        stacked = torch.cat(shifted, dim=-1) if n_parts > 1 else shifted[0]
        rows = stacked.reshape(n_bins, n_chunk * batch, n_parts * c_in).contiguous()
        # Both operands must have unit stride in their last axis, or bmm copies them bin by bin.
        y_spec = torch.bmm(rows, h_mat)  # (bins, n_chunk * B, C_out)
        # Transform along the bin axis in place of a transpose: adjacent transforms are adjacent in memory.
        y = torch.fft.irfft(y_spec, n=n_fft, dim=0)[part - 1 : seg_len]  # (block, n_chunk * B, C_out)
        y = y.reshape(block, n_chunk, batch, c_out).permute(2, 3, 1, 0)  # (B, C_out, n_chunk, block)
        yield y if reduce is None else reduce(y)
