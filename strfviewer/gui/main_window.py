"""The main window: menus, the session dock, the time-aligned panes, playback, live mode and the status bar.

Widgets and wiring: it owns the session state, the job runner, the player and the live engine, and turns
user actions (open, drop, play, add a front-end) into calls on the :class:`SessionController` (files,
sessions, recent files) or on the state. Views only talk to the state.
"""

from __future__ import annotations

import logging
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..backend.frontends import KINDS
from ..backend.frontends.modules import audio_mismatch
from ..backend.grid import is_grid_folder
from . import windowing
from .controller import SessionController, recent_files
from .jobrunner import JobRunner
from .live import LiveEngine
from .microphone import DEFAULT_RATE, MicrophoneBar
from .playback import Player, make_player
from .reporter import ErrorReporter
from .settings import settings
from .state import MODEL_STREAM, LiveStream, SessionState
from .stepwise import StagedBuild
from .views.rates import RatesPane
from .views.spectrogram import SpectrogramPane
from .views.waveform import WaveformOverview

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64", ".rf64")
# The analysis views: (name, tab title, module under gui/views, class).
ANALYSIS_VIEWS = (
    ("filters", "Filters", "filters", "FiltersView"),
    ("causality", "Causality", "causality", "CausalityView"),
    ("strf", "STRFs", "strf", "StrfView"),
    ("psth", "PSTH", "psth", "PsthView"),
    ("compare", "Compare", "compare", "CompareView"),
)
SHUTDOWN_WAIT_MS = 1000  # closing waits this long for running work to stop, then leaves it behind
VIEW_NAMES = ("spectrograms", *(entry[0] for entry in ANALYSIS_VIEWS))  # in tab order
COLORMAPS = ("viridis", "inferno", "magma", "plasma", "cividis", "CET-L1")



