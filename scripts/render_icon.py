"""Render the application icon's PNG from its SVG with Qt (run after editing the SVG; both are committed).

    .venv/bin/python scripts/render_icon.py            # strfviewer/resources/icons/strfviewer.png, 256 px

The window uses the PNG (Qt's SVG icon plugin is not always installed); desktop environments can use either.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads: no display is needed

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "strfviewer" / "resources" / "icons"


def render(svg: Path, png: Path, size: int) -> None:
    """Draw ``svg`` into a transparent ``size`` x ``size`` image and save it as ``png``."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG file")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png)):
        raise SystemExit(f"could not write {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="width and height in pixels (default: 256)")
    args = parser.parse_args()
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - QImage and QPainter need an application
    render(ICONS / "strfviewer.svg", ICONS / "strfviewer.png", args.size)
    sys.stdout.write(f"{ICONS / 'strfviewer.png'}\n")


if __name__ == "__main__":
    main()
