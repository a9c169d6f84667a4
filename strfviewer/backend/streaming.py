"""Streaming inference: push audio chunk by chunk and get exactly the frames (or rates) offline gives.

A :class:`Streamer` wraps a front-end or an encoding model. Each stage keeps just the state it needs:

* FIR front-ends (and the FIR energies of PCEN front-ends) keep the last ``fir_reach`` samples (rounded up
  to whole frames) and recompute only the new frames from them. Until that much audio has arrived they
  keep everything from the start, so the first frames see the module's own zero history, as offline.
* PCEN carries its smoother state from chunk to chunk.
* The ICNet encoder keeps, per layer, the inputs its next output still needs (``kernel - stride`` of them at
  the layer's own rate), so each chunk costs its own length, never the 17,000-sample receptive field.
* STRF readouts keep the last ``temporal_window_size - 1`` frames; ICNet's decoder needs no state.
* Prefilters keep their last ``K - 1`` frames; StateNet carries its recurrent state; the Transformer keeps
  each layer's last ``context_window - 1`` inputs (all of them without a window) and counts positions.

Chunks must be whole numbers of frames (``hop`` samples); outputs are ``(channels or neurons, frames)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigurationError, InputShapeError
from .frontends import Frontend
from .frontends.icnet import CausalConvBlock, ICNetEncoder
from .frontends.modules import frontend_of, is_model
from .jobs import CancelFlag, ProgressCallback, check_cancel, report
from .models import AudioEncodingModel, ConvNet2D, ICNet, NetworkReceptiveField, StateNet, Transformer
from .models.prefilters import prefilter_frames, prefilter_kind
from .models.readouts import STRFReadout


class _History:
    """The most recent ``keep`` steps of a ``(B, C, T)`` signal (every step when ``keep`` is None), or all of it
    until there are that many.

    ``channels`` given: starts as ``keep`` zeros, the zero padding a convolution layer sees offline.
    """

    def __init__(self, keep: int | None, channels: int | None = None) -> None:
        self.keep = keep
        self.buffer: torch.Tensor | None = None if channels is None else torch.zeros(1, channels, keep or 0)

    def extend(self, x: torch.Tensor) -> torch.Tensor:
        """History followed by ``x``; remembers the last ``keep`` steps of it."""
        full = x if self.buffer is None else torch.cat([self.buffer, x], dim=-1)
        if self.keep is None:
            self.buffer = full
        else:
            self.buffer = full[..., max(0, full.shape[-1] - self.keep):]
        return full


class _ReplicatedHistory:
    """The most recent ``keep`` steps of a signal (last axis); before the start, copies of its first step (the
    replicate pad that DNet's decay and the prefilters apply offline)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.buffer: torch.Tensor | None = None

    def extend(self, x: torch.Tensor) -> torch.Tensor:
        """History followed by ``x``; remembers the last ``keep`` steps of it."""
        if self.buffer is None:
            self.buffer = x[..., :1].expand(*x.shape[:-1], self.keep)
        full = torch.cat([self.buffer, x], dim=-1)
        self.buffer = full[..., full.shape[-1] - self.keep:]
        return full


class _FIRStream:
    """Frames of ``fn`` (audio ``(1, 1, N)`` -> ``(1, C, T)``) from the audio history and each new chunk."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], reach: int, hop: int) -> None:
        self.fn, self.hop = fn, hop
        self.history = _History(math.ceil(reach / hop) * hop)

    def push(self, x: torch.Tensor) -> torch.Tensor:
        n_frames = x.shape[-1] // self.hop
        return self.fn(self.history.extend(x))[..., -n_frames:]


class _FrontendStream:
    """A front-end, with its recursion's state carried when it has one."""

    def __init__(self, frontend: Frontend) -> None:
        split = frontend.recursion_split()
        self.tail = split.tail if split is not None else None
        self.state: torch.Tensor | None = None
        fn = split.energy if split is not None else (lambda x: frontend(x)[:, 0])
        self.fir = _FIRStream(fn, frontend.fir_reach, frontend.hop)

    def push(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.fir.push(x)
        if self.tail is None:
            return frames
        out, self.state = self.tail(frames, self.state)
        return out[:, 0]


class _ConvBlockStream:
    """One causal conv block with the inputs its next outputs still need, on the engine offline uses.

    The blocked FFT engine (``engine_block`` samples per frame at the layer's input rate) needs whole
    blocks, so it keeps whole blocks of history; the direct engine keeps ``kernel - stride`` samples.
    """

    def __init__(self, block: CausalConvBlock, engine_block: int | None) -> None:
        self.block, self.engine_block = block, engine_block
        keep = max(0, block.kernel_size - block.stride)
        if engine_block is not None:
            keep = math.ceil(keep / engine_block) * engine_block
        self.history = _History(keep, block.conv.in_channels)

    def push(self, x: torch.Tensor) -> torch.Tensor:
        full = self.history.extend(x)
        if self.engine_block is None:
            y = F.conv1d(full, self.block.conv.weight, self.block.conv.bias, stride=self.block.stride)
            return self.block.activation(y)
        y = self.block.forward_time_major(full.transpose(1, 2), self.engine_block).transpose(1, 2)
        return y[..., -(x.shape[-1] // self.block.stride) :]


class _ICNetEncoderStream:
    """SincNet and every encoder layer with per-layer input caches (layer ``i`` at its own rate)."""

    def __init__(self, encoder: ICNetEncoder) -> None:
        self.encoder = encoder
        self.sinc_history = _History(encoder.sincnet.kernel_size - 1, 1)
        engines = [*encoder.layer_blocks(), None]
        layers = [*encoder.encoder, encoder.bottleneck]
        self.blocks = [_ConvBlockStream(b, e) for b, e in zip(layers, engines, strict=True)]

    def push(self, x: torch.Tensor) -> torch.Tensor:
        sincnet = self.encoder.sincnet
        y = F.conv1d(self.sinc_history.extend(x), sincnet.kernels().unsqueeze(1))
        y = sincnet._activate(y)
        for block in self.blocks:
            y = block.push(y)
        return y


class _PrefilterStream:
    """A prefilter with its last ``K - 1`` input frames: ``(1, F, n)`` front-end frames -> ``(1, C_in, F, n)``."""

    def __init__(self, prefilter: nn.Module) -> None:
        self.prefilter = prefilter
        self.history = _ReplicatedHistory(prefilter_frames(prefilter))

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        return self.prefilter(self.history.extend(frames.unsqueeze(1)))[..., -frames.shape[-1]:]


class _Unfiltered:
    """No prefilter: front-end frames ``(1, F, n)`` as the one input channel ``(1, 1, F, n)``."""

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.unsqueeze(1)


class _STRFReadoutStream:
    """An STRF readout with the last ``temporal_window_size - 1`` input frames."""

    def __init__(self, readout: STRFReadout) -> None:
        self.readout = readout
        self.history = _History(readout.strf.temporal_window_size - 1)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[-1]
        rates = self.readout(self.history.extend(frames))  # (1, N, 1, T)
        return rates[:, :, 0, -n:]


class _HiddenUnitStream:
    """The NRF and DNet: hidden STRFs with their last ``temporal_window_size - 1`` input frames, the per-frame
    norm and squash, DNet's decay with its last ``kernel_size - 1`` inputs (before the start, the first one
    repeated, as offline), then the per-frame readout."""

    def __init__(self, model: NetworkReceptiveField) -> None:
        self.model = model
        self.frames = _History(model.T - 1)
        self.decay = model.core[3] if len(model.core) > 3 else None
        self.decay_inputs = _ReplicatedHistory(self.decay.kernel_size - 1) if self.decay is not None else None

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[-1]
        strf, norm, squash = self.model.core[:3]
        s = squash(norm(strf(self.frames.extend(frames))[..., -n:]))  # (1, H, 1, n)
        if self.decay is not None:
            s = self.decay(self.decay_inputs.extend(s))[..., -n:]
        return self.model.readout(s)[:, :, 0]


class _ConvNetStream:
    """ConvNet2D: its three convolutions over the last ``3 (K_T - 1)`` input frames and the new ones (zeros
    before the start: the one pad offline applies), then the per-frame readout."""

    def __init__(self, model: ConvNet2D) -> None:
        self.model = model
        self.frames = _History(model.T)
        self.frames.buffer = torch.zeros(1, model.C_in, model.F, model.T)  # the one zero pad offline applies

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[-1]
        features = self.model.core[1:](self.frames.extend(frames))  # no second pad
        return self.model.readout(features[..., -n:])[:, :, 0]


class _TransformerStream:
    """The Transformer: tokens of the new frames at their absolute positions (with the last ``K_T - 1``
    frames for the patches), then each layer over its cached inputs and the new ones: ``context_window - 1``
    of them, or all of them without a window (the cost then grows with the stream)."""

    def __init__(self, model: Transformer) -> None:
        self.model = model
        self.past = _History(model.K_T - 1)
        self.past.buffer = torch.zeros(1, model.C_in, model.F, model.K_T - 1)  # the zero pad offline applies
        self.caches = [_History(model.cache_frames) for _ in range(model.n_layers)]
        self.position = 0

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[-1]
        hidden = self.model.tokens(frames, self.position, self.past.buffer)
        self.past.extend(frames)
        for index, cache in enumerate(self.caches):
            inputs = cache.extend(hidden.transpose(1, 2)).transpose(1, 2)  # (1, keys, D)
            hidden = self.model.layer_forward(index, inputs, n)
        self.position += n
        return self.model.read_out(hidden)[:, :, 0]


class _StateNetStream:
    """StateNet: each new frame through the stateless spectral encoder, the recurrent state carried from
    chunk to chunk (zeros at the start, as offline), then the per-frame readout."""

    def __init__(self, model: StateNet) -> None:
        self.model = model
        self.state = None

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        hidden, self.state = self.model.step(self.model.encode(frames), self.state)
        return self.model.read(hidden)[:, :, 0]


class _ICNetDecoderStream:
    def __init__(self, model: ICNet) -> None:
        self.model = model

    def push(self, latent: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.model.decoder(latent.transpose(1, 2))).transpose(1, 2)


def _frontend_stream(frontend: Frontend) -> _FrontendStream | _ICNetEncoderStream:
    return _ICNetEncoderStream(frontend) if isinstance(frontend, ICNetEncoder) else _FrontendStream(frontend)


def _model_streams(model: AudioEncodingModel) -> list:
    """The stages after the front-end: ICNet's decoder, or the prefilter (if any) and the readout."""
    if isinstance(model, ICNet):
        return [_ICNetDecoderStream(model)]
    template = type(model).from_spectrogram is AudioEncodingModel.from_spectrogram
    unfiltered = isinstance(model.prefiltering, nn.Identity)
    prefilter = _Unfiltered() if unfiltered else _PrefilterStream(model.prefiltering)
    known_prefilter = unfiltered or prefilter_kind(model.prefiltering) is not None
    if isinstance(model, Transformer) and known_prefilter:
        if not model.mask_future:
            raise ConfigurationError("this Transformer cannot be streamed: its attention is not masked, so each "
                                     "output depends on audio that has not arrived yet. Run it offline.")
        return [prefilter, _TransformerStream(model)]
    if isinstance(model, StateNet) and known_prefilter:
        return [prefilter, _StateNetStream(model)]
    if template and known_prefilter:
        if isinstance(model, ConvNet2D):
            return [prefilter, _ConvNetStream(model)]
        if isinstance(model, NetworkReceptiveField):
            return [prefilter, _HiddenUnitStream(model)]
        if isinstance(model.core, nn.Identity) and isinstance(getattr(model, "readout", None), STRFReadout):
            return [prefilter, _STRFReadoutStream(model.readout)]
    raise ConfigurationError(
        f"{type(model).__name__} cannot be streamed: strfviewer streams Linear, LinearNonlinear, NRF, DNet, "
        "ConvNet2D, Transformer, StateNet and ICNet models (a front-end, a known prefilter, then their readout). "
        "Run it offline on the whole recording instead."
    )


class Streamer:
    """Push audio chunks (whole frames) through a front-end or a model; get the new frames or rates.

    The outputs, concatenated, equal offline inference on the concatenated audio (to float round-off).
    """

    def __init__(self, module: nn.Module) -> None:
        frontend, self.is_model = frontend_of(module), is_model(module)
        if frontend is None or (self.is_model and not isinstance(module, AudioEncodingModel)):
            raise ConfigurationError(
                f"{type(module).__name__} cannot be streamed: give a strfviewer front-end or a model that takes "
                "audio (one with a front-end)."
            )
        self.module = module.eval()
        self.frontend = frontend
        self.hop: int = frontend.hop
        self.audio_fs: int = frontend.audio_fs
        self.n_outputs: int = int(module.O) if self.is_model else frontend.out_channels
        self.reset()

    def reset(self) -> None:
        """Start over, as if no audio had been pushed."""
        self._stages = [_frontend_stream(self.frontend)]
        if self.is_model:
            self._stages += _model_streams(self.module)
        self.samples_pushed = 0

    @property
    def frames_out(self) -> int:
        """Frames (or rate bins) returned since the last reset."""
        return self.samples_pushed // self.hop

    def push(self, chunk: np.ndarray | torch.Tensor) -> np.ndarray:
        """The ``(outputs, chunk_length / hop)`` frames or rates for the next chunk of mono audio."""
        x = torch.as_tensor(chunk, dtype=torch.float32)
        if x.dim() != 1:
            raise InputShapeError(
                f"Streamer.push expects one mono chunk of shape (samples,); got {tuple(x.shape)}. Mix to mono first."
            )
        if x.shape[0] % self.hop:
            raise InputShapeError(
                f"Streamer.push: a chunk of {x.shape[0]} samples is not a whole number of frames of {self.hop} "
                f"samples. Push chunks whose length is a multiple of {self.hop}."
            )
        if x.shape[0] == 0:
            return np.zeros((self.n_outputs, 0), dtype=np.float32)
        with torch.no_grad():
            y = x.reshape(1, 1, -1)
            for stage in self._stages:
                y = stage.push(y)
        self.samples_pushed += x.shape[0]
        return y[0].numpy()


def run_in_chunks(
    module: nn.Module,
    samples: np.ndarray | torch.Tensor,
    *,
    chunk_s: float = 1.0,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> np.ndarray:
    """Offline output ``(outputs, frames)`` of a whole recording, computed chunk by chunk through a
    :class:`Streamer` (equal to one offline call) so that long recordings report progress, can be
    cancelled and need memory for one chunk at a time. ``samples`` are zero-padded to whole frames."""
    streamer = Streamer(module)
    x = torch.as_tensor(samples, dtype=torch.float32).reshape(-1)
    x = F.pad(x, (0, (-x.shape[0]) % streamer.hop))
    chunk = max(1, round(chunk_s * streamer.audio_fs / streamer.hop)) * streamer.hop
    parts = []
    for start in range(0, x.shape[0], chunk):
        check_cancel(cancel)
        parts.append(streamer.push(x[start : start + chunk]))
        report(progress, min(start + chunk, x.shape[0]), x.shape[0], "computing frames")
    if not parts:
        return np.zeros((streamer.n_outputs, 0), dtype=np.float32)
    return np.concatenate(parts, axis=1)
