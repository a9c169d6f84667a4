"""Application start: the one QApplication, the window, and what the command line asked it to open.

The top of the GUI layer: it imports the window; nothing in the GUI imports it.
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from .. import __version__
from ..resources import demo_session, icon_path
from .reporter import ErrorReporter, setup_logging
from .settings import APPLICATION, ORGANISATION, settings

if TYPE_CHECKING:  # backend.data brings torch, which the window does not wait for
    from ..backend.data.sources import ImportChoice

log = logging.getLogger("strfviewer")
DEFAULT_FRONTEND = "mel"  # what a sound opened from the command line is shown with when nothing else is asked


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
    warm_up = threading.Thread(target=import_backend, name="strfviewer-import", daemon=True)
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


def import_backend() -> None:
    """Import torch, torchaudio and every front-end (seconds on a slow machine), so that no view has to when
    the first sound, model or response set opens: the app runs this in a thread behind the shown window.

    The objects made so far (about 240,000: modules, functions, classes of torch, Qt and pyqtgraph) live as long
    as the app, so they are then frozen out of the cyclic garbage collector: otherwise each full collection
    walks them all, 130-190 ms with the GIL held, a stall of the window at a moment nobody chose.
    """
    from ..backend import checkpoints, prediction, streaming  # noqa: F401 - imported for their side effect
    from ..backend.analysis import strf  # noqa: F401 - what opening a model and a response set first needs
    from ..backend.data import sources  # noqa: F401
    from ..backend.frontends import registry  # noqa: F401 - the package itself is lazy; this loads the classes

    gc.freeze()


def _open_demo(window, with_frontends: bool) -> None:
    """Open the bundled demo session, or a generated sound when this copy of strfviewer has no demo data."""
    if demo_session().is_file():
        window.controller.open_session(demo_session())
        return
    from ..backend.synth import vocalization_like

    window.reporter.report(
        f"The demo data is not part of this installation ({demo_session().parent} is missing), so a generated "
        "sound is shown instead. Reinstall strfviewer (its package includes the demo) to get it back.")
    window.controller.set_generated_audio(vocalization_like(48000, 3.0), 48000)
    if with_frontends:
        window.state.add_frontend("gammatone", {"compression": "pcen"})


def open_inputs(window, *, session: Path | None = None, audio: Sequence[Path] = (), frontends: Sequence[str] = (),
                models: Sequence[Path] = (), dataset: Path | None = None, dataset_choice: ImportChoice | None = None,
                grid: Path | None = None, ask=None, always_frontend: bool = False) -> None:
    """Open a session, then what the command line adds to it: front-ends, sounds (the first is shown), models
    (``ask`` fills in what a model folder does not say), a response set or recording (read with
    ``dataset_choice``; without one the window asks how to read an NWB file) and a fit grid's folder. Shared by
    the window and ``render``.
    A sound with no front-end to show it (none given, none in the session) gets :data:`DEFAULT_FRONTEND`, and so
    does anything when ``always_frontend`` (a rendered spectrogram figure needs one even without a sound).

    The session comes first because opening one replaces its front-ends and sounds."""
    if session is not None:
        window.controller.open_session(Path(session))
    kinds = list(frontends)
    if not kinds and not window.state.frontends and (audio or always_frontend):
        kinds = [DEFAULT_FRONTEND]
    slots = [window.state.add_frontend(kind) for kind in kinds]
    if slots:
        _follow_inputs(window.state, slots, sound=bool(audio) or session is not None,
                       responses=dataset is not None or session is not None)
    if audio:
        window.state.audio_files = [Path(p) for p in audio]
        window.controller.open_audio(Path(audio[0]))
    for path in models:
        window.controller.open_model(Path(path), ask=ask)
    if dataset is not None:
        window.controller.open_responses(Path(dataset), choice=dataset_choice)
    if grid is not None:
        window.controller.open_grid(Path(grid))


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


def _dataset_choice(options) -> ImportChoice | None:
    from ..backend.data.sources import choice_from_options

    return choice_from_options(options)


def _open_requested(window, options) -> None:
    """Open what the command line asked for."""
    open_inputs(window, session=options.session, audio=options.audio, frontends=options.frontend or [],
                models=[options.model] if options.model else [], dataset=options.dataset,
                dataset_choice=_dataset_choice(options), grid=options.grid)
    if options.demo and not (options.session or options.audio):
        _open_demo(window, with_frontends=not options.frontend)
    window.controller.mark_unmodified()  # what the command line opened is the starting point, not unsaved work
