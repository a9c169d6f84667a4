"""What the causality view draws, computed without Qt: the segment, colour scales over decades, lag images, and
images reduced to the screen without losing a single-sample gradient.

A Jacobian row spans decades: an onset's gradient can be 10^4 times a steady tone's, and a linear colour
scale set by the largest value paints everything else as background. :class:`ColourScale` maps gradients to
colour-map positions either by a signed log, ``sign(x) * log10(1 + |x| / floor)``, whose ``floor`` sets how
many decades below the largest gradient still show, or linearly up to a percentile; its ticks carry the real
gradient values for the colour bar. A second of 48 kHz audio has 48,000 sample columns, far more than a
screen has pixels, and scaling the image down averages a row's signed, oscillating gradient away:
:class:`ColumnPyramid` keeps the value of largest magnitude per screen column at every zoom, and the full
resolution once the visible samples fit the pixels; :func:`heat_tile` and :func:`lag_tile` say where such a tile
goes on its plot. :func:`compute_display` is the job body that computes a Jacobian and all of this off the GUI
thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ConfigurationError
from ..frontends.modules import frontend_of, hop_of
from ..jobs import CancelFlag, ProgressCallback
from .causality import CausalityResult, declared_reach, frame_jacobian

MAX_SEGMENT_S = 2.0  # the Jacobian is frames x samples: longer segments cost memory and time for little insight
# What a row of the Jacobian can be: for a front-end one channel, a projection over channels or the sum of
# absolute per-channel gradients; for a model one neuron or a projection over neurons.
FRONTEND_MODES = ("channel", "projection", "abs")
MODEL_MODES = ("neuron", "projection")
# Front-end kinds whose Jacobian takes long enough that rows are handed out as they finish.
PROGRESSIVE_KINDS = ("icnet",)
SCALES = ("signed log", "linear")
DEFAULT_SCALE = "signed log"
DEFAULT_PERCENTILE = 99.5  # linear scale: |J| at this percentile of the nonzero gradients fills the colour range
# Signed log with automatic range: the floor is a decade below this percentile of the nonzero |J| (so even the
# smallest gradients get a visible colour), kept within these decades of the largest gradient (fewer would hide
# the quiet rows, more would colour round-off).
FLOOR_PERCENTILE = 1.0
MIN_DECADES, MAX_DECADES = 2.0, 6.0
LAG_ENERGY = 0.99  # a recursive (whole-past) field is shown up to the lag holding this share of sum |J|^2
PYRAMID_FACTOR = 8  # each coarser level keeps the largest-magnitude value of this many columns
_STATS_SAMPLES = 250_000  # random |J| entries the scale statistics look at (percentiles to about 0.5%)
_BATCH_SAMPLES = 20_000  # ... and those of each batch of rows that arrives early
_MARGIN_FRAMES = 2  # frames of lag shown beyond the receptive field


@dataclass(frozen=True)
class Segment:
    """The audio the Jacobian covers: ``n_samples`` (whole frames) from sample ``start`` at ``audio_fs``."""

    start: int
    n_samples: int
    audio_fs: int
    hop: int
    notes: tuple[str, ...] = ()

    @property
    def start_s(self) -> float:
        return self.start / self.audio_fs

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.audio_fs

    @property
    def n_frames(self) -> int:
        return self.n_samples // self.hop

    def times(self) -> np.ndarray:
        """Time in the sound (seconds) of each sample of the segment."""
        return (self.start + np.arange(self.n_samples)) / self.audio_fs

    def frame_end_s(self, frame: int) -> float:
        return (self.start + (frame + 1) * self.hop) / self.audio_fs

    def frame_boundary(self) -> tuple[np.ndarray, np.ndarray]:
        """Time (s) and frame of the line along every frame's end: a vertical step per row, where a strictly
        causal module's gradients stop."""
        t = np.arange(self.n_frames)
        ends = (self.start + (t + 1) * self.hop) / self.audio_fs
        return np.repeat(ends, 2), np.column_stack([t, t + 1]).reshape(-1).astype(np.float64)

    def reach_start_s(self, frame: int, receptive_field: int | None) -> float:
        """Where the receptive field of ``frame`` starts (s), within the segment; its start when unbounded."""
        if receptive_field is None:
            return self.start_s
        return max(self.start_s, self.frame_end_s(frame) - receptive_field / self.audio_fs)

    def preview_lag_ms(self) -> tuple[float, float]:
        """The lag axis (ms) before anything is computed: four frames of past, one of future."""
        hop_ms = 1000.0 * self.hop / self.audio_fs
        return -4 * hop_ms, hop_ms


