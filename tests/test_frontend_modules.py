"""Where a module's front-end is: the front-end itself, a model's ``wav2spec``, or nothing (a spectrogram model
or a user's module with only ``hop`` and ``out_channels``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from torch import nn

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.frontends.modules import audio_mismatch, frontend_of, hop_of, is_model, n_outputs
from strfviewer.backend.models import Linear

FS = 16000


def test_a_front_end_a_model_on_it_and_a_spectrogram_model():
    frontend = make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=8)
    model = Linear(8, 3, 2, wav2spec=frontend)
    spectrogram_model = Linear(8, 3, 2)
    assert frontend_of(frontend) is frontend and frontend_of(model) is frontend
    assert frontend_of(spectrogram_model) is None and frontend_of(None) is None
    assert not is_model(frontend) and is_model(model) and not is_model(spectrogram_model)
    assert hop_of(frontend) == hop_of(model) == 80
    assert n_outputs(frontend) == 8 and n_outputs(model) == 2


def test_a_users_module_with_a_hop_and_one_without():
    custom = SimpleNamespace(hop=160, out_channels=4)
    assert hop_of(custom) == 160 and n_outputs(custom) == 4 and not is_model(custom)
    with pytest.raises(ConfigurationError, match="has no hop"):
        hop_of(nn.Linear(2, 2))
    assert n_outputs(nn.Linear(2, 2)) is None


def test_why_a_module_cannot_take_a_sound():
    model = Linear(8, 3, 2, wav2spec=make_wav2spec("mel", audio_fs=FS, dt_ms=5.0, n_mels=8))
    assert audio_mismatch(model, FS) is None and audio_mismatch(model, None) is None
    assert audio_mismatch(model, 48000) == "expects 16000 Hz audio; the sound is 48000 Hz"
    assert audio_mismatch(Linear(8, 3, 2), None) == "takes a spectrogram, not audio"
