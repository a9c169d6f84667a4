"""The window's work that is not widgets: opening files in the background, the model-info retry, the session
(its snapshot, saving, and whether it is modified) and the recent-files list.

The controller changes the :class:`~strfviewer.gui.state.SessionState`; views and the window observe the
state. It never shows a widget of its own: questions (the model-info dialog) come in as a callback, errors go
to the reporter, and what the status bar should say goes out as :attr:`SessionController.message`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from ..backend.errors import MissingModelInfoError, StrfviewerError
from ..backend.session import FrontendEntry, Session, load_session, missing_files, save_session
from ..resources import demo_session
from .jobrunner import JobRunner
from .reporter import ErrorReporter
from .settings import settings
from .state import AudioDocument, SessionState

if TYPE_CHECKING:  # backend.data brings torch, which the window does not wait for
    from ..backend.data.sources import ImportChoice

MAX_RECENT = 10
AskModelInfo = Callable[[MissingModelInfoError], "dict[str, Any] | None"]
# Asks how to read a recording (the NWB file's summary, the suggested choice); None when the user cancels.
AskImport = Callable[[Any, "ImportChoice"], "ImportChoice | None"]


def load_audio_document(path: Path) -> AudioDocument:
    """Job body: read a sound file as mono float32 at its own (whole-Hz) rate."""
    from ..backend.data import load_audio
    from ..backend.overview import envelope

    loaded = load_audio(path)
    samples = loaded.waveform.reshape(-1).numpy().astype(np.float32, copy=False)
    # The overview's envelope is one pass over every sample (~0.2 s for an hour): done here, off the GUI thread.
    return AudioDocument(path, samples, loaded.sample_rate, tuple(loaded.notes),
                         overview=envelope(samples, loaded.sample_rate))


def import_cache() -> Path:
    """Where recordings opened in the window are imported (the user's cache, not their data folders)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    return Path(location or Path.home() / ".cache" / "strfviewer") / "imports"


def remembered_bin_width() -> float:
    """The bin width last chosen for a recording (5 ms at first)."""
    try:
        value = float(settings().value("import/dt_ms", 5.0))
    except (TypeError, ValueError):
        return 5.0
    return value if value > 0 else 5.0


def is_bundled(path: Path) -> bool:
    """Whether ``path`` is the bundled demo session: a starting point, never a file to overwrite."""
    return Path(path).resolve() == demo_session().resolve()


def recent_files() -> list[str]:
    """The recently opened sounds, newest first."""
    recent = settings().value("recent_files", []) or []
    return [recent] if isinstance(recent, str) else list(recent)


class SessionController(QObject):
    """Opens and saves what a session holds, and knows whether the user's work is saved.

    ``modifiedChanged(bool)`` follows :meth:`is_modified`; ``recentChanged()`` fires when the recent-files
    list changes; ``message(text, milliseconds)`` is for the status bar.
    """

    modifiedChanged = Signal(bool)
    recentChanged = Signal()
    message = Signal(str, int)

    def __init__(self, state: SessionState, runner: JobRunner, reporter: ErrorReporter, ask_model_info: AskModelInfo,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.runner, self.reporter = state, runner, reporter
        self.ask_model_info = ask_model_info
        self.ask_import: AskImport | None = None  # None: a recording opens with the reader's best guess
        self.session_path: Path | None = None  # where Save writes (None: ask)
        self._pending: dict[str, Path | None] = {}  # job key -> file being opened (part of the session already)
        self._pending_neuron = 0  # the neuron to select once the loading response set is in
        self._pending_choice: ImportChoice | None = None  # and how its recording is read, if it is one
        self._saved_work = self._work()
        # What _work holds (files and front-ends); the neuron and display settings are not work, so stepping
        # neurons does not re-derive the session each time.
        for signal in (state.audioChanged, state.frontendsChanged, state.frontendChanged, state.modelChanged,
                       state.responsesChanged):
            signal.connect(self._update_modified)

    # Opening files
    def open_audio(self, path: Path, on_done: Callable[[], None] | None = None) -> None:
        """Load a sound in the background; on success it becomes the session's sound."""
        path = Path(path)

        def loaded(document: AudioDocument) -> None:
            self._remember_recent(path)
            self.state.set_audio(document)
            if document.notes:
                self.message.emit("; ".join(document.notes), 8000)
            if on_done is not None:
                on_done()

        self._load(lambda: load_audio_document(path), "open-audio", path.name, loaded, path)

    def set_generated_audio(self, samples: np.ndarray, audio_fs: int) -> None:
        """A sound made by code (the demo's, a benchmark's) as the session's sound."""
        self.state.set_audio(AudioDocument(None, samples.astype(np.float32), audio_fs))

    def open_model(self, path: Path, answers: dict[str, Any] | None = None, rounds: int = 0,
                   ask: AskModelInfo | None = None) -> None:
        """Load a trained model folder (or weights file) in the background. When the files do not say
        everything (a deepSTRF folder whose front-end cannot be inferred), ``ask`` (default:
        ``ask_model_info``) asks for what is missing and the load is retried: at most twice (a bare weights
        file lacks the model class, then maybe the front-end)."""
        from ..backend.checkpoints import load_model

        path = Path(path)
        key = f"open-model:{path.resolve()}"  # one key per file: several models load side by side

        def loaded(model) -> None:
            self._pending.pop(key, None)
            self.state.add_model(model)
            notes = f": {'; '.join(model.notes)}" if model.notes else ""
            self.message.emit(f"Model {path.name} loaded{notes}", 12000 if notes else 5000)

        def failed(exc: BaseException) -> None:
            self._pending.pop(key, None)
            self._update_modified()
            if isinstance(exc, MissingModelInfoError) and rounds < 2:
                more = (ask or self.ask_model_info)(exc)
                if more is not None:
                    self.open_model(path, {**(answers or {}), **more}, rounds + 1, ask)
                return
            self.reporter.report_exception(exc, f"open {path.name}")

        self.runner.submit(lambda progress, cancel: load_model(path, **(answers or {})), key=key,
                           description=f"opening {path.name}", on_result=loaded, on_error=failed)
        self._pending[key] = path

    def open_responses(self, path: Path, neuron: int = 0, choice: ImportChoice | None = None) -> None:
        """Load a response set (docs/formats.md) or a recording (an NWB file, a CSV table of spikes) in the
        background, then select ``neuron``. A recording is read with ``choice``; without one, an NWB file is
        summarised first and :attr:`ask_import` asks how to read it (with the best guess suggested)."""
        from ..backend.data.sources import ImportChoice, is_recording, open_responses

        path = Path(path)
        recording = is_recording(path)
        if recording and choice is None and self.ask_import is not None and path.suffix.lower() == ".nwb":
            from ..backend.data.nwb import inspect_nwb

            self._pending_choice = None
            # The question waits for the job's report to be handled: a modal dialog inside it would run the
            # runner's report loop again from within.
            self._load(lambda: inspect_nwb(path), "open-responses", path.name,
                       lambda summary: QTimer.singleShot(0, lambda: self._ask_and_open(summary, neuron)), path)
            return
        if recording and choice is None:
            choice = ImportChoice(remembered_bin_width())

        def loaded(responses) -> None:
            self._pending_choice = None
            self.state.set_responses(responses, neuron)
            how = f", {responses.dt_ms:g} ms bins from {responses.source.name}" if responses.origin else ""
            self.message.emit(f"Response set {responses.name}: {len(responses.neurons)} neurons, "
                              f"{len(responses.stimuli)} stimuli{how}", 8000)

        self._pending_neuron, self._pending_choice = neuron, choice
        cache = import_cache()
        self._load(lambda: open_responses(path, choice, cache), "open-responses", path.name, loaded, path)

    def _ask_and_open(self, summary: Any, neuron: int) -> None:
        """The NWB file is summarised: ask how to read it (unless nothing in it names the sounds, which the
        reader then explains), and open it so."""
        from ..backend.data.sources import ImportChoice

        suggested = ImportChoice(remembered_bin_width(), *((summary.guess.table, summary.guess.column)
                                                            if summary.guess is not None else (None, None)))
        choice = suggested if summary.guess is None or self.ask_import is None else self.ask_import(summary, suggested)
        if choice is None:
            self._update_modified()
            return
        settings().setValue("import/dt_ms", choice.dt_ms)
        self.open_responses(summary.path, neuron, choice)

    def _load(self, read: Callable[[], Any], key: str, name: str, on_result: Callable[[Any], None],
              path: Path | None = None) -> None:
        """Read a file in the background; a failure becomes the error dialog ("Could not open NAME: ...").

        While it loads, ``path`` counts as part of the session (saving or closing then keeps it)."""
        self._pending[key] = path

        def done(value) -> None:
            self._pending.pop(key, None)
            on_result(value)

        def failed(exc: BaseException) -> None:
            self._pending.pop(key, None)
            self.reporter.report_exception(exc, f"open {name}")
            self._update_modified()

        self.runner.submit(lambda progress, cancel: read(), key=key, description=f"opening {name}",
                           on_result=done, on_error=failed)

    def open_grid(self, path: Path) -> None:
        """Read a fit grid's folder (what ``strfviewer fit-grid`` wrote) in the background and show its results.
        A grid is something to look at, not part of the session's work: it is not saved in sessions."""
        from ..backend.grid import read_grid

        path = Path(path)

        def loaded(grid) -> None:
            self.state.set_grid(grid)
            failed = f", {grid.count('failed')} failed" if grid.count("failed") else ""
            pending = f", {grid.count('pending')} not run" if grid.count("pending") else ""
            self.message.emit(f"Fit grid {grid.name}: {grid.count('done')} of {len(grid.cells)} cells done{failed}"
                              f"{pending}", 8000)

        self._load(lambda: read_grid(path), "open-grid", path.name, loaded)

    # Export
    def export_nwb(self, path: Path) -> None:
        """Write the response set and every open model's predictions to the NWB file ``path``, in the
        background."""
        from ..backend.export import export_with_models

        responses, models = self.state.responses, list(self.state.models)
        if responses is None:
            self.reporter.report("Open a response set first (File ▸ Open response set or Open recording): the "
                                 "export writes its recordings and the open models' predictions of them.")
            return
        path = Path(path)

        def written(result) -> None:
            target, left_out = result
            predicted = len(models) - len(left_out)
            extra = f"; left out: {'; '.join(left_out)}" if left_out else ""
            self.message.emit(f"Exported {responses.name} with the predictions of {predicted} model(s) to "
                              f"{target}{extra}", 12000)

        self.runner.submit(lambda progress, cancel: export_with_models(responses, models, path, progress, cancel),
                           key="export-nwb", description=f"exporting to {path.name}", on_result=written,
                           on_error=lambda exc: self.reporter.report_exception(exc, f"export to {path.name}"))

    # Recent files
    def _remember_recent(self, path: Path) -> None:
        store = settings()
        recent = [p for p in recent_files() if p != str(path)]
        store.setValue("recent_files", [str(path), *recent][:MAX_RECENT])
        self.recentChanged.emit()

    # Sessions
    def open_session(self, path: Path) -> bool:
        """Open a session file: its front-ends and display at once, its files in the background. Returns
        whether the file could be read (an unreadable one is reported and changes nothing)."""
        try:
            session = load_session(path)
        except StrfviewerError as exc:
            self.reporter.report_exception(exc, f"open the session {Path(path).name}")
            return False
        self.session_path = None if is_bundled(Path(path)) else Path(path)
        missing = missing_files(session)
        if missing:
            self.reporter.report("Some files of this session are missing: " + ", ".join(str(p) for p in missing))
        self.state.clear_frontends()
        for entry in session.frontends:
            self.state.add_frontend(entry.kind, entry.args)
        display = dict(session.display)
        view = display.pop("view", None)
        self.state.update_display(**display)
        if isinstance(view, str):
            self.state.set_front_view(view)
        index = session.selected_audio or 0
        audio = [p for p in session.audio if p.exists()]
        view_range, cursor = session.view_range, session.cursor_s

        def restore_view() -> None:
            if view_range is not None:
                self.state.set_view_range(*view_range)
            self.state.set_cursor(cursor)

        if audio:
            self.state.audio_files = list(audio)
            self.open_audio(audio[min(index, len(audio) - 1)], on_done=restore_view)
        for model_path in session.models:
            if model_path.exists():
                self.open_model(model_path)
        if session.response_sets and session.response_sets[0].exists():
            self._open_session_responses(session)
        elif session.selected_neuron is not None:
            self.state.set_neuron(session.selected_neuron)
        self.mark_unmodified()
        return True

    def _open_session_responses(self, session: Session) -> None:
        from ..backend.data.sources import ImportChoice, is_recording

        path, neuron = session.response_sets[0], session.selected_neuron or 0
        choice = None
        if is_recording(path):  # read as it was when the session was saved, without asking again
            try:
                choice = ImportChoice.from_json(session.import_choices[0] if session.import_choices else {})
            except StrfviewerError as exc:
                self.reporter.report_exception(exc, f"open {path.name} as the session says")
                return
        self.open_responses(path, neuron, choice)

    def save_session(self, path: Path) -> bool:
        """Write the session to ``path`` (atomically); a failure is reported and keeps the old file."""
        try:
            self.session_path = save_session(self.session_snapshot(), path)
        except (StrfviewerError, OSError) as exc:
            self.reporter.report_exception(exc, f"save the session to {path}")
            return False
        self.mark_unmodified()
        self.message.emit(f"Session saved to {self.session_path}", 5000)
        return True

    def session_snapshot(self) -> Session:
        """The session as the user asked for it: files still loading are part of it."""
        state = self.state
        audio_files = list(state.audio_files)
        current = state.audio.path if state.audio is not None else None
        current = self._pending.get("open-audio") or current
        if current is not None and current not in audio_files:
            audio_files.append(current)
        models = [m.path for m in state.models]
        models += [p for k, p in self._pending.items() if k.startswith("open-model:") and p not in models]
        loading = "open-responses" in self._pending
        responses = self._pending.get("open-responses") or (state.responses.source if state.responses is not None
                                                            else None)
        if loading:
            choice = self._pending_choice.to_json() if self._pending_choice is not None else {}
        else:
            choice = (state.responses.import_choice or {}) if state.responses is not None else {}
        neuron = self._pending_neuron if loading else state.selected_neuron
        return Session(
            audio=audio_files,
            models=models,
            response_sets=[responses] if responses is not None else [],
            import_choices=[choice] if responses is not None else [],
            selected_neuron=neuron,
            frontends=[FrontendEntry(s.kind, dict(s.args)) for s in state.frontends],
            selected_audio=audio_files.index(current) if current in audio_files else None,
            view_range=state.view_range,
            cursor_s=state.cursor_s,
            display={**state.display, "view": state.front_view},
        )

    def _work(self) -> tuple:
        """What a saved session would hold of the user's work: its files and front-ends. Browsing (the sound,
        neuron, tab, cursor or zoom in view) and the colour map (a preference) are saved too but are not work
        to lose, so they do not make the session modified."""
        snapshot = self.session_snapshot()

        def files(paths: list[Path]) -> tuple[Path, ...]:
            return tuple(Path(p).resolve() for p in paths)

        return (files(snapshot.audio), files(snapshot.models), files(snapshot.response_sets),
                json.dumps(snapshot.import_choices, sort_keys=True),
                tuple((f.kind, json.dumps(f.args, sort_keys=True, default=str)) for f in snapshot.frontends))

    def is_modified(self) -> bool:
        """True when the work differs from the last saved or opened session (or from what the app opened with)."""
        return self._work() != self._saved_work

    def mark_unmodified(self) -> None:
        """Take the current work as saved: after opening or saving a session, and after the command line's files."""
        self._saved_work = self._work()
        self.modifiedChanged.emit(False)

    def _update_modified(self, *_args: Any) -> None:
        self.modifiedChanged.emit(self.is_modified())