def choose_segment(view_range: tuple[float, float], n_total: int, audio_fs: int, hop: int,
                   max_s: float = MAX_SEGMENT_S) -> Segment:
    """The whole frames of ``view_range`` (seconds), capped to ``max_s`` and widened to at least one frame."""
    if n_total < hop:
        raise ConfigurationError(f"the sound is shorter than one frame ({hop} samples)")
    duration = n_total / audio_fs
    a = min(max(0.0, float(view_range[0])), duration)
    b = min(max(a, float(view_range[1])), duration)
    start = min(round(a * audio_fs), n_total - 1)
    n = round(b * audio_fs) - start
    notes = []
    cap = int(max_s * audio_fs)
    if n > cap:
        n = cap
        notes.append(f"capped to the first {max_s:g} s of the visible {b - a:.2f} s")
    frames = n // hop
    if frames < 1:
        frames = 1
        notes.append("widened to one frame")
    n = frames * hop
    start = max(0, min(start, n_total - n))
    return Segment(start, n, audio_fs, hop, tuple(notes))


def gradient_label(mode: str, is_model: bool) -> str:
    """Name and unit of the Jacobian's values: output units per unit of audio (full scale = 1), short enough
    for a colour bar's side."""
    if is_model:
        return "∂ rate / ∂ sample" if mode == "neuron" else "∂ rate projection / ∂ sample"
    return {"channel": "∂ channel / ∂ sample", "abs": "Σ |∂ channel / ∂ sample|"}.get(mode, "∂ frame / ∂ sample")


# Scales
@dataclass(frozen=True)
class MagnitudeStats:
    """What a colour scale needs of a Jacobian: a sorted random sample of its nonzero ``|J|`` and the largest."""

    sorted_sample: np.ndarray
    maximum: float

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of the nonzero ``|J|`` (0 when the Jacobian is all zero)."""
        if self.sorted_sample.size == 0:
            return 0.0
        position = min(1.0, max(0.0, q / 100.0)) * (self.sorted_sample.size - 1)
        return float(self.sorted_sample[round(position)])


def magnitude_stats(values: np.ndarray, maximum: float | None = None, seed: int = 0,
                    samples: int = _STATS_SAMPLES) -> MagnitudeStats:
    """Statistics of ``|values|`` (NaN ignored) from at most ``samples`` random entries; ``maximum`` if known."""
    flat = values.reshape(-1)
    if flat.size > samples:
        flat = flat[np.random.default_rng(seed).integers(0, flat.size, samples)]
    sample = np.abs(flat[np.isfinite(flat)])
    sample = np.sort(sample[sample > 0])
    if maximum is None:
        finite = np.abs(values[np.isfinite(values)])
        maximum = float(finite.max()) if finite.size else 0.0
    return MagnitudeStats(sample, float(maximum))


def _format(value: float) -> str:
    """A tick label: plain decimals from 0.01 to 999, else ``1e-3`` / ``2.5e-4``."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    exponent = math.floor(math.log10(magnitude) + 1e-9)
    if -2 <= exponent <= 2:
        return f"{sign}{magnitude:.3g}"
    mantissa = magnitude / 10.0**exponent
    return f"{sign}{mantissa:.2g}e{exponent}"


