"""CausalMelSpectrogram: a fixed, strictly causal (left-padded) mel spectrogram.

Frame ``t`` is the STFT of the ``win`` samples ending at ``(t + 1) * hop`` (symmetric Hann window,
``n_fft = win``), mapped through a triangular mel filterbank and compressed. The defaults reproduce the
Rahman et al. (2019) NS1 cochleagram: 10 ms window, 5 ms hop, 34 bands from 500 to 22627 Hz, amplitude
spectrum, log clipped at 1e-4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from ..errors import ConfigurationError
from . import stages
from .base import AUDIO_FS, HOP_MS, Frontend, ParamSpec, clamp_band, samples
from .scales import hz_to_mel, mel_to_hz


class CausalMelSpectrogram(Frontend):
    """Left-padded STFT, triangular mel filterbank, compression. No learnable parameters."""

    kind = "mel"
    schema = (
        AUDIO_FS,
        HOP_MS,
        ParamSpec("n_mels", int, 34, "Number of mel bands (output channels).", "", 1),
        ParamSpec("win_ms", float, 10.0, "STFT window length; also the FFT size.", "ms", 0.0,
                  exclusive_minimum=True),
        ParamSpec("f_min", float, 500.0, "Lower edge of the lowest band.", "Hz", 0.0),
        ParamSpec("f_max", float, 22627.0, "Upper edge of the highest band (clamped to Nyquist).",
                  "Hz", 0.0, exclusive_minimum=True, optional=True),
        ParamSpec("magnitude", str, "amplitude", "Amplitude |X| or power |X|^2 spectrum.",
                  choices=("amplitude", "power")),
        ParamSpec("compression", str, "log", "Compression applied to the mel energies.",
                  choices=("log", "cubic", "log1p", "none")),
        ParamSpec("log_floor", float, 1e-4, "Values below this are clipped before the log.", "",
                  0.0, exclusive_minimum=True, applies_when=("compression", ("log",))),
        ParamSpec("log_offset", float, None, "If set, log uses ln(x + offset) instead of the floor.",
                  "", 0.0, exclusive_minimum=True, optional=True, applies_when=("compression", ("log",))),
        ParamSpec("mel_scale", str, "htk", "Mel curve of the filterbank.", choices=("htk", "slaney")),
    )

    @classmethod
    def _output_name(cls, values: dict[str, Any]) -> str:
        names = {"log": "log mel", "cubic": "mel^(1/3)", "log1p": "log(1 + mel)", "none": "mel"}
        return names.get(values["compression"], "mel") + (" power" if values["magnitude"] == "power" else "")

    def __init__(
        self,
        audio_fs: int,
        n_mels: int = 34,
        hop_ms: float = 5.0,
        win_ms: float = 10.0,
        f_min: float = 500.0,
        f_max: float | None = 22627.0,
        magnitude: str = "amplitude",
        compression: str = "log",
        log_floor: float = 1e-4,
        log_offset: float | None = None,
        mel_scale: str = "htk",
    ) -> None:
        super().__init__()
        cfg = self._bind(locals())
        self.audio_fs = cfg["audio_fs"]
        self.hop = samples(self.audio_fs, cfg["hop_ms"])
        self.win = samples(self.audio_fs, cfg["win_ms"])
        if self.win < self.hop:
            raise ConfigurationError(
                f"CausalMelSpectrogram: win_ms ({cfg['win_ms']:g}) must be >= hop_ms ({cfg['hop_ms']:g}): "
                "a frame must cover its own bin. Lengthen the window or shorten the hop."
            )
        self.n_fft = self.win
        self.left_pad = self.win - self.hop
        self.f_min = cfg["f_min"]
        self.f_max = clamp_band("CausalMelSpectrogram", self.audio_fs, self.f_min, cfg["f_max"])
        self.out_channels = cfg["n_mels"]
        self.magnitude = cfg["magnitude"]
        self.compression = cfg["compression"]
        self.log_floor = cfg["log_floor"]
        self.log_offset = cfg["log_offset"]
        self.mel_scale = cfg["mel_scale"]
        self.register_buffer("_window", torch.hann_window(self.win, periodic=False))
        fb = AF.melscale_fbanks(
            self.n_fft // 2 + 1, self.f_min, self.f_max, self.out_channels, self.audio_fs,
            norm=None, mel_scale=self.mel_scale,
        )
        self.register_buffer("_mel_fb", fb)

    @property
    def fir_reach(self) -> int:
        return self.win

    def centre_frequencies(self) -> np.ndarray:
        """Peak of each triangle (HTK: mel-spaced points between f_min and f_max)."""
        if self.mel_scale == "htk":
            points = mel_to_hz(
                np.linspace(hz_to_mel(self.f_min), hz_to_mel(self.f_max), self.out_channels + 2)
            )
            return points[1:-1]
        freqs = np.linspace(0.0, self.audio_fs // 2, self.n_fft // 2 + 1)
        return freqs[self._mel_fb.argmax(dim=0).cpu().numpy()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_waveform(x)
        frames = F.pad(x[:, 0], (self.left_pad, 0)).unfold(-1, self.win, self.hop)
        spectrum = torch.fft.rfft(frames * self._window, n=self.n_fft)
        power = spectrum.real.square() + spectrum.imag.square()
        spec = stages.magnitude(power) if self.magnitude == "amplitude" else power
        mel = torch.matmul(spec, self._mel_fb).transpose(1, 2)  # (B, n_mels, T)
        return self._compress(mel).unsqueeze(1)

    def _compress(self, mel: torch.Tensor) -> torch.Tensor:
        if self.compression == "log":
            if self.log_offset is not None:
                return torch.log(mel + self.log_offset)
            return stages.log_floor(mel, self.log_floor)
        if self.compression == "cubic":
            return stages.cube_root(mel)
        if self.compression == "log1p":
            return stages.log1p_rectified(mel)
        return mel
