"""The front-end kinds and the factory that builds them by name."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .base import Frontend
from .gammatone import CausalGammatone
from .icnet import ICNetEncoder
from .leaf import CausalLEAF
from .mel import CausalMelSpectrogram
from .sincnet import SincNet

FRONTEND_CLASSES: dict[str, type[Frontend]] = {
    cls.kind: cls for cls in (CausalMelSpectrogram, CausalGammatone, SincNet, CausalLEAF, ICNetEncoder)
}
KINDS: tuple[str, ...] = tuple(FRONTEND_CLASSES)


def frontend_class(kind: str) -> type[Frontend]:
    """The class registered for ``kind`` (case-insensitive)."""
    key = kind.lower() if isinstance(kind, str) else kind
    if key not in FRONTEND_CLASSES:
        raise ConfigurationError(
            f"Unknown front-end kind {kind!r}. Available kinds: {', '.join(KINDS)}."
        )
    return FRONTEND_CLASSES[key]


def make_wav2spec(kind: str, audio_fs: int, dt_ms: float, **kwargs: Any) -> Frontend:
    """Build a front-end of ``kind`` whose frames match a dataset sampled at ``audio_fs`` with bins of ``dt_ms``."""
    cls = frontend_class(kind)
    time_arg = "dt_ms" if cls is ICNetEncoder else "hop_ms"
    for clash in ("hop_ms", "dt_ms"):
        if clash in kwargs:
            raise ConfigurationError(
                f"make_wav2spec: pass the frame period once, as dt_ms (got {clash}={kwargs[clash]!r} in "
                "the keyword arguments as well)."
            )
    return cls(audio_fs=audio_fs, **{time_arg: dt_ms}, **kwargs)
