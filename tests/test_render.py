"""``strfviewer render``: images of every view from files or a session, with no window and no dialog.

The command runs in this process (``cli.main``) on the QApplication pytest-qt made, as a test session would
reuse it. Images are checked for their pixel size (size x scale) and for content: a blank or one-colour
image, or a bare frame with nothing drawn in it, fails.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PySide6.QtGui import QImage

from strfviewer import cli
from strfviewer.backend.checkpoints import save_model
from strfviewer.backend.data.responses import save_response_set
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.models import Linear
from strfviewer.backend.session import FrontendEntry, Session, save_session

FS, DT = 16000, 5.0
N_NEURONS, N_BANDS = 4, 10
HOP = int(FS * DT / 1000)


def _harmonic_call(seconds: float, f0: float = 300.0) -> np.ndarray:
    """Five harmonics with a wobbling pitch, amplitude-modulated: a spectrogram with visible structure."""
    t = np.arange(int(FS * seconds)) / FS
    phase = 2 * np.pi * np.cumsum(f0 + 150.0 * np.sin(2 * np.pi * 1.5 * t)) / FS
    tones = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.3 * tones * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A 1 s WAV, a response set of three 0.3 s stimuli, and a Linear model (random STRFs) that fits both."""
    root = tmp_path_factory.mktemp("render")
    wav = root / "call.wav"
    soundfile.write(wav, _harmonic_call(1.0), FS)
    rng = np.random.default_rng(0)
    sounds = [_harmonic_call(0.3, f0) for f0 in (250.0, 400.0, 550.0)]
    n_bins = sounds[0].size // HOP
    counts = rng.poisson(2.0, size=(N_NEURONS, len(sounds), 3, n_bins)).astype(np.float32)
    responses = save_response_set(
        root / "set", name="tiny", dt_ms=DT,
        stimuli=[{"id": f"s{i}", "audio": a, "sample_rate_hz": FS} for i, a in enumerate(sounds)],
        neurons=[{"id": f"n{i}"} for i in range(N_NEURONS)], counts=counts,
        splits={"train": [0], "val": [1], "test": [2]},
    )
    torch.manual_seed(1)
    frontend = make_wav2spec("mel", audio_fs=FS, dt_ms=DT, n_mels=N_BANDS, f_min=200.0, f_max=7000.0)
    model = Linear(N_BANDS, 4, N_NEURONS, wav2spec=frontend)
    with torch.no_grad():
        model.readout.strf.kernel.weight.normal_(0.0, 0.3)
    return {"wav": wav, "responses": responses, "model": save_model(model.eval(), root / "linear")}


def _pixels(path: Path) -> np.ndarray:
    image = QImage(str(path))
    assert not image.isNull(), f"{path} is not a readable image"
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].reshape(image.height(), image.width(), 4)[..., :3].copy()


def _colours(pixels: np.ndarray) -> int:
    rgb = pixels.astype(np.uint32)
    return np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]).size


def _assert_drawn(path: Path, size: tuple[int, int]) -> None:
    """The PNG is size x scale pixels and shows a drawing: many colours (plots, text), not a blank frame."""
    pixels = _pixels(path)
    assert (pixels.shape[1], pixels.shape[0]) == size, f"{path.name}: {pixels.shape[1]}x{pixels.shape[0]}"
    assert _colours(pixels) >= 64, f"{path.name} has only {_colours(pixels)} colours"
    assert pixels.std() > 10.0, f"{path.name} is nearly uniform (std {pixels.std():.1f})"


def _colourful(path: Path) -> float:
    """Fraction of saturated pixels: colormapped images; the widgets around them are shades of grey."""
    pixels = _pixels(path).astype(int)
    return float((pixels.max(axis=-1) - pixels.min(axis=-1) > 60).mean())


def _render(*args: str) -> int:
    return cli.main(["render", *args])


def test_the_view_names_of_the_command_line_are_the_renderers():
    from strfviewer.gui.main_window import ANALYSIS_VIEWS
    from strfviewer.gui.render import VIEWS

    assert cli._RENDER_VIEWS == VIEWS
    assert set(VIEWS) == {"window", "spectrograms", *(entry[0] for entry in ANALYSIS_VIEWS)}


def test_every_view_is_rendered_from_files_on_the_command_line(qapp, files, tmp_path, capsys):
    out = tmp_path / "figures"
    code = _render(str(files["wav"]), "--frontend", "mel", "--frontend", "gammatone", "--model",
                   str(files["model"]), "--dataset", str(files["responses"]), "--neuron", "2", "--stimulus", "1",
                   "--view", "all", "--out", str(out), "--size", "1000x560", "--scale", "1.5")
    assert code == 0
    printed = capsys.readouterr().out.split()
    views = ["window", "spectrograms", "filters", "causality", "strf", "psth", "compare"]
    assert printed == [str(out / f"{view}.png") for view in views]
    for view in views:
        _assert_drawn(out / f"{view}.png", (1500, 840))
    # Computed results, not empty plots: colormapped images and coloured curves only appear once the views'
    # jobs are done (the causality view starts its job from a debounce timer once it is shown).
    minimum = {"spectrograms": 0.2, "filters": 0.05, "causality": 0.015, "strf": 0.05, "compare": 0.2}
    for view, fraction in minimum.items():
        assert _colourful(out / f"{view}.png") > fraction, view


