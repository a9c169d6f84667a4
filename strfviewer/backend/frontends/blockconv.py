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

import torch
import torch.nn.functional as F

from ..errors import ConfigurationError

# Largest number of complex spectrum values one chunk of blocks may hold; bounds memory on long audio.
_CHUNK_COMPLEX_VALUES = 1 << 22


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
) -> torch.Tensor:
    """Causal multi-channel FIR correlation ``(B, C_in, T) -> (B, C_out, T // stride)``.

    ``weight`` has shape ``(C_out, C_in, K)``. Output ``j`` reads input samples
    ``[(j + 1) * stride - K, (j + 1) * stride)``, which equals ``conv1d`` after ``K - stride`` zeros of left
    padding (``K - 1`` when ``stride`` is 1). With ``block`` set (a multiple of ``stride`` that divides ``T``),
    the blocked FFT engine is used and output samples in ``[b * block, (b + 1) * block)`` depend on input
    samples before ``(b + 1) * block`` only; ``None`` uses direct convolution.
    """
    if block is None:
        pad = max(0, weight.shape[-1] - stride)
        return F.conv1d(F.pad(x, (pad, 0)), weight, stride=stride)
    full = _blocked_correlate(x, weight, block)
    if stride == 1:
        return full
    return full[..., stride - 1 :: stride]


def _blocked_correlate(x: torch.Tensor, weight: torch.Tensor, block: int) -> torch.Tensor:
    batch, c_in, length = x.shape
    c_out, _, k = weight.shape
    if length % block:
        raise ConfigurationError(
            f"blocked FIR: input length {length} is not a multiple of the block size {block}"
        )
    n_blocks = length // block
    if n_blocks == 0:
        return x.new_zeros(batch, c_out, 0)
    # Partition the impulse response. One partition of length K when the kernel fits beside a block,
    # otherwise partitions of one block each (a frequency-domain delay line over past blocks).
    part = k if k <= block else block
    n_parts = math.ceil(k / part)
    n_fft = _fast_fft_size(block + part - 1)
    seg_len = block + part - 1

    # Impulse response h[j] = weight[..., K-1-j]; pad to whole partitions; spectrum per partition.
    h = weight.flip(-1)
    h = F.pad(h, (0, n_parts * part - k))
    h = h.reshape(c_out, c_in, n_parts, part).permute(2, 1, 0, 3)  # (P, C_in, C_out, part)
    h_spec = torch.fft.rfft(h, n=n_fft)  # (P, C_in, C_out, bins)
    n_bins = h_spec.shape[-1]
    # (bins, P * C_in, C_out): partition-major contraction axis, matching the stacked input below.
    h_mat = h_spec.permute(3, 0, 1, 2).reshape(n_bins, n_parts * c_in, c_out)

    # Input segment of block b spans samples [(b + 1) * block - seg_len, (b + 1) * block).
    # Partition p of block b reuses the segment spectrum of block b - p (p * block samples earlier).
    lead = seg_len - block + (n_parts - 1) * block
    x_pad = F.pad(x, (lead, 0))
    per_block = n_bins * batch * (n_parts * c_in + 2 * c_out)
    chunk = max(1, min(n_blocks, _CHUNK_COMPLEX_VALUES // per_block))
    outputs = []
    for start in range(0, n_blocks, chunk):
        stop = min(n_blocks, start + chunk)
        n_chunk = stop - start
        # Segments of blocks start - P + 1 .. stop - 1, in padded coordinates.
        window = x_pad[..., start * block : (stop + n_parts - 1) * block + seg_len - block]
        segments = window.unfold(-1, seg_len, block)  # (B, C_in, n_chunk + P - 1, seg_len)
        x_spec = torch.fft.rfft(segments, n=n_fft).permute(3, 2, 0, 1)  # (bins, n + P - 1, B, C_in)
        # Stack [X_b, X_{b-1}, ..., X_{b-P+1}] along the contraction axis.
        shifted = [x_spec[:, n_parts - 1 - p : n_parts - 1 - p + n_chunk] for p in range(n_parts)]
        stacked = torch.cat(shifted, dim=-1) if n_parts > 1 else shifted[0]
        rows = stacked.reshape(n_bins, n_chunk * batch, n_parts * c_in)
        y_spec = torch.bmm(rows, h_mat)  # (bins, n_chunk * B, C_out)
        y_spec = y_spec.reshape(n_bins, n_chunk, batch, c_out).permute(2, 3, 1, 0)
        y = torch.fft.irfft(y_spec, n=n_fft)[..., part - 1 : seg_len]  # (B, C_out, n_chunk, block)
        outputs.append(y.reshape(batch, c_out, n_chunk * block))
    return torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
