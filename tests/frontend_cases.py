"""The causality test bank's list of front-end cases: every kind and mode, at 16 kHz and 48 kHz.

A new front-end joins the bank by adding a case here; every parametrised contract test then covers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strfviewer.backend.frontends import Frontend, make_wav2spec


@dataclass(frozen=True)
class FrontendCase:
    label: str
    kind: str
    audio_fs: int
    dt_ms: float = 5.0
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Frontend:
        return make_wav2spec(self.kind, audio_fs=self.audio_fs, dt_ms=self.dt_ms, **self.kwargs)


_SMALL_ICNET = {"n_filters": 8, "encoder_channels": 12, "bottleneck_channels": 6}

FRONTEND_CASES: list[FrontendCase] = [
    FrontendCase("mel-16k-win25", "mel", 16000, kwargs={"win_ms": 25.0, "f_min": 300.0}),
    FrontendCase("mel-48k-defaults", "mel", 48000),
    FrontendCase("mel-32k-1ms-power-cubic", "mel", 32000, 1.0,
                 {"n_mels": 32, "win_ms": 10.0, "f_min": 0.0, "f_max": None, "magnitude": "power",
                  "compression": "cubic"}),
    FrontendCase("mel-16k-log1p-slaney", "mel", 16000,
                 kwargs={"f_min": 100.0, "compression": "log1p", "mel_scale": "slaney", "n_mels": 20}),
    FrontendCase("gammatone-16k-log-halfwave", "gammatone", 16000,
                 kwargs={"f_min": 300.0, "f_max": 7000.0}),
    FrontendCase("gammatone-16k-cuberoot-full", "gammatone", 16000,
                 kwargs={"n_filters": 24, "f_min": 300.0, "f_max": 7000.0, "kernel_ms": 15.0,
                         "rectify": "full", "compression": "cuberoot", "env_window_ms": 10.0}),
    FrontendCase("gammatone-16k-pcen", "gammatone", 16000,
                 kwargs={"n_filters": 24, "f_min": 300.0, "f_max": 7000.0, "kernel_ms": 15.0,
                         "compression": "pcen"}),
    FrontendCase("gammatone-16k-none", "gammatone", 16000,
                 kwargs={"n_filters": 16, "f_min": 300.0, "f_max": 7000.0, "compression": "none"}),
    FrontendCase("gammatone-48k-log", "gammatone", 48000),
    FrontendCase("gammatone-48k-pcen", "gammatone", 48000, kwargs={"compression": "pcen"}),
    FrontendCase("sincnet-16k-K251-strided-symlog", "sincnet", 16000,
                 kwargs={"kernel_size": 251, "activation": "symlog"}),
    FrontendCase("sincnet-16k-K64-short-linear-logabs", "sincnet", 16000,
                 kwargs={"n_filters": 48, "kernel_size": 64, "init": "linear"}),
    FrontendCase("sincnet-16k-K251-envelope", "sincnet", 16000,
                 kwargs={"kernel_size": 251, "envelope": True}),
    FrontendCase("sincnet-48k-K753-envelope-ns1", "sincnet", 48000,
                 kwargs={"kernel_size": 753, "f_min": 500.0, "f_max": 22627.0, "envelope": True,
                         "env_window_ms": 10.0}),
    FrontendCase("sincnet-48k-K753-strided-none", "sincnet", 48000,
                 kwargs={"kernel_size": 753, "activation": "none"}),
    FrontendCase("leaf-16k", "leaf", 16000,
                 kwargs={"n_filters": 24, "f_max": 7000.0, "kernel_ms": 12.0}),
    FrontendCase("leaf-48k-defaults", "leaf", 48000),
    FrontendCase("leaf-48k-frozen-filters", "leaf", 48000,
                 kwargs={"n_filters": 16, "learn_filters": False, "pool_ms": 10.0}),
    FrontendCase("icnet-16k-small", "icnet", 16000, kwargs=dict(_SMALL_ICNET)),
    FrontendCase("icnet-48k-small-blocked", "icnet", 48000, kwargs=dict(_SMALL_ICNET)),
    FrontendCase("icnet-48k-defaults", "icnet", 48000),
]

CASE_IDS = [case.label for case in FRONTEND_CASES]

