"""Where a fitted model is written, and how a fit that does not finish leaves nothing behind.

One policy for ``strfviewer fit`` and the GUI's fit dialog: a new model goes into a new folder named after
what was fitted, on what and when (:func:`default_model_folder`), under the user's remembered parent folder or
strfviewer's models folder in the user data directory, never inside the response-set folder (which may be
read-only or shared). A folder that already holds files is refused, because a fit never overwrites someone's
work, and a cancelled or failed fit removes what it wrote and the parent folders it created
(:class:`OutputFolder`).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from .errors import CheckpointError

APP_NAME = "strfviewer"
_NAME_WORDS_MAX = 32  # characters of the dataset's name in a default model-folder name


def models_home() -> Path:
    """Where fitted models go unless the user chose a folder: ``<user data>/strfviewer/models`` (platformdirs;
    e.g. ~/.local/share/strfviewer/models on Linux). Never the response-set folder, which may be read-only or
    shared with others."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "models"


def unique_folder(folder: Path) -> Path:
    """``folder``, or ``folder-2``, ``folder-3``… the first that does not exist yet."""
    candidate, n = folder, 2
    while candidate.exists():
        candidate = folder.with_name(f"{folder.name}-{n}")
        n += 1
    return candidate


def _slug(text: str) -> str:
    """File-name-safe words of ``text``, whole words up to about _NAME_WORDS_MAX characters."""
    words = re.findall(r"[A-Za-z0-9]+", text.lower())
    kept: list[str] = []
    for word in words:
        if kept and len("-".join([*kept, word])) > _NAME_WORDS_MAX:
            break
        kept.append(word[:_NAME_WORDS_MAX])
    return "-".join(kept) or "responses"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
    return True


def model_folder_name(responses: Any, model: str, kind: str) -> str:
    """``<dataset>-<model>-<kind>-<timestamp>``: what was fitted, on what, and when."""
    dataset = _slug(responses.name) if responses is not None else "model"
    return f"{dataset}-{model}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def default_model_folder(responses: Any, model: str, kind: str, *, parent: str | Path | None = None) -> Path:
    """A new folder :func:`model_folder_name` (made unique) for ``strfviewer fit`` without --out and the fit
    dialog. ``parent`` is the user's remembered last choice; it defaults to :func:`models_home`, and a parent
    inside the response-set folder is never used by default."""
    base = Path(parent).expanduser() if parent else None
    if base is None or (responses is not None and _inside(base, Path(responses.root))):
        base = models_home()
    return unique_folder(base / model_folder_name(responses, model, kind))


@dataclass(frozen=True)
class OutputFolder:
    """A model folder claimed for one fit: what was there before, so that :meth:`discard` undoes only the fit."""

    path: Path
    existed: bool
    new_parents: tuple[Path, ...]  # the folders above it that did not exist yet, nearest first

    @classmethod
    def claim(cls, path: str | Path) -> OutputFolder:
        """Check that ``path`` is a new or empty folder and remember what exists; raises ``CheckpointError``
        for a file or a folder that holds files."""
        folder = Path(path).expanduser()
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise CheckpointError(f"{folder} already exists and is not an empty folder; choose a new folder")
        return cls(folder, folder.exists(), tuple(p for p in folder.parents if not p.exists()))

    def discard(self) -> None:
        """Remove what a fit wrote: the folder's files if the folder was there before, else the folder itself,
        then the parent folders created for it while they are empty."""
        if self.path.is_dir():
            if self.existed:
                for child in self.path.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
            else:
                shutil.rmtree(self.path, ignore_errors=True)
        for parent in self.new_parents:
            try:
                parent.rmdir()
            except OSError:
                break
