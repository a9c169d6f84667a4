"""Audio files to model-ready waveforms: read (soundfile), mix to mono, resample, fit to whole hops.

Everything a person can get wrong with a sound file becomes an :class:`AudioLoadError` whose message says
what is wrong and what to do. Fractional source rates (NS1's 48828.125 Hz, stored as 48828 in the WAV header)
are resampled by their exact rational ratio, so audio and response bins stay locked over long recordings.
"""

from __future__ import annotations

import functools
import math
import numbers
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
import torchaudio.transforms as AT

from ..errors import AudioLoadError

# Rates typed as decimals (48828.125, 24414.0625) are recovered exactly as fractions up to this denominator.
_MAX_RATE_DENOMINATOR = 10**6
# torchaudio's polyphase kernel holds about new * (orig + 2 * width) taps. The ratio's terms are capped at this
# value when the exact ratio would need more (4096/4096: ~17 M taps, about a second per 10 s of audio).
_MAX_RATIO_TERM = 4096
_LOWPASS_WIDTH, _ROLLOFF = 6, 0.99  # torchaudio.functional.resample defaults, used to size its kernel
_COMMON_EXTENSIONS = ("WAV", "FLAC", "OGG", "MP3", "AIFF", "AU", "CAF", "W64", "RF64")
# Frames read at a time: the peak memory of a load is the mono result plus one block of this many frames.
_READ_BLOCK = 1 << 20
_MAX_WAV_CHUNKS = 64  # chunks looked through for a WAV's data chunk before giving up
SUPPORTED_EXTENSIONS = ", ".join(f".{ext.lower()}" for ext in _COMMON_EXTENSIONS
                                 if ext in soundfile.available_formats())


@dataclass(frozen=True, eq=False)
class LoadedAudio:
    """A mono float32 waveform at ``sample_rate`` and a record of what was done to the file to get it.

    ``eq=False``: equality is identity, since comparing tensors element-wise has no single truth value.
    """

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
    """``soundfile.info`` of ``path``, or an AudioLoadError saying why the file cannot be opened."""
    if not path.exists():
        raise AudioLoadError(f"{path} does not exist. Check the path, or open another file.")
    if path.is_dir():
        raise AudioLoadError(f"{path} is a folder, not an audio file. Pick one of the sound files inside it.")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"{path} is empty (0 bytes). Copy or export the recording again.")
    try:
        return soundfile.info(str(path))
    except RuntimeError as exc:  # soundfile.LibsndfileError and its base SoundFileRuntimeError
        raise AudioLoadError(
            f"{path} is not a readable audio file ({exc}). Supported formats include {SUPPORTED_EXTENSIONS}; "
            "convert the file to one of them, e.g. WAV."
        ) from None


def audio_info(path: str | Path) -> dict[str, Any]:
    """Format, channels, frames, rate and duration of an audio file, without reading its samples."""
    info = _checked_info(Path(path))
    return {"format": info.format, "subtype": info.subtype, "channels": info.channels, "frames": info.frames,
            "sample_rate": info.samplerate, "duration_s": info.frames / info.samplerate}


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def _kernel_taps(orig: int, new: int) -> int:
    width = math.ceil(_LOWPASS_WIDTH * orig / (min(orig, new) * _ROLLOFF))
    return new * (orig + 2 * width)


def _resampling_ratio(source_rate: float, target_rate: int, notes: list[str]) -> tuple[int, int]:
    """Integer (orig, new) frequencies for torchaudio: the exact ratio, or a close one if that is too costly."""
    exact = Fraction(source_rate).limit_denominator(_MAX_RATE_DENOMINATOR) / target_rate
    if _kernel_taps(exact.numerator, exact.denominator) <= _kernel_taps(_MAX_RATIO_TERM, _MAX_RATIO_TERM):
        return exact.numerator, exact.denominator
    # Bound both terms: limit the denominator of the ratio taken below 1, then turn it back.
    below_one = exact if exact < 1 else 1 / exact
    bounded = below_one.limit_denominator(_MAX_RATIO_TERM)
    if bounded == 0:
        raise AudioLoadError(f"cannot resample {source_rate:.10g} Hz to {target_rate} Hz: the ratio is too extreme")
    ratio = bounded if exact < 1 else 1 / bounded
    notes.append(f"resampling ratio {exact.numerator}/{exact.denominator} approximated as "
                 f"{ratio.numerator}/{ratio.denominator} (relative rate error {abs(float(ratio / exact) - 1):.1e})")
    return ratio.numerator, ratio.denominator


