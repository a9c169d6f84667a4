"""``strfviewer render``: PNG or SVG images of the app's views, made without showing a window.

The real main window is built with the requested inputs, on the ``offscreen`` platform unless another one is
chosen, and marked ``WA_DontShowOnScreen``: it is "shown" to Qt (layouts, show events and the views' lazy
work all happen as on screen) but never appears. Figures are drawn by :func:`.export.save_png` and
:func:`.export.save_svg`, so a rendered view looks exactly like the view's own Export button makes it.

Size: the widget that is drawn (the whole window, the central area for ``spectrograms``, or the view itself)
is made exactly WIDTH x HEIGHT logical pixels by resizing the window around it, so a PNG is always
``size x scale`` pixels. Nothing blocks on a dialog: errors are collected and end the run with exit code 2.

A render is not a user session: it neither restores nor saves the window layout, the colormap or the recent
files, so a figure does not depend on how someone last left the window (choices the views remember, such as
the PSTH smoothing, still come from the preferences).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QEventLoop,
    QMessageLogContext,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from ..backend.data.sources import ImportChoice, choice_from_options
from ..backend.errors import StrfviewerError, one_line
from ..backend.grid import is_grid_folder
from .app import create_application, open_inputs
from .export import save_png, save_svg
from .jobrunner import JobRunner
from .main_window import MainWindow
from .playback import NullPlayer
from .reporter import ErrorReporter

log = logging.getLogger(__name__)

# Every view that can be rendered, in the order ``all`` writes them.
VIEWS = ("window", "spectrograms", "filters", "causality", "strf", "psth", "compare")
FORMATS = ("png", "svg")
DEFAULT_SIZE = (1600, 1000)
MIN_SIDE, MAX_SIDE, MAX_SCALE = 200, 10000, 8.0
QUIET_S = 0.3  # views start jobs from debounce timers: "settled" must last this long
_POLL_MS = 20
# Said by the offscreen platform whenever a size constraint changes; nothing is wrong.
_HARMLESS_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


class RenderError(StrfviewerError):
    """The render cannot go on; the message says what went wrong and what to do."""


@dataclass
class RenderRequest:
    """What to open and which images to write (validated: paths exist, sizes are sane)."""

    outputs: list[tuple[str, Path]]  # (view, file to write)
    fmt: str
    size: tuple[int, int] = DEFAULT_SIZE
    scale: float = 2.0
    timeout_s: float = 300.0
    audio: list[Path] = field(default_factory=list)
    session: Path | None = None
    models: list[Path] = field(default_factory=list)
    dataset: Path | None = None
    dataset_choice: ImportChoice | None = None  # how a recording given as --dataset is read
    grid: Path | None = None  # a fit grid's folder (the compare view shows its matrices)
    frontends: list[str] = field(default_factory=list)
    neuron: int | None = None
    stimulus: int | None = None
    view_range: tuple[float, float] | None = None


class CollectingReporter(ErrorReporter):
    """Keeps the messages instead of showing a dialog: a modal dialog would hang a headless run."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))  # no log file of its own: the command line reports on stderr
        self.modal = False
        self.messages: list[str] = []

    def report(self, message: str, details: str = "", title: str = "strfviewer") -> None:
        log.debug("reported: %s%s", message, f"\n{details}" if details else "")
        self.last = (message, details)
        self.messages.append(" ".join(message.split()))

    def raise_first(self) -> None:
        """End the run with the first error reported, if any."""
        if self.messages:
            raise RenderError(self.messages[0])


class RenderWindow(MainWindow):
    """The main window, "shown" to Qt but never on screen, with a silent player; it leaves the user's saved
    layout, colormap and recent files alone (see the module docstring)."""

    def __init__(self, reporter: ErrorReporter, size: tuple[int, int]) -> None:
        super().__init__(reporter, player=NullPlayer(), audio_inputs=False)
        self.confirm_close = False  # a render saves nothing and asks nothing
        self.controller.ask_import = None  # a recording opens with the command line's choices or the best guess
        self.resize(*size)
        self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        self.show()

    def _restore_settings(self) -> None:
        pass

    def _save_settings(self) -> None:
        pass

    def _remember_recent(self, path: Path) -> None:
        pass


