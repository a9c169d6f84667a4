"""Display helpers shared by the views: channel ticks in Hz, a label that elides, a plot's least height, the
colour bar's unit for a front-end, and the export header of a windowed long sound.

Views never import one another; what more than one of them draws the same way lives here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

PLOT_MIN_HEIGHT = 160  # px: a pane's plot never gets less (its image >= 120 px), the parameter form open or not
MAX_CHANNEL_TICKS = 8
LATENT_UNIT = "latent activation (a.u.)"  # the colour bar's label when the kind is unknown


def frequency_ticks(centres: np.ndarray | None, n_channels: int) -> list[tuple[float, str]]:
    """Y-axis ticks at channel centres (channel ``i`` spans ``[i, i + 1)``), labelled in Hz or kHz."""
    step = max(1, math.ceil(n_channels / MAX_CHANNEL_TICKS))
    ticks = []
    for i in range(0, n_channels, step):
        if centres is None:
            label = f"ch {i}"
        else:
            f = float(centres[i])
            label = f"{f / 1000:.1f} kHz" if round(f) >= 1000 else f"{f:.0f} Hz"
        ticks.append((i + 0.5, label))
    return ticks


def value_unit(kind: str, args: dict[str, Any]) -> str:
    """The colour bar's label for a front-end's frames (the front-end kind names its own values)."""
    from ...backend.frontends import frontend_class  # torch loads behind the window, not before it

    try:
        return frontend_class(kind).output_unit(args)
    except ValueError:  # an unknown kind
        return LATENT_UNIT


def window_header(first_frame: int, hop: int, audio_fs: int, computed: tuple[float, float] | None, note: str) -> str:
    """What an export header adds when a pane holds only the computed window of a long sound (else nothing)."""
    if not first_frame and computed is None:
        return ""
    header = (f"; only the computed window of a long sound: the first column is frame {first_frame} "
              f"({first_frame * hop / audio_fs:.3f} s)")
    return header + (f" [{note}]" if note else "")


class ElidedLabel(QLabel):
    """A one-line label that shrinks with its pane, eliding its text; the whole text is its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()
        self.updateGeometry()

    def text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()  # of the elided text: the difference is padding and margins
        metrics = self.fontMetrics()
        extra = hint.width() - metrics.horizontalAdvance(super().text())
        return QSize(metrics.horizontalAdvance(self._full) + max(0, extra), hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(24, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width))
