"""Encoding models: the four-slot template, Linear, LinearNonlinear, the NRF, DNet, ConvNet2D, the Transformer,
StateNet and ICNet."""

from .base import AudioEncodingModel
from .icnet import ICNet
from .linear import Linear, LinearNonlinear
from .networks import ConvNet2D, DNet, NetworkReceptiveField
from .readouts import CausalSTRFConv, ParametricSoftplus, STRFReadout
from .statenet import StateNet
from .transformer import Transformer

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
    "StateNet",
    "Transformer",
]