def parse_size(text: str) -> tuple[int, int]:
    """'1600x1000' -> (1600, 1000); each side between MIN_SIDE and MAX_SIDE logical pixels."""
    width, sep, height = text.lower().replace("×", "x").partition("x")
    try:
        size = (int(width), int(height)) if sep else None
    except ValueError:
        size = None
    if size is None:
        raise RenderError(f"--size expects WIDTHxHEIGHT such as 1600x1000 (got {text!r})")
    if not all(MIN_SIDE <= side <= MAX_SIDE for side in size):
        raise RenderError(f"--size {text}: each side must be between {MIN_SIDE} and {MAX_SIDE} pixels")
    return size


def _existing(path: str, what: str) -> Path:
    found = Path(path).expanduser()
    if not found.exists():
        raise RenderError(f"{what} not found: {found}; check the path")
    return found


def _outputs(views: list[str], out: Path, fmt: str | None) -> tuple[list[tuple[str, Path]], str]:
    """One view: ``out`` is the file (or an existing folder); several: ``out`` is a folder of <view>.<fmt>."""
    suffix = out.suffix.lower().lstrip(".")
    if len(views) == 1 and not out.is_dir():
        if fmt is None:
            if suffix not in FORMATS:
                raise RenderError(f"--out {out}: cannot tell the format; end the name in .png or .svg, or give "
                                  "--format")
            fmt = suffix
        elif suffix in FORMATS and suffix != fmt:
            raise RenderError(f"--out {out} ends in .{suffix} but --format is {fmt}; make them agree")
        elif suffix != fmt:
            out = out.with_name(f"{out.name}.{fmt}")
        return [(views[0], out)], fmt
    if out.exists() and not out.is_dir():
        raise RenderError(f"--out {out} is a file, but several views need a folder; give a folder or one --view")
    if suffix in FORMATS:
        raise RenderError(f"--out {out}: several views are written into a folder; give a folder name (not a "
                          "file name), or choose one --view")
    fmt = fmt or "png"
    return [(view, out / f"{view}.{fmt}") for view in views], fmt


def request_from_args(args: argparse.Namespace) -> RenderRequest:
    """Check the parsed command line before anything is built; raises RenderError naming the problem."""
    size = parse_size(args.size)
    views: list[str] = []
    for name in args.view or ["all"]:
        for view in VIEWS if name == "all" else (name,):
            if view not in VIEWS:
                raise RenderError(f"unknown view {view!r}; choose from all, {', '.join(VIEWS)}")
            if view not in views:
                views.append(view)
    if not (0 < args.scale <= MAX_SCALE):
        raise RenderError(f"--scale must be above 0 and at most {MAX_SCALE:g} (got {args.scale:g})")
    if args.timeout <= 0:
        raise RenderError(f"--timeout must be a positive number of seconds (got {args.timeout:g})")
    for option in ("neuron", "stimulus"):
        if getattr(args, option) is not None and getattr(args, option) < 0:
            raise RenderError(f"--{option} must be 0 or more (got {getattr(args, option)})")
    view_range = tuple(args.range) if args.range else None
    if view_range is not None and not (0 <= view_range[0] < view_range[1]):
        raise RenderError(f"--range needs 0 <= START < END in seconds (got {view_range[0]:g} {view_range[1]:g})")
    if not (args.audio or args.session or args.dataset or args.model or args.grid):
        raise RenderError("nothing to render: give sound files, --session, --model, --dataset or --grid")
    if args.grid and not is_grid_folder(args.grid):
        raise RenderError(f"--grid {args.grid} is not a fit grid's folder (it has no grid.json); give the folder "
                          "'strfviewer fit-grid GRID.toml --out FOLDER' wrote")
    outputs, fmt = _outputs(views, Path(args.out).expanduser(), args.format)
    return RenderRequest(
        outputs=outputs, fmt=fmt, size=size, scale=args.scale, timeout_s=args.timeout,
        audio=[_existing(p, "audio file") for p in args.audio],
        session=_existing(args.session, "session file") if args.session else None,
        models=[_existing(p, "model") for p in args.model or []],
        dataset=_existing(args.dataset, "response set") if args.dataset else None,
        dataset_choice=choice_from_options(args), grid=Path(args.grid).expanduser() if args.grid else None,
        frontends=list(args.frontend or []), neuron=args.neuron, stimulus=args.stimulus, view_range=view_range,
    )


