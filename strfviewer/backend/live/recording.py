"""What the microphone recorded, kept whole: in memory up to a limit, then spilled to a temporary FLAC file.

A recording of a long lab demo must not fill the memory, and must not be lost when the input stops, fails or
the window closes. :class:`Recording` holds the most recent samples in memory; once they exceed
``memory_limit_s`` they are written, as one closed FLAC file per spill (24-bit: a microphone delivers no
more), to a folder of the temporary folder, and :meth:`Recording.samples` joins them.
:meth:`Recording.save` writes the whole recording where the user asks; :meth:`Recording.discard` removes the
temporary files.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from ..errors import AudioLoadError, ConfigurationError

MEMORY_LIMIT_S = 600.0  # ten minutes in memory (110 MB at 48 kHz) before spilling to disk


# Saved as exactly as each format allows: float WAV; 24-bit FLAC (its deepest; soundfile's default is 16-bit).
SAVE_SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24"}


class Recording:
    """Mono float32 samples at ``rate`` Hz, appended block by block."""

    def __init__(self, rate: int, memory_limit_s: float = MEMORY_LIMIT_S, spill_dir: str | Path | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ConfigurationError(f"a recording needs a positive whole rate in Hz (got {rate!r})")
        if not memory_limit_s > 0:
            raise ConfigurationError(f"memory_limit_s must be positive (got {memory_limit_s!r})")
        self.rate = rate
        self.memory_limit = max(1, round(rate * memory_limit_s))
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self._blocks: list[np.ndarray] = []
        self._in_memory = 0
        self._spilled = 0
        self._segments: list[Path] = []  # spilled FLAC files, oldest first
        self.spill_path: Path | None = None  # the folder holding them, once there is one

    def __len__(self) -> int:
        return self._spilled + self._in_memory

    @property
    def seconds(self) -> float:
        return len(self) / self.rate

    def append(self, samples: np.ndarray) -> None:
        """Add the next samples; the oldest go to the temporary FLAC once memory holds more than its limit."""
        block = np.asarray(samples, dtype=np.float32).reshape(-1)
        if block.size == 0:
            return
        self._blocks.append(block.copy())
        self._in_memory += block.shape[0]
        if self._in_memory > self.memory_limit:
            self._spill()

    def _spill(self) -> None:
        """Write what memory holds as the next FLAC segment (closed at once, so it is readable and complete
        on disk whatever happens next)."""
        if self.spill_path is None:
            self.spill_path = Path(tempfile.mkdtemp(prefix="strfviewer-recording-",
                                                    dir=None if self.spill_dir is None else str(self.spill_dir)))
        data = np.concatenate(self._blocks)
        segment = self.spill_path / f"{len(self._segments):05d}.flac"
        soundfile.write(str(segment), np.clip(data, -1.0, 1.0), self.rate, subtype="PCM_24", format="FLAC")
        self._segments.append(segment)
        self._spilled += data.shape[0]
        self._blocks, self._in_memory = [], 0

    def samples(self) -> np.ndarray:
        """The whole recording, from its first sample (spilled part read back from the temporary file)."""
        parts = [soundfile.read(str(segment), dtype="float32")[0] for segment in self._segments]
        parts.extend(self._blocks)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def save(self, path: str | Path) -> Path:
        """Write the whole recording to ``path`` (its suffix chooses the format: .wav, .flac, ...)."""
        target = Path(path)
        subtype = SAVE_SUBTYPES.get(target.suffix.lower())  # None: the format's own default
        try:
            soundfile.write(str(target), self.samples(), self.rate, subtype=subtype)
        except (OSError, RuntimeError, ValueError) as exc:  # soundfile raises LibsndfileError, a RuntimeError
            raise AudioLoadError(f"could not save the recording to {target}: {exc}; choose another place or "
                                 "format (.wav or .flac)") from None
        return target

    def discard(self) -> None:
        """Remove the temporary files and forget their samples (what is in memory stays)."""
        if self.spill_path is not None:
            shutil.rmtree(self.spill_path, ignore_errors=True)
        self._segments, self._spilled = [], 0
