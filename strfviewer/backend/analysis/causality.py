"""Causality Jacobians: how each output frame depends on each audio sample, its future leak, its reach.

Row ``t`` of the Jacobian is the gradient of one scalar of frame ``t`` (a channel, a random projection over
channels, the sum of absolute per-channel gradients, or a neuron's rate) with respect to every input
sample. Two exact ways to get the rows, both batched (no Python loop of full backward passes):

* local windows, for modules whose frames depend on a bounded past (FIR stages only): each frame is
  recomputed from the ``fir_reach`` samples before its end plus a margin of future samples, many frames
  in one batch, and one backward pass returns all their rows. The margin is where a leak would show.
* through the recursion, for front-ends (and models on them) that split into FIR energies and a frame-rate
  tail (PCEN): per-channel local rows of every frame energy, the exact Jacobian of the outputs with respect
  to the energies (small: frames x channels x frames), and one batched product combining the two.
* the whole signal, for modules strfviewer does not know: batched vector-Jacobian products over the full
  input, a chunk of frames at a time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..frontends.base import RecursionSplit
from ..frontends.modules import frontend_of, hop_of, is_model, n_outputs
from ..jobs import CancelFlag, ProgressCallback, check_cancel, report
from ..models import AudioEncodingModel

MODES = ("channel", "projection", "abs")
# How the rows were computed (CausalityResult.method), see the module docstring.
LOCAL_WINDOWS, THROUGH_RECURSION, WHOLE_SIGNAL = "local windows", "through the recursion", "whole signal"
# Gradients below this fraction of a row's largest past gradient do not count towards the receptive field
# (the FFT engine leaves round-off of that order on the zero taps of its partitions).
RF_THRESHOLD = 1e-6
# Floats the batched backward passes may hold at once (bounds memory on long audio).
_MEMORY_FLOATS = 1 << 27
# Frames per batch when rows are handed out as they finish.
_PROGRESSIVE_ROWS = 8
# Energy frames combined at once through a frame-rate recursion (each group only into the rows it reaches).
_SPREAD_FRAMES = 16
# Largest Jacobian a request may need: it is held whole as float32 (frames x samples), plus, for front-ends
# with a frame-rate recursion (PCEN), the tail's frames x channels x frames gradient. Both grow with the square
# of the segment, so a request beyond this is refused before anything is allocated: 2 GiB is about 7 s of
# 48 kHz audio in 5 ms frames. A shorter segment is the fix, never more memory.
MAX_JACOBIAN_BYTES = 2 << 30
RowsCallback = Callable[[int, np.ndarray], None]


@dataclass(frozen=True)
class CausalityResult:
    """A frames x samples Jacobian with its future leak and receptive field."""

    jacobian: np.ndarray
    hop: int
    leak_abs: np.ndarray
    leak_rel: np.ndarray
    receptive_field: int | None
    method: str
    seconds: float

    @property
    def leak(self) -> float:
        """Largest gradient at or after any frame's end (0.0 when the module is exactly causal)."""
        return float(self.leak_abs.max()) if self.leak_abs.size else 0.0

    @property
    def leak_is_exactly_zero(self) -> bool:
        """True when no frame has any nonzero gradient at or after its end."""
        return bool(np.all(self.leak_abs == 0.0))

    @property
    def largest_relative_leak(self) -> float:
        """Largest leak of a frame relative to its largest past gradient (0.0 without frames)."""
        return float(self.leak_rel.max()) if self.leak_rel.size else 0.0


def receptive_field_text(receptive_field: int | None, method: str | None, audio_fs: int, span_s: float) -> str:
    """The receptive field in ms, or why it has no finite value, for a Jacobian of ``span_s`` seconds of audio
    computed by ``method`` (what every view says of a receptive field)."""
    if receptive_field is not None:
        return f"{1000.0 * receptive_field / audio_fs:.1f} ms"
    if method == THROUGH_RECURSION:
        return "whole past (recursive)"
    if method == WHOLE_SIGNAL:
        return "whole past (not bounded for this module)"
    return f"longer than the {span_s:.3g} s measured (gradients reach its start)"