class MainWindow(QMainWindow):
    """One window over one session."""

    def __init__(self, reporter: ErrorReporter, player: Player | None = None, audio_inputs: bool = True) -> None:
        """``audio_inputs``: look for microphones (a headless render never starts PortAudio)."""
        super().__init__()
        self.setWindowTitle("strfviewer[*]")
        self.setAcceptDrops(True)
        self.reporter = reporter
        reporter.parent = self
        self.state = SessionState(self)
        self.runner = JobRunner(self)
        self.player = player if player is not None else make_player(self)
        self.live = LiveEngine(self)
        self._live_scrolling = False  # the open stream scrolls (a live input, a long sound from the cursor)
        self._live_input: tuple[int, int] | None = None  # while the microphone feeds the panes: (rate, samples)
        self.controller = SessionController(self.state, self.runner, reporter, self._ask_model_info, self)
        self.controller.ask_import = self._ask_import
        self.panes: dict[int, SpectrogramPane] = {}
        self.rates_pane: RatesPane | None = None
        self._rates_build: StagedBuild | None = None  # the rates pane's build, on the turn after a model opens
        self.model_card: QDialog | None = None  # the open model card, if any
        self.confirm_close = True  # ask to save a modified session on close (off for headless use and tests)
        self.work_abandoned = False  # set on close when a computation did not stop in time (see app.finish)

        self._build_central()
        self._build_dock()
        self._build_toolbar(audio_inputs)
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._update_placeholder()
        self._restore_settings()
        self.controller.mark_unmodified()

    # Construction
    def _build_central(self) -> None:
        self.overview = WaveformOverview(self.state)
        self.pane_container = QWidget()
        self.pane_layout = QVBoxLayout(self.pane_container)
        self.pane_layout.setContentsMargins(0, 0, 0, 0)
        self.placeholder = QLabel()
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: gray; font-size: 14px;")
        self.pane_layout.addWidget(self.placeholder)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.pane_container)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("view-tabs")
        self.tabs.addTab(scroll, "Spectrograms")
        # Analysis views are built when their tab is first opened: a view nobody looks at costs nothing at
        # launch and does no work when the sound or the front-ends change.
        self.views: dict[str, QWidget] = {}
        for _name, title, _module, _cls in ANALYSIS_VIEWS:
            self.tabs.addTab(QWidget(), title)
        self.tabs.currentChanged.connect(self._build_view)
        self.tabs.currentChanged.connect(lambda _index: self.state.set_front_view(self.current_view()))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.overview)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)

    def _build_dock(self) -> None:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.addWidget(QLabel("<b>Sounds</b>"))
        self.audio_list = QListWidget()
        self.audio_list.itemActivated.connect(
            lambda item: self.controller.open_audio(Path(item.data(Qt.ItemDataRole.UserRole))))
        layout.addWidget(self.audio_list)
        layout.addWidget(QLabel("<b>Front-ends</b>"))
        self.kind_box = QComboBox()
        self.kind_box.addItems(KINDS)
        add = QPushButton("Add front-end")
        add.clicked.connect(lambda: self.state.add_frontend(self.kind_box.currentText()))
        layout.addWidget(self.kind_box)
        layout.addWidget(add)
        layout.addWidget(QLabel("Analysed front-end"))
        self.target_box = QComboBox()
        self.target_box.setToolTip("The front-end the Filters and Causality views study")
        self.target_box.currentIndexChanged.connect(
            lambda i: i >= 0 and self.state.set_target(self.target_box.itemData(i)))
        layout.addWidget(self.target_box)
        layout.addWidget(QLabel("<b>Models</b>"))
        self.model_list = QListWidget()
        self.model_list.setToolTip("Double-click a model for its card: how it was fitted, its scores and its "
                                   "fit curves")
        self.model_list.itemActivated.connect(lambda item: self.open_model_card(self.model_list.row(item)))
        layout.addWidget(self.model_list)
        fit = QPushButton("Fit a model…")
        fit.setToolTip("Fit a Linear model for the analysed front-end on the open response set")
        fit.clicked.connect(self.open_fit_dialog)
        layout.addWidget(fit)
        layout.addStretch(1)
        dock = QDockWidget("Session", self)
        dock.setObjectName("session-dock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

    def _build_toolbar(self, audio_inputs: bool) -> None:
        bar = QToolBar("Playback")
        bar.setObjectName("playback-toolbar")
        self.addToolBar(bar)
        self.play_action = QAction("Play", self)
        self.play_action.setToolTip("Play / pause (Space)")
        self.play_action.triggered.connect(self.player.toggle)
        bar.addAction(self.play_action)
        self.live_box = QCheckBox("Live")
        self.live_box.setToolTip("Compute frames with the streaming engine as the sound plays")
        self.live_box.toggled.connect(self.state.set_live)
        bar.addWidget(self.live_box)
        self.live_window_box = QSpinBox()
        self.live_window_box.setRange(2, 120)
        self.live_window_box.setSuffix(" s")
        self.live_window_box.setValue(round(self.state.live_window_s))
        self.live_window_box.setToolTip("How many seconds the panes show while they follow the microphone, or a "
                                        "long sound played live from the cursor")
        self.live_window_box.valueChanged.connect(self.state.set_live_window)
        bar.addWidget(self.live_window_box)
        bar.addSeparator()
        self.microphone = MicrophoneBar(self, scan=audio_inputs)
        self.microphone.stream_rate = self._live_input_rate
        self.microphone.recorded.connect(self.controller.open_audio)
        self.microphone.failed.connect(lambda message: self.reporter.report(f"Microphone: {message}"))
        self.microphone.started.connect(self._live_input_started)
        self.microphone.captured.connect(self._live_input_captured)
        self.microphone.stopped.connect(self._live_input_stopped)
        self.state.liveLatencyMeasured.connect(self.microphone.note_latency)
        bar.addWidget(self.microphone)
        bar.addSeparator()
        bar.addWidget(QLabel("Colormap "))
        self.colormap_box = QComboBox()
        self.colormap_box.addItems(COLORMAPS)
        self.colormap_box.currentTextChanged.connect(lambda name: self.state.update_display(colormap=name))
        bar.addWidget(self.colormap_box)
        self.position_label = QLabel("  0.000 s")
        bar.addWidget(self.position_label)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, activated=self.player.toggle)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = file_menu.addAction("&Open audio…", QKeySequence.StandardKey.Open, self.open_audio_dialog)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction("Open &model…", QKeySequence("Ctrl+M"), self.open_model_dialog)
        file_menu.addAction("Open res&ponse set…", QKeySequence("Ctrl+R"), self.open_responses_dialog)
        file_menu.addAction("Open recor&ding (NWB, CSV)…", QKeySequence("Ctrl+Shift+R"), self.open_recording_dialog)
        file_menu.addAction("Open fit &grid…", QKeySequence("Ctrl+Shift+G"), self.open_grid_dialog)
        self.export_nwb_action = file_menu.addAction("&Export to NWB…", self.export_nwb_dialog)
        self.export_nwb_action.setToolTip("Write the response set and the open models' predictions to an NWB file")
        self.export_nwb_action.setEnabled(False)
        file_menu.addSeparator()
        file_menu.addAction("Open &session…", QKeySequence("Ctrl+Shift+O"), self.open_session_dialog)
        file_menu.addAction("&Save session", QKeySequence.StandardKey.Save, self.save_session)
        file_menu.addAction("Save session &as…", QKeySequence.StandardKey.SaveAs, self.save_session_as)
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction("Show the whole sound", QKeySequence("Home"), self._show_all)
        view_menu.addAction("Next sound", QKeySequence("Ctrl+Down"), lambda: self.step_sound(1))
        view_menu.addAction("Previous sound", QKeySequence("Ctrl+Up"), lambda: self.step_sound(-1))
        view_menu.addAction("Live mode on/off", QKeySequence("L"), self.live_box.toggle)
        view_menu.addSeparator()
        for index, name in enumerate(VIEW_NAMES):
            view_menu.addAction(f"{self.tabs.tabText(index)} tab", QKeySequence(f"Ctrl+{index + 1}"),
                                lambda name=name: self.show_view(name))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("Where is the log file?", lambda: self.reporter.report(
            f"The log file is {self.reporter.log_path}", title="Log file"))

    def step_sound(self, delta: int) -> None:
        """Open the next (``delta`` = 1) or previous sound of the session's list."""
        files = self.state.audio_files
        if not files:
            return
        current = self.state.audio.path if self.state.audio is not None else None
        index = files.index(current) + delta if current in files else 0
        self.controller.open_audio(files[index % len(files)])

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.job_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.runner.cancel_all)
        for w in (self.job_label, self.progress, self.cancel_button):
            bar.addPermanentWidget(w)

    def _connect(self) -> None:
        self.state.frontendsChanged.connect(self._sync_panes)
        self.state.frontendsChanged.connect(self._sync_targets)
        self.state.modelChanged.connect(self._sync_models)
        self.state.modelChanged.connect(self._sync_rates_pane)
        self.state.audioChanged.connect(self._audio_changed)
        self.state.audioChanged.connect(self._update_placeholder)
        self.state.cursorChanged.connect(self._cursor_changed)
        self.state.displayChanged.connect(self._display_changed)
        self.state.frontViewChanged.connect(self._front_view_changed)
        self.state.responsesChanged.connect(lambda: self.export_nwb_action.setEnabled(self.state.responses is not None))
        self.state.gridChanged.connect(lambda: self.show_view("compare") if self.state.grid is not None else None)
        self.controller.message.connect(self.statusBar().showMessage)
        self.controller.modifiedChanged.connect(self.setWindowModified)
        self.controller.recentChanged.connect(self._fill_recent_menu)
        self.runner.progress.connect(self._job_progress)
        self.runner.busyChanged.connect(self._busy_changed)
        self.runner.failed.connect(lambda job, exc: self.reporter.report_exception(exc, job.description))
        self.player.positionChanged.connect(self._player_moved)
        self.player.stateChanged.connect(self._player_state)
        self.player.finished.connect(self._player_finished)
        self.player.error.connect(lambda message: self.reporter.report(message, title="Playback"))
        self.live.prepared.connect(self._live_prepared)
        self.live.frames.connect(self.state.add_live_frames)
        self.live.failed.connect(lambda message: self.reporter.report(f"Live mode stopped: {message}"))
        for signal in (self.state.audioChanged, self.state.frontendsChanged, self.state.frontendChanged,
                       self.state.modelChanged):
            signal.connect(self._live_invalidated)
        self.state.liveChanged.connect(self._live_toggled)

    # Audio
    def open_audio_dialog(self) -> None:
        folder = settings().value("last_folder", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open audio", folder, f"Sounds ({' '.join('*' + s for s in AUDIO_SUFFIXES)});;All files (*)"
        )
        if path:
            self.controller.open_audio(Path(path))

    def open_model_dialog(self) -> None:
        folder = settings().value("last_folder", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Open a model folder", folder)
        if path:
            self.controller.open_model(Path(path))

    def open_responses_dialog(self) -> None:
        folder = settings().value("last_folder", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Open a response set folder", folder)
        if path:
            self.controller.open_responses(Path(path))

    def open_recording_dialog(self) -> None:
        """A lab's recording (an NWB file, a CSV table of spikes beside its sounds) as the response set."""
        folder = settings().value("last_recording_folder", settings().value("last_folder", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open a recording", folder,
                                              "Recordings (*.nwb *.csv *.parquet);;NWB files (*.nwb);;"
                                              "Spike tables (*.csv *.parquet)")
        if path:
            settings().setValue("last_recording_folder", str(Path(path).parent))
            self.controller.open_responses(Path(path))

    def open_grid_dialog(self) -> None:
        """A folder that 'strfviewer fit-grid' wrote: its matrices go to the Compare tab."""
        folder = settings().value("last_grid_folder", settings().value("last_folder", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self, "Open a fit grid's folder", folder)
        if path:
            settings().setValue("last_grid_folder", str(Path(path).parent))
            self.controller.open_grid(Path(path))

    def export_nwb_dialog(self) -> None:
        responses = self.state.responses
        if responses is None:
            return
        folder = settings().value("last_export_folder", str(responses.source.parent))
        path, _ = QFileDialog.getSaveFileName(self, "Export to NWB", str(Path(folder) / f"{responses.name}.nwb"),
                                              "NWB files (*.nwb)")
        if path:
            settings().setValue("last_export_folder", str(Path(path).parent))
            self.controller.export_nwb(Path(path))

    def _ask_import(self, summary, suggested):
        """The controller's question: how to read this NWB file (see dialogs/recording.py)."""
        from .dialogs.recording import ask_recording

        return ask_recording(self, summary, suggested)

    def _audio_changed(self) -> None:
        audio = self.state.audio
        self.player.stop()
        self.player.set_audio(audio.samples, audio.audio_fs)
        self.setWindowTitle(f"{audio.title}[*] - strfviewer")
        self.audio_list.clear()
        for path in self.state.audio_files:
            item = QListWidgetItem(path.name)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.audio_list.addItem(item)
            if path == audio.path:
                self.audio_list.setCurrentItem(item)  # the list shows which sound is open
        if audio.path is not None:
            settings().setValue("last_folder", str(audio.path.parent))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        sessions = [p for p in paths if p.name.endswith(".json")]
        recordings = [p for p in paths if p.suffix.lower() in (".nwb", ".csv", ".parquet")]  # sources' suffixes
        grids = [p for p in paths if is_grid_folder(p)]
        if sessions:
            self.controller.open_session(sessions[0])
        elif grids:
            self.controller.open_grid(grids[0])
        elif recordings:
            self.controller.open_responses(recordings[0])
        elif paths:
            self.controller.open_audio(paths[0])
        event.acceptProposedAction()

    # Recent files
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = recent_files()
        for entry in recent:
            self.recent_menu.addAction(Path(entry).name,
                                       lambda p=entry: self.controller.open_audio(Path(p))).setToolTip(entry)
        self.recent_menu.setEnabled(bool(recent))

    # Panes
    def _sync_panes(self) -> None:
        wanted = {slot.id for slot in self.state.frontends}
        for slot_id in list(self.panes):
            if slot_id not in wanted:
                pane = self.panes.pop(slot_id)
                self.runner.cancel(f"spectrogram:{slot_id}")
                pane.setParent(None)
                pane.deleteLater()
        for slot in self.state.frontends:
            if slot.id not in self.panes:
                pane = SpectrogramPane(self.state, self.runner, slot.id)
                pane.setMinimumHeight(220)
                pane.removeRequested.connect(self.state.remove_frontend)
                self.panes[slot.id] = pane
                self.pane_layout.addWidget(pane)
        self._update_placeholder()

    def _update_placeholder(self) -> None:
        """What to do next when no pane shows anything: open a sound, or add a front-end to the open one."""
        if self.state.audio is None:
            text = "Open a sound (File ▸ Open audio, or drop a file here), then add a front-end from the left panel."
        else:
            text = f"Add a front-end from the left panel (Add) to see {self.state.audio.title} through it."
        self.placeholder.setText(text)
        self.placeholder.setVisible(not self.panes)

    def _build_view(self, index: int) -> None:
        if index < 1 or ANALYSIS_VIEWS[index - 1][0] in self.views:
            return
        name, title, module, cls = ANALYSIS_VIEWS[index - 1]
        view = getattr(import_module(f".views.{module}", __package__), cls)(self.state, self.runner)
        self.views[name] = view
        if hasattr(view, "openModelRequested"):  # the Compare tab's grid opens models and asks for grid folders
            view.openModelRequested.connect(self.controller.open_model)
            view.openGridRequested.connect(self.open_grid_dialog)
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, view, title)
        self.tabs.setCurrentIndex(index)
        self.tabs.blockSignals(False)

    def show_view(self, name: str) -> QWidget:
        """Bring a tab to the front (building an analysis view if needed) and return its widget."""
        self.tabs.setCurrentIndex(VIEW_NAMES.index(name))
        return self.tabs.currentWidget() if name == VIEW_NAMES[0] else self.views[name]

    def current_view(self) -> str:
        """The name of the tab in front (``spectrograms`` or an analysis view's name)."""
        return VIEW_NAMES[max(0, self.tabs.currentIndex())]

    def _sync_rates_pane(self) -> None:
        """One pane of predicted rates while a model is open (the most recently opened one). It is built on the
        event-loop turn after the model arrives: building its plot in the same turn as every view's reaction to
        the new model froze the window for 100-200 ms when a large model opened."""
        if self.state.model is not None and self.rates_pane is None:
            if self._rates_build is None or self._rates_build.done:
                self._rates_build = StagedBuild(self, [self._build_rates_pane])
        elif self.state.model is None and self.rates_pane is not None:
            self.rates_pane.setParent(None)
            self.rates_pane.deleteLater()
            self.rates_pane = None

    def _build_rates_pane(self) -> None:
        if self.state.model is None or self.rates_pane is not None:
            return  # closed again before its turn came, or built already
        self.rates_pane = RatesPane(self.state, self.runner)
        self.rates_pane.setMinimumHeight(200)
        self.pane_layout.insertWidget(1, self.rates_pane)

    def _sync_targets(self) -> None:
        self.target_box.blockSignals(True)
        self.target_box.clear()
        for slot in self.state.frontends:
            self.target_box.addItem(f"{slot.kind} #{slot.id}", slot.id)
        target = self.state.target()
        if target is not None:
            self.target_box.setCurrentIndex(self.target_box.findData(target.id))
        self.target_box.blockSignals(False)

    def _sync_models(self) -> None:
        self.model_list.clear()
        for loaded in self.state.models:
            item = QListWidgetItem(f"{loaded.path.name} ({loaded.model_class})")
            item.setToolTip(f"{loaded.path}\nDouble-click for its card")
            self.model_list.addItem(item)

    def open_model_card(self, index: int) -> None:
        """The card of the session's ``index``-th model (kept open beside the window, one at a time)."""
        from .dialogs.model_card import ModelCardDialog

        if not 0 <= index < len(self.state.models):
            return
        if self.model_card is not None:
            self.model_card.close()
        self.model_card = ModelCardDialog(self.state.models[index], self)
        self.model_card.show()

    def open_fit_dialog(self) -> None:
        from .dialogs.fit import FitDialog

        if self.state.responses is None or self.state.target() is None:
            self.reporter.report("To fit a model, open a response set (File ▸ Open response set) and add a "
                                 "front-end first.", title="Fit a model")
            return
        FitDialog(self.state, self.runner, self).exec()

    def _show_all(self) -> None:
        if self.state.audio is not None:
            self.state.set_view_range(0.0, self.state.audio.duration_s)

    # Playback and live mode
    def _player_moved(self, seconds: float) -> None:
        self.state.set_cursor(seconds)
        if self.live.running and self._live_scrolling:
            self.state.follow_live(seconds)

    def _cursor_changed(self, seconds: float) -> None:
        self.position_label.setText(f"  {seconds:.3f} s")
        if self.state.live_input_s is not None:
            return  # the cursor marks the newest captured sample: nothing to play or stream from the sound
        if self.player.state() != "playing" and abs(self.player.position() - seconds) > 1e-3:
            self.player.seek(seconds)
        if self.state.audio is not None:
            self.live.advance(seconds, self.state.audio.audio_fs)

    def _player_state(self, state: str) -> None:
        """Playing in live mode opens a stream unless one is open (a resume after pause continues it); a stop
        before the end closes it (at the end, ``finished`` computes the last frames first)."""
        self.play_action.setText("Pause" if state == "playing" else "Play")
        if state == "playing" and self.state.live and not self.live.running:
            self._live_start()
        elif state == "stopped" and self.live.running and self.player.position() < self.player.duration():
            self.live.stop()

    def _live_start(self) -> None:
        """A new stream of the open sound through every pane's front-end and the model, from the sound's start
        up to the playback position, then following it."""
        audio = self.state.audio
        if audio is None:
            return
        if self.state.live_input_s is not None:
            return  # the microphone feeds the panes
        # A long sound streams from the cursor (warmed up on what comes before, as a window is), and the
        # panes scroll with it, keeping the live window's seconds.
        self._live_scrolling = windowing.is_long(audio.duration_s)
        from_s = self.player.position() if self._live_scrolling else 0.0
        slots, models = self._live_modules(audio.audio_fs)
        self.live.start(audio.samples, audio.audio_fs, slots, models, from_s=from_s)
        self.live.advance(self.player.position(), audio.audio_fs)
        if self._live_scrolling:
            self.state.follow_live(self.player.position())

    def _live_modules(self, audio_fs: int) -> tuple[list, list]:
        """The live engine's front-end slots (id, kind, args, dt_ms) and the model to stream at ``audio_fs``
        (the most recent one, when it takes that rate)."""
        slots = [(s.id, s.kind, dict(s.args), s.dt_ms) for s in self.state.frontends]
        loaded = self.state.model
        streams_model = loaded is not None and audio_mismatch(loaded.model, audio_fs) is None
        return slots, [(MODEL_STREAM, loaded.model)] if streams_model else []

    # The microphone, live
    def _live_input_rate(self) -> int:
        """The rate the panes want the microphone at: the open model's, else the open sound's, else 48 kHz."""
        loaded = self.state.model
        if loaded is not None:
            return int(loaded.frontend.audio_fs)
        return self.state.audio.audio_fs if self.state.audio is not None else DEFAULT_RATE

    def _live_input_started(self, rate: int, timeline: object) -> None:
        """Recording began: playback stops and every pane follows the microphone, scrolling."""
        self.player.pause()
        self.live.stop()
        self._live_input = (rate, 0)
        self.state.start_live_input(timeline, rate)
        self._live_input_open()

    def _live_input_open(self) -> None:
        rate, samples = self._live_input
        slots, models = self._live_modules(rate)
        self._live_scrolling = True
        self.live.start_input(rate, slots, models, from_sample=samples)

    def _live_input_captured(self, samples: np.ndarray, seconds: float) -> None:
        rate, count = self._live_input
        self._live_input = (rate, count + samples.shape[0])
        self.live.feed(samples)
        self.state.advance_live_input(seconds, samples)
        self.state.set_cursor(seconds)

    def _live_input_stopped(self) -> None:
        self.live.stop()
        self._live_input = None
        self.state.stop_live_input()

    def _live_invalidated(self, *_args) -> None:
        """The sound, a front-end or the model changed: the open stream computes what is no longer shown, so it
        ends (its late frames are dropped); while playing in live mode a new one starts at once."""
        if self._live_input is not None:
            self._live_input_open()  # the microphone goes on, through what is now open
            return
        if not self.live.running:
            return
        self.live.stop()
        if self.state.live and self.player.state() == "playing":
            self._live_start()

    def _live_toggled(self, live: bool) -> None:
        """Ticking Live while playing starts a stream; unticking ends it (panes it left partly blank compute
        the rest offline, following the state's liveChanged)."""
        if live:
            if self.player.state() == "playing" and not self.live.running:
                self._live_start()
            return
        self.live.stop()

    def _player_finished(self) -> None:
        if self.live.running and self.state.audio is not None:
            self.live.finish(self.state.audio.samples.shape[0])

    def _live_prepared(self, stream_id: int, info: dict[str, Any]) -> None:
        self.state.start_live_stream(stream_id, LiveStream(info["n_frames"], info["hop"], info["audio_fs"],
                                                           info["channels"], info["centres"], info["first"],
                                                           scrolling=self._live_scrolling))

    # Jobs
    def _job_progress(self, job, done: int, total: int, message: str) -> None:
        if self.progress.maximum() != max(total, 1) or self.progress.minimum() != 0:  # a new range relays out
            self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.job_label.setText(job.description)

    def _busy_changed(self, busy: bool) -> None:
        for w in (self.progress, self.cancel_button):
            w.setVisible(busy)
        if not busy:
            self.job_label.setText("")

    # Sessions
    def open_session_dialog(self) -> None:
        if self.confirm_close and self.controller.is_modified() and \
                not self._confirm_discard("opening another session"):
            return
        folder = settings().value("last_folder", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open session", folder, "strfviewer sessions (*.strfsession.json)")
        if path:
            self.controller.open_session(Path(path))

    def save_session(self) -> None:
        if self.controller.session_path is None:
            self.save_session_as()
        else:
            self.controller.save_session(self.controller.session_path)

    def save_session_as(self) -> None:
        folder = settings().value("last_folder", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, "Save session", folder, "strfviewer sessions (*.strfsession.json)")
        if path:
            self.controller.save_session(Path(path))

    def _confirm_discard(self, action: str) -> bool:
        """Ask whether to save a modified session before ``action``; False means: do not go on."""
        answer = QMessageBox.question(
            self, "Save the session?",
            "This session has changes that are not saved (sounds, front-ends, models, response set, selected "
            f"neuron or colormap). Save them before {action}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            self.save_session()
            return not self.controller.is_modified()  # the save was cancelled or failed: keep the window
        return True

    def _ask_model_info(self, exc) -> dict[str, Any] | None:
        """What a model folder does not say, asked in the model-info dialog (None: the user cancelled)."""
        from .dialogs.model_info import ask_model_info

        return ask_model_info(self, exc)

    def _display_changed(self) -> None:
        """The colour map box follows the state (a session opened sets it)."""
        colormap = self.state.display.get("colormap")
        if colormap in COLORMAPS and colormap != self.colormap_box.currentText():
            self.colormap_box.setCurrentText(colormap)

    def _front_view_changed(self, view: str) -> None:
        """The tab in front follows the state (a session opened sets it)."""
        if view in VIEW_NAMES and view != self.current_view():
            self.show_view(view)

    # Settings
    def _restore_settings(self) -> None:
        store: QSettings = settings()
        geometry, window_state = store.value("geometry"), store.value("window_state")
        if geometry is None or not self.restoreGeometry(geometry) or self.width() < 900 or self.height() < 600:
            self.resize(1280, 860)
        if window_state is not None:
            self.restoreState(window_state)
        colormap = store.value("colormap", "viridis")
        if colormap in COLORMAPS:
            self.colormap_box.setCurrentText(colormap)
        self.live_box.setChecked(store.value("live", False, type=bool))
        self.live_window_box.setValue(store.value("live_window_s", round(self.state.live_window_s), type=int))
        self._fill_recent_menu()

    def _save_settings(self) -> None:
        store = settings()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("window_state", self.saveState())
        store.setValue("colormap", self.colormap_box.currentText())
        store.setValue("live", self.live_box.isChecked())
        store.setValue("live_window_s", self.live_window_box.value())
        store.sync()  # on disk now: the process may end without running destructors (see app.finish)

    def closeEvent(self, event) -> None:
        if self.confirm_close and self.controller.is_modified() and not self._confirm_discard("closing"):
            event.ignore()
            return
        self._save_settings()
        self.player.stop()
        self.microphone.stop()  # what was recorded is written before the window goes
        live_stopped = self.live.shutdown(SHUTDOWN_WAIT_MS)
        jobs_stopped = self.runner.shutdown(SHUTDOWN_WAIT_MS)
        self.work_abandoned = not (live_stopped and jobs_stopped)
        if self.work_abandoned:
            log.warning("closing: a computation was still running after %d ms and is abandoned", SHUTDOWN_WAIT_MS)
        super().closeEvent(event)
