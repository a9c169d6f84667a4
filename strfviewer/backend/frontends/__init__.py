"""Strictly causal audio front-ends (the wav2spec slot): ``(B, 1, T_audio) -> (B, 1, F, T_audio // hop)``."""

from .base import Frontend, ParamSpec
from .gammatone import CausalGammatone
from .icnet import ICNetEncoder
from .leaf import CausalLEAF
from .mel import CausalMelSpectrogram
from .registry import FRONTEND_CLASSES, KINDS, frontend_class, make_wav2spec
from .sincnet import SincNet

__all__ = [
    "FRONTEND_CLASSES",
    "KINDS",
    "CausalGammatone",
    "CausalLEAF",
    "CausalMelSpectrogram",
    "Frontend",
    "ICNetEncoder",
    "ParamSpec",
    "SincNet",
    "frontend_class",
    "make_wav2spec",
]
