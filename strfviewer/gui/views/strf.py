"""The STRF view: what each neuron of an open encoding model listens to, as a spectro-temporal heatmap.

Linear and LinearNonlinear models show their kernel with BatchNorm folded in, exactly what the model applies in
eval mode (computed at once: it is a few multiplications). Other models, or any model when "gradient STRF" is
ticked, show the gradient of each neuron's response with respect to a silent spectrogram; that runs as a job
because it backpropagates through the model. "Play gradient sound" turns the gradient of the response with
respect to the current sound's samples into something to listen to and draws it under the heatmap.

The heatmap's x axis is the lag in ms with lag 0 (the current frame) at the right, increasing into the past to
the left: internally x is ``-lag``, and the axis labels show the lag. Image rows are front-end channels, low
frequencies at the bottom, so the image shown is the backend's ``Strf.weights[n, 0]`` unchanged. Its colour bar
is centred on 0 (white: no effect) and names what the values are: kernel weights or response gradients.

When models are opened, the view shows one whose kernel can be read (a Linear model) in preference to a gradient
STRF: ICNet's gradient at a silent input has one lag of latent channels, a poor first picture of a neuron.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QScrollBar,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ...backend.analysis.strf import (
    gradient_sound_job,
    gradient_strf_job,
    is_linear,
    linear_strf,
    neuron_labels,
    playable,
    preferred_model,
    symmetric_levels,
)
from ...backend.errors import StrfviewerError, one_line
from ...backend.frontends.modules import audio_mismatch
from .. import windowing
from ..export import ExportButton, ExportData
from ..jobcontrols import job_controls, show_progress
from ..playback import Player
from ..settings import settings
from ..state import SessionState
from ..stepwise import StagedBuild
from .colorbar import attach_colorbar, fix_left_axis, reserve_colorbar_space, set_colorbar_label
from .common import frequency_ticks
from .timeaxis import TimeLinkedPlot

logger = logging.getLogger(__name__)

THUMBNAIL_CACHE = 2000  # pictures kept (about 10 kB each)
THUMBNAIL_COLUMNS = 4
THUMBNAIL_SIZE = QSize(60, 40)
MAX_LAG_TICKS = 10
COLORMAP = "CET-D1"  # blue-white-red, white at the middle of the (symmetric) levels
PLAYBACK_PEAK = 0.5
REDUCTIONS = ("peak", "last", "sum")

SETTINGS_GRADIENT = "strf/gradient"
SETTINGS_REDUCE = "strf/reduce"

LINEAR_METHOD = "linear kernel (BatchNorm folded)"
GRADIENT_METHOD = "gradient STRF (at a silent input)"
LINEAR_UNIT = "weight (rate per input unit)"  # the colour bar's label for a kernel
GRADIENT_UNIT = "∂ rate / ∂ input"  # and for a gradient STRF
WAVE_HEIGHT = 140  # px: the gradient sound's panel (plot or placeholder)

GRADIENT_KEY = "strf:gradient"
WAVEFORM_KEY = "strf:waveform"


class LagAxis(pg.AxisItem):
    """Bottom axis of the heatmap: the plot's x is ``-lag`` (lag 0 at the right), the labels show the lag.

    The view sets explicit ticks at column centres (:func:`lag_ticks`); this covers any automatic ones.
    """

    def tickStrings(self, values, scale, spacing) -> list[str]:
        return super().tickStrings([0.0 if v == 0 else -v for v in values], scale, spacing)


def lag_ticks(lags: np.ndarray, step: float) -> list[tuple[float, str]]:
    """Ticks at the centres of lag columns (x = ``-lag * step``), at most ``MAX_LAG_TICKS``, always lag 0."""
    lags = np.asarray(lags)
    every = max(1, int(np.ceil(lags.size / MAX_LAG_TICKS)))
    shown = sorted({int(lag) for lag in lags if int(lag) % every == 0})
    return [(0.0 if lag == 0 else -lag * step, f"{lag * step:g}") for lag in shown]


def model_title(loaded: Any) -> str:
    """The model's folder name (the file name for a bare weights file)."""
    path = Path(getattr(loaded, "path", "") or "model")
    return path.name or str(path)


