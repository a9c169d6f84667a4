"""The ``strfviewer`` command line."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Sequence

from . import __version__
from .backend.errors import StrfviewerError

log = logging.getLogger("strfviewer")


def _info_text(audio_fs: int, dt_ms: float) -> str:
    import numpy
    import torch
    import torchaudio

    from .backend.frontends import FRONTEND_CLASSES, make_wav2spec

    lines = [
        f"strfviewer {__version__}",
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}",
        f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, numpy {numpy.__version__}",
        f"threads: {torch.get_num_threads()}, CUDA available: {torch.cuda.is_available()}",
        "",
        f"Front-ends (defaults at audio_fs={audio_fs} Hz, dt={dt_ms:g} ms):",
    ]
    for kind, cls in FRONTEND_CLASSES.items():
        module = make_wav2spec(kind, audio_fs=audio_fs, dt_ms=dt_ms)
        n_params = sum(p.numel() for p in module.parameters())
        lines.append(
            f"  {kind:<10} {cls.__name__:<22} channels={module.out_channels:<4} hop={module.hop:<5} "
            f"learnable parameters={n_params}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strfviewer",
        description="See what an auditory front-end and an encoding model hear.",
    )
    parser.add_argument("--version", action="version", version=f"strfviewer {__version__}")
    sub = parser.add_subparsers(dest="command")
    info = sub.add_parser("info", help="print versions and the available front-ends")
    info.add_argument("--audio-fs", type=int, default=48000, help="sample rate for the listing (Hz)")
    info.add_argument("--dt-ms", type=float, default=5.0, help="frame period for the listing (ms)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``strfviewer`` command; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "info"):
            audio_fs = getattr(args, "audio_fs", 48000)
            dt_ms = getattr(args, "dt_ms", 5.0)
            sys.stdout.write(_info_text(audio_fs, dt_ms) + "\n")
            return 0
    except StrfviewerError as exc:
        log.error("%s", exc)
        return 2
    return 0