def _nice_step(span: float, count: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``count`` intervals over ``span``."""
    raw = span / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


@dataclass(frozen=True)
class ColourScale:
    """How gradients map to colour-map positions; the colour bar shows :attr:`levels` with :meth:`ticks`.

    ``signed log``: display value ``sign(x) * log10(1 + |x| / floor)``, so gradients from ``floor`` up to ``top``
    spread evenly over ``log10(top / floor)`` decades and 0 stays in the middle. ``linear``: the value itself,
    clipped at ``±top``. ``absolute`` (the sum-of-|gradients| mode) uses only the positive half.
    """

    kind: str
    top: float
    floor: float = 0.0
    absolute: bool = False

    @property
    def decades(self) -> float:
        """Decades below ``top`` that the signed log shows (0 for the linear scale)."""
        return math.log10(self.top / self.floor) if self.kind == "signed log" else 0.0

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Display values (float32) of gradients ``values``; NaN (pending) stays NaN."""
        values = np.asarray(values, dtype=np.float32)
        if self.kind == "linear":
            return values
        return (np.sign(values) * np.log10(1.0 + np.abs(values) / np.float32(self.floor))).astype(np.float32)

    def position(self, gradient: float) -> float:
        """The display value of one gradient (where its tick sits on the colour bar)."""
        return float(self.transform(np.array([gradient]))[0])

    @property
    def levels(self) -> tuple[float, float]:
        """The display values at the two ends of the colour map."""
        high = self.position(self.top)
        return (0.0, high) if self.absolute else (-high, high)

    def ticks(self, max_per_side: int = 5) -> list[tuple[float, str]]:
        """``(display value, label)`` pairs labelled with real gradients: decades (±1e-3, ±1e-2, ...) for the
        signed log, evenly spaced values for the linear scale; 0 included."""
        if self.kind == "linear":
            step = _nice_step(self.top, max_per_side - 1)
            values = [k * step for k in range(1, int(self.top / step + 1e-9) + 1)]
        else:
            # Decades from 3x the floor (nearer 0 their labels would crowd the 0 tick) up to the top.
            low = math.ceil(math.log10(3.0 * self.floor) - 1e-9)
            high = math.floor(math.log10(self.top) + 1e-9)
            exponents = list(range(low, high + 1))
            stride = max(1, math.ceil(len(exponents) / max_per_side))
            values = [10.0**e for e in exponents[::-1][::stride]][::-1]  # keep the top decade
        ticks = [(0.0, "0")]
        for value in values:
            ticks.append((self.position(value), _format(value)))
            if not self.absolute:
                ticks.append((self.position(-value), _format(-value)))
        return sorted(ticks)


def choose_scale(stats: MagnitudeStats, kind: str = DEFAULT_SCALE, *, decades: float | None = None,
                 percentile: float = DEFAULT_PERCENTILE, absolute: bool = False) -> ColourScale:
    """The colour scale of a Jacobian. ``signed log``: top at the largest gradient, floor ``decades`` below it
    (None: a decade below the :data:`FLOOR_PERCENTILE` of the nonzero gradients, within 2 to 6 decades).
    ``linear``: ±the ``percentile`` of the nonzero ``|J|``, so a few large gradients do not wash the rest out."""
    if kind not in SCALES:
        raise ConfigurationError(f"colour scale must be one of {', '.join(SCALES)} (got {kind!r})")
    if kind == "linear":
        top = stats.percentile(percentile)
        return ColourScale("linear", top if top > 0 else 1e-12, 0.0, absolute)
    top = stats.maximum if stats.maximum > 0 else 1e-12
    if decades is None:
        low = stats.percentile(FLOOR_PERCENTILE) / 10.0
        decades = math.log10(top / low) if low > 0 else MAX_DECADES
        decades = min(MAX_DECADES, max(MIN_DECADES, decades))
    elif not 0 < decades <= 12:
        raise ConfigurationError(f"decades must be between 0 and 12 (got {decades!r})")
    return ColourScale("signed log", top, top / 10.0**decades, absolute)


# Screen-sized images
def _maxabs(values: torch.Tensor, factor: int) -> torch.Tensor:
    """Per group of ``factor`` columns, the value of largest magnitude (sign kept; NaN if any is NaN). A last,
    partial group is padded with zeros."""
    rows, columns = values.shape
    pad = (-columns) % factor
    if pad:
        values = torch.nn.functional.pad(values, (0, pad))
    grouped = values.reshape(rows, -1, factor)
    high, low = grouped.amax(-1), grouped.amin(-1)
    return torch.where(-low > high, low, high)


@dataclass(frozen=True)
class Tile:
    """Part of an image as drawn: ``image`` covers columns ``[first, last)`` and rows ``[0, rows)`` of the full
    image (reduced columns and rows each stand for a whole number of full ones)."""

    image: np.ndarray
    first: int
    last: int
    rows: int


class ColumnPyramid:
    """An image (rows x columns) and its max-|value| reductions by 8, 64, 512, ... columns.

    :meth:`window` returns the columns a screen range needs at about its pixel resolution from the coarsest
    level that still has a column per pixel: cheap on every zoom, and no gradient of any magnitude is lost to
    averaging or to skipped columns. Rows can be filled in later (:meth:`update_rows`) while a view reads.
    """

    def __init__(self, image: np.ndarray, min_columns: int = 512) -> None:
        self.image = image
        self.levels: list[tuple[int, np.ndarray]] = [(1, image)]
        factor, level = 1, torch.from_numpy(image)
        while level.shape[1] > min_columns:
            level = _maxabs(level, PYRAMID_FACTOR)
            factor *= PYRAMID_FACTOR
            self.levels.append((factor, level.numpy()))

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape

    def maximum(self) -> float:
        """Largest finite ``|value|`` (from the coarsest level, which keeps it)."""
        coarsest = np.abs(self.levels[-1][1])
        coarsest = coarsest[np.isfinite(coarsest)]
        return float(coarsest.max()) if coarsest.size else 0.0

    def update_rows(self, first: int, count: int) -> None:
        """Recompute the reductions of rows ``[first, first + count)`` after the image's rows changed."""
        for (_, finer), (_, coarser) in zip(self.levels, self.levels[1:], strict=False):
            rows = torch.from_numpy(np.ascontiguousarray(finer[first : first + count]))
            coarser[first : first + count] = _maxabs(rows, PYRAMID_FACTOR).numpy()

    def window(self, first: int, last: int, columns: float, rows: float | None = None) -> Tile:
        """Columns ``[first, last)`` reduced by max-|value| to at most ``columns`` (and rows to at most ``rows``,
        when given), so that no value is dropped when the tile is drawn ``columns`` pixels wide; full resolution
        when the range has fewer columns than that."""
        n_rows, n_columns = self.image.shape
        first, last = max(0, int(first)), min(n_columns, int(last))
        if last <= first:
            first, last = 0, n_columns
        columns = max(1, int(columns))
        factor, level = next((f, lv) for f, lv in reversed(self.levels) if f == 1 or (last - first) / f >= columns)
        a, b = first // factor, min(level.shape[1], -(-last // factor))
        block = torch.from_numpy(np.ascontiguousarray(level[:, a:b]))
        extra = -(-(b - a) // columns)
        if extra > 1:
            block = _maxabs(block, extra)
        covered_rows = n_rows
        if rows is not None and n_rows > max(1, int(rows)):
            row_factor = -(-n_rows // max(1, int(rows)))
            block = _maxabs(block.T.contiguous(), row_factor).T
            covered_rows = block.shape[0] * row_factor
        start = a * factor
        return Tile(np.ascontiguousarray(block.numpy()), start, start + block.shape[1] * extra * factor,
                    covered_rows)


# Lag views
def lag_rows(jacobian: np.ndarray, hop: int, past: int, future: int, first: int = 0,
             count: int | None = None) -> np.ndarray:
    """Rows ``first ..`` re-indexed by lag = sample minus frame end: column ``j`` is lag ``j - past`` samples
    (NaN where the lag falls outside the segment)."""
    n_frames, n_samples = jacobian.shape
    count = n_frames - first if count is None else count
    out = np.full((count, past + future), np.nan, dtype=np.float32)
    for i, t in enumerate(range(first, first + count)):
        end = (t + 1) * hop
        a, b = max(0, end - past), min(n_samples, end + future)
        out[i, a - end + past : b - end + past] = jacobian[t, a:b]
    return out


def energy_lag(jacobian: np.ndarray, hop: int, share: float = LAG_ENERGY) -> int:
    """Samples before the frame end that hold ``share`` of all rows' ``sum |J|^2``: how far a whole-past
    (recursive) field is worth showing."""
    n_frames, n_samples = jacobian.shape
    energy = np.zeros(n_samples, dtype=np.float64)
    for t in range(n_frames):
        end = min(n_samples, (t + 1) * hop)
        row = np.nan_to_num(jacobian[t, :end])
        energy[:end] += (row[::-1].astype(np.float64)) ** 2
    total = energy.sum()
    if total <= 0:
        return hop
    return int(np.searchsorted(np.cumsum(energy), share * total)) + 1


def future_reach(jacobian: np.ndarray, hop: int) -> int:
    """Samples at or after a frame's end that some row has a nonzero gradient at (0 when exactly causal)."""
    reach = 0
    for t in range(jacobian.shape[0]):
        nonzero = np.flatnonzero(np.nan_to_num(jacobian[t, (t + 1) * hop :]) != 0)
        if nonzero.size:
            reach = max(reach, int(nonzero[-1]) + 1)
    return reach


def lag_extent(jacobian: np.ndarray, hop: int, receptive_field: int | None, *, leaks: bool = True,
               reach_hint: int | None = None) -> tuple[int, int]:
    """Samples of past and future lag the lag view shows: the receptive field (else ``reach_hint``, else the lag
    holding 99% of the gradient energy) plus two frames, and a future margin of at least four frames that also
    covers any leak (``leaks=False``: the caller knows there is none)."""
    n_samples = jacobian.shape[1]
    field = receptive_field if receptive_field is not None else reach_hint
    if field is None:
        field = energy_lag(jacobian, hop)
    past = min(n_samples, max(field, hop) + _MARGIN_FRAMES * hop)
    reach = future_reach(jacobian, hop) if leaks else 0
    future = max(hop, min(n_samples, max(4 * hop, past // 4, reach + hop)))
    return past, future


# What the view draws
@dataclass
class JacobianDisplay:
    """A Jacobian ready to draw: its reductions, its lag image and the statistics of its scale."""

    heat: ColumnPyramid
    lag: ColumnPyramid
    past: int
    future: int
    stats: MagnitudeStats
    absolute: bool

    def scale(self, kind: str = DEFAULT_SCALE, *, decades: float | None = None,
              percentile: float = DEFAULT_PERCENTILE) -> ColourScale:
        """The colour scale for this Jacobian (see :func:`choose_scale`)."""
        return choose_scale(self.stats, kind, decades=decades, percentile=percentile, absolute=self.absolute)

    def lag_range_ms(self, audio_fs: int) -> tuple[float, float]:
        """The lags (ms after the frame end) the lag image spans: from its past to its future edge."""
        ms = 1000.0 / audio_fs
        return -self.past * ms, self.future * ms


def build_display(jacobian: np.ndarray, hop: int, receptive_field: int | None, *, absolute: bool = False,
                  leaks: bool = True, reach_hint: int | None = None) -> JacobianDisplay:
    """Everything the view needs to draw ``jacobian`` beyond the array itself (run it in the job)."""
    past, future = lag_extent(jacobian, hop, receptive_field, leaks=leaks, reach_hint=reach_hint)
    heat = ColumnPyramid(jacobian)
    lag = ColumnPyramid(lag_rows(jacobian, hop, past, future))
    return JacobianDisplay(heat, lag, past, future, magnitude_stats(jacobian, heat.maximum()), absolute)


@dataclass
class ProgressiveDisplay:
    """Rows of a Jacobian as they finish (NaN: pending), kept drawable: the worker calls :meth:`add_rows`
    and a view reads :meth:`display` at any time. Allocated by the worker, never on the GUI thread."""

    n_frames: int
    n_samples: int
    hop: int
    absolute: bool = False
    reach_hint: int | None = None
    jacobian: np.ndarray = field(init=False)
    rows_done: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.jacobian = np.full((self.n_frames, self.n_samples), np.nan, dtype=np.float32)
        field_ = self.reach_hint if self.reach_hint is not None else min(self.n_samples, self.n_samples // 4)
        self.past = min(self.n_samples, max(field_, self.hop) + _MARGIN_FRAMES * self.hop)
        self.future = max(self.hop, min(self.n_samples, max(4 * self.hop, self.past // 4)))
        self._heat = ColumnPyramid(self.jacobian)
        self._lag = ColumnPyramid(np.full((self.n_frames, self.past + self.future), np.nan, dtype=np.float32))
        self._stats = MagnitudeStats(np.zeros(0, dtype=np.float32), 0.0)
        self._done = np.zeros(self.n_frames, dtype=bool)
        self._lock = threading.Lock()

    def add_rows(self, first: int, rows: np.ndarray) -> None:
        """Store finished rows ``first ..``, update the reductions, the lag rows and the scale statistics."""
        count = rows.shape[0]
        self.jacobian[first : first + count] = rows
        self._heat.update_rows(first, count)
        self._lag.image[first : first + count] = lag_rows(self.jacobian, self.hop, self.past, self.future, first,
                                                          count)
        self._lag.update_rows(first, count)
        sample = magnitude_stats(rows, seed=first, samples=_BATCH_SAMPLES)
        with self._lock:
            merged = np.sort(np.concatenate([self._stats.sorted_sample, sample.sorted_sample]))
            if merged.size > _STATS_SAMPLES:
                merged = merged[:: merged.size // _STATS_SAMPLES + 1]
            self._stats = MagnitudeStats(merged, max(self._stats.maximum, sample.maximum))
            self._done[first : first + count] = True
            self.rows_done = int(self._done.sum())

    def display(self) -> JacobianDisplay:
        """What is drawable now (the rows so far, their scale statistics)."""
        with self._lock:
            stats = self._stats
        return JacobianDisplay(self._heat, self._lag, self.past, self.future, stats, self.absolute)


# Screen tiles placed on the plots
@dataclass(frozen=True)
class PlacedTile:
    """A tile with where it goes on its plot: x from ``x`` over ``width`` (seconds for the heatmap, ms of lag
    for the lag view), rows 0 to ``rows`` (frames)."""

    image: np.ndarray
    x: float
    width: float
    rows: int


def _row_budget(n_frames: int, y_range: tuple[float, float], height_px: float) -> float:
    """Rows the whole image may have so that the visible frames get one row per pixel."""
    visible = max(1.0, min(n_frames, y_range[1]) - max(0.0, y_range[0]))
    return height_px * n_frames / visible


def heat_tile(display: JacobianDisplay, segment: Segment, x_range: tuple[float, float],
              y_range: tuple[float, float], width_px: float, height_px: float) -> PlacedTile:
    """The heatmap's visible part (``x_range`` in seconds, ``y_range`` in frames) at screen resolution."""
    fs = segment.audio_fs
    first = math.floor((x_range[0] - segment.start_s) * fs)
    last = math.ceil((x_range[1] - segment.start_s) * fs)
    tile = display.heat.window(first, last, width_px, _row_budget(segment.n_frames, y_range, height_px))
    return PlacedTile(tile.image, segment.start_s + tile.first / fs, (tile.last - tile.first) / fs, tile.rows)


def lag_tile(display: JacobianDisplay, segment: Segment, lag_range_ms: tuple[float, float],
             y_range: tuple[float, float], width_px: float, height_px: float) -> PlacedTile:
    """The lag view's visible part (``lag_range_ms`` after the frame end, ``y_range`` in frames)."""
    ms = 1000.0 / segment.audio_fs
    past = display.past
    tile = display.lag.window(math.floor(lag_range_ms[0] / ms) + past, math.ceil(lag_range_ms[1] / ms) + past,
                              width_px, _row_budget(segment.n_frames, y_range, height_px))
    return PlacedTile(tile.image, (tile.first - past) * ms, (tile.last - tile.first) * ms, tile.rows)


# The job
ProgressiveRows = Callable[[int, ProgressiveDisplay], None]


def draws_progressively(module: Any) -> bool:
    """Whether the module's rows are worth drawing as they finish (its Jacobian takes long)."""
    return getattr(frontend_of(module), "kind", None) in PROGRESSIVE_KINDS


@dataclass(frozen=True)
class ShownJacobian:
    """A computed Jacobian and what the view draws of it."""

    result: CausalityResult
    display: JacobianDisplay


def compute_display(module: Any, samples: np.ndarray, mode: str, index: int | None, *,
                    rows_ready: ProgressiveRows | None = None, progress: ProgressCallback | None = None,
                    cancel: CancelFlag | None = None) -> ShownJacobian:
    """Job body: the Jacobian of ``samples`` (whole frames) in a view ``mode`` (one of :data:`FRONTEND_MODES`
    or :data:`MODEL_MODES`; ``index`` the channel or neuron) and its display, all allocated here, off the GUI
    thread. For slow modules (:func:`draws_progressively`) ``rows_ready(first_frame, partial)`` hears of rows
    as they finish, ``partial`` drawable at any time."""
    absolute = mode == "abs"
    rows_callback = None
    if rows_ready is not None and draws_progressively(module):
        hop = hop_of(module)
        n_frames = len(samples) // hop
        partial = ProgressiveDisplay(n_frames, n_frames * hop, hop, absolute, declared_reach(module))

        def rows_callback(first: int, rows: np.ndarray) -> None:
            partial.add_rows(first, rows)
            rows_ready(first, partial)

    result = frame_jacobian(module, samples, mode="projection" if mode == "neuron" else mode,
                            channel=index if mode == "channel" else None, neuron=index if mode == "neuron" else None,
                            progress=progress, cancel=cancel, rows_ready=rows_callback)
    display = build_display(result.jacobian, result.hop, result.receptive_field, absolute=absolute,
                            leaks=not result.leak_is_exactly_zero)
    return ShownJacobian(result, display)
