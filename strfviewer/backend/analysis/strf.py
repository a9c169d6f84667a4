"""Spectro-temporal receptive fields: the Linear kernel with BatchNorm folded in, gradient STRFs of any
model in spectrogram space, and the waveform gradient map (a neuron's "listenable" receptive field).

Also what a viewer of STRFs decides about loaded models (whose kernel can be read, which to show first, what
their neurons are called) and the job bodies that compute gradient STRFs and gradient sounds off its thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..frontends.modules import frontend_of, is_model
from ..jobs import CancelFlag, ProgressCallback, check_cancel, report
from ..models import Linear
from ..models.readouts import effective_kernel

# Lags of a gradient STRF for a model that remembers its whole past (a recurrence): a finite window is drawn.
UNBOUNDED_STRF_FRAMES = 40


@dataclass(frozen=True)
class Strf:
    """STRFs ``(N, C_in, F, T)``; column ``k`` is lag ``lags[k]`` frames (lag 0 = the current frame, last)."""

    weights: np.ndarray
    bias: np.ndarray
    lags: np.ndarray
    dt_ms: float | None
    frequencies_hz: np.ndarray | None
    whole_past: bool = False  # the model remembers further back than these lags (a recurrence): a window is shown

    @property
    def lags_ms(self) -> np.ndarray | None:
        """Lag of each column in ms, or None when the bin width is unknown."""
        return None if self.dt_ms is None else self.lags * self.dt_ms


def _axes(model: nn.Module, n_lags: int) -> tuple[np.ndarray, float | None, np.ndarray | None]:
    frontend = frontend_of(model)
    dt_ms = None if frontend is None else frontend.hop * 1000.0 / frontend.audio_fs
    freqs = None if frontend is None else frontend.centre_frequencies()
    return np.arange(n_lags - 1, -1, -1), dt_ms, freqs


def linear_strf(model: Linear) -> Strf:
    """The STRF of each neuron as the model applies it in eval mode: kernel and bias with BatchNorm folded.

    Eval BatchNorm is ``(y - mean) / sqrt(var + eps) * gamma + beta``, so the kernel scales by
    ``gamma / sqrt(var + eps)`` and the bias becomes ``(b - mean) * gain + beta``.
    """
    if not isinstance(model, Linear):
        raise ConfigurationError(f"linear_strf needs a Linear or LinearNonlinear model, not {type(model).__name__}; "
                                 "use gradient_strf for other models")
    bn = model.readout.bn
    with torch.no_grad():
        kernel, kernel_bias = effective_kernel(model.readout.strf.kernel)
        gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weights = kernel * gain[:, None, None, None]
        bias = ((kernel_bias if kernel_bias is not None else 0.0) - bn.running_mean) * gain + bn.bias
    lags, dt_ms, freqs = _axes(model, weights.shape[-1])
    return Strf(weights.cpu().numpy(), bias.cpu().numpy(), lags, dt_ms, freqs)


def gradient_strf(model: nn.Module, n_lags: int | None = None) -> Strf:
    """Gradient of each neuron's response at the last frame with respect to a silent (zero) spectrogram.

    Works for any model with the four slots and for ICNet (the front-end is bypassed, so the map is in the
    space of its frames: the latent channels for ICNet, whose decoder reads one frame); for a Linear model it
    equals :func:`linear_strf`. ``n_lags`` defaults to every frame the model remembers (its STRF length, and for
    DNet its decay too), or UNBOUNDED_STRF_FRAMES for a model that remembers its whole past (StateNet).
    """
    remembered = getattr(model, "memory_frames", model.T)
    n_lags = int(n_lags or (remembered if remembered is not None else UNBOUNDED_STRF_FRAMES))
    n_neurons = model.O
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(n_neurons, 1, model.F, n_lags, requires_grad=True,
                        device=next(model.parameters()).device)
        out = model.from_spectrogram(x)  # (N_batch, N, 1, T)
        objective = out[torch.arange(n_neurons), torch.arange(n_neurons), 0, -1].sum()
        (grad,) = torch.autograd.grad(objective, x)
    finally:
        model.train(was_training)
    lags, dt_ms, freqs = _axes(model, n_lags)
    with torch.no_grad():
        baseline = model.from_spectrogram(torch.zeros_like(x[:1]))[0, :, 0, -1]
    return Strf(grad.cpu().numpy(), baseline.cpu().numpy(), lags, dt_ms, freqs, whole_past=remembered is None)


def waveform_gradient_map(
    model: nn.Module, audio: torch.Tensor, neuron: int | None = None, reduce: str = "last"
) -> np.ndarray:
    """Gradient of a neuron's response (all neurons summed if None) with respect to each audio sample.

    ``reduce``: ``"last"`` frame, ``"peak"`` (the frame of largest response) or ``"sum"`` over frames. The
    result is as long as the audio and can be played back as a sound.
    """
    if not is_model(model):
        raise ConfigurationError("waveform_gradient_map needs a model with a front-end (waveform input)")
    if reduce not in ("last", "peak", "sum"):
        raise ConfigurationError(f"reduce must be 'last', 'peak' or 'sum' (got {reduce!r})")
    was_training = model.training
    model.eval()
    try:
        x = torch.as_tensor(audio, dtype=torch.float32).reshape(1, 1, -1).clone().requires_grad_(True)
        rates = model(x)[0, :, 0]  # (N, T)
        response = rates.sum(0) if neuron is None else rates[neuron]
        if reduce == "last":
            objective = response[-1]
        elif reduce == "peak":
            objective = response[int(torch.argmax(response.detach()))]
        else:
            objective = response.sum()
        (grad,) = torch.autograd.grad(objective, x)
    finally:
        model.train(was_training)
    return grad[0, 0].cpu().numpy()


def symmetric_levels(matrix: np.ndarray) -> tuple[float, float]:
    """Colour levels centred on 0 so that white means "no effect"; (-1, 1) for an all-zero map."""
    finite = np.abs(matrix[np.isfinite(matrix)]) if matrix.size else np.zeros(0)
    peak = float(finite.max()) if finite.size else 0.0
    peak = peak if peak > 0 else 1.0
    return -peak, peak


def playable(gradient: np.ndarray, peak: float) -> np.ndarray | None:
    """A gradient sound scaled to ``peak`` (float32), ready to play; None when it is zero (or not finite)."""
    gradient = np.asarray(gradient, dtype=np.float64)
    largest = float(np.max(np.abs(gradient))) if gradient.size else 0.0
    if not np.isfinite(largest) or largest == 0.0:
        return None
    return (gradient * (peak / largest)).astype(np.float32)


# Loaded models (anything with ``model``, ``info`` and ``metadata`` as a LoadedModel has)
def is_linear(loaded: Any) -> bool:
    """Whether the loaded model is a Linear / LinearNonlinear, whose kernel can be read directly."""
    return isinstance(getattr(loaded, "model", None), Linear)


def preferred_model(models: list[Any], shown: Any = None) -> Any:
    """The model to show after models were opened: the newest if its kernel can be read, else the one shown if
    it can, else the first with a kernel, else the newest (then a gradient STRF is all any of them has)."""
    if not models:
        return None
    for candidate in (models[-1], shown, *models):
        if any(candidate is m for m in models) and is_linear(candidate):
            return candidate
    return models[-1]


def neuron_labels(loaded: Any, count: int) -> list[str]:
    """Neuron ids the model's files recorded (``metadata["strfviewer"]["neurons"]``), else ``neuron i``."""
    ids = None
    info = getattr(loaded, "info", None)
    metadata = getattr(loaded, "metadata", None) or {}
    for source in (info, metadata.get("strfviewer") if isinstance(metadata, dict) else None, metadata):
        if isinstance(source, dict) and isinstance(source.get("neurons"), list):
            ids = source["neurons"]
            break
    if ids is not None and len(ids) == count:
        return [str(i) for i in ids]
    return [f"neuron {i}" for i in range(count)]


# Job bodies
def gradient_strf_job(model: nn.Module, progress: ProgressCallback | None = None,
                      cancel: CancelFlag | None = None) -> Strf:
    """Job body: :func:`gradient_strf`, with a cancellation point after the backward pass."""
    report(progress, 0, 1, "gradient STRF")
    strf = gradient_strf(model)
    check_cancel(cancel)
    report(progress, 1, 1, "gradient STRF")
    return strf


def gradient_sound_job(model: nn.Module, samples: np.ndarray, neuron: int, reduce: str,
                       progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> np.ndarray:
    """Job body: the gradient of one neuron's response with respect to every sample of the sound
    (:func:`waveform_gradient_map`)."""
    report(progress, 0, 1, "gradient sound")
    gradient = waveform_gradient_map(model, torch.from_numpy(np.asarray(samples, dtype=np.float32)), neuron=neuron,
                                     reduce=reduce)
    check_cancel(cancel)
    report(progress, 1, 1, "gradient sound")
    return gradient