def run(args: argparse.Namespace) -> int:
    """The ``render`` subcommand: write the images and print each path written, one per line."""
    def written(path: Path) -> None:
        sys.stdout.write(f"{path}\n")
        sys.stdout.flush()  # a script reading the paths sees each as soon as it exists

    render(request_from_args(args), on_written=written)
    return 0


def render(request: RenderRequest, on_written: Callable[[Path], None] | None = None) -> list[Path]:
    """Build the window for ``request``, wait for it to settle, and write every requested image.

    Reuses a QApplication that already exists (tests) and never runs or quits its event loop; waiting is done
    with short nested event loops. Raises RenderError for any error the window reports and for a timeout.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # only matters if no QApplication exists yet
    app = create_application()
    reporter = CollectingReporter()
    hooks = sys.excepthook, threading.excepthook
    reporter.install()  # an exception in a slot or a worker is a reported error, not a stray traceback
    qt_handler = qInstallMessageHandler(_qt_message)
    # The runner logs each failed job with its traceback; the failure also reaches the reporter, which ends
    # the run with the one-line message, so the traceback would only clutter stderr.
    runner_log = logging.getLogger(JobRunner.__module__)
    runner_level = runner_log.level
    runner_log.setLevel(logging.CRITICAL)
    try:
        window = RenderWindow(reporter, request.size)
        try:
            return _render_views(app, window, reporter, request, on_written)
        finally:
            _close(window)
    finally:
        runner_log.setLevel(runner_level)
        qInstallMessageHandler(qt_handler)
        sys.excepthook, threading.excepthook = hooks


def _qt_message(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's own messages go to the log (stderr shows warnings), minus the offscreen platform's chatter."""
    if message in _HARMLESS_QT_MESSAGES:
        return
    serious = kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    log.log(logging.WARNING if serious else logging.DEBUG, "Qt: %s", message)


def _render_views(app: QApplication, window: RenderWindow, reporter: CollectingReporter, request: RenderRequest,
                  on_written: Callable[[Path], None] | None) -> list[Path]:
    deadline = _Deadline(request.timeout_s)
    _open_inputs(window, request)
    _settle(app, window, reporter, deadline, "opening the inputs")
    if request.neuron is not None:  # after the response set is in: opening one selects neuron 0
        _select_neuron(window, request.neuron)
    if request.view_range is not None:
        window.state.set_view_range(*request.view_range)
    written: list[Path] = []
    for view, path in request.outputs:
        target = _show(window, view, request)
        _fit(app, window, target, view, request.size)
        _settle(app, window, reporter, deadline, f"the {view} view")
        if view == "causality" and target.result is None and target.request is None:
            target.compute()  # too long a segment for auto mode: a figure needs what Compute would show
            _settle(app, window, reporter, deadline, f"the {view} view")
        while not _fit(app, window, target, view, request.size):  # what the view computed changed its layout
            _settle(app, window, reporter, deadline, f"the {view} view")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if request.fmt == "svg":
                save_svg(target, path, f"strfviewer {view}")
            else:
                save_png(target, path, request.scale)
        except OSError as exc:
            raise RenderError(f"could not write {path}: {exc}; check that the folder is writable") from exc
        written.append(path)
        if on_written is not None:
            on_written(path)
    return written


def _open_inputs(window: RenderWindow, request: RenderRequest) -> None:
    """As the window's command line does, with every model loaded and no question asked."""

    def cannot_ask(exc: BaseException) -> None:
        window.reporter.report(f"Could not open a model: {one_line(exc)} (render cannot ask for it: open the "
                               "model once in the window, or add the missing information to its config.json)")

    open_inputs(window, session=request.session, audio=request.audio, frontends=request.frontends,
                models=request.models, dataset=request.dataset, dataset_choice=request.dataset_choice,
                grid=request.grid, ask=cannot_ask, always_frontend=True)


