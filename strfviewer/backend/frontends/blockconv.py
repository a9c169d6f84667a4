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
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..errors import ConfigurationError

# Floats one chunk of blocks may hold in its largest intermediate: small enough to stay in cache (the
# FFTs run about 4x faster there on a 2-core machine), large enough to amortise per-call overhead.
_CHUNK_FLOATS = 1 << 20
_MIN_GEMM_ROWS = 128
_REAL_MIX_MAX_INNER = 16


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


_direct_only = False


@contextmanager
def direct_engine() -> Iterator[None]:
    """Run front-ends on direct convolution only, e.g. to compare with the blocked engine or time it."""
    global _direct_only
    previous, _direct_only = _direct_only, True
    try:
        yield
    finally:
        _direct_only = previous


def prefer_blocked(kernel_size: int, block: int, in_channels: int = 1) -> bool:
    """Whether the FFT engine is expected to beat direct convolution (measured on a 2-core x86 CPU)."""
    if _direct_only or block < 8 or kernel_size < 48:
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

    ``reduce`` (blocked engine only) is applied to each chunk of output blocks, shaped
    ``(B, C_out, n_blocks_in_chunk, block // stride)``, while it is still in cache; its results are
    concatenated along axis 2. Front-ends use it to rectify and pool without writing the full-rate output.
    """
    if block is None:
        pad = max(0, weight.shape[-1] - stride)
        return F.conv1d(F.pad(x, (pad, 0)), weight, stride=stride)
    chunks = _blocked_chunks(x.transpose(1, 2), weight, block, stride, None)
    if reduce is not None:
        return torch.cat([reduce(c.permute(1, 3, 2, 0)) for c in chunks], dim=2)
    batch, _, length = x.shape
    out = x.new_empty(batch, weight.shape[0], length // block, block // stride)
    start = 0
    for chunk in chunks:  # (r, B, n, C_out)
        out[:, :, start : start + chunk.shape[2]] = chunk.permute(1, 3, 2, 0)
        start += chunk.shape[2]
    return out.reshape(batch, weight.shape[0], length // stride)


def causal_correlate_time_major(
    x: torch.Tensor,
    weight: torch.Tensor,
    *,
    stride: int,
    block: int,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`causal_correlate` on the blocked engine for time-major signals ``(B, T, C_in) -> (B, T', C_out)``.

    Stacks of multi-channel layers stay time-major between layers, which is the layout the FFT engine reads
    and writes without transposing. ``bias`` ``(C_out,)`` is added in the frequency domain (DC bin).
    """
    batch, length, c_in = x.shape
    phases = 1
    if stride > 1 and length % stride == 0 and block % stride == 0:
        # Polyphase form: a stride-s correlation is a stride-1 correlation at the output rate over the s
        # input phases (s * C_in channels, ceil(K / s) taps). Time-major, the phases are a free reshape.
        phases = stride
        x = x.reshape(batch, length // stride, stride * c_in)
        length, block, stride = length // stride, block // stride, 1
    out = x.new_empty(batch, length // block, block // stride, weight.shape[0])
    start = 0
    for chunk in _blocked_chunks(x, weight, block, stride, bias, phases):  # (r, B, n, C_out)
        out[:, start : start + chunk.shape[2]] = chunk.permute(1, 2, 0, 3)
        start += chunk.shape[2]
    return out.reshape(batch, length // stride, weight.shape[0])


def _as_real_matrix(h: torch.Tensor) -> torch.Tensor:
    """Real ``(..., 2K, 2C)`` matrix that multiplies interleaved (re, im) rows like complex ``h (..., K, C)``."""
    re, im = h.real, h.imag
    top = torch.stack([re, im], dim=-1)  # row (k, re): contributes re*Hr to out.re, re*Hi to out.im
    bottom = torch.stack([-im, re], dim=-1)  # row (k, im): contributes -im*Hi to out.re, im*Hr to out.im
    rows = torch.stack([top, bottom], dim=-3)  # (..., K, 2, C, 2)
    return rows.reshape(*h.shape[:-2], 2 * h.shape[-2], 2 * h.shape[-1]).contiguous()


# Kernel spectra of fixed weights (parameters used without autograd, e.g. while streaming), so that
# pushing many short chunks does not transform the same kernels again each time. Entries hold a weak
# reference to their weight and its version counter, so an updated or freed weight never matches.
_SPECTRA_CACHE: OrderedDict[int, tuple[weakref.ref, int, int, tuple]] = OrderedDict()
_SPECTRA_CACHE_SIZE = 16


def _kernel_spectra(weight: torch.Tensor, block: int, phases: int) -> tuple[torch.Tensor, int, int]:
    """``(h_mat, n_fft, n_parts)`` for the partitioned FFT engine, from the cache when ``weight`` is fixed."""
    cacheable = not (torch.is_grad_enabled() and weight.requires_grad)
    key = id(weight)
    if cacheable and key in _SPECTRA_CACHE:
        ref, version, layout, value = _SPECTRA_CACHE[key]
        if ref() is weight and version == weight._version and layout == (block, phases):
            _SPECTRA_CACHE.move_to_end(key)
            return value
    value = _partition_spectra(_polyphase(weight, phases) if phases > 1 else weight, block)
    if cacheable:
        _SPECTRA_CACHE[key] = (weakref.ref(weight), weight._version, (block, phases), value)
        while len(_SPECTRA_CACHE) > _SPECTRA_CACHE_SIZE:
            _SPECTRA_CACHE.popitem(last=False)
    return value


def _polyphase(weight: torch.Tensor, phases: int) -> torch.Tensor:
    """``(C_out, C_in, K)`` taps as ``(C_out, phases * C_in, ceil(K / phases))`` taps over the input phases."""
    c_out, c_in, k = weight.shape
    taps = -(-k // phases)
    weight = F.pad(weight, (taps * phases - k, 0)).reshape(c_out, c_in, taps, phases)
    return weight.permute(0, 3, 1, 2).reshape(c_out, phases * c_in, taps)


def _partition_spectra(weight: torch.Tensor, block: int) -> tuple[torch.Tensor, int, int]:
    c_out, c_in, k = weight.shape
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

    # Impulse response h[j] = weight[..., K-1-j], cut into partitions of `part` lags (zero-padded).
    h = F.pad(weight.flip(-1), (0, (n_parts - 1) * block + part - k))
    pieces = [h[..., p * block : p * block + (block if p < n_parts - 1 else part)] for p in range(n_parts)]
    h = torch.stack([F.pad(piece, (0, part - piece.shape[-1])) for piece in pieces])  # (P, C_out, C_in, part)
    h_spec = torch.fft.rfft(h, n=n_fft)  # (P, C_out, C_in, bins)
    n_bins = h_spec.shape[-1]
    # (bins, P * C_in, C_out): partition-major contraction axis, matching the stacked input below.
    h_mat = h_spec.permute(3, 0, 2, 1).reshape(n_bins, n_parts * c_in, c_out)
    # With a short contraction axis, complex GEMMs are call-overhead bound; the equivalent real GEMM on
    # interleaved (re, im) pairs runs about twice as fast there (measured on a 2-core x86 CPU).
    real_mix = n_parts * c_in <= _REAL_MIX_MAX_INNER
    return (_as_real_matrix(h_mat) if real_mix else h_mat.contiguous()), n_fft, n_parts


def _blocked_chunks(
    x: torch.Tensor,
    weight: torch.Tensor,
    block: int,
    stride: int,
    bias: torch.Tensor | None,
    phases: int = 1,
) -> Iterator[torch.Tensor]:
    """Yield consecutive chunks of output blocks as ``(block // stride, B, n_chunk, C_out)`` from ``x (B, T, C_in)``
    (``phases > 1``: ``x`` holds that many input phases of ``weight``'s channels, see :func:`_polyphase`)."""
    batch, length, c_in = x.shape
    c_out = weight.shape[0]
    if length % block or block % stride:
        raise ConfigurationError(
            f"blocked FIR: the block size {block} must divide the input length {length} and be a multiple "
            f"of the stride {stride}"
        )
    n_blocks = length // block
    h_mat, n_fft, n_parts = _kernel_spectra(weight, block, phases)
    real_mix = not h_mat.is_complex()
    n_bins = n_fft // 2 + 1

    # The segment of block b is the n_fft samples ending at (b + 1) * block; circular convolution wraps
    # only into its first part - 1 outputs, and the last `block` outputs are exact. Partition p of block b
    # reuses the segment spectrum of block b - p (p * block samples earlier).
    lead = n_fft - block + (n_parts - 1) * block  # zeros of history before the first sample
    per_block = batch * max(n_bins * (n_parts * c_in + c_out) * 2, c_out * n_fft)
    chunk = max(1, min(n_blocks, _CHUNK_FLOATS // per_block))
    if c_in > 1:
        chunk = max(chunk, min(n_blocks, _MIN_GEMM_ROWS))
    for start in range(0, n_blocks, chunk):
        n_chunk = min(n_blocks, start + chunk) - start
        first, stop = start * block - lead, (start + n_chunk - 1) * block + block
        # Only windows that reach before the start need zero padding; later ones are views of x.
        window = x[:, first:stop] if first >= 0 else F.pad(x[:, :stop], (0, 0, -first, 0))
        segments = window.unfold(1, n_fft, block).transpose(-1, -2)  # (B, n + P - 1, n_fft, C_in)
        x_spec = torch.fft.rfft(segments, dim=-2)  # (B, n + P - 1, bins, C_in)
        # Stack [X_b, X_{b-1}, ..., X_{b-P+1}] along the contraction axis.
        shifted = [x_spec[:, n_parts - 1 - p : n_parts - 1 - p + n_chunk] for p in range(n_parts)]
        stacked = torch.cat(shifted, dim=-1) if n_parts > 1 else shifted[0]
        rows = stacked.permute(2, 0, 1, 3).reshape(n_bins, batch * n_chunk, n_parts * c_in)
        # Both operands need unit stride in their last axis, or bmm copies them bin by bin.
        if real_mix:
            rows = torch.view_as_real(rows.contiguous()).reshape(n_bins, batch * n_chunk, -1)
            y_spec = torch.view_as_complex(torch.bmm(rows, h_mat).reshape(n_bins, batch * n_chunk, c_out, 2))
        else:
            y_spec = torch.bmm(rows.contiguous(), h_mat)  # (bins, B * n_chunk, C_out)
        if bias is not None:
            y_spec[0] += n_fft * bias  # a constant in time is a DC term (irfft divides by n_fft)
        # Transform along the bin axis instead of transposing: adjacent transforms are adjacent in memory.
        y = torch.fft.irfft(y_spec, n=n_fft, dim=0)[n_fft - block + stride - 1 :: stride]
        yield y.reshape(block // stride, batch, n_chunk, c_out)
