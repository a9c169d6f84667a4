"""Audio files to model-ready waveforms: read (soundfile), mix to mono, resample, fit to whole frames.

Everything a person can get wrong with a sound file becomes an :class:`AudioLoadError` whose message says
what is wrong and what to do. Fractional source rates (NS1's 48828.125 Hz, stored as 48828 in the WAV header)
are resampled by their exact rational ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF

from ..errors import AudioLoadError

# Largest numerator/denominator handed to the polyphase resampler: its filter bank grows with them.
_MAX_RATIO_TERM = 20000
SUPPORTED_EXTENSIONS = ", ".join(sorted({f".{ext.lower()}" for ext in soundfile.available_formats()})[:14])


@dataclass(frozen=True)
class LoadedAudio:
    """A mono float32 waveform at ``sample_rate`` and a record of what was done to the file to get it."""

    waveform: torch.Tensor
    sample_rate: int
    source_rate: float
    path: Path
    n_source_channels: int
    source_frames: int
    notes: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        """Length of ``waveform`` in seconds."""
        return self.waveform.shape[-1] / self.sample_rate


def _checked_info(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(f"{path} does not exist. Check the path, or open another file.")
    if path.is_dir():
        raise AudioLoadError(f"{path} is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"{path} is empty (0 bytes).")
    try:
        return soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioLoadError(
            f"{path} is not a readable audio file ({exc}). Supported formats include {SUPPORTED_EXTENSIONS}."
        ) from None


def audio_info(path: str | Path) -> dict[str, Any]:
    """Format, channels, frames, rate and duration of an audio file, without reading its samples."""
    info = _checked_info(Path(path))
    return {"format": info.format, "subtype": info.subtype, "channels": info.channels, "frames": info.frames,
            "sample_rate": info.samplerate, "duration_s": info.frames / info.samplerate}


def _ratio(source_rate: float, target_rate: int, notes: list[str]) -> tuple[int, int]:
    exact = Fraction(source_rate).limit_denominator(1 << 20) / Fraction(target_rate)
    ratio = exact.limit_denominator(_MAX_RATIO_TERM)
    if ratio != exact:
        notes.append(f"resampling ratio approximated as {ratio.numerator}/{ratio.denominator} "
                     f"(relative error {abs(float(ratio / exact) - 1):.1e})")
    return ratio.numerator, ratio.denominator


def _positive_rate(name: str, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not math.isfinite(value) or value <= 0):
        raise AudioLoadError(f"{name} must be a positive number of Hz (got {value!r}).")


def load_audio(
    path: str | Path,
    target_rate: int | None = None,
    *,
    hop: int | None = None,
    source_rate: float | None = None,
    max_seconds: float = 4 * 3600,
    min_band_hz: float | None = None,
    n_frames: int | None = None,
) -> LoadedAudio:
    """Read ``path`` as mono float32 at ``target_rate`` (default: the file's rate).

    ``source_rate`` overrides the header's rate (WAV headers hold integers only). With ``hop``, the result
    is zero-padded to a whole number of hops, or cropped/padded to exactly ``n_frames`` hops if given.
    ``min_band_hz`` is the highest frequency the caller needs; a rate whose Nyquist frequency is below it is
    refused. Files longer than ``max_seconds`` are refused before they are read.
    """
    path = Path(path)
    _positive_rate("target_rate", target_rate)
    _positive_rate("source_rate", source_rate)
    info = _checked_info(path)
    rate = float(source_rate) if source_rate is not None else float(info.samplerate)
    if info.frames == 0:
        raise AudioLoadError(f"{path} holds no samples (0 frames).")
    duration = info.frames / rate
    if duration > max_seconds:
        raise AudioLoadError(
            f"{path} lasts {duration / 60:.1f} min, more than the {max_seconds / 60:.0f} min this load allows. "
            "Raise the limit (max_seconds) if you mean to open it; it needs about "
            f"{info.frames * 4 / 2**30:.1f} GiB of memory per channel."
        )
    target = int(target_rate) if target_rate is not None else round(rate)
    if min_band_hz is not None and min(rate, target) / 2 < min_band_hz:
        raise AudioLoadError(
            f"{path}: at {min(rate, target):g} Hz the highest representable frequency is {min(rate, target) / 2:g} "
            f"Hz, below the {min_band_hz:g} Hz the front-end needs. Use a recording at a higher rate or lower the "
            "front-end's f_max."
        )
    try:
        data, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioLoadError(f"{path} could not be decoded ({exc}); the file may be truncated or corrupt.") from None
    finite = np.isfinite(data)
    if not finite.all():
        bad = int((~finite).sum())
        first = int(np.argwhere(~finite)[0][0])
        raise AudioLoadError(
            f"{path} contains {bad} non-finite samples (NaN or infinity), the first at {first / rate:.4f} s. "
            "Repair or re-export the file."
        )
    notes: list[str] = []
    channels = data.shape[1]
    mono = data.mean(axis=1) if channels > 1 else data[:, 0]
    if channels > 1:
        notes.append(f"mixed {channels} channels to mono")
    wave = torch.from_numpy(np.ascontiguousarray(mono))
    if rate != target:
        up, down = _ratio(rate, target, notes)
        wave = AF.resample(wave, orig_freq=up, new_freq=down)
        notes.append(f"resampled {rate:g} Hz -> {target} Hz")
    if hop is not None:
        length = wave.shape[-1]
        wanted = n_frames * hop if n_frames is not None else -(-length // hop) * hop
        if wanted > length:
            wave = torch.nn.functional.pad(wave, (0, wanted - length))
            notes.append(f"zero-padded {wanted - length} samples to {wanted // hop} whole {hop}-sample frames")
        elif wanted < length:
            wave = wave[:wanted]
            notes.append(f"cropped {length - wanted} samples to {wanted // hop} whole {hop}-sample frames")
    return LoadedAudio(wave.contiguous(), target, rate, path, channels, info.frames, tuple(notes))