def declared_reach(module: nn.Module) -> int | None:
    """Samples before a frame's end that the module reads, or None if unknown or unbounded."""
    frontend = frontend_of(module)
    if frontend is None or frontend.recursive:
        return None
    if frontend is module:
        return frontend.fir_reach
    if not isinstance(module, AudioEncodingModel) or module.counts_positions:
        return None
    remembered = module.memory_frames  # beyond the STRF for a prefilter or DNet's decay; None for a recurrence
    return None if remembered is None else frontend.fir_reach + (int(remembered) - 1) * frontend.hop


def _bounded_memory(module: nn.Module) -> bool:
    """True for a model whose outputs read a bounded past although no window of audio reproduces them (the
    Transformer with a context window counts positions): its receptive field is measured from its rows."""
    frontend = frontend_of(module)
    return (isinstance(module, AudioEncodingModel) and frontend is not None and not frontend.recursive
            and module.memory_frames is not None)


def _recursion_split(module: nn.Module) -> RecursionSplit | None:
    """The front-end's split, with the tail extended by the model when the module is a template model."""
    frontend = frontend_of(module)
    split = frontend.recursion_split() if frontend is not None else None
    if split is None or frontend is module:
        return split
    if not isinstance(module, AudioEncodingModel) or type(module).forward is not AudioEncodingModel.forward:
        return None

    def tail(e: torch.Tensor) -> torch.Tensor:
        return module.from_spectrogram(split.tail(e)[0]), None

    return split._replace(tail=tail)


def _cotangents(out: torch.Tensor, frame_index: torch.Tensor | int, mode: str, channel: int | None,
                neuron: int | None, weights: torch.Tensor | None, is_model: bool) -> torch.Tensor:
    """Scalars per batch item ``(B,)`` (or ``(B, C)`` for abs mode) at the given frame of each item."""
    rows = torch.arange(out.shape[0], device=out.device)
    if is_model:  # (B, N, 1, T)
        values = out[rows, :, 0, frame_index]  # (B, N)
        if neuron is not None:
            return values[:, neuron]
    else:  # (B, 1, C, T)
        values = out[rows, 0, :, frame_index]  # (B, C)
        if mode == "channel":
            return values[:, channel]
    if mode == "abs":
        return values
    return values @ weights


def _frame_scalars(out: torch.Tensor, mode: str, channel: int | None, neuron: int | None,
                   weights: torch.Tensor | None, is_model: bool) -> torch.Tensor:
    """Per-frame scalars ``(T,)`` (``(T, C)`` in abs mode) of a single-item output."""
    values = out[0, :, 0] if is_model else out[0, 0]  # (N or C, T)
    if is_model and neuron is not None:
        return values[neuron]
    if not is_model and mode == "channel":
        return values[channel]
    return values.T if mode == "abs" else weights @ values


def jacobian_bytes(n_samples: int, hop: int, recursion_channels: int = 0) -> int:
    """Bytes :func:`frame_jacobian` allocates for ``n_samples`` of audio: the float32 frames x samples rows and,
    through a recursion of ``recursion_channels`` channels, its frames x channels x frames gradient."""
    n_frames = n_samples // hop
    return 4 * n_frames * (n_frames * hop) + 4 * n_frames * n_frames * recursion_channels


