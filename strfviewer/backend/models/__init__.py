"""Encoding models: the four-slot template, Linear, LinearNonlinear, the NRF, DNet, ConvNet2D and ICNet."""

from .base import AudioEncodingModel
from .icnet import ICNet
from .linear import Linear, LinearNonlinear
from .networks import ConvNet2D, DNet, NetworkReceptiveField
from .readouts import CausalSTRFConv, ParametricSoftplus, STRFReadout

__all__ = [
    "AudioEncodingModel",
    "CausalSTRFConv",
    "ConvNet2D",
    "DNet",
    "ICNet",
    "Linear",
    "LinearNonlinear",
    "NetworkReceptiveField",
    "ParametricSoftplus",
    "STRFReadout",
]
