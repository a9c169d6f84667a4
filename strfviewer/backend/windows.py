"""Frames of a time window of a long recording, computing only the audio those frames depend on.

A pane showing ten seconds of an hour-long sound must not run the front-end over the hour. Every
front-end is strictly causal, so frame ``t`` (ending at sample ``(t + 1) * hop``) depends on:

* FIR front-ends (mel, gammatone log/cuberoot, SincNet, the ICNet encoder): the ``fir_reach`` samples before
  its end. Running a :class:`~strfviewer.backend.streaming.Streamer` from ``fir_reach`` (rounded up to whole
  frames, plus one frame) before the window gives exactly the whole-recording frames.
* Recursive front-ends (PCEN gammatone, LEAF): the whole past, through the PCEN smoother
  ``M[t] = (1 - s) M[t-1] + s E[t]``. Started ``W`` frames early from a zero state, the smoother's error at
  the window is the true state at the start times ``(1 - s) ** W``; ``W`` is chosen so that this factor is
  below :data:`WARMUP_TOLERANCE` (at most :data:`MAX_WARMUP_S`). The frames are then *warmed up*, not exact,
  and :class:`WindowFrames` says so. A warm-up that reaches the start of the sound is exact.
* Models add their readout's history (an STRF's ``temporal_window_size - 1`` frames) after the front-end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigurationError
from .frontends import Frontend
from .frontends.modules import frontend_of
from .jobs import CancelFlag, ProgressCallback, check_cancel, report
from .models.readouts import STRFReadout
from .streaming import Streamer

# The smoother's memory of the state before the warm-up decays to this factor by the window's first frame.
WARMUP_TOLERANCE = 1e-6
# Longest warm-up run before a window (seconds): bounds the cost when the smoother is very slow.
MAX_WARMUP_S = 30.0
# Warm-up for a recursive front-end whose smoother coefficient is unknown (seconds).
DEFAULT_WARMUP_S = 10.0


@dataclass(frozen=True, eq=False)
class WindowFrames:
    """Frames ``[first, last)`` of a recording, ``(outputs, last - first)``.

    ``exact``: equal to the whole-recording frames (to float round-off). Otherwise the frames come from a
    recursion started ``warmup_s`` seconds before ``first`` (see the module docstring for the bound).
    """

    frames: np.ndarray
    first: int
    last: int
    hop: int
    audio_fs: int
    exact: bool
    warmup_s: float

    @property
    def start_s(self) -> float:
        """Time of the start of frame ``first`` on the recording's time axis."""
        return self.first * self.hop / self.audio_fs


def _frontend_of(module: nn.Module) -> Frontend:
    frontend = frontend_of(module)
    if frontend is not None:
        return frontend
    raise ConfigurationError(
        f"{type(module).__name__} has no audio front-end: windows are computed for strfviewer front-ends and "
        "for models that take audio."
    )


def smoother_coefficient(frontend: Frontend) -> float | None:
    """The slowest PCEN smoother coefficient ``s`` of a recursive front-end (per frame), None if unknown."""
    if hasattr(frontend, "pcen_parameters"):
        with torch.no_grad():
            return float(frontend.pcen_parameters()["s"].min())
    value = getattr(frontend, "config", {}).get("pcen_s")
    return float(value) if value is not None else None


def warmup_frames(frontend: Frontend, tolerance: float = WARMUP_TOLERANCE) -> int:
    """Frames of warm-up before a window so that the recursion forgets its start to ``tolerance`` (0: FIR)."""
    if not frontend.recursive:
        return 0
    cap = math.ceil(MAX_WARMUP_S * frontend.audio_fs / frontend.hop)
    s = smoother_coefficient(frontend)
    if s is None:
        return min(cap, math.ceil(DEFAULT_WARMUP_S * frontend.audio_fs / frontend.hop))
    if s >= 1.0:
        return 1
    return min(cap, math.ceil(math.log(tolerance) / math.log1p(-s)))


def context_frames(module: nn.Module) -> int:
    """Frames before a window that exact causality needs (FIR reach and readout history, no warm-up)."""
    frontend = _frontend_of(module)
    frames = math.ceil(frontend.fir_reach / frontend.hop) + 1
    readout = getattr(module, "readout", None)
    if isinstance(readout, STRFReadout):
        frames += readout.strf.temporal_window_size - 1
    return frames


def window_start(module: nn.Module, first: int) -> tuple[int, bool]:
    """(the frame to start streaming from so that frame ``first`` on is right, whether they are then exact):
    the context the module needs before ``first``, and a recursive front-end's warm-up."""
    warmup = warmup_frames(_frontend_of(module))
    start = max(0, first - context_frames(module) - warmup)
    return start, warmup == 0 or start == 0


def total_frames(n_samples: int, hop: int) -> int:
    """Frames of a recording of ``n_samples`` (the last partial frame zero-padded, as offline)."""
    return -(-n_samples // hop)


def compute_window(
    module: nn.Module,
    samples: np.ndarray,
    first: int,
    last: int,
    *,
    chunk_s: float = 1.0,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> WindowFrames:
    """Frames (or rates) ``[first, last)`` of a front-end or audio model over mono ``samples``.

    Only the audio from the window's context (and warm-up, for recursive front-ends) to its end is read,
    chunk by chunk, so the cost and memory follow the window, not the recording.
    """
    frontend = _frontend_of(module)
    hop, fs = frontend.hop, frontend.audio_fs
    n_total = total_frames(samples.shape[0], hop)
    first, last = max(0, int(first)), min(n_total, int(last))
    if last <= first:
        raise ConfigurationError(f"compute_window: empty window [{first}, {last}) of a {n_total}-frame recording.")
    start, exact = window_start(module, first)
    streamer = Streamer(module)
    chunk = max(1, round(chunk_s * fs / hop)) * hop
    begin, end = start * hop, last * hop
    parts, skip = [], first - start
    for a in range(begin, end, chunk):
        check_cancel(cancel)
        b = min(a + chunk, end)
        x = torch.as_tensor(np.asarray(samples[a : min(b, samples.shape[0])]), dtype=torch.float32)
        x = F.pad(x, (0, (b - a) - x.shape[0]))
        out = streamer.push(x)
        if skip:
            dropped = min(skip, out.shape[1])
            out, skip = out[:, dropped:], skip - dropped
        if out.shape[1]:
            parts.append(out)
        report(progress, b - begin, end - begin, "computing frames")
    frames = np.concatenate(parts, axis=1)
    warmup_s = 0.0 if exact else (first - start) * hop / fs
    return WindowFrames(frames, first, last, hop, fs, exact, warmup_s)
