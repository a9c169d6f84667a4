"""Encoding models: the four-slot template, Linear, LinearNonlinear and ICNet."""

from .base import AudioEncodingModel
from .icnet import ICNet
from .linear import Linear, LinearNonlinear
from .readouts import CausalSTRFConv, ParametricSoftplus, STRFReadout

__all__ = [
    "AudioEncodingModel",
    "CausalSTRFConv",
    "ICNet",
    "Linear",
    "LinearNonlinear",
    "ParametricSoftplus",
    "STRFReadout",
]
