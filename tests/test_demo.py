"""The bundled demo: its data is what the README promises, and ``strfviewer --demo`` opens all of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from strfviewer.backend.checkpoints import load_model
from strfviewer.backend.data.responses import load_response_set
from strfviewer.backend.session import load_session
from strfviewer.cli import build_gui_parser
from strfviewer.gui.app import _open_requested
from strfviewer.resources import demo_session

DEMO = demo_session().parent
pytestmark = pytest.mark.skipif(not demo_session().is_file(), reason="the demo data is not installed")


def test_the_stimuli_are_varied_48_khz_sounds_of_2_to_5_seconds():
    rs = load_response_set(DEMO / "responses")
    assert len(rs.stimuli) >= 8
    labels = set()
    for info in rs.stimuli:
        header = soundfile.info(info.file)
        assert header.samplerate == 48000 and header.channels == 1
        assert 2.0 <= header.frames / header.samplerate <= 5.0
        labels.add(info.label)
    assert {"vocalization-like harmonic FM calls", "speech-like formant sequence", "noise bursts",
            "amplitude-modulated tones", "click trains"} <= labels


def test_the_response_set_is_simulated_nerve_fibres_and_cortex_like_units():
    rs = load_response_set(DEMO / "responses")
    kinds = [neuron.meta.get("type") for neuron in rs.neurons]
    assert kinds.count("auditory nerve fibre") >= 24 and kinds.count("cortex-like unit") >= 3
    cfs = [neuron.meta["cf_hz"] for neuron in rs.neurons if neuron.meta.get("type") == "auditory nerve fibre"]
    assert len(set(cfs)) >= 24
    assert rs.shape[2] >= 10
    assert rs.extra["simulation"]["simulated"] is True and "Bruce" in rs.extra["simulation"]["auditory_nerve"]
    valid = ~rs.missing_mask()
    assert rs.counts[valid].sum() > 0 and (rs.counts[valid] >= 0).all()
    assert set(rs.splits) == {"train", "val", "test"}


def test_every_model_is_small_loads_and_carries_its_test_metrics():
    session = load_session(demo_session())
    assert len(session.models) >= 5
    classes, leaking = set(), []
    for folder in session.models:
        assert sum(p.stat().st_size for p in folder.iterdir()) < 5e6, folder
        loaded = load_model(folder)
        classes.add(loaded.model_class)
        metadata = json.loads((folder / "metadata.json").read_text())["strfviewer"]
        assert np.isfinite(metadata["metrics"]["test"]["cc_norm_mean"])
        if getattr(loaded.model, "mask_future", True) is False:
            leaking.append(folder.name)
    assert classes == {"Linear", "ICNet", "StateNet", "Transformer"}
    assert leaking == ["transformer-unmasked-mel"]  # the one broken model, for showing what a leak looks like
    kinds = {json.loads((f / "metadata.json").read_text())["strfviewer"]["wav2spec"]["kind"]
             for f in session.models if (f / "metadata.json").exists()}
    assert {"mel", "gammatone", "sincnet", "leaf"} <= kinds


@pytest.fixture
def demo_window(make_window):
    return make_window()


def test_demo_opens_everything_and_shows_finite_scores_for_every_model(demo_window, qtbot):
    window = demo_window
    _open_requested(window, build_gui_parser().parse_args(["--demo"]))
    session = load_session(demo_session())
    qtbot.waitUntil(lambda: window.state.audio is not None and window.state.responses is not None
                    and len(window.state.models) == len(session.models), timeout=60000)
    assert window.reporter.last is None
    assert window.state.audio.path == session.audio[session.selected_audio]
    assert [slot.kind for slot in window.state.frontends] == [entry.kind for entry in session.frontends]
    assert window.state.selected_neuron == session.selected_neuron
    view = window.views["psth"]  # the demo session opens on the PSTH tab
    assert window.current_view() == "psth"
    qtbot.waitUntil(lambda: len(view.results()) == len(session.models) and not view.progress.isVisible(),
                    timeout=240000)
    assert [r.reason for r in view.results() if not r.ok] == []
    shown = view.shown_metrics()
    assert len(shown) == len(session.models)
    for name, values in shown.items():
        assert np.isfinite(values["cc_norm"]), name
    # The selected neuron is one every model predicts well, and the plot shows it for the open sound.
    assert min(values["cc_norm"] for values in shown.values()) > 0.5
    assert view.stimulus() == session.selected_audio
    assert len(view.legend_texts()) == 1 + len(session.models)


def test_the_demo_s_broken_model_shows_its_leak_and_the_good_ones_none():
    from strfviewer.backend.analysis.causality import frame_jacobian

    session = load_session(demo_session())
    audio = torch.randn(48000 // 2, generator=torch.Generator().manual_seed(0)) * 0.1
    for folder in session.models:
        if folder.name.startswith(("statenet", "transformer")):
            result = frame_jacobian(load_model(folder).model, audio, neuron=0)
            assert result.leak_is_exactly_zero == (folder.name != "transformer-unmasked-mel"), folder.name
