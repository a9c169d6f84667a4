"""deepSTRF's StateNet: a per-frame spectral encoder, a recurrent backbone over frames, a per-frame readout.

Each frame ``(C_in, F)`` is encoded on its own into ``C`` channels at ``L = (F - K) // S + 1`` spectral
positions (a locally connected layer, a dense layer or a strided convolution, then a layer norm across the
channels and a sigmoid), flattened to a token of ``H = C L`` features (index ``c L + l``). One recurrent layer
(GRU, LSTM, tanh RNN or a Legendre memory unit) runs over the tokens from a zero state, and a linear readout
(parametric softplus by default) turns its hidden state into rates at every frame.

The recurrence is the only memory, so the model is causal and streams exactly: :meth:`StateNet.encode` turns
new frames into tokens, :meth:`StateNet.step` carries the recurrent state from one chunk to the next, and
:meth:`StateNet.read` gives their rates. The offline forward pass is built from the same three calls.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigurationError, InputShapeError, short_repr
from .base import AudioEncodingModel, check_parameter_budget, check_positive_int, unset_modules
from .layers import CausalLayerNorm
from .readouts import LinearReadout, ParametricSoftplus

# deepSTRF builds its LMU backbone with this memory size and window (in frames); the A and B it derives from
# them are buffers of its checkpoints, so a loaded model uses the stored ones.
LMU_MEMORY_SIZE = 128
LMU_THETA = 99.0

CONNECTIVITIES = ("LC", "FC", "CONV")
# rnn_type -> the backbone built for it ('vanilla' is deepSTRF's other name for the tanh RNN).
_BACKBONES = {"GRU": "GRU", "LSTM": "LSTM", "RNN": "RNN", "vanilla": "RNN", "LMU": "LMU"}
SUPPORTED_BACKBONES = tuple(_BACKBONES)
# Backbones deepSTRF offers that strfviewer does not build, with what deepSTRF itself needs for them.
_UNSUPPORTED_BACKBONES = {
    "Mamba": "deepSTRF builds it from the mambapy package (mambapy.mamba.MambaBlock)",
    "S4": "deepSTRF builds it from its vendored state-spaces s4 module, which needs pytorch_lightning, einops "
          "and scipy",
}

# The recurrent state carried between chunks: h ``(B, H)`` (GRU, RNN), or (h, c) (LSTM) or (h, m) (LMU), with
# c ``(B, H)`` and m ``(B, M)``.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class LocallyConnected1d(nn.Module):
    """A strided 1-D layer whose every output position has its own filter (no weight sharing along the axis).

    Input ``(M, C_in, S_in)``, output ``(M, C, L)`` with ``L = (S_in - K) // S + 1``:
    ``y[m, o, l] = biases[o, l] + sum_{c, k} weights[o, c K + k, l] x[m, c, l S + k]`` (patch features channel
    first, then kernel offset, as in deepSTRF's tensors).
    """

    def __init__(self, input_size: int, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.output_size = (input_size - kernel_size) // stride + 1
        fan_in = in_channels * kernel_size
        bound = 1.0 / math.sqrt(fan_in)
        self.weights = nn.Parameter(torch.empty(out_channels, fan_in, self.output_size).uniform_(-bound, bound))
        self.biases = nn.Parameter(torch.empty(out_channels, self.output_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.unfold(2, self.kernel_size, self.stride)  # (M, C_in, L, K)
        patches = patches.transpose(1, 2).flatten(2)  # (M, L, C_in K), feature c K + k
        return torch.einsum("mlp,opl->mol", patches, self.weights) + self.biases


def legendre_memory(memory_size: int = LMU_MEMORY_SIZE, theta: float = LMU_THETA,
                    dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The LMU's Legendre delay memory discretised with a zero-order hold: ``A`` ``(M, M)``, ``B`` ``(M, 1)``.

    Continuous time: ``A[i, j] = (2i + 1) / theta * (-1 if i < j else (-1)^(i - j + 1))`` and
    ``B[i] = (2i + 1) (-1)^i / theta``. The hold gives ``[[A_d, B_d], [0, 1]] = exp(dt [[A, B], [0, 0]])``,
    computed in float64 with torch (deepSTRF uses scipy for it; strfviewer does not need scipy).
    """
    q = torch.arange(memory_size, dtype=torch.float64)
    rate = (2 * q + 1) / theta
    i, j = q[:, None], q[None, :]
    a = rate[:, None] * torch.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    b = (rate * (-1.0) ** q)[:, None]
    augmented = torch.zeros(memory_size + 1, memory_size + 1, dtype=torch.float64)
    augmented[:memory_size, :memory_size] = a * dt
    augmented[:memory_size, memory_size:] = b * dt
    held = torch.linalg.matrix_exp(augmented)
    return held[:memory_size, :memory_size].float(), held[:memory_size, memory_size:].float()


class LMUCell(nn.Module):
    """The parameters of one Legendre memory unit step (deepSTRF's names; A and B fixed, as buffers):
    ``u = e_x x + e_h h + e_m m``, ``m' = A m + B u``, ``h' = tanh(W_x x + W_h h + W_m m')``."""

    def __init__(self, input_size: int, hidden_size: int, memory_size: int = LMU_MEMORY_SIZE,
                 theta: float = LMU_THETA) -> None:
        super().__init__()
        self.hidden_size, self.memory_size = hidden_size, memory_size
        self.e_x = nn.Parameter(torch.empty(1, input_size).uniform_(-1, 1) * math.sqrt(3 / input_size))
        self.e_h = nn.Parameter(torch.empty(1, hidden_size).uniform_(-1, 1) * math.sqrt(3 / hidden_size))
        self.e_m = nn.Parameter(torch.zeros(1, memory_size))
        self.W_x = nn.Parameter(nn.init.xavier_normal_(torch.empty(hidden_size, input_size)))
        self.W_h = nn.Parameter(nn.init.xavier_normal_(torch.empty(hidden_size, hidden_size)))
        self.W_m = nn.Parameter(nn.init.xavier_normal_(torch.empty(hidden_size, memory_size)))
        a, b = legendre_memory(memory_size, theta)
        self.register_buffer("A", a)
        self.register_buffer("B", b)


class LegendreMemoryUnit(nn.Module):
    """One LMU layer over a batch-first sequence, like torch's recurrent layers: ``(B, T, H_in)`` and an
    optional ``(h, m)`` state (zeros without one) in, every step's ``h`` ``(B, T, H)`` and the last ``(h, m)``
    out."""

    def __init__(self, input_size: int, hidden_size: int, memory_size: int = LMU_MEMORY_SIZE,
                 theta: float = LMU_THETA) -> None:
        super().__init__()
        self.cell = LMUCell(input_size, hidden_size, memory_size, theta)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        cell = self.cell
        if state is None:
            h = x.new_zeros(x.shape[0], cell.hidden_size)
            m = x.new_zeros(x.shape[0], cell.memory_size)
        else:
            h, m = state
        u_x, h_x = F.linear(x, cell.e_x), F.linear(x, cell.W_x)  # the input terms of every step at once
        outputs = []
        for t in range(x.shape[1]):
            u = u_x[:, t] + F.linear(h, cell.e_h) + F.linear(m, cell.e_m)  # (B, 1)
            m = F.linear(m, cell.A) + F.linear(u, cell.B)
            h = torch.tanh(h_x[:, t] + F.linear(h, cell.W_h) + F.linear(m, cell.W_m))
            outputs.append(h)
        hidden = torch.stack(outputs, dim=1) if outputs else x.new_zeros(x.shape[0], 0, cell.hidden_size)
        return hidden, (h, m)


def backbone_kind(owner: str, rnn_type: object) -> str:
    """The backbone built for ``rnn_type`` (GRU, LSTM, RNN or LMU), or a ConfigurationError that says why not."""
    if isinstance(rnn_type, str) and rnn_type in _BACKBONES:
        return _BACKBONES[rnn_type]
    supported = ", ".join(repr(name) for name in SUPPORTED_BACKBONES)
    if isinstance(rnn_type, str) and rnn_type in _UNSUPPORTED_BACKBONES:
        raise ConfigurationError(
            f"{owner}: the {rnn_type} backbone (rnn_type={rnn_type!r}) is not supported by strfviewer; "
            f"{_UNSUPPORTED_BACKBONES[rnn_type]}. Supported backbones: {supported}."
        )
    raise ConfigurationError(f"{owner}: rnn_type={short_repr(rnn_type)} is not a StateNet backbone. Supported "
                             f"backbones: {supported}.")


class StateNet(AudioEncodingModel):
    """Per-frame spectral encoder (``connectivity`` 'LC', 'FC' or 'CONV') -> one recurrent layer over frames
    (``rnn_type``) -> per-frame linear readout (parametric softplus by default). Takes ``(B, 1, F, T)``
    spectrograms (audio with a ``wav2spec``), returns ``(B, N, 1, T)``. ``temporal_window_size`` is unused,
    as in deepSTRF (kept because its config.json holds it).
    """

    def __init__(
        self,
        n_frequency_bands: int = 34,
        temporal_window_size: int = 1,
        kernel_size: int = 7,
        stride: int = 3,
        hidden_channels: int = 7,
        connectivity: str = "LC",
        rnn_type: str = "GRU",
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
    ) -> None:
        owner = type(self).__name__
        if not (isinstance(connectivity, str) and connectivity in CONNECTIVITIES):
            raise ConfigurationError(
                f"{owner}: connectivity={short_repr(connectivity)} is not a StateNet spectral encoder; choose "
                f"'LC' (locally connected), 'FC' (fully connected) or 'CONV' (convolutional)."
            )
        backbone = backbone_kind(owner, rnn_type)
        super().__init__(n_frequency_bands, temporal_window_size, out_neurons, prefiltering, wav2spec)
        self.K = check_positive_int(owner, "kernel_size", kernel_size)
        self.S = check_positive_int(owner, "stride", stride)
        self.C = check_positive_int(owner, "hidden_channels", hidden_channels)
        if self.K > self.F:
            raise ConfigurationError(f"{owner}: kernel_size={self.K} is wider than the {self.F} frequency bands; "
                                     f"choose a kernel_size of at most {self.F}.")
        self.L = (self.F - self.K) // self.S + 1
        self.H = self.C * self.L
        self.connectivity, self.rnn_type, self.backbone = connectivity, rnn_type, backbone
        check_parameter_budget(owner, self._n_weights(),
                               f"a {connectivity} encoder and a {backbone} backbone with {self.H} hidden units")
        self.encoder_layers = self._encoder()
        if backbone == "LMU":
            self.rnn: nn.Module = LegendreMemoryUnit(self.H, self.H)
        else:
            rnn_class = {"GRU": nn.GRU, "LSTM": nn.LSTM, "RNN": nn.RNN}[backbone]
            self.rnn = rnn_class(self.H, self.H, num_layers=1, batch_first=True)
        activation = ParametricSoftplus(self.O) if output_activation is None else output_activation
        self.readout = LinearReadout(self.H, self.O, activation=activation)
        self.init_config = {
            "n_frequency_bands": self.F, "temporal_window_size": self.T, "kernel_size": self.K, "stride": self.S,
            "hidden_channels": self.C, "connectivity": connectivity, "rnn_type": rnn_type, "out_neurons": self.O,
            **unset_modules(output_activation=output_activation, prefiltering=prefiltering, wav2spec=wav2spec),
        }

    def _n_weights(self) -> int:
        """Weights the encoder, backbone and readout will hold, counted before any is allocated."""
        c, c_in, h, k = self.C, self.C_in, self.H, self.K
        norm = 2 * c
        encoder = {"LC": h * (c_in * k + 1), "FC": h * (c_in * self.F + 1), "CONV": c * (c_in * k + 1)}
        gates = {"GRU": 3, "LSTM": 4, "RNN": 1}
        if self.backbone == "LMU":
            m = LMU_MEMORY_SIZE
            backbone = 2 * h + m + 2 * h * h + h * m + m * m + m
        else:
            backbone = gates[self.backbone] * (2 * h * h + 2 * h)
        return encoder[self.connectivity] + norm + backbone + self.O * (h + 3)

    def _encoder(self) -> nn.Sequential:
        """deepSTRF's ``encoder_layers`` (its indices are the checkpoint's key numbers): ``(M, C_in, F)`` frames
        to ``(M, C, L)``, a layer norm across the C channels at each position, a sigmoid."""
        if self.connectivity == "LC":
            return nn.Sequential(LocallyConnected1d(self.F, self.C_in, self.C, self.K, self.S),
                                 CausalLayerNorm(self.C), nn.Sigmoid())
        if self.connectivity == "FC":
            return nn.Sequential(nn.Flatten(1), nn.Linear(self.C_in * self.F, self.H),
                                 nn.Unflatten(1, (self.C, self.L)), CausalLayerNorm(self.C), nn.Sigmoid())
        return nn.Sequential(nn.Conv1d(self.C_in, self.C, self.K, stride=self.S), CausalLayerNorm(self.C),
                             nn.Sigmoid())

    @property
    def core_memory_frames(self) -> None:
        """None: the recurrent state carries the whole past, so no finite window of frames reproduces an
        output (``memory_frames`` is None too). A streamer carries the state instead (:meth:`step`)."""
        return None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, T', H)`` of prefiltered frames ``x`` ``(B, C_in, F, T')``, feature ``c L + l``.

        The encoder sees one frame at a time, so the tokens of a chunk are those of the same frames offline.
        """
        if x.dim() != 4 or tuple(x.shape[1:3]) != (self.C_in, self.F):
            raise InputShapeError(f"StateNet.encode: expected prefiltered frames (B, {self.C_in}, {self.F}, T), "
                                  f"got {tuple(x.shape)}.")
        batch, frames = x.shape[0], x.shape[3]
        per_frame = x.permute(3, 0, 1, 2).reshape(frames * batch, self.C_in, self.F)  # row t B + b
        encoded = self.encoder_layers(per_frame)  # (T' B, C, L)
        return encoded.reshape(frames, batch, self.H).transpose(0, 1)

    def step(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The backbone over ``tokens`` ``(B, T', H)`` from ``state`` (None: zeros, the offline start): every
        frame's hidden state ``(B, T', H)`` and the state after the last frame.

        Passing the returned state with the next chunk continues the recurrence exactly where it stopped, so
        chunk by chunk gives the offline outputs. The state is h ``(B, H)`` for GRU and RNN, ``(h, c)`` for
        LSTM and ``(h, m)`` with m ``(B, 128)`` for LMU.
        """
        if self.backbone == "LMU":
            return self.rnn(tokens, state)
        if tokens.shape[1] == 0:  # torch's recurrent layers refuse empty sequences; nothing changes the state
            if state is None:
                zeros = tokens.new_zeros(tokens.shape[0], self.H)
                state = (zeros, zeros.clone()) if self.backbone == "LSTM" else zeros
            return tokens.new_zeros(tokens.shape[0], 0, self.H), state
        if state is None:
            hidden, last = self.rnn(tokens)
        elif self.backbone == "LSTM":
            hidden, last = self.rnn(tokens, (state[0][None], state[1][None]))
        else:
            hidden, last = self.rnn(tokens, state[None])
        if self.backbone == "LSTM":
            return hidden, (last[0][0], last[1][0])
        return hidden, last[0]

    def read(self, hidden: torch.Tensor) -> torch.Tensor:
        """Rates ``(B, N, 1, T')`` from hidden states ``(B, T', H)``: the readout works frame by frame."""
        return self.readout(hidden.transpose(1, 2))

    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.step(self.encode(self.prefiltering(spec)))
        return self.read(hidden)
