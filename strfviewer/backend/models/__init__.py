"""Encoding models: the four-slot template, Linear, LinearNonlinear, the NRF, DNet and ICNet."""

from .base import AudioEncodingModel
from .icnet import ICNet
from .linear import Linear, LinearNonlinear
from .networks import DNet, NetworkReceptiveField
from .readouts import CausalSTRFConv, ParametricSoftplus, STRFReadout

__all__ = [
    "AudioEncodingModel",
    "CausalSTRFConv",
    "DNet",
    "ICNet",
    "Linear",
    "LinearNonlinear",
    "NetworkReceptiveField",
    "ParametricSoftplus",
    "STRFReadout",
]