def _select_neuron(window: RenderWindow, index: int) -> None:
    """Select the neuron, refusing an index past the response set's (or else the models') neurons."""
    responses = window.state.responses
    if responses is not None:
        count, owner = len(responses.neurons), f"the response set {responses.name}"
    else:  # output count of each open model, as the PSTH view reads it (0: unknown)
        count, owner = max((int(getattr(m.model, "O", 0) or 0) for m in window.state.models), default=0), "the model"
    if count and index >= count:
        raise RenderError(f"--neuron {index} is out of range: {owner} has {count} neurons (0 to {count - 1})")
    window.state.set_neuron(index)


def _show(window: RenderWindow, view: str, request: RenderRequest) -> QWidget:
    """Bring ``view`` to the front and return the widget to draw."""
    # A view alone does not need the session dock, whose lists would set a floor to the window's height.
    window.findChild(QDockWidget, "session-dock").setVisible(view == "window")
    if view in ("window", "spectrograms"):
        window.tabs.setCurrentIndex(0)
        return window if view == "window" else window.centralWidget()
    widget = window.show_view(view)
    if view == "causality" and request.models:  # the models asked for, not the front-end, are what to show
        widget.choose_model_target()
    if view == "psth" and request.stimulus is not None:
        rs = window.state.responses
        count = 0 if rs is None else len(rs.stimuli)
        if not 0 <= request.stimulus < count:
            raise RenderError(f"--stimulus {request.stimulus} is out of range: the PSTH view has {count} "
                              f"stimuli{f' (0 to {count - 1})' if count else '; open a response set with --dataset'}")
        window.state.set_stimulus(request.stimulus)
    return widget


def _fit(app: QApplication, window: RenderWindow, target: QWidget, view: str, size: tuple[int, int]) -> bool:
    """Resize the window until ``target`` is exactly ``size`` (the rest of the window keeps its size).

    Returns whether the target already had that size, i.e. nothing was resized and no wait is needed.
    """
    width, height = size
    for attempt in range(6):
        _process(app)
        if (target.width(), target.height()) == (width, height):
            return attempt == 0
        window.resize(window.width() + width - target.width(), window.height() + height - target.height())
    raise RenderError(f"the {view} view cannot be {width}x{height}: its controls need at least "
                      f"{target.width()}x{target.height()}; choose a larger --size")


class _Deadline:
    """The one time budget of a run (``--timeout``), shared by all waits."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self.end


def _busy(window: RenderWindow) -> list[str]:
    """What is still going on: the runner's jobs, and pending single-shot timers (debounces, redraws)."""
    pending = [job.description for job in window.runner.activeJobs()]
    pending += [f"a pending update in {type(timer.parent()).__name__}" for timer in window.findChildren(QTimer)
                if timer.isSingleShot() and timer.isActive()]
    if window.live.running:
        pending.append("live mode")
    return pending


def _settle(app: QApplication, window: RenderWindow, reporter: CollectingReporter, deadline: _Deadline,
            what: str) -> None:
    """Run the event loop until nothing has been busy for QUIET_S seconds; fail on an error or the deadline."""
    quiet_since: float | None = None
    while True:
        _process(app, _POLL_MS)
        reporter.raise_first()
        pending = _busy(window)
        now = time.monotonic()
        if pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_S:
            return
        if deadline.passed():
            raise RenderError(f"timed out after {deadline.seconds:g} s waiting for {what} (still running: "
                              f"{'; '.join(pending) or 'nothing'}); raise --timeout or use shorter sounds")


def _process(app: QApplication, wait_ms: int = 0) -> None:
    """Deliver pending events, then wait up to ``wait_ms`` for more (worker results arrive as events)."""
    app.processEvents()
    if wait_ms:
        loop = QEventLoop()
        QTimer.singleShot(wait_ms, loop.quit)
        loop.exec()


def _close(window: RenderWindow) -> None:
    """Close the window (its runner stops its workers) and delete it, so a later render starts clean."""
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
