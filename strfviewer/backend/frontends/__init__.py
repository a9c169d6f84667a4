"""Strictly causal audio front-ends (the wav2spec slot): ``(B, 1, T_audio) -> (B, 1, F, T_audio // hop)``.

Importing the package loads nothing else: :data:`KINDS` lives here so that the command line and the window can
list the kinds before torch is imported (the window is shown first, torch loads behind it). The classes and the
factory are imported, with torch, the first time one of them is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The registry's kinds (FRONTEND_CLASSES), in its order: the one list of names, for menus and command lines.
# tests/test_frontend_kinds.py checks that the two agree.
KINDS: tuple[str, ...] = ("mel", "gammatone", "sincnet", "leaf", "icnet")

# Each public name and the submodule that defines it.
_HOMES = {
    "Frontend": "base",
    "ParamSpec": "base",
    "CausalGammatone": "gammatone",
    "ICNetEncoder": "icnet",
    "CausalLEAF": "leaf",
    "CausalMelSpectrogram": "mel",
    "SincNet": "sincnet",
    "FRONTEND_CLASSES": "registry",
    "frontend_class": "registry",
    "make_wav2spec": "registry",
}

if TYPE_CHECKING:
    from .base import Frontend, ParamSpec
    from .gammatone import CausalGammatone
    from .icnet import ICNetEncoder
    from .leaf import CausalLEAF
    from .mel import CausalMelSpectrogram
    from .registry import FRONTEND_CLASSES, frontend_class, make_wav2spec
    from .sincnet import SincNet


def __getattr__(name: str) -> Any:
    """A class or the factory, imported from its submodule on first use (then kept as a module attribute)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


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