def thumbnail_pixmap(matrix: np.ndarray, colormap: pg.ColorMap, size: QSize = THUMBNAIL_SIZE) -> QPixmap:
    """A small picture of one STRF (low frequencies at the bottom, lag 0 at the right), its own symmetric levels."""
    low, high = symmetric_levels(matrix)
    values = np.nan_to_num((matrix - low) / (high - low), nan=0.5)
    rgba = np.ascontiguousarray(colormap.map(np.flipud(values), mode="byte").astype(np.uint8))
    rows, cols = rgba.shape[:2]
    image = QImage(rgba.data, cols, rows, cols * 4, QImage.Format.Format_RGBA8888).copy()
    scaled = image.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation)
    return QPixmap.fromImage(scaled)


class ThumbnailModel(QAbstractListModel):
    """Every neuron's STRF as a list of small pictures, each made the first time the list shows it and kept
    (at most :data:`THUMBNAIL_CACHE` of them): opening 5,000 neurons draws only the few dozen in view."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._weights: np.ndarray | None = None
        self._labels: list[str] = []
        self._colormap: pg.ColorMap | None = None
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self.drawn = 0  # thumbnails made since the last show (tests and benchmarks read it)

    def show(self, weights: np.ndarray | None, labels: list[str], colormap: pg.ColorMap) -> None:
        self.beginResetModel()
        self._weights, self._labels, self._colormap = weights, labels, colormap
        self._pixmaps.clear()
        self.drawn = 0
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default argument
        return 0 if self._weights is None or parent.isValid() else int(self._weights.shape[0])

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._weights is None:
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._labels[row] if row < len(self._labels) else f"neuron {row}"
        return None

    def _pixmap(self, row: int) -> QPixmap:
        if row in self._pixmaps:
            self._pixmaps.move_to_end(row)
            return self._pixmaps[row]
        pixmap = thumbnail_pixmap(self._weights[row, 0], self._colormap)
        self.drawn += 1
        self._pixmaps[row] = pixmap
        if len(self._pixmaps) > THUMBNAIL_CACHE:
            self._pixmaps.popitem(last=False)
        return pixmap


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws a thumbnail as it is, framed when selected: Qt's own selection tints the picture with the
    highlight colour, which hides the very STRF the user picked."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        plain = QStyleOptionViewItem(option)
        plain.state &= ~(QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus)
        super().paint(painter, plain, index)
        if selected:
            painter.save()
            painter.setPen(QPen(option.palette.highlight().color(), 3))
            painter.drawRect(option.rect.adjusted(2, 2, -3, -3))
            painter.restore()


class StrfView(QWidget):
    """STRF heatmap of the selected neuron, thumbnails of all neurons, and the neuron's gradient sound."""

    strfShown = Signal()  # a new STRF (all neurons) was drawn; tests wait on it
    gradientShown = Signal()  # the gradient waveform was drawn and handed to the player

    def __init__(self, state: SessionState, runner, parent: QWidget | None = None, *,
                 player: Player | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner = state, runner
        self.player = player  # created on first use when None: opening an audio device is not free
        self.loaded: Any = None  # the backend LoadedModel shown
        self.strf: Any = None  # the backend Strf shown (all neurons)
        self.method = ""
        self.gradient_wave: np.ndarray | None = None
        self._jobs: dict[str, Any] = {}
        self._colormap = pg.colormap.get(COLORMAP)

        # Header
        self.model_box = QComboBox()
        self.model_box.setToolTip("Which open model to show")
        self.model_box.currentIndexChanged.connect(self._model_selected)
        self.neuron_box = QComboBox()
        self.neuron_box.setToolTip("The selected neuron (shared with the other views)")
        self.neuron_box.activated.connect(self.state.set_neuron)
        self.gradient_box = QCheckBox("gradient STRF")
        self.gradient_box.setToolTip("Show the gradient of the response at a silent input instead of the kernel")
        self.gradient_box.setChecked(settings().value(SETTINGS_GRADIENT, False, type=bool))
        self.gradient_box.toggled.connect(self._gradient_toggled)
        self.reduce_box = QComboBox()
        self.reduce_box.addItems(REDUCTIONS)
        self.reduce_box.setToolTip("Which response the gradient sound explains: its peak frame, the last frame, "
                                   "or the sum over frames")
        reduce = str(settings().value(SETTINGS_REDUCE, REDUCTIONS[0]))
        self.reduce_box.setCurrentText(reduce if reduce in REDUCTIONS else REDUCTIONS[0])
        self.reduce_box.currentTextChanged.connect(lambda text: settings().setValue(SETTINGS_REDUCE, text))
        self.play_button = QPushButton("Play gradient sound")
        self.play_button.clicked.connect(self.play_gradient)
        self.progress, self.cancel_button = job_controls(self.cancel, 120)
        self.export_button = ExportButton(lambda: self.plot, self.export_data, "strf", self)

        header = QHBoxLayout()
        header.addWidget(QLabel("<b>STRF</b>"))
        for widget in (QLabel("model"), self.model_box, QLabel("neuron"), self.neuron_box, self.gradient_box):
            header.addWidget(widget)
        header.addStretch(1)
        for widget in (self.reduce_box, self.play_button, self.progress, self.cancel_button, self.export_button):
            header.addWidget(widget)

        # What the picture is gets the view's full width (it wraps there rather than in a narrow column); the
        # message and the reason "Play" is unavailable share the line below it.
        self.method_label = QLabel()
        self.method_label.setStyleSheet("color: gray;")
        self.method_label.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(False)
        self.play_note = QLabel()
        self.play_note.setStyleSheet("color: gray;")
        notes = QHBoxLayout()
        notes.addWidget(self.message)
        notes.addStretch(1)
        notes.addWidget(self.play_note)

        # Heatmap
        self.plot = pg.PlotWidget(axisItems={"bottom": LagAxis("bottom")})
        self.plot.setLabel("bottom", "lag (ms)")
        self.plot.setLabel("left", "frequency")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(self._colormap)
        self.plot.addItem(self.image)
        self.colorbar = attach_colorbar(self.plot, self.image, LINEAR_UNIT, self._colormap, (-1.0, 1.0))
        fix_left_axis(self.plot)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Gradient sound, on the session's time axis
        self.wave_plot = TimeLinkedPlot(state)
        self.wave_plot.setLabel("bottom", "time", units="s")
        self.wave_plot.setLabel("left", "gradient")
        self.wave_plot.getAxis("left").enableAutoSIPrefix(False)
        fix_left_axis(self.wave_plot)
        reserve_colorbar_space(self.wave_plot)  # its plot area lines up with the heatmap's above
        self.wave_curve = self.wave_plot.plot(pen=pg.mkPen("#2c3e50", width=1))
        self.wave_curve.setDownsampling(auto=True, method="peak")
        self.wave_curve.setClipToView(True)
        # Until a gradient sound is computed its panel says what it will show, instead of empty 0-1 axes.
        self.wave_placeholder = QLabel()
        self.wave_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.wave_placeholder.setWordWrap(True)
        self.wave_placeholder.setStyleSheet("color: gray; border: 1px dashed #bdc3c7;")
        self.wave_stack = QStackedWidget()
        self.wave_stack.addWidget(self.wave_placeholder)
        self.wave_stack.addWidget(self.wave_plot)
        self.wave_stack.setFixedHeight(WAVE_HEIGHT)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.plot, 1)
        left_layout.addWidget(self.readout)
        left_layout.addWidget(self.wave_stack)

        # Thumbnails: every neuron's, drawn only when scrolled into view (a probe has thousands)
        self.thumbnail_model = ThumbnailModel(self)
        self.thumbnail_list = QListView()
        self.thumbnail_list.setViewMode(QListView.ViewMode.IconMode)
        self.thumbnail_list.setMovement(QListView.Movement.Static)
        self.thumbnail_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbnail_list.setUniformItemSizes(True)
        self.thumbnail_list.setIconSize(THUMBNAIL_SIZE)
        self.thumbnail_list.setGridSize(QSize(THUMBNAIL_SIZE.width() + 12, THUMBNAIL_SIZE.height() + 12))
        self.thumbnail_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.thumbnail_list.setModel(self.thumbnail_model)
        self.thumbnail_list.setItemDelegate(ThumbnailDelegate(self.thumbnail_list))
        # The list lays its items out later than it is told to show one (and again when resized): the selected
        # thumbnail is centred once the layout is known, until the user scrolls it themselves.
        self._centre_pending = False
        bar = self.thumbnail_list.verticalScrollBar()
        bar.rangeChanged.connect(self._centre_selected_thumbnail)
        bar.actionTriggered.connect(self._user_scrolled_thumbnails)
        self.thumbnail_list.clicked.connect(lambda index: self._thumbnail_clicked(index.row()))
        self.thumbnail_note = QLabel()
        self.thumbnail_note.setStyleSheet("color: gray;")
        scroll = QWidget()
        scroll_layout = QVBoxLayout(scroll)
        scroll_layout.setContentsMargins(0, 0, 0, 0)
        scroll_layout.addWidget(self.thumbnail_list, 1)
        scroll_layout.addWidget(self.thumbnail_note)
        scroll.setMinimumWidth(THUMBNAIL_COLUMNS * (THUMBNAIL_SIZE.width() + 12) + 30)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.method_label)
        layout.addLayout(notes)
        layout.addWidget(splitter, 1)

        state.modelChanged.connect(self._models_changed)
        state.neuronChanged.connect(self._neuron_changed)
        state.audioChanged.connect(self._audio_changed)
        # What the session holds is drawn on the next event-loop turn: building the view and drawing the open models
        # of a large probe in one turn froze the window for half a second on the tab's first visit.
        if not state.models:
            self._models_changed()  # nothing to draw but what to open
        else:
            self._staged = StagedBuild(self, [self._models_changed])

    # Messages
    def _say(self, text: str, error: bool = False) -> None:
        """One line under the header: red for errors, grey for notes."""
        self.message.setStyleSheet("color: #c0392b;" if error else "color: gray;")
        self.message.setText(" ".join(text.split()))

    def _fail(self, exc: BaseException, what: str) -> None:
        text = one_line(exc)
        if not isinstance(exc, StrfviewerError):
            logger.error("unexpected error while computing the %s", what, exc_info=exc)
            text = f"unexpected error: {text}"
        self._say(f"Could not compute the {what}: {text}", error=True)

    # Models and neurons
    def _models_changed(self) -> None:
        """Keep the model shown unless one was just opened; then show the one :func:`preferred_model` picks."""
        previous = self.loaded.path if self.loaded is not None else None
        models = list(self.state.models)
        known = {self.model_box.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(self.model_box.count())}
        if any(str(m.path) not in known for m in models):
            shown = next((m for m in models if m.path == previous), None)
            chosen = preferred_model(models, shown)
            previous = chosen.path if chosen is not None else None
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for loaded in models:
            self.model_box.addItem(model_title(loaded))
            self.model_box.setItemData(self.model_box.count() - 1, str(loaded.path), Qt.ItemDataRole.ToolTipRole)
        paths = [m.path for m in models]
        if previous in paths:
            index = paths.index(previous)
        else:
            index = paths.index(self.state.model.path) if self.state.model is not None else -1
        self.model_box.setCurrentIndex(index)
        self.model_box.blockSignals(False)
        self._model_selected(index)

    def _model_selected(self, index: int) -> None:
        models = self.state.models
        self.loaded = models[index] if 0 <= index < len(models) else None
        count = int(getattr(self.loaded.model, "O", 0)) if self.loaded is not None else 0
        self.neuron_box.blockSignals(True)
        self.neuron_box.clear()
        self.neuron_box.addItems(neuron_labels(self.loaded, count) if self.loaded is not None else [])
        self.neuron_box.blockSignals(False)
        self.gradient_box.setEnabled(self.loaded is not None and is_linear(self.loaded))
        self._clear_gradient_wave()
        self.recompute()

    def _neuron_changed(self, _index: int) -> None:
        self._clear_gradient_wave()
        self._draw_neuron()
        self._update_play()

    def _audio_changed(self) -> None:
        self._clear_gradient_wave()
        self._update_play()

    def _gradient_toggled(self, checked: bool) -> None:
        settings().setValue(SETTINGS_GRADIENT, bool(checked))
        self.recompute()

    def n_neurons(self) -> int:
        return int(self.strf.weights.shape[0]) if self.strf is not None else self.neuron_box.count()

    # Computation
    def uses_gradient(self) -> bool:
        """Gradient STRF for models without a readable kernel, or when the user asks for it."""
        return self.loaded is not None and (self.gradient_box.isChecked() or not is_linear(self.loaded))

    def recompute(self) -> None:
        """The STRF of the selected model: at once for a linear kernel, as a job for a gradient STRF."""
        self.runner.cancel(GRADIENT_KEY)  # a stale gradient must not replace what is computed now
        self.strf, self.method = None, ""
        self._clear_drawing()
        self._say("")
        self._update_play()
        if self.loaded is None:
            self._say("Open a model to see its STRFs.")
            return
        model = self.loaded.model
        if not self.uses_gradient():
            try:
                strf = linear_strf(model)
            except StrfviewerError as exc:
                self._fail(exc, "STRF")
                return
            self._show(strf, LINEAR_METHOD)
            return
        self.method_label.setText(f"{GRADIENT_METHOD}: computing…")
        loaded = self.loaded

        def done(strf: Any) -> None:
            if loaded is self.loaded:
                self._show(strf, GRADIENT_METHOD)

        def failed(exc: BaseException) -> None:
            if loaded is self.loaded:
                self.method_label.setText(GRADIENT_METHOD)
                self._fail(exc, "gradient STRF")

        self._submit(GRADIENT_KEY, lambda progress, cancel: gradient_strf_job(model, progress, cancel),
                     f"gradient STRF of {model_title(loaded)}", done, failed)

    def _submit(self, key: str, fn, description: str, on_result, on_error) -> None:
        self._jobs[key] = job = self.runner.submit(fn, key=key, description=description, on_result=on_result,
                                                   on_error=on_error, owner=self)
        job.progressed.connect(self._job_progress)
        job.finished.connect(lambda job=job: self._job_finished(job))
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)

    def cancel(self) -> None:
        """Stop this view's running jobs; their results are dropped."""
        if WAVEFORM_KEY in self._jobs:
            self._say("gradient sound cancelled")
        for key in list(self._jobs):
            self.runner.cancel(key)
        if self.strf is None and self.loaded is not None:
            self.method_label.setText(f"{GRADIENT_METHOD}: cancelled")

    def _job_progress(self, done: int, total: int, _message: str) -> None:
        if total > 0:  # no count known (total 0): the bar stays busy
            show_progress(self.progress, done, total)

    def _job_finished(self, job) -> None:
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        if not self._jobs:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)

    # Drawing
    def _show(self, strf: Any, method: str) -> None:
        self.strf, self.method = strf, method
        channels = strf.weights.shape[1]
        note = f" · input channel 0 of {channels}" if channels > 1 else ""
        if strf.weights.shape[-1] == 1 and method == GRADIENT_METHOD:
            note += (" · one lag: the decoder reads one latent frame (its encoder already spans the past); rows are "
                     "latent channels, not frequencies")
        if strf.whole_past:
            note += f" · the model remembers its whole past; the last {strf.weights.shape[-1]} lags are shown"
        self.method_label.setText(f"{method}{note}")
        self._build_thumbnails()
        self._draw_neuron()
        self._update_play()
        self.strfShown.emit()

    def current_matrix(self) -> np.ndarray | None:
        """The selected neuron's STRF ``(F, T)`` as shown, or None."""
        index = self.state.selected_neuron
        if self.strf is None or not 0 <= index < self.strf.weights.shape[0]:
            return None
        return self.strf.weights[index, 0]

    def _lag_step(self) -> float:
        """Width of one lag column on the x axis: ms when the bin width is known, frames otherwise."""
        return float(self.strf.dt_ms) if self.strf is not None and self.strf.dt_ms is not None else 1.0

    def _draw_neuron(self) -> None:
        index = self.state.selected_neuron
        if 0 <= index < self.neuron_box.count():
            self.neuron_box.setCurrentIndex(index)
        self._check_thumbnail(index)
        if self.strf is None:
            return
        matrix = self.current_matrix()
        if matrix is None:
            self.image.clear()
            self._say(f"The model has {self.strf.weights.shape[0]} neurons; neuron {index} is selected.", error=True)
            return
        if self.message.text().startswith("The model has"):
            self._say("")
        rows, cols = matrix.shape
        step = self._lag_step()
        oldest = float(self.strf.lags[0])
        self.image.setImage(matrix, autoLevels=False)
        # Column k is centred on x = -lags[k] * step: lag 0 at the right, the past to the left.
        self.image.setRect(QRectF(-(oldest + 0.5) * step, 0, cols * step, rows))
        self.colorbar.setLevels(symmetric_levels(matrix))  # the bar sets the image's levels too
        set_colorbar_label(self.colorbar, GRADIENT_UNIT if self.method == GRADIENT_METHOD else LINEAR_UNIT)
        self.plot.setLabel("bottom", "lag (ms)" if self.strf.dt_ms is not None else "lag (frames)")
        self.plot.setLabel("left", "frequency" if self.strf.frequencies_hz is not None else "channel")
        self.plot.getAxis("left").setTicks([frequency_ticks(self.strf.frequencies_hz, rows)])
        self.plot.getAxis("bottom").setTicks([lag_ticks(self.strf.lags, step)])
        self.plot.setXRange(-(oldest + 0.5) * step, 0.5 * step, padding=0)
        self.plot.setYRange(0, rows, padding=0)
        labels = neuron_labels(self.loaded, self.strf.weights.shape[0])
        self.plot.setTitle(f"{labels[index]} · bias {float(self.strf.bias[index]):.4g}")

    def _build_thumbnails(self) -> None:
        if self.strf is None:
            self.thumbnail_model.show(None, [], self._colormap)
            self.thumbnail_note.setText("")
            return
        count = self.strf.weights.shape[0]
        self.thumbnail_model.show(self.strf.weights, neuron_labels(self.loaded, count), self._colormap)
        self.thumbnail_note.setText(f"{count} neurons (click one to select it)")
        self._check_thumbnail(self.state.selected_neuron)

    def _check_thumbnail(self, index: int) -> None:
        if 0 <= index < self.thumbnail_model.rowCount():
            model_index = self.thumbnail_model.index(index)
            # In the middle of the list, not cut off at its edge; a neuron already in view stays where it is.
            # (Asked before it becomes current: making it current scrolls it just into view, at an edge.)
            in_view = self.thumbnail_list.viewport().rect().contains(self.thumbnail_list.visualRect(model_index))
            self.thumbnail_list.setCurrentIndex(model_index)
            if not in_view:
                self._centre_pending = True
                self._centre_selected_thumbnail()

    def _centre_selected_thumbnail(self) -> None:
        if self._centre_pending and self.thumbnail_list.currentIndex().isValid():
            self.thumbnail_list.scrollTo(self.thumbnail_list.currentIndex(),
                                         QAbstractItemView.ScrollHint.PositionAtCenter)

    def _user_scrolled_thumbnails(self, _action: int) -> None:
        self._centre_pending = False

    def thumbnail_scrollbar(self) -> QScrollBar:
        return self.thumbnail_list.verticalScrollBar()

    def _thumbnail_clicked(self, index: int) -> None:
        self.state.set_neuron(index)
        self._check_thumbnail(self.state.selected_neuron)

    def _clear_drawing(self) -> None:
        self.image.clear()
        self.plot.setTitle(None)
        self.method_label.setText("")
        self._build_thumbnails()

    def _mouse_moved(self, position) -> None:
        matrix = self.current_matrix()
        if matrix is None or not self.plot.sceneBoundingRect().contains(position):
            return
        point = self.plot.getViewBox().mapSceneToView(position)
        step = self._lag_step()
        lag = round(-point.x() / step)
        column = int(np.flatnonzero(self.strf.lags == lag)[0]) if lag in self.strf.lags else -1
        row = int(np.floor(point.y()))
        if column < 0 or not 0 <= row < matrix.shape[0]:
            self.readout.setText(" ")
            return
        freqs = self.strf.frequencies_hz
        where = f"{freqs[row]:.0f} Hz" if freqs is not None else f"channel {row}"
        unit = "ms" if self.strf.dt_ms is not None else "frames"
        self.readout.setText(f"lag {lag * step:g} {unit} · {where} · weight {matrix[row, column]:.4g}")

    # Gradient sound
    def play_block_reason(self) -> str | None:
        """Why "Play gradient sound" is unavailable now, or None when it can run."""
        if self.loaded is None:
            return "no model"
        audio = self.state.audio
        mismatch = audio_mismatch(self.loaded.model, audio.audio_fs if audio is not None else None)
        if mismatch is not None:
            return f"the model {mismatch}"
        if audio is None:
            return "open a sound to hear the gradient"
        count = self.n_neurons()
        if not 0 <= self.state.selected_neuron < count:
            return f"neuron {self.state.selected_neuron} is not in this model"
        return None

    def _update_play(self) -> None:
        reason = self.play_block_reason()
        self.play_button.setEnabled(reason is None)
        self.play_button.setToolTip(reason or "Play the gradient of the response with respect to the sound")
        self.play_note.setText(reason or "")
        what = ("Gradient sound: how much each sample of the sound drives the selected neuron, drawn here on the "
                "sound's time axis.")
        self.wave_placeholder.setText(f"{what} Press “Play gradient sound” to compute and hear it." if reason is None
                                      else f"{what} Not available: {reason}.")

    def play_gradient(self) -> None:
        """Compute the selected neuron's gradient sound (a job), then draw it and play it at peak 0.5."""
        reason = self.play_block_reason()
        if reason is not None:
            self._say(f"Cannot play the gradient sound: {reason}.", error=True)
            return
        loaded, audio, neuron = self.loaded, self.state.audio, self.state.selected_neuron
        reduce = self.reduce_box.currentText()
        samples, note = windowing.excerpt(audio.samples, audio.audio_fs, self.state.view_range)
        start_s = max(0.0, self.state.view_range[0]) if note else 0.0
        self._say(f"computing the gradient sound{' ' + note if note else ''}…")

        def done(gradient: np.ndarray) -> None:
            if loaded is self.loaded and audio is self.state.audio and neuron == self.state.selected_neuron:
                self._play(gradient, audio.audio_fs, start_s)

        def failed(exc: BaseException) -> None:
            self._fail(exc, "gradient sound")

        model = loaded.model
        self._submit(WAVEFORM_KEY,
                     lambda progress, cancel: gradient_sound_job(model, samples, neuron, reduce, progress, cancel),
                     f"gradient sound of neuron {neuron}", done, failed)

    def _play(self, gradient: np.ndarray, audio_fs: int, start_s: float = 0.0) -> None:
        wave = playable(gradient, PLAYBACK_PEAK)
        if wave is None:
            self._say("The gradient is zero everywhere for this neuron and sound: nothing to play.", error=True)
            return
        self.gradient_wave = wave
        self.wave_curve.setData(start_s + np.arange(wave.size) / audio_fs, wave)
        self.wave_plot.setYRange(-PLAYBACK_PEAK, PLAYBACK_PEAK, padding=0.05)
        self.wave_stack.setCurrentWidget(self.wave_plot)
        self._say("")
        if self.player is None:
            from ..playback import make_player

            self.player = make_player(self)
        try:
            self.player.set_audio(wave, audio_fs)
        except ValueError as exc:
            self._say(f"Cannot play the gradient sound: {one_line(exc)}", error=True)
            return
        self.player.play()
        self.gradientShown.emit()

    def _clear_gradient_wave(self) -> None:
        if self.runner.cancel(WAVEFORM_KEY) and self.message.text().startswith("computing the gradient sound"):
            self._say("")
        self.gradient_wave = None
        self.wave_curve.setData([], [])
        self.wave_stack.setCurrentWidget(self.wave_placeholder)

    # Export
    def export_data(self) -> ExportData | None:
        """The selected neuron's STRF ``(F, T)``: rows low to high frequency, columns oldest lag to lag 0."""
        matrix = self.current_matrix()
        if matrix is None:
            return None
        strf, index = self.strf, self.state.selected_neuron
        label = neuron_labels(self.loaded, strf.weights.shape[0])[index]
        lags = strf.lags_ms if strf.lags_ms is not None else strf.lags
        lag_name = "lags_ms" if strf.lags_ms is not None else "lags_frames"
        if strf.frequencies_hz is not None:
            rows = "frequencies_hz: " + ",".join(f"{f:.6g}" for f in strf.frequencies_hz)
        else:
            rows = "channels: " + ",".join(str(i) for i in range(matrix.shape[0]))
        header = "\n".join([
            f"STRF of {label} ({model_title(self.loaded)}, {self.method}); bias {float(strf.bias[index]):.8g}",
            "rows: frequency channels, low to high; columns: lags, oldest first (lag 0 last)",
            f"{lag_name}: " + ",".join(f"{v:g}" for v in lags),
            rows,
        ])
        return {"strf": np.asarray(matrix, dtype=np.float64)}, header