def test_one_view_as_svg(qapp, files, tmp_path, capsys):
    path = tmp_path / "spectrograms.svg"
    assert _render(str(files["wav"]), "--view", "spectrograms", "--out", str(path), "--size", "500x300") == 0
    assert capsys.readouterr().out.strip() == str(path)
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 500 300"
    tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
    assert {"image", "path", "text"} <= tags  # the spectrogram image, the axes and their labels


def test_a_session_file_is_rendered(qapp, files, tmp_path):
    session = save_session(Session(audio=[files["wav"]], frontends=[FrontendEntry("gammatone", {"n_filters": 24})],
                                   display={"colormap": "magma"}), tmp_path / "talk.strfsession.json")
    out = tmp_path / "talk.png"
    assert _render("--session", str(session), "--view", "spectrograms", "--out", str(out), "--size", "640x420",
                   "--scale", "1") == 0
    _assert_drawn(out, (640, 420))
    assert _colourful(out) > 0.2  # the gammatone spectrogram, computed after the session's sound was read


def test_the_render_waits_for_slow_jobs(qapp, files, tmp_path, monkeypatch):
    from strfviewer.backend.analysis import frame_cache

    compute = frame_cache.compute_frames

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return compute(*args, **kwargs)

    monkeypatch.setattr(frame_cache, "compute_frames", slow)
    out = tmp_path / "slow.png"
    assert _render(str(files["wav"]), "--view", "spectrograms", "--out", str(out), "--size", "640x420",
                   "--scale", "1") == 0
    assert _colourful(out) > 0.2


def test_a_missing_file_is_named_and_nothing_starts(tmp_path, caplog):
    missing = tmp_path / "nowhere.wav"
    with caplog.at_level(logging.ERROR):
        assert _render(str(missing), "--out", str(tmp_path / "x.png"), "--view", "window") == 2
    assert str(missing) in caplog.text and "not found" in caplog.text


def test_a_file_the_window_cannot_open_ends_the_run_without_a_dialog(qapp, tmp_path, caplog):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    with caplog.at_level(logging.ERROR):
        assert _render(str(broken), "--view", "strf", "--out", str(tmp_path / "x.png")) == 2
    assert "broken.wav" in caplog.text and "Traceback" not in caplog.text
    assert not (tmp_path / "x.png").exists()


def test_a_render_that_does_not_settle_in_time_says_what_it_waited_for(qapp, files, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert _render(str(files["wav"]), "--view", "window", "--out", str(tmp_path / "x.png"),
                       "--timeout", "0.001") == 2
    assert "timed out" in caplog.text and "--timeout" in caplog.text


def test_a_neuron_past_the_response_set_is_refused(qapp, files, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert _render("--dataset", str(files["responses"]), "--neuron", str(N_NEURONS), "--view", "psth", "--out",
                       str(tmp_path / "x.png")) == 2
    assert f"--neuron {N_NEURONS} is out of range" in caplog.text and "4 neurons" in caplog.text


@pytest.mark.parametrize("size", ["big", "1600", "10x10", "0x500"])
def test_a_bad_size_is_refused(files, tmp_path, caplog, size):
    with caplog.at_level(logging.ERROR):
        assert _render(str(files["wav"]), "--size", size, "--out", str(tmp_path / "figures")) == 2
    assert "--size" in caplog.text


def test_an_unknown_view_is_refused_by_the_parser(files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _render(str(files["wav"]), "--view", "everything", "--out", str(tmp_path / "x.png"))
    assert exit_info.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_on_the_real_command_line_an_error_is_one_line_without_a_traceback(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    result = subprocess.run([sys.executable, "-m", "strfviewer", "render", str(broken), "--view", "strf", "--out",
                             str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: Could not open broken.wav: "), result.stderr


def test_a_long_segment_is_computed_for_the_causality_figure_and_range_sets_the_time_axis(qapp, tmp_path, monkeypatch):
    from strfviewer.gui.views.causality import CausalityView

    wav = tmp_path / "long.wav"
    soundfile.write(wav, _harmonic_call(2.5), FS)  # longer than the view computes on its own (1 s)
    segments = []
    compute = CausalityView.compute
    monkeypatch.setattr(CausalityView, "compute", lambda view: (segments.append(view.state.view_range),
                                                                compute(view)))
    out = tmp_path / "causality.png"
    assert _render(str(wav), "--view", "causality", "--range", "0.2", "1.7", "--out", str(out), "--size",
                   "1000x560", "--scale", "1") == 0
    assert segments == [(0.2, 1.7)]
    _assert_drawn(out, (1000, 560))
    assert _colourful(out) > 0.015


def test_a_backwards_range_is_refused(qapp, files, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert _render(str(files["wav"]), "--range", "0.8", "0.2", "--out", str(tmp_path / "x.png")) == 2
    assert "--range needs 0 <= START < END" in caplog.text and not (tmp_path / "x.png").exists()