def _check_positive(name: str, value: float | None, *, whole: bool = False, allow_inf: bool = False) -> None:
    if value is None:
        return
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0
            or (math.isinf(value) and not allow_inf)):
        raise AudioLoadError(f"{name} must be a positive number (got {value!r}).")
    if whole and value != int(value):
        raise AudioLoadError(f"{name} must be a whole number (got {value!r}).")


def _fit_to_hops(wave: torch.Tensor, hop: int, n_frames: int | None, notes: list[str]) -> torch.Tensor:
    """Zero-pad to whole hops, or crop/pad to exactly ``n_frames`` hops (the bins of a response set)."""
    length = wave.shape[-1]
    wanted = n_frames * hop if n_frames is not None else -(-length // hop) * hop
    target = (f"the {n_frames} requested {hop}-sample frames" if n_frames is not None
              else f"a whole number of {hop}-sample hops ({wanted // hop})")
    if wanted > length:
        notes.append(f"zero-padded {wanted - length} samples to {target}")
        return torch.nn.functional.pad(wave, (0, wanted - length))
    if wanted < length:
        notes.append(f"cropped {length - wanted} samples to {target}")
        return wave[:wanted]
    return wave


def _wav_declared_frames(path: Path) -> int | None:
    """Frames the data chunk of a RIFF WAV header declares (libsndfile silently counts only those present), or
    None for other files and for the placeholder sizes that streaming writers leave (0, 0xFFFFFFFF)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            riff_size = struct.unpack("<I", head[4:8])[0]
            block_align = 0
            for _ in range(_MAX_WAV_CHUNKS):
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"fmt ":
                    body = f.read(size + (size & 1))
                    block_align = struct.unpack("<H", body[12:14])[0] if len(body) >= 14 else 0
                elif name == b"data":
                    placeholder = size in (0, 0xFFFFFFFF) or riff_size in (0, 0xFFFFFFFF)
                    return None if placeholder or not block_align else size // block_align
                else:
                    f.seek(size + (size & 1), 1)
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class _Decoded:
    samples: np.ndarray | None  # mono float32, or None when only scanned
    channels: int
    frames: int  # frames decoded
    notes: tuple[str, ...]


def _decode(path: Path, rate: float, keep: bool = True) -> _Decoded:
    """Decode every sample: mixed to mono float32 when ``keep``, else only checked and counted.

    Read block by block into one mono array, so that a long multichannel file never holds its whole
    ``(frames, channels)`` array: the peak is the mono result plus one block. Non-finite samples are refused;
    fewer samples than the header promises are reported in ``notes`` (a truncated file).
    """
    try:
        with soundfile.SoundFile(str(path)) as f:
            channels, expected = f.channels, max(0, f.frames)
            out = np.empty(expected if keep else 0, dtype=np.float32)
            filled, n_bad, first_bad = 0, 0, None
            while True:
                block = f.read(_READ_BLOCK, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                finite = np.isfinite(block)
                if not finite.all():
                    n_bad += int((~finite).sum())
                    if first_bad is None:
                        frame, channel = np.argwhere(~finite)[0]
                        first_bad = (filled + int(frame), int(channel))
                if keep:
                    if filled + block.shape[0] > out.shape[0]:  # the header under-counted the frames: grow (doubling)
                        out = np.concatenate([out[:filled], np.empty(filled + block.shape[0], dtype=np.float32)])
                    out[filled : filled + block.shape[0]] = block[:, 0] if channels == 1 else block.mean(axis=1)
                filled += block.shape[0]
    except RuntimeError as exc:
        raise AudioLoadError(
            f"{path} could not be decoded ({exc}); the file may be truncated or corrupt. Supported formats "
            f"include {SUPPORTED_EXTENSIONS}."
        ) from None
    if filled == 0:
        raise AudioLoadError(f"{path} holds no samples (0 frames). Export the recording again.")
    if first_bad is not None:
        frame, channel = first_bad
        raise AudioLoadError(
            f"{path} contains {n_bad} non-finite samples (NaN or infinity), the first at "
            f"{frame / rate:.4f} s (frame {frame}, channel {channel}). Repair or re-export the file."
        )
    promised = max(expected, _wav_declared_frames(path) or 0)
    notes = (f"header says {promised / rate:.3f} s, data holds {filled / rate:.3f} s: the file is truncated",) \
        if filled < promised else ()
    samples = (out if filled == out.shape[0] else out[:filled].copy()) if keep else None
    return _Decoded(samples, channels, filled, notes)


def check_audio(path: str | Path) -> dict[str, Any]:
    """:func:`audio_info` of a file whose samples were all decoded (none kept): ``frames`` and ``duration_s``
    are what the data holds, ``notes`` what is wrong with it (truncated); raises AudioLoadError as opening it
    would (undecodable, empty, non-finite samples)."""
    path = Path(path)
    info = audio_info(path)
    decoded = _decode(path, float(info["sample_rate"]), keep=False)
    return {**info, "frames": decoded.frames, "duration_s": decoded.frames / info["sample_rate"],
            "notes": list(decoded.notes)}


@functools.lru_cache(maxsize=8)
def _resampler(orig: int, new: int, dtype: torch.dtype) -> AT.Resample:
    """torchaudio's sinc resampler with its kernel built once per rate pair: a response set's stimuli share
    one rate, and building the kernel took longer than resampling a sound."""
    return AT.Resample(orig, new, dtype=dtype)


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
    """Read ``path`` as mono float32 at ``target_rate`` (default: the source rate rounded to whole Hz).

    ``source_rate`` overrides the header's rate (WAV headers hold integers only). With ``hop``, the result is
    zero-padded to a whole number of hops, or cropped/zero-padded to exactly ``n_frames`` hops if given.
    ``min_band_hz`` is the highest frequency the caller needs; a rate whose Nyquist frequency is below it is
    refused. Files longer than ``max_seconds`` are refused before their samples are read.
    """
    path = Path(path)
    _check_positive("target_rate", target_rate, whole=True)
    _check_positive("source_rate", source_rate)
    _check_positive("max_seconds", max_seconds, allow_inf=True)
    _check_positive("hop", hop, whole=True)
    _check_positive("n_frames", n_frames, whole=True)
    if n_frames is not None and hop is None:
        raise AudioLoadError("n_frames needs hop (samples per frame) to know how many samples to keep.")
    info = _checked_info(path)
    notes: list[str] = []
    rate = float(source_rate) if source_rate is not None else float(info.samplerate)
    if rate != info.samplerate:
        notes.append(f"used source rate {rate:.10g} Hz instead of the header's {info.samplerate} Hz")
    duration = info.frames / rate
    if duration > max_seconds:
        raise AudioLoadError(
            f"{path} lasts {_human(duration)} ({info.frames} frames at {rate:.10g} Hz), more than the "
            f"{_human(max_seconds)} limit; reading it takes about {info.frames * info.channels * 4 / 2**30:.1f} GiB "
            f"of memory. Pass a larger max_seconds (e.g. max_seconds={math.ceil(duration)}) to open it anyway, "
            "or cut the recording into shorter files."
        )
    target = int(target_rate) if target_rate is not None else round(rate)
    low = min(rate, target)
    if min_band_hz is not None and low / 2 < min_band_hz:
        raise AudioLoadError(
            f"{path}: at {low:.10g} Hz the Nyquist frequency is {low / 2:.10g} Hz, below the {min_band_hz:g} Hz "
            "band the front-end needs. Use a recording or target rate above "
            f"{2 * min_band_hz:g} Hz, or lower the front-end's highest frequency (f_max)."
        )
    decoded = _decode(path, rate)
    samples, channels = decoded.samples, decoded.channels
    notes.extend(decoded.notes)
    if channels > 1:
        notes.append(f"mixed {channels} channels to mono")
    wave = torch.from_numpy(samples)
    if rate != target:
        try:
            orig, new = _resampling_ratio(rate, target, notes)
        except AudioLoadError as exc:
            raise AudioLoadError(f"{path}: {exc}. Its header's rate is probably damaged; re-export the file.") from None
        wave = _resampler(orig, new, wave.dtype)(wave)
        notes.append(f"resampled {rate:.10g} Hz -> {target} Hz")
    if hop is not None:
        wave = _fit_to_hops(wave, int(hop), None if n_frames is None else int(n_frames), notes)
    return LoadedAudio(wave.contiguous(), target, rate, path, channels, samples.shape[0], tuple(notes))