def check_jacobian_size(n_samples: int, hop: int, *, audio_fs: float | None = None,
                        recursion_channels: int = 0, budget: int = MAX_JACOBIAN_BYTES) -> None:
    """Raise ConfigurationError, before any allocation, if a Jacobian of ``n_samples`` needs more than ``budget``
    bytes; the message says how long a segment fits. Callable with shapes alone (no audio needed)."""
    needed = jacobian_bytes(n_samples, hop, recursion_channels)
    if needed <= budget:
        return
    n_frames = n_samples // hop
    max_frames = math.isqrt(budget // (4 * (hop + recursion_channels)))
    max_samples = max_frames * hop
    if audio_fs:
        asked = f"{n_samples / audio_fs:.1f} s ({n_frames} frames x {n_samples} samples at {audio_fs:g} Hz)"
        fits = f"at most {math.floor(max_samples / audio_fs * 10) / 10:.1f} s at this rate ({max_frames} frames)"
    else:
        asked = f"{n_frames} frames x {n_samples} samples"
        fits = f"at most {max_samples} samples ({max_frames} frames)"
    raise ConfigurationError(
        f"a causality Jacobian of {asked} needs {needed / 2**30:.1f} GiB, more than the "
        f"{budget / 2**30:g} GiB limit (it grows with the square of the length). Choose a shorter segment: {fits}."
    )


def frame_jacobian(
    module: nn.Module,
    audio: torch.Tensor | np.ndarray,
    *,
    mode: str = "projection",
    channel: int | None = None,
    neuron: int | None = None,
    seed: int = 0,
    margin_frames: int = 2,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    rows_ready: RowsCallback | None = None,
) -> CausalityResult:
    """Frames x samples Jacobian of a front-end (``mode``: one ``channel``, a random ``projection`` over
    channels, or ``abs``: the sum of absolute per-channel gradients) or of a model (one ``neuron``, or a
    random projection over neurons). ``audio`` is cropped to a whole number of frames.

    ``rows_ready(first_frame, rows)`` receives rows as soon as they are final, in small batches, so a view
    can draw a slow Jacobian (the ICNet encoder's) while it is being computed.
    """
    start = time.perf_counter()
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    model = is_model(module)
    hop = hop_of(module)
    frontend = frontend_of(module)
    split = _recursion_split(module)
    n_samples = int(audio.numel()) if torch.is_tensor(audio) else int(np.size(audio))
    check_jacobian_size(n_samples, hop, audio_fs=getattr(frontend, "audio_fs", None),
                        recursion_channels=int(getattr(frontend, "out_channels", 0)) if split is not None else 0)
    x = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
    n_frames = x.shape[0] // hop
    if n_frames == 0:
        raise ConfigurationError(f"the audio is shorter than one frame ({hop} samples)")
    x = x[: n_frames * hop]
    outputs = n_outputs(module)
    if mode == "channel" and not model and not (isinstance(channel, int) and 0 <= channel < (outputs or 0)):
        raise ConfigurationError(f"channel must be an index below {outputs} (got {channel!r})")
    if model and neuron is not None and not 0 <= neuron < (outputs or 0):
        raise ConfigurationError(f"neuron must be an index below {outputs} (got {neuron!r})")
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(outputs, generator=generator) / math.sqrt(outputs) if outputs else None
    was_training = module.training
    module.eval()
    try:
        reach = declared_reach(module)
        args = (mode, channel, neuron, weights, model)
        if split is not None:
            jac = _through_recursion(split, x, hop, frontend.fir_reach, margin_frames, args, progress,
                                     cancel)
            method = THROUGH_RECURSION
            if rows_ready is not None:  # every row is complete only once all frame energies are in
                rows_ready(0, jac)
        elif reach is not None:
            jac = _local_windows(module, x, hop, reach, margin_frames, args, progress, cancel, rows_ready)
            method = LOCAL_WINDOWS
        else:
            jac, method = _whole_signal(module, x, hop, args, progress, cancel, rows_ready=rows_ready), WHOLE_SIGNAL
    finally:
        module.train(was_training)
    leak_abs, leak_rel, rf = _leak_and_reach(jac, hop, recursive=reach is None and not _bounded_memory(module))
    return CausalityResult(jac, hop, leak_abs, leak_rel, rf, method, time.perf_counter() - start)


def _local_windows(module, x, hop, reach, margin_frames, args, progress, cancel, rows_ready) -> np.ndarray:
    n_frames = x.shape[0] // hop
    past = math.ceil(reach / hop) * hop
    future = margin_frames * hop
    width = past + future
    jac = np.zeros((n_frames, x.shape[0]), dtype=np.float32)
    # Frames whose window would start before the audio: their stages see the module's own zero history
    # (zeros at each layer's input, not the layer's response to silence), so take them from the prefix.
    n_early = min(n_frames, past // hop - 1)
    if n_early > 0:
        prefix = min(x.shape[0], past + future)
        early_ready = None
        if rows_ready is not None:  # hand out full-width rows of ``jac``, not the prefix columns
            def early_ready(first: int, rows: np.ndarray) -> None:
                rows_ready(first, jac[first : first + len(rows)])
        _whole_signal(module, x[:prefix], hop, args, None, cancel, n_rows=n_early, rows_ready=early_ready,
                      out=jac[:n_early, :prefix])
    padded = torch.nn.functional.pad(x, (past - hop, future + hop))
    windows = padded.unfold(0, width, hop)[:n_frames]  # window t covers [(t+1)hop - past, (t+1)hop + future)
    channels = getattr(module, "out_channels", 1) if args[0] == "abs" else 1
    chunk = _chunk(n_frames, width * 64 * channels, rows_ready)
    frame_in_window = past // hop - 1
    for first in range(n_early, n_frames, chunk):
        check_cancel(cancel)
        batch = windows[first : first + chunk].clone().unsqueeze(1).requires_grad_(True)
        grads = _batched_rows(module, batch, frame_in_window, args)  # (b, width)
        for i, row in enumerate(grads):
            t = first + i
            lo = (t + 1) * hop - past
            a, b = max(lo, 0), min(lo + width, x.shape[0])
            jac[t, a:b] = row[a - lo : b - lo]
        if rows_ready is not None:
            rows_ready(first, jac[first : first + len(grads)])
        report(progress, min(first + chunk, n_frames), n_frames, "causality Jacobian")
    return jac


def _through_recursion(split, x, hop, reach, margin_frames, args, progress, cancel) -> np.ndarray:
    """Rows through a frame-rate tail: ``row_t = sum_{c,k} dS_t/dE[c,k] * dE[c,k]/dx`` with the scalar
    ``S_t`` of frame ``t`` and the frame energies ``E``. Nothing is assumed causal: the energy rows carry a
    margin of future samples and the tail's gradient covers every pair of frames."""
    mode = args[0]
    n_frames, n_samples = x.shape[0] // hop, x.shape[0]
    with torch.no_grad():
        e = split.energy(x.reshape(1, 1, -1))
    e = e.detach().requires_grad_(True)
    per_frame = _frame_scalars(split.tail(e)[0], *args)  # (T,) or, in abs mode, (T, C)
    seeds = torch.eye(n_frames)
    if mode == "abs":
        # The tail (PCEN) is per channel, so the gradient of the sum of frame t's channels with respect to
        # channel c's energies is channel c's own: one pass keeps every channel's rows apart.
        seeds = seeds.unsqueeze(-1).expand(-1, -1, per_frame.shape[1])
    (dtail,) = torch.autograd.grad(per_frame, e, seeds, is_grads_batched=True)
    dtail = dtail[:, 0]  # (rows t, channels c, frames k)
    support = dtail.abs().amax(dim=1) > 0  # (t, k): which rows an energy frame reaches, as measured
    past = math.ceil(reach / hop) * hop
    width = past + margin_frames * hop
    channels = e.shape[1]
    jac = np.zeros((n_frames, n_samples), dtype=np.float32)
    chunk = max(1, min(n_frames, _MEMORY_FLOATS // (width * 4 * channels)))
    kept = []
    for first in range(0, n_frames, chunk):
        check_cancel(cancel)
        ks = torch.arange(first, min(first + chunk, n_frames))
        local = _energy_rows(split.channel_energy, channels, x, hop, past, width, ks, cancel)  # (C, k, width)
        if mode == "abs":
            kept.append(local)
        else:
            _spread(jac, dtail, support, local, ks, hop, past)
        report(progress, int(ks[-1]) + 1, n_frames, "causality Jacobian")
    if mode == "abs":
        _abs_rows(jac, dtail, torch.cat(kept, dim=1), hop, past, cancel)
    return jac


def _spread(jac, dtail, support, local, ks, hop, past) -> None:
    """``jac[t] += sum_{c, k in ks} dtail[t, c, k] * local[c, k]``, each energy row at its frame's window.

    Frames go in small groups, each combined only into the rows its energies reach (``support``, measured on
    the tail's gradient: for a causal tail, no row before the group), which halves the work over a segment.
    """
    n_samples = jac.shape[1]
    width = local.shape[-1]
    for i in range(0, ks.shape[0], _SPREAD_FRAMES):
        group = ks[i : i + _SPREAD_FRAMES]
        reached = torch.nonzero(support[:, group].any(dim=1))
        if reached.numel() == 0:
            continue
        t0, t1 = int(reached[0]), int(reached[-1]) + 1
        spread = torch.bmm(dtail[t0:t1, :, group].permute(2, 0, 1), local[:, i : i + _SPREAD_FRAMES].permute(1, 0, 2))
        for k, rows in zip(group.tolist(), spread.numpy(), strict=True):  # (t1 - t0, width) per frame k
            lo = (k + 1) * hop - past
            a, b = max(lo, 0), min(lo + width, n_samples)
            jac[t0:t1, a:b] += rows[:, a - lo : b - lo]


def _energy_rows(channel_energy, channels, x, hop, past, width, ks, cancel=None) -> torch.Tensor:
    """Per-channel gradients ``(C, len(ks), width)`` of the frame energies ``E[c, k]``, each over the window
    ``[(k + 1) hop - past, (k + 1) hop + width - past)`` (zeros outside the audio).

    Frames ``width / hop`` apart have disjoint windows, so one batch of backward passes per channel, one
    pass per residue class ("colour"), yields all of them from a single forward pass; each channel runs alone,
    through the same stages as the full bank. The audio segment starts where the chunk's first window does,
    which no energy in the chunk reads before.
    """
    colours = width // hop
    first, last = int(ks[0]), int(ks[-1])
    s0 = max(0, (first + 1) * hop - past)
    s1 = min(x.shape[0], (last + 1) * hop + width - past)
    segment = x[s0:s1]
    local = ks - s0 // hop
    seeds = torch.zeros(colours, 1, 1, segment.shape[0] // hop)
    seeds[ks % colours, 0, 0, local] = 1.0
    starts = (ks + 1) * hop - past - s0 + width  # window starts in the padded gradient below
    index = starts[:, None] + torch.arange(width)
    rows = torch.empty(channels, ks.shape[0], width)
    for c in range(channels):
        check_cancel(cancel)  # one batch per channel: a close or a new request stops within one
        signal = segment.reshape(1, 1, -1).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(channel_energy(signal, c), signal, seeds, is_grads_batched=True)
        padded = torch.nn.functional.pad(g[:, 0, 0], (width, width))
        rows[c] = padded[(ks % colours)[:, None], index]
    return rows


def _abs_rows(jac, dtail, local, hop, past, cancel) -> None:
    """``jac[t] = sum_c |row_{t,c}|``: each channel's row is assembled whole (hop blocks gathered from every
    frame window that covers them) before its absolute value is taken, a chunk of rows at a time."""
    channels, n_frames, width = local.shape
    n_blocks, past_blocks = width // hop, past // hop
    segments = local.reshape(channels, n_frames, n_blocks, hop)
    # Window of frame k, block q covers audio block k + 1 - past_blocks + q; pad so every index is valid.
    pad_front = past_blocks - 1
    total_blocks = n_frames + n_blocks
    chunk = max(1, _MEMORY_FLOATS // (channels * total_blocks * hop * 4))
    for first in range(0, n_frames, chunk):
        check_cancel(cancel)
        d = dtail[first : first + chunk]  # (t, C, k)
        rows = torch.zeros(d.shape[0], channels, total_blocks, hop)
        for q in range(n_blocks):
            rows[:, :, q : q + n_frames] += d.unsqueeze(-1) * segments[:, :, q]
        audio = rows[:, :, pad_front : pad_front + n_frames].abs().sum(1)
        jac[first : first + d.shape[0]] = audio.reshape(d.shape[0], -1).numpy()


def _batched_rows(module, batch, frame_index, args) -> np.ndarray:
    mode = args[0]
    out = module(batch)
    scalars = _cotangents(out, frame_index, *args)
    if mode != "abs":
        (grad,) = torch.autograd.grad(scalars.sum(), batch)
        return grad[:, 0].detach().numpy()
    eye = torch.eye(scalars.shape[1]).unsqueeze(1).expand(-1, scalars.shape[0], -1)  # (C, B, C)
    (grads,) = torch.autograd.grad(scalars, batch, eye, is_grads_batched=True)  # (C, B, 1, W)
    return grads[:, :, 0].abs().sum(0).detach().numpy()


def _whole_signal(module, x, hop, args, progress, cancel, n_rows: int | None = None, rows_ready=None,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Rows of the first ``n_rows`` frames (default: all) by batched VJPs through the whole signal, written
    into ``out`` if given."""
    n_frames = x.shape[0] // hop
    mode = args[0]
    signal = x.reshape(1, 1, -1).clone().requires_grad_(True)
    per_frame = _frame_scalars(module(signal), *args)  # (T,) or (T, C)
    # Batched vector-Jacobian products: cotangent k selects frame k's scalar.
    channels = per_frame.shape[1] if mode == "abs" else 1
    chunk = _chunk(n_frames, x.shape[0] * 64 * channels, rows_ready)
    n_rows = n_frames if n_rows is None else n_rows
    jac = np.zeros((n_rows, x.shape[0]), dtype=np.float32) if out is None else out
    for first in range(0, n_rows, chunk):
        check_cancel(cancel)
        ks = torch.arange(first, min(first + chunk, n_rows))
        if mode == "abs":
            seeds = torch.zeros(channels, len(ks), *per_frame.shape)
            for i, k in enumerate(ks.tolist()):
                seeds[torch.arange(channels), i, k, torch.arange(channels)] = 1.0
            seeds = seeds.flatten(0, 1)  # (C * k, T, C)
            (g,) = torch.autograd.grad(per_frame, signal, seeds, is_grads_batched=True, retain_graph=True)
            rows = g[:, 0, 0].reshape(channels, len(ks), -1).abs().sum(0)
        else:
            onehot = torch.zeros(len(ks), n_frames)
            onehot[torch.arange(len(ks)), ks] = 1.0
            (g,) = torch.autograd.grad(per_frame, signal, onehot, is_grads_batched=True, retain_graph=True)
            rows = g[:, 0, 0]
        jac[first : first + len(ks)] = rows.detach().numpy()
        if rows_ready is not None:
            rows_ready(first, jac[first : first + len(ks)])
        report(progress, first + len(ks), n_rows, "causality Jacobian")
    return jac


def _chunk(n_frames: int, floats_per_frame: int, rows_ready) -> int:
    """Frames per batched pass: as many as memory allows, or a few when rows are shown as they finish."""
    chunk = max(1, min(n_frames, _MEMORY_FLOATS // floats_per_frame))
    return min(chunk, _PROGRESSIVE_ROWS) if rows_ready is not None else chunk


def _leak_and_reach(jac: np.ndarray, hop: int, recursive: bool) -> tuple[np.ndarray, np.ndarray, int | None]:
    n_frames = jac.shape[0]
    leak_abs = np.zeros(n_frames)
    leak_rel = np.zeros(n_frames)
    reach = []
    for t in range(n_frames):
        end = (t + 1) * hop
        past, future = np.abs(jac[t, :end]), np.abs(jac[t, end:])
        past_max = past.max() if past.size else 0.0
        leak_abs[t] = future.max() if future.size else 0.0
        leak_rel[t] = leak_abs[t] / past_max if past_max > 0 else (math.inf if leak_abs[t] > 0 else 0.0)
        if past_max > 0:
            first = int(np.flatnonzero(past > RF_THRESHOLD * past_max)[0])
            if first > 0:  # rows that reach the start of the audio only bound the receptive field from below
                reach.append(end - first)
    if recursive or not reach:
        return leak_abs, leak_rel, None
    return leak_abs, leak_rel, int(max(reach))
