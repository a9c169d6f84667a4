"""Where errors end: a log file in the platform's log folder, and one non-blocking dialog for what reaches the
top (an unexpected exception on the GUI thread, in a worker, or a typed backend error a view reports). The app
keeps running; the session is untouched.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType

import platformdirs
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from ..backend.errors import StrfviewerError, one_line
from .settings import APPLICATION

log = logging.getLogger("strfviewer")


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
