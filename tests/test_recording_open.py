"""A recording opened as a response set: imported once into the cache, read from there afterwards, imported
again when the file changes; the response set remembers the file and the choices, and a session stores them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_nwb import DT_MS, _write

from strfviewer.backend.data import nwb
from strfviewer.backend.data.sources import ImportChoice, open_recording, open_responses
from strfviewer.backend.errors import ResponseSetError
from strfviewer.backend.session import Session, load_session, save_session

pytest.importorskip("pynwb", reason="pynwb (the nwb extra) is not installed")


def test_a_recording_is_imported_once_and_again_after_it_changed(tmp_path, monkeypatch):
    _write(tmp_path / "rec.nwb")
    reads = []
    real = nwb.read_nwb
    monkeypatch.setattr(nwb, "read_nwb", lambda *a, **k: reads.append(a) or real(*a, **k))
    choice = ImportChoice(DT_MS, "playback_trials", "sound")
    first = open_recording(tmp_path / "rec.nwb", choice, tmp_path / "cache")
    direct = real(tmp_path / "rec.nwb", DT_MS, "playback_trials", "sound")
    np.testing.assert_array_equal(first.counts, direct.binned.counts)
    assert first.source == tmp_path / "rec.nwb" and first.import_choice == choice.to_json()
    again = open_recording(tmp_path / "rec.nwb", choice, tmp_path / "cache")
    assert len(reads) == 1 and again.root == first.root  # the second opening reads the cache
    other = open_recording(tmp_path / "rec.nwb", ImportChoice(DT_MS), tmp_path / "cache")
    assert len(reads) == 2 and other.counts.shape[2] == 4  # another choice is another import (trials: 4 repeats)
    _write(tmp_path / "rec.nwb", second_table=True, gap=[[0.0, 5.0], [6.0, 1e4]])  # the file changed
    changed = open_recording(tmp_path / "rec.nwb", choice, tmp_path / "cache")
    assert len(reads) == 3 and changed.root != first.root


def test_a_folder_opens_as_it_is_and_bad_choices_are_explained(tmp_path):
    from strfviewer.backend.data.trials import save_imported

    _write(tmp_path / "rec.nwb")
    folder = save_imported(nwb.read_nwb(tmp_path / "rec.nwb", DT_MS), tmp_path / "set")
    responses = open_responses(folder, None, tmp_path / "cache")
    assert responses.source == folder and responses.origin is None and not (tmp_path / "cache").exists()
    with pytest.raises(ResponseSetError, match="dt_ms must be a positive number"):
        ImportChoice.from_json({"dt_ms": -1})
    with pytest.raises(ResponseSetError, match="table must be a name"):
        ImportChoice.from_json({"table": 3})
    with pytest.raises(ResponseSetError, match="no presentation column nothing"):
        open_recording(tmp_path / "rec.nwb", ImportChoice(DT_MS, "nothing"), tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # nothing half-written is left in the cache


def test_a_session_keeps_the_recording_and_how_it_was_read(tmp_path):
    choice = ImportChoice(2.5, "playback_trials", "sound").to_json()
    path = save_session(Session(response_sets=[tmp_path / "rec.nwb"], import_choices=[choice]),
                        tmp_path / "s.strfsession.json")
    document = json.loads(path.read_text())
    assert document["response_sets"] == ["rec.nwb"] and document["import_choices"] == [choice]
    restored = load_session(path)
    assert restored.import_choices == [choice] and ImportChoice.from_json(choice) == ImportChoice(
        2.5, "playback_trials", "sound")
    plain = load_session(save_session(Session(response_sets=[tmp_path / "set"]), tmp_path / "p.strfsession.json"))
    assert plain.import_choices == [] and "import_choices" not in json.loads(
        (tmp_path / "p.strfsession.json").read_text())
