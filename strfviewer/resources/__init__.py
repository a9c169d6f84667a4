"""Files that ship inside the package (so a wheel install has them too): the demo and the application icon.

Importing this module needs nothing beyond the standard library, so installers and tests can find the files
without loading Qt or torch.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
DEMO = RESOURCES / "demo"  # made by scripts/demo/make_demo.py
ICONS = RESOURCES / "icons"  # strfviewer.svg and the PNG scripts/render_icon.py renders from it


def demo_session() -> Path:
    """The bundled demo session (its sounds, response set and models lie beside it)."""
    return DEMO / "demo.strfsession.json"


def icon_path(suffix: str = ".png") -> Path:
    """The application icon: ``.png`` (256 px, what the window uses) or ``.svg``."""
    return ICONS / f"strfviewer{suffix}"
