"""What any module offers as an audio front-end: the one place that knows where a module's front-end is.

A module is either a front-end itself, or a model that holds one in its ``wav2spec`` slot (a model whose slot is
empty takes a spectrogram). User-supplied modules that are neither may still carry ``hop`` and ``out_channels``
attributes; the helpers below read those too. Duck typing only: this module imports no model class, so the
front-end package stays free of the models that are built on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from .base import Frontend


def frontend_of(module: Any) -> Frontend | None:
    """The module's front-end: the module itself, or its ``wav2spec``; None when it has none."""
    from .base import Frontend  # torch: loaded on first use, so the window can import this module at launch

    if isinstance(module, Frontend):
        return module
    wav2spec = getattr(module, "wav2spec", None)
    return wav2spec if isinstance(wav2spec, Frontend) else None


def is_model(module: Any) -> bool:
    """Whether the module is a model on a front-end (its outputs are neurons, not channels)."""
    frontend = frontend_of(module)
    return frontend is not None and frontend is not module


def hop_of(module: Any) -> int:
    """Audio samples per output frame of a front-end, of a model on one, or of a module with a ``hop``.

    Raises ConfigurationError when the module has none: nothing frame-based can be computed for it.
    """
    hop = getattr(frontend_of(module), "hop", None) or getattr(module, "hop", None)
    if not isinstance(hop, int) or hop < 1:
        raise ConfigurationError(f"{type(module).__name__} has no hop (samples per frame): give a front-end or a "
                                 "model with a front-end")
    return hop


def n_outputs(module: Any) -> int | None:
    """Neurons of a model, channels of a front-end (or of a module with ``out_channels``); None if unknown."""
    value = getattr(module, "O", None) if is_model(module) else getattr(module, "out_channels", None)
    return value if isinstance(value, int) and value > 0 else None


def audio_mismatch(module: Any, audio_fs: int | None) -> str | None:
    """Why the module cannot take a sound at ``audio_fs`` (a phrase such as "takes a spectrogram, not audio"),
    or None when it can; with ``audio_fs`` None (no sound yet) only whether it takes audio at all."""
    frontend = frontend_of(module)
    if frontend is None:
        return "takes a spectrogram, not audio"
    if audio_fs is not None and int(frontend.audio_fs) != int(audio_fs):
        return f"expects {frontend.audio_fs} Hz audio; the sound is {audio_fs} Hz"
    return None
