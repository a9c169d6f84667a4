"""Layering rules and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import numpy as np
import soundfile

from strfviewer.backend.frontends import KINDS

IMPORT_EVERY_BACKEND_MODULE = """
import importlib, pkgutil, sys
import strfviewer.backend as backend
names = [m.name for m in pkgutil.walk_packages(backend.__path__, backend.__name__ + '.')]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'PyQt5', 'PyQt6'))
print(len(names), ' '.join(leaked))
"""


def test_backend_imports_neither_qt_nor_pyqtgraph():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_BACKEND_MODULE], capture_output=True, text=True, check=True
    )
    count, _, leaked = result.stdout.strip().partition(" ")
    assert int(count) >= 10, "the walk found too few modules to be meaningful"
    assert leaked == ""


def test_the_window_opens_without_waiting_for_torch():
    """Torch takes seconds to import: the window's modules leave it to the first job that needs it (a
    top-level import of one torch module from the window once tripled the launch time)."""
    code = ("import sys, strfviewer.cli, strfviewer.gui.app, strfviewer.gui.main_window; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_launch_warm_up_loads_what_the_first_sound_needs():
    """What the window leaves out, the warm-up thread loads, so opening a sound imports nothing on the GUI
    thread."""
    code = ("import sys; from strfviewer.gui.app import import_backend; import_backend(); "
            "print(all(m in sys.modules for m in ('torch', 'torchaudio', 'strfviewer.backend.frontends.registry', "
            "'strfviewer.backend.frontends.mel', 'strfviewer.backend.streaming')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_the_import_contracts_hold():
    """The layers written in pyproject.toml ([tool.importlinter]): cli over gui over backend, a Qt-free
    backend, the GUI's own layers, views that never import one another, no circles between packages. In its
    own process: import-linter reconfigures logging, which other tests read."""
    config = Path(__file__).parents[1] / "pyproject.toml"
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), deferred imports included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = [stack.pop()]
            while group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return circles


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("strfviewer", exclude_type_checking_imports=True)
    assert len(graph.modules) > 50
    assert _import_circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _import_circles(graph) == [["pkg.a", "pkg.b"]]


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "strfviewer", *args], capture_output=True, text=True)


def test_info_lists_versions_and_every_frontend():
    result = _run_cli("info")
    assert result.returncode == 0, result.stderr
    assert "torch " in result.stdout and "strfviewer " in result.stdout
    for kind in KINDS:
        assert f"\n  {kind} " in result.stdout


def test_info_reports_bad_settings_without_a_traceback():
    result = _run_cli("info", "--audio-fs", "0")
    assert result.returncode == 2
    assert "audio_fs" in result.stderr and "Traceback" not in result.stderr


def test_version_flag():
    result = _run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("strfviewer ")


def test_info_describes_files_and_rejects_bad_ones(tmp_path):
    soundfile.write(tmp_path / "tone.flac", np.zeros(16000, dtype=np.float32), 16000)
    described = _run_cli("info", str(tmp_path / "tone.flac"))
    assert described.returncode == 0 and "1 channel(s), 16000 frames at 16000 Hz (1.000 s)" in described.stdout
    (tmp_path / "junk.wav").write_bytes(b"RIFF....not audio")
    bad = _run_cli("info", str(tmp_path / "junk.wav"))
    assert bad.returncode == 2 and "not a readable audio file" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = _run_cli("info", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "s.strfsession.json").write_text('{"schema_version": 1, "audio": ["a.wav", "b.wav"]}')
    assert "session (schema 1); audio: 2" in _run_cli("info", str(tmp_path / "s.strfsession.json")).stdout
