"""Application setup: the one QApplication, logging to the platform log folder, and the exception boundary.

Every error that reaches the top (an unexpected exception on the GUI thread, in a worker, or a typed
backend error a view reports) ends in the same dialog: a one-line message, the details, and where the log
file is. The app keeps running; the session is untouched.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import platformdirs
from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from .. import __version__
from ..resources import demo_session, icon_path

log = logging.getLogger("strfviewer")
ORGANISATION, APPLICATION = "strfviewer", "strfviewer"
DEFAULT_FRONTEND = "mel"  # what a sound opened from the command line is shown with when nothing else is asked


def log_folder() -> Path:
    """The platform's per-user log folder (platformdirs; e.g. ~/.local/state/strfviewer/log on Linux). Named by
    the application alone: Qt's data location adds the organisation too, which repeated strfviewer/strfviewer."""
    return platformdirs.user_log_path(APPLICATION, appauthor=False)


def setup_logging() -> Path:
    """Log INFO and above to a rotating file (and WARNING to stderr); returns the file's path."""
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "strfviewer.log"
    root = logging.getLogger()
    if not any(getattr(h, "_strfviewer", False) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._strfviewer = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return path


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (its type name when it has no message)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class ErrorReporter:
    """Shows errors in a dialog without ever raising; remembers the last one (tests read it).

    The dialog does not block (no nested event loop): the job or view that reported goes on at once, so its
    progress bar ends with it. One dialog at a time: errors that arrive while it is open are logged and counted
    in it rather than stacked, and the same message again within :data:`REPEAT_QUIET_S` of its dialog closing
    is only logged. A fault that repeats is reported once.
    """

    REPEAT_QUIET_S = 10.0

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.parent: QWidget | None = None
        self.last: tuple[str, str] | None = None
        self.modal = True  # tests switch this off and read ``last`` instead
        self.dialogs_shown = 0
        self.dialog: QMessageBox | None = None  # the one open
        self._more = 0  # errors logged while the dialog is open
        self._closed: tuple[str, float] | None = None  # message of the last dialog, and when it closed

    def report(self, message: str, details: str = "", title: str = "strfviewer") -> None:
        log.error("%s%s", message, f"\n{details}" if details else "")
        self.last = (message, details)
        if not self.modal or QApplication.instance() is None:
            return
        if self.dialog is not None:
            self._more += 1
            self.dialog.setInformativeText(self._informative())
            return
        if self._closed is not None and self._closed[0] == message and \
                time.monotonic() - self._closed[1] < self.REPEAT_QUIET_S:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self.parent)
        self.dialog, self._more = box, 0
        box.setInformativeText(self._informative())
        if details:
            box.setDetailedText(details)
        box.finished.connect(lambda _result, message=message: self._dialog_closed(message))
        self.dialogs_shown += 1
        box.open()

    def _dialog_closed(self, message: str) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None
        self._closed = (message, time.monotonic())

    def _informative(self) -> str:
        more = f"{self._more} more error(s) since this one were logged.\n" if self._more else ""
        return f"{more}Details are in the log file:\n{self.log_path}"

    def report_exception(self, exc: BaseException, context: str = "") -> None:
        from ..backend.errors import StrfviewerError

        message = one_line(exc)
        if not isinstance(exc, StrfviewerError):
            message = f"Unexpected error{f' while {context}' if context else ''}: {message}"
        elif context:
            message = f"Could not {context}: {message}"
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.report(message, details)

    def excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        exc.__traceback__ = tb
        self.report_exception(exc)

    def install(self) -> None:
        sys.excepthook = self.excepthook
        threading.excepthook = lambda args: self.report_exception(args.exc_value, "running a background task")


def create_application(argv: list[str] | None = None) -> QApplication:
    """The one QApplication, named so that QSettings and the log folder land in the right place."""
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setWindowIcon(QIcon(str(icon_path())))
    QGuiApplication.setDesktopFileName(APPLICATION)  # resources/strfviewer.desktop: its icon on Wayland too
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, useOpenGL=False)
    return app


def settings() -> QSettings:
    return QSettings(ORGANISATION, APPLICATION)


def run(options) -> int:
    """Start the window for the parsed command-line ``options`` and run the event loop.

    The window is shown before torch is imported: the import (about 2 s) runs in a thread, and the
    requested sound and front-ends open once it is done.
    """
    app = create_application()
    if options.reset_settings:
        settings().clear()
    log_path = setup_logging()
    reporter = ErrorReporter(log_path)
    reporter.install()
    from .main_window import MainWindow

    window = MainWindow(reporter)
    window.show()
    if os.environ.get("STRFVIEWER_REPORT_SHOWN"):  # used by benchmarks/gui.py to time the launch
        QTimer.singleShot(0, lambda: (sys.stdout.write(f"shown-at {time.time():.6f}\n"), sys.stdout.flush(),
                                      app.quit()))
    warm_up = threading.Thread(target=_import_backend, name="strfviewer-import", daemon=True)
    warm_up.start()

    def when_ready() -> None:
        if warm_up.is_alive():
            QTimer.singleShot(30, when_ready)
            return
        _open_requested(window, options)

    QTimer.singleShot(0, when_ready)
    return finish(window, app.exec())


