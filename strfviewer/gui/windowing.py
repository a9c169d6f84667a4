"""Which part of a long sound a time-aligned pane computes: the view range plus a margin.

Short sounds (up to :data:`LONG_SOUND_S`) are computed whole, as always. For long ones a pane computes the
visible range plus :data:`MARGIN` of its width on each side, at most :data:`MAX_SPAN_S` (around the view's
centre), and computes again, :data:`DEBOUNCE_MS` after the view stops changing, only when what must be shown
is no longer inside what is computed (or being computed): zooming in and panning within the margin reuse
the frames already there. The constants are read at call time, so tests can lower them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

LONG_SOUND_S = 60.0  # longer sounds are computed by windows
INITIAL_VIEW_S = 10.0  # the view range a long sound opens with
MARGIN = 0.5  # computed beyond each side of the view, as a fraction of its width
MAX_SPAN_S = 300.0  # most seconds computed at once (bounds memory when zoomed far out)
DEBOUNCE_MS = 100

Span = tuple[float, float]


def is_long(duration_s: float) -> bool:
    """Whether a sound is computed by windows rather than whole."""
    return duration_s > LONG_SOUND_S


def initial_view(duration_s: float) -> Span:
    """The view range a sound opens with: all of a short sound, the first seconds of a long one."""
    return (0.0, min(duration_s, INITIAL_VIEW_S) if is_long(duration_s) else duration_s)


def shown_part(view: Span) -> Span:
    """The part of the view that must be computed: all of it, or its central :data:`MAX_SPAN_S`."""
    start, stop = view
    if stop - start <= MAX_SPAN_S:
        return start, stop
    centre = (start + stop) / 2
    return centre - MAX_SPAN_S / 2, centre + MAX_SPAN_S / 2


def planned_span(view: Span, duration_s: float) -> Span:
    """The seconds to compute for ``view``: the shown part plus the margin, within the sound and the cap."""
    start, stop = shown_part(view)
    margin = min(MARGIN * (stop - start), max(0.0, (MAX_SPAN_S - (stop - start)) / 2))
    return max(0.0, start - margin), min(duration_s, stop + margin)


def excerpt(samples: np.ndarray, audio_fs: int, view: Span) -> tuple[np.ndarray, str | None]:
    """What a whole-sound analysis (compare, gradient sound) reads: all of a short sound, the visible part of a
    long one (at most :data:`LONG_SOUND_S`), with a note saying so."""
    duration = samples.shape[0] / audio_fs
    if not is_long(duration):
        return samples, None
    start = max(0.0, view[0])
    stop = min(duration, view[1], start + LONG_SOUND_S)
    first, last = int(start * audio_fs), max(int(start * audio_fs) + 1, int(stop * audio_fs))
    return samples[first:last], f"on the visible {start:.1f}–{stop:.1f} s of this long sound"


def covers(outer: Span | None, inner: Span, duration_s: float) -> bool:
    """Whether ``outer`` holds ``inner`` (clipped to the sound), to a microsecond."""
    if outer is None:
        return False
    start, stop = max(0.0, inner[0]), min(duration_s, inner[1])
    return outer[0] <= start + 1e-6 and stop - 1e-6 <= outer[1]


class ViewWindow(QObject):
    """A pane's window bookkeeping: what is computed, what is being computed, and when to compute again.

    ``recomputeNeeded`` is emitted (debounced) when the view leaves both. The pane calls :meth:`plan` when
    it submits a job, :meth:`computed_as` when the result arrives, :meth:`failed` when it does not.
    """

    recomputeNeeded = Signal()

    def __init__(self, state, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.computed: Span | None = None
        self.pending: Span | None = None
        self.paused = False  # live mode fills the pane itself
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._check)
        state.viewRangeChanged.connect(lambda *_: self._timer.start(DEBOUNCE_MS))

    def active(self) -> bool:
        audio = self.state.audio
        return audio is not None and is_long(audio.duration_s)

    def plan(self) -> Span | None:
        """The span to submit now (None: the whole sound), remembered as pending; a computation replaces live
        frames, so the window follows the view again."""
        self.paused = False
        self.pending = planned_span(self.state.view_range, self.state.audio.duration_s) if self.active() else None
        return self.pending

    def live_started(self) -> None:
        """Live mode fills the pane from the start of the sound: forget the window, stop recomputing."""
        self.paused = True
        self.computed_as(None)

    def computed_as(self, span: Span | None) -> None:
        self.computed, self.pending = span, None

    def failed(self) -> None:
        self.pending = None

    def _check(self) -> None:
        if self.paused or not self.active():
            return
        duration = self.state.audio.duration_s
        needed = shown_part(self.state.view_range)
        if not (covers(self.pending, needed, duration) or covers(self.computed, needed, duration)):
            self.recomputeNeeded.emit()
