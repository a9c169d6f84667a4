"""Writing files so that a crash, a killed process or a full disk never leaves a half-written one in place.

A file is written to a temporary sibling, flushed and fsynced, then renamed over its target, and the rename
is made durable by fsyncing the folder: a reader sees the old file or the whole new one, never a short one.
Sessions, model folders and fit-grid completion marks all go through here.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable where the platform allows it (POSIX); best effort only."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_durably(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` atomically and durably; raises OSError and then leaves the old file.

    Temporaries that an earlier, killed write left beside ``target`` are removed once this one is in place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if stale != tmp:
            stale.unlink(missing_ok=True)