def finish(window, code: int) -> NoReturn:
    """End the process as soon as the window has closed, with ``code``.

    By then the window has saved its settings (synced to disk) and offered to save the session, and logs are
    flushed here. Skipping the interpreter's teardown (torch, Qt and module clean-up: 1.3-1.8 s on two cores)
    makes the app end within a fraction of a second of closing, also when closing had to leave behind a
    computation that cannot be interrupted (a torch operation), whose thread would otherwise keep it alive.
    """
    if window.work_abandoned:
        log.info("ending with a computation still running (it cannot be interrupted)")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _import_backend() -> None:
    from ..backend import frontends, streaming  # noqa: F401 - imported for its side effect: warm caches


def _open_demo(window, with_frontends: bool) -> None:
    """Open the bundled demo session, or a generated sound when this copy of strfviewer has no demo data."""
    if demo_session().is_file():
        window.open_session(demo_session())
        return
    from ..backend.synth import vocalization_like

    window.reporter.report(
        f"The demo data is not part of this installation ({demo_session().parent} is missing), so a generated "
        "sound is shown instead. Reinstall strfviewer (its package includes the demo) to get it back.")
    window.set_generated_audio(vocalization_like(48000, 3.0), 48000)
    if with_frontends:
        window.state.add_frontend("gammatone", {"compression": "pcen"})


def open_inputs(window, *, session: Path | None = None, audio: Sequence[Path] = (), frontends: Sequence[str] = (),
                models: Sequence[Path] = (), dataset: Path | None = None, ask=None,
                always_frontend: bool = False) -> None:
    """Open a session, then what the command line adds to it: front-ends, sounds (the first is shown), models
    (``ask`` fills in what a model folder does not say) and a response set. Shared by the window and ``render``.
    A sound with no front-end to show it (none given, none in the session) gets :data:`DEFAULT_FRONTEND`, and so
    does anything when ``always_frontend`` (a rendered spectrogram figure needs one even without a sound).

    The session comes first because opening one replaces its front-ends and sounds."""
    if session is not None:
        window.open_session(Path(session))
    kinds = list(frontends)
    if not kinds and not window.state.frontends and (audio or always_frontend):
        kinds = [DEFAULT_FRONTEND]
    slots = [window.state.add_frontend(kind) for kind in kinds]
    if slots:
        _follow_inputs(window.state, slots, sound=bool(audio) or session is not None,
                       responses=dataset is not None or session is not None)
    if audio:
        window.state.audio_files = [Path(p) for p in audio]
        window.open_audio(Path(audio[0]))
    for path in models:
        window.open_model(Path(path), ask=ask)
    if dataset is not None:
        window.open_responses(Path(dataset))


def _follow_inputs(state, slots: list, *, sound: bool, responses: bool) -> None:
    """The command line's front-ends are added before its sound and response set have loaded (in the
    background): when each arrives, the slots whose arguments are still the suggested ones take the new
    suggestion (``add_frontend`` without arguments: the frequency range follows the data, with its note)."""
    from ..backend.frontends.band import suggest_frequency_range

    suggested = {slot.id: dict(slot.args) for slot in slots}

    def arrived(name: str) -> None:
        getattr(state, name).disconnect(handlers.pop(name))
        audio_fs = state.audio.audio_fs if state.audio is not None else None
        for slot_id, args in suggested.items():
            slot = state.slot(slot_id)
            if slot is None or slot.args != args:  # removed or edited since: the user's choice stands
                continue
            suggestion = suggest_frequency_range(slot.kind, responses=state.responses, audio_fs=audio_fs)
            if suggestion.args != args:
                suggested[slot_id] = dict(suggestion.args)
                state.set_frontend_args(slot_id, suggestion.args, note=suggestion.reason)

    wanted = (("audioChanged", sound), ("responsesChanged", responses))
    handlers = {name: (lambda n=name: arrived(n)) for name, wait in wanted if wait}
    for name, handler in handlers.items():
        getattr(state, name).connect(handler)


def _open_requested(window, options) -> None:
    """Open what the command line asked for."""
    open_inputs(window, session=options.session, audio=options.audio, frontends=options.frontend or [],
                models=[options.model] if options.model else [], dataset=options.dataset)
    if options.demo and not (options.session or options.audio):
        _open_demo(window, with_frontends=not options.frontend)
    window.mark_unmodified()  # what the command line opened is the starting point, not unsaved work
