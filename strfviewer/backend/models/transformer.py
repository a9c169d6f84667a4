"""deepSTRF's Transformer encoding model: spectrogram patches as tokens, causal self-attention, per-frame readout.

Each frame becomes one token: its ``K_T`` most recent frames (zeros before the start) are cut into
non-overlapping groups of ``K_F`` bands, each group is embedded in ``E`` dimensions, and the ``F / K_F``
embeddings are concatenated (feature ``e * F_p + p``). A sinusoidal position, counted from the first frame of
the input, is added; post-norm encoder layers let each frame attend to itself and the ``context_window - 1``
frames before it (the whole past without a window); a linear readout gives the rates at every frame.

Besides the offline forward pass the model offers the pieces a streamer needs to compute new frames exactly
from cached past ones: :meth:`Transformer.tokens`, :meth:`Transformer.layer_forward`,
:meth:`Transformer.read_out`, :func:`window_mask` and :attr:`Transformer.cache_frames`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigurationError
from .base import AudioEncodingModel, check_parameter_budget, check_positive_int, unset_modules
from .readouts import LinearReadout

# Frames deepSTRF reports as the Transformer's STRF length when no context window is set (gradient maps only).
_DEFAULT_STRF_FRAMES = 9


def window_mask(n_queries: int, n_keys: int, context_window: int | None, *, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """Additive attention mask ``(n_queries, n_keys)``: 0 where a query may attend, -inf where it may not.

    The queries are the last ``n_queries`` of the ``n_keys`` frames, so the same mask serves the offline pass
    (``n_queries == n_keys``: deepSTRF's mask) and a streamer's new frames after its cached ones. A query sees
    itself and the ``context_window - 1`` frames before it; ``None`` or a value <= 0 means the whole past.
    A float mask (not a boolean one) keeps torch's fast and slow attention paths on the same exact zeros.
    """
    if n_queries > n_keys:
        raise ConfigurationError(
            f"window_mask: {n_queries} queries cannot be the last frames of only {n_keys} keys; give at least as "
            "many keys (cached frames + new ones) as queries."
        )
    query = torch.arange(n_keys - n_queries, n_keys, device=device)[:, None]
    key = torch.arange(n_keys, device=device)[None, :]
    forbidden = key > query
    if context_window is not None and context_window > 0:
        forbidden |= query - key >= context_window
    return torch.zeros(n_queries, n_keys, dtype=dtype, device=device).masked_fill(forbidden, float("-inf"))


class SinusoidalPositionalEncoding(nn.Module):
    """deepSTRF's sine/cosine positions: ``pe[p, 2i] = sin(p w_i)``, ``pe[p, 2i+1] = cos(p w_i)``.

    ``div_term`` (``w_i = exp(-2i ln(10000) / D)``) is a persistent buffer because deepSTRF's checkpoints hold it.
    """

    def __init__(self, token_dim: int) -> None:
        super().__init__()
        exponents = torch.arange(0, token_dim, 2, dtype=torch.float32)
        self.register_buffer("div_term", torch.exp(exponents * (-math.log(10000.0) / token_dim)))

    def encoding(self, first_position: int, n_frames: int) -> torch.Tensor:
        """``(n_frames, D)`` encodings of the absolute positions ``first_position .. first_position + n - 1``:
        a streamer passes the count of frames already seen, so its tokens equal the offline ones."""
        positions = torch.arange(first_position, first_position + n_frames, dtype=self.div_term.dtype,
                                 device=self.div_term.device)
        angles = positions[:, None] * self.div_term[None, :]
        return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)  # 2i sine, 2i+1 cosine


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _suggest(values: list[int], limit: int = 12) -> str:
    text = ", ".join(str(v) for v in values[:limit])
    return text + (", ..." if len(values) > limit else "")


class Transformer(AudioEncodingModel):
    """Patch tokens of the last ``time_patch_size`` frames, ``n_layers`` causal post-norm encoder layers (a
    window of ``context_window`` frames, or the whole past), and a per-frame linear readout (identity
    activation by default). Takes ``(B, 1, F, T)`` spectrograms (audio with a ``wav2spec``), returns
    ``(B, N, 1, T)``.

    ``mask_future=False`` (keyword only, never in config.json) builds a deliberately broken model whose
    attention sees the whole input, future frames included: it exists to demonstrate what a leak looks like.
    """

    counts_positions = True

    def __init__(
        self,
        n_frequency_bands: int = 34,
        freq_patch_size: int | None = None,
        time_patch_size: int = 1,
        context_window: int | None = None,
        embedding_dim: int = 48,
        n_heads: int = 1,
        n_layers: int = 1,
        out_neurons: int = 1,
        output_activation: nn.Module | None = None,
        prefiltering: nn.Module | None = None,
        wav2spec: nn.Module | None = None,
        *,
        mask_future: bool = True,
    ) -> None:
        owner = type(self).__name__
        k_t = check_positive_int(owner, "time_patch_size", time_patch_size)
        if context_window is not None and (isinstance(context_window, bool) or not isinstance(context_window, int)):
            raise ConfigurationError(
                f"{owner}: context_window must be a whole number of frames, or None for the whole past "
                f"(got {context_window!r})."
            )
        window = context_window if context_window is not None and context_window > 0 else 0
        super().__init__(n_frequency_bands, window or max(k_t, _DEFAULT_STRF_FRAMES), out_neurons, prefiltering,
                         wav2spec)
        if not isinstance(mask_future, bool):
            raise ConfigurationError(f"{owner}: mask_future must be True or False (got {mask_future!r}).")
        k_f = self.F if freq_patch_size is None else check_positive_int(owner, "freq_patch_size", freq_patch_size)
        if self.F % k_f:
            raise ConfigurationError(
                f"{owner}: freq_patch_size={k_f} does not divide n_frequency_bands={self.F} into whole patches. "
                f"Choose one of {_suggest(_divisors(self.F))}, or None for one patch of all bands."
            )
        self.E = check_positive_int(owner, "embedding_dim", embedding_dim)
        self.n_heads = check_positive_int(owner, "n_heads", n_heads)
        self.n_layers = check_positive_int(owner, "n_layers", n_layers)
        self.K_F, self.K_T, self.F_p = k_f, k_t, self.F // k_f
        self.D = self.E * self.F_p
        sizes = f"embedding_dim x (n_frequency_bands / freq_patch_size) = {self.E} x {self.F_p} = {self.D}"
        if self.D % 2:
            raise ConfigurationError(
                f"{owner}: the token size {sizes} must be even, because the positional encoding pairs a sine "
                "with a cosine. Choose an even embedding_dim or a freq_patch_size giving an even number of patches."
            )
        if self.D % self.n_heads:
            raise ConfigurationError(
                f"{owner}: the token size {sizes} is not divisible by n_heads={self.n_heads}, so the heads cannot "
                f"split it evenly. Choose n_heads among {_suggest(_divisors(self.D))}."
            )
        d = self.D
        per_layer = 12 * d * d + 13 * d  # attention in/out projections, two linears (width 4D), two norms
        check_parameter_budget(owner, self.E * (self.C_in * k_f * k_t + 1) + self.n_layers * per_layer
                               + self.O * (d + 1), f"{self.n_layers} encoder layers on {d}-dimensional tokens")
        self.context_window, self.window, self.mask_future = context_window, window, mask_future

        self.patchify = nn.Conv2d(self.C_in, self.E, kernel_size=(k_f, k_t), stride=(k_f, 1))
        self.pos_encoding = SinusoidalPositionalEncoding(d)
        layer = nn.TransformerEncoderLayer(d_model=d, nhead=self.n_heads, dim_feedforward=4 * d, dropout=0.1,
                                           activation="relu", batch_first=True, norm_first=False)
        self.tsfm = nn.TransformerEncoder(layer, num_layers=self.n_layers, enable_nested_tensor=False)
        self.readout = LinearReadout(d, self.O, activation=output_activation)
        self.init_config = {
            "n_frequency_bands": self.F, "freq_patch_size": freq_patch_size, "time_patch_size": k_t,
            "context_window": context_window, "embedding_dim": self.E, "n_heads": self.n_heads,
            "n_layers": self.n_layers, "out_neurons": self.O,
            **unset_modules(output_activation=output_activation, prefiltering=prefiltering, wav2spec=wav2spec),
        }

    @property
    def core_memory_frames(self) -> int | None:
        """Prefiltered frames one output depends on: each layer reaches ``w - 1`` frames further back, the
        patches ``K_T`` frames; None (unbounded) without a window, or when the future is not masked."""
        if not self.mask_future or not self.window:
            return None
        return self.n_layers * (self.window - 1) + self.K_T

    @property
    def cache_frames(self) -> int | None:
        """Inputs of each layer a streamer must keep between chunks: ``w - 1``, or None (all of them) without
        a window, because the next frame may attend to every one of them."""
        return self.window - 1 if self.window else None

    def attention_mask(self, n_queries: int, n_keys: int, like: torch.Tensor) -> torch.Tensor | None:
        """This model's mask for the last ``n_queries`` of ``n_keys`` frames (dtype and device of ``like``);
        None when ``mask_future`` is off, which lets attention see every frame it is given."""
        if not self.mask_future:
            return None
        return window_mask(n_queries, n_keys, self.window, dtype=like.dtype, device=like.device)

    def tokens(self, x: torch.Tensor, first_position: int = 0, past: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``(B, n, D)`` of the ``n`` prefiltered frames ``x`` ``(B, C_in, F, n)``, positions counted
        from ``first_position``.

        ``past`` holds the frames just before ``x`` (the last ``K_T - 1`` suffice; ``(B, C_in, F, k)``):
        zeros are assumed before them, which is the offline pad when ``past`` starts at the first frame.
        A streamer passes its frame count and its cached frames here so that its tokens are the offline ones.
        """
        n = x.shape[-1]
        if past is not None:
            x = torch.cat([past, x], dim=-1)
        patches = self.patchify(F.pad(x, (self.K_T - 1, 0)))  # (B, E, F_p, frames)
        patches = patches[..., patches.shape[-1] - n:]
        flat = patches.flatten(1, 2).transpose(1, 2)  # (B, n, D), feature e * F_p + p
        return flat + self.pos_encoding.encoding(first_position, n)

    def layer_forward(self, index: int, inputs: torch.Tensor, n_queries: int) -> torch.Tensor:
        """Outputs ``(B, n_queries, D)`` of encoder layer ``index`` at the last ``n_queries`` frames of its
        inputs ``(B, n_keys, D)``; the earlier frames are only attended to.

        A streamer hands each layer its cached inputs followed by the new ones and gets exactly the new
        frames' outputs (attention, residuals and norms of a post-norm layer work frame by frame apart from
        the keys), without recomputing the cached frames.
        """
        layer = self.tsfm.layers[index]
        queries = inputs[:, inputs.shape[1] - n_queries:]
        mask = self.attention_mask(n_queries, inputs.shape[1], inputs)
        attended = layer.self_attn(queries, inputs, inputs, attn_mask=mask, need_weights=False)[0]
        h = layer.norm1(queries + layer.dropout1(attended))
        feed_forward = layer.linear2(layer.dropout(layer.activation(layer.linear1(h))))
        return layer.norm2(h + layer.dropout2(feed_forward))

    def read_out(self, hidden: torch.Tensor) -> torch.Tensor:
        """Rates ``(B, N, 1, n)`` from the last layer's outputs ``(B, n, D)``: the readout works per frame."""
        return self.readout(hidden.transpose(1, 2))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Rates ``(B, N, 1, L)`` of prefiltered frames ``(B, C_in, F, L)``: the offline pass, through torch's
        encoder with the mask rebuilt at this length."""
        tokens = self.tokens(x)
        return self.read_out(self.tsfm(tokens, mask=self.attention_mask(x.shape[-1], x.shape[-1], tokens)))

    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        return self.encode(self.prefiltering(spec))
