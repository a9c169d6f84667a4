"""CausalGammatone: a fixed FIR gammatone filterbank on an ERB-rate ladder (Patterson et al. 1992).

Each channel is the one-sided gammatone ``g(t) = t^(n-1) exp(-2 pi b t) cos(2 pi fc t)``, ``b = 1.019 ERB(fc)``,
truncated to ``kernel_ms`` and scaled to unit peak gain, followed by rectification, a causal average over
the ``env_window_ms`` ending at each frame, and compression (log, cube root, PCEN or none).

Orientation: filtering is correlation with the taps in the ``_kernels`` buffer, and strfviewer stores the
time-reversed gammatone there, so the effective impulse response is the true gammatone (energy arrives a
few ms after the sound). deepSTRF 0.1.0 stores the unreversed curve, which makes its effective response
the time-reversed gammatone (14-20 ms later); loading its ``_kernels`` reproduces its output exactly, and
:meth:`CausalGammatone.orientation` tells the two apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigurationError
from . import stages
from .base import AUDIO_FS, HOP_MS, Frontend, ParamSpec, RecursionSplit, clamp_band, samples
from .blockconv import causal_correlate, prefer_blocked
from .scales import erb_bandwidth, erb_spaced

# Frequency grid on which a kernel's peak gain is measured when normalising it.
_GAIN_FFT_SIZE = 4096


def gammatone_impulse_responses(
    fc: np.ndarray, audio_fs: int, length: int, order: int = 4, b_factor: float = 1.019
) -> np.ndarray:
    """Gammatone impulse responses ``(F, length)`` (time runs forward), each with unit peak gain."""
    t = np.arange(length) / audio_fs
    b = b_factor * erb_bandwidth(fc)[:, None]
    g = t ** (order - 1) * np.exp(-2 * np.pi * b * t) * np.cos(2 * np.pi * fc[:, None] * t)
    n_fft = max(_GAIN_FFT_SIZE, length)
    peak = np.abs(np.fft.rfft(g, n=n_fft, axis=-1)).max(axis=-1, keepdims=True)
    return g / peak


_PCEN = ("compression", ("pcen",))  # the PCEN parameters act only under PCEN compression


class CausalGammatone(Frontend):
    """Gammatone FIR bank -> rectifier -> causal envelope pool -> compression. No learnable parameters."""

    kind = "gammatone"
    schema = (
        AUDIO_FS,
        HOP_MS,
        ParamSpec("n_filters", int, 34, "Number of gammatone channels.", "", 1),
        ParamSpec("f_min", float, 500.0, "Centre frequency of the lowest channel.", "Hz", 0.0),
        ParamSpec("f_max", float, 22627.0, "Centre frequency of the highest channel (clamped to Nyquist).",
                  "Hz", 0.0, exclusive_minimum=True, optional=True),
        ParamSpec("order", int, 4, "Gammatone order n.", "", 1, 8),
        ParamSpec("b_factor", float, 1.019, "Bandwidth as a multiple of the ERB.", "", 0.0,
                  exclusive_minimum=True),
        ParamSpec("kernel_ms", float, 20.0, "Length of the FIR kernels.", "ms", 0.0, exclusive_minimum=True),
        ParamSpec("rectify", str, "halfwave", "Half-wave max(y, 0) or full-wave |y| rectification.",
                  choices=("halfwave", "full")),
        ParamSpec("env_window_ms", float, None, "Envelope averaging window (None: two hops).", "ms", 0.0,
                  exclusive_minimum=True, optional=True),
        ParamSpec("compression", str, "log", "Compression of the channel envelopes.",
                  choices=("log", "cuberoot", "pcen", "none")),
        ParamSpec("log_floor", float, 1e-4, "Values below this are clipped before the log.", "", 0.0,
                  exclusive_minimum=True, applies_when=("compression", ("log",))),
        ParamSpec("pcen_s", float, 0.025, "PCEN smoother coefficient per frame.", "", 0.0, 1.0,
                  exclusive_minimum=True, applies_when=_PCEN),
        ParamSpec("pcen_alpha", float, 0.98, "PCEN gain-normalisation exponent.", "", 0.0, applies_when=_PCEN),
        ParamSpec("pcen_delta", float, 2.0, "PCEN bias before root compression.", "", 0.0, applies_when=_PCEN),
        ParamSpec("pcen_r", float, 0.5, "PCEN root exponent.", "", 0.0, exclusive_minimum=True,
                  applies_when=_PCEN),
        ParamSpec("pcen_eps", float, 1e-6, "PCEN stabiliser added to the smoother.", "", 0.0,
                  exclusive_minimum=True, applies_when=_PCEN),
    )

    @classmethod
    def _output_name(cls, values: dict[str, Any]) -> str:
        names = {"log": "log envelope", "cuberoot": "envelope^(1/3)", "pcen": "PCEN", "none": "envelope"}
        return names.get(values["compression"], "envelope")

    def __init__(
        self,
        audio_fs: int,
        n_filters: int = 34,
        hop_ms: float = 5.0,
        f_min: float = 500.0,
        f_max: float | None = 22627.0,
        order: int = 4,
        b_factor: float = 1.019,
        kernel_ms: float = 20.0,
        rectify: str = "halfwave",
        env_window_ms: float | None = None,
        compression: str = "log",
        log_floor: float = 1e-4,
        pcen_s: float = 0.025,
        pcen_alpha: float = 0.98,
        pcen_delta: float = 2.0,
        pcen_r: float = 0.5,
        pcen_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        cfg = self._bind(locals())
        self.audio_fs = cfg["audio_fs"]
        self.hop = samples(self.audio_fs, cfg["hop_ms"])
        self.out_channels = cfg["n_filters"]
        self.f_min = cfg["f_min"]
        self.f_max = clamp_band("CausalGammatone", self.audio_fs, self.f_min, cfg["f_max"])
        self.kernel_size = max(self.hop, samples(self.audio_fs, cfg["kernel_ms"]))
        env_ms = cfg["env_window_ms"] if cfg["env_window_ms"] is not None else 2 * cfg["hop_ms"]
        self.env_window = samples(self.audio_fs, env_ms)
        if self.env_window < self.hop:
            raise ConfigurationError(
                f"CausalGammatone: env_window_ms ({env_ms:g}) must be >= hop_ms ({cfg['hop_ms']:g}) so that "
                "every sample is averaged into some frame."
            )
        self.rectify = cfg["rectify"]
        self.compression = cfg["compression"]
        self.log_floor = cfg["log_floor"]
        fc = erb_spaced(self.f_min, self.f_max, self.out_channels)
        g = gammatone_impulse_responses(fc, self.audio_fs, self.kernel_size, cfg["order"], cfg["b_factor"])
        self.register_buffer("_fc", torch.tensor(fc, dtype=torch.float32))
        # Correlation taps: reversed in time, so that the effective impulse response is g itself.
        taps = torch.tensor(g[:, ::-1].copy(), dtype=torch.float32).unsqueeze(1)
        self.register_buffer("_kernels", taps)

    @property
    def fir_reach(self) -> int:
        return self.kernel_size + self.env_window - 1

    @property
    def recursive(self) -> bool:
        return self.compression == "pcen"

    def centre_frequencies(self) -> np.ndarray:
        return self._fc.detach().cpu().numpy().astype(np.float64)

    def impulse_responses(self) -> torch.Tensor:
        """Effective impulse responses ``(F, K)``, time running forward from lag 0."""
        return self._kernels[:, 0].flip(-1)

    def orientation(self) -> str:
        """``"true"`` when the effective response is a forward gammatone, ``"reversed"`` for deepSTRF's."""
        h = self.impulse_responses().detach().abs()
        lags = torch.arange(h.shape[-1], dtype=h.dtype)
        centroid = (h * lags).sum() / h.sum().clamp_min(1e-30)
        return "true" if centroid < (h.shape[-1] - 1) / 2 else "reversed"

    def recursion_split(self) -> RecursionSplit | None:
        if self.compression != "pcen":
            return None
        return RecursionSplit(
            energy=lambda x: torch.relu(self._envelope(x)),
            channel_energy=lambda x, c: torch.relu(self._envelope(x, slice(c, c + 1))),
            tail=self._pcen,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_waveform(x)
        return self._compress(self._envelope(x)).unsqueeze(1)

    def _envelope(self, x: torch.Tensor, channels: slice = slice(None)) -> torch.Tensor:
        """Rectified filter outputs averaged over each frame's envelope window, ``(B, F, T)``."""
        kernels = self._kernels[channels]
        rectify = torch.relu if self.rectify == "halfwave" else torch.abs
        if prefer_blocked(self.kernel_size, self.hop) and self.env_window % self.hop == 0:
            # Rectify and sum each hop while the block is in cache, then pool whole hops.
            sums = causal_correlate(
                x, kernels, block=self.hop, reduce=lambda y: rectify(y).sum(-1)
            )
            return stages.frames_from_block_sums(sums, self.env_window, self.hop)
        y = rectify(causal_correlate(x, kernels))
        return stages.causal_average_pool(y, self.env_window, self.hop)

    def _compress(self, env: torch.Tensor) -> torch.Tensor:
        if self.compression == "log":
            return stages.log_floor(env, self.log_floor)
        if self.compression == "cuberoot":
            return stages.cube_root(env)
        if self.compression == "pcen":
            return self._pcen(torch.relu(env))[0][:, 0]
        return env

    def _pcen(self, energy: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """PCEN output ``(B, 1, F, T)`` from smoother state ``state`` ``(B, F)``, and the final state."""
        c = self.config
        smooth = stages.pcen_smoother(energy, c["pcen_s"], state)
        out = stages.pcen_normalise(energy, smooth, c["pcen_alpha"], c["pcen_delta"], c["pcen_r"], c["pcen_eps"])
        return out.unsqueeze(1), smooth[..., -1]
