"""Bad arguments fail at construction with a message naming the argument, the value and what is allowed."""

from __future__ import annotations

import pytest

from strfviewer.backend.errors import ConfigurationError, StrfviewerError
from strfviewer.backend.frontends import KINDS, make_wav2spec

BAD_ARGUMENTS = [
    ("mel", {"audio_fs": 0}, ["audio_fs", "0", "> 0"]),
    ("mel", {"audio_fs": -16000}, ["audio_fs", "-16000"]),
    ("mel", {"audio_fs": 48828.125}, ["audio_fs", "48828.125", "whole number", "Resample"]),
    ("mel", {"win_ms": 2.0}, ["win_ms (2)", "hop_ms (5)"]),
    ("mel", {"magnitude": "phase"}, ["magnitude", "'phase'", "'amplitude', 'power'"]),
    ("mel", {"compression": "sqrt"}, ["compression", "'sqrt'", "'log', 'cubic', 'log1p', 'none'"]),
    ("mel", {"n_mels": 0}, ["n_mels", "0", ">= 1"]),
    ("mel", {"n_mels": 3.5}, ["n_mels", "3.5", "an integer"]),
    ("mel", {"f_min": 9000.0, "f_max": 8000.0}, ["f_min=9000", "f_max=8000", "0 <= f_min < f_max"]),
    ("mel", {"f_min": 30000.0, "f_max": 40000.0}, ["f_min=30000", "after clamping to Nyquist", "24000"]),
    ("mel", {"f_min": -5.0}, ["f_min", "-5.0", ">= 0"]),
    ("mel", {"log_floor": 0.0}, ["log_floor", "> 0"]),
    ("gammatone", {"rectify": "square"}, ["rectify", "'halfwave', 'full'"]),
    ("gammatone", {"compression": "exp"}, ["compression", "'log', 'cuberoot', 'pcen', 'none'"]),
    ("gammatone", {"env_window_ms": 2.0}, ["env_window_ms (2)", "hop_ms (5)"]),
    ("gammatone", {"kernel_ms": 0.0}, ["kernel_ms", "> 0"]),
    ("gammatone", {"order": 0}, ["order", ">= 1"]),
    ("gammatone", {"pcen_s": 1.5}, ["pcen_s", "<= 1"]),
    ("sincnet", {"kernel_size": 0}, ["kernel_size", "0", ">= 1"]),
    ("sincnet", {"activation": "relu"}, ["activation", "'symlog', 'logabs', 'none'"]),
    ("sincnet", {"init": "log"}, ["init", "'mel', 'linear'"]),
    ("sincnet", {"envelope": "yes"}, ["envelope", "True or False"]),
    ("sincnet", {"envelope": True, "env_window_ms": 1.0}, ["env_window_ms (1)", "hop_ms (5)"]),
    ("sincnet", {"f_min": 500.0, "f_max": 400.0}, ["f_min=500", "f_max=400"]),
    ("leaf", {"n_filters": -1}, ["n_filters", "-1"]),
    ("leaf", {"learn_filters": 1}, ["learn_filters", "True or False"]),
    ("leaf", {"kernel_ms": -1.0}, ["kernel_ms", "> 0"]),
    ("icnet", {"encoder_strides": [2, 2, 2]}, ["encoder_strides [2, 2, 2]", "multiply to 8", "240"]),
    ("icnet", {"n_encoder_layers": 0}, ["n_encoder_layers", ">= 1"]),
    ("icnet", {"encoder_kernel_size": 0}, ["encoder_kernel_size", ">= 1"]),
]


@pytest.mark.parametrize(
    "kind,kwargs,fragments", BAD_ARGUMENTS, ids=[f"{k}-{'-'.join(a)}" for k, a, _ in BAD_ARGUMENTS]
)
def test_bad_constructor_arguments_are_explained(kind, kwargs, fragments):
    kwargs = dict(kwargs)
    audio_fs = kwargs.pop("audio_fs", 48000)
    with pytest.raises(ConfigurationError) as info:
        make_wav2spec(kind, audio_fs=audio_fs, dt_ms=5.0, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"
    assert isinstance(info.value, ValueError) and isinstance(info.value, StrfviewerError)


@pytest.mark.parametrize("dt_ms", [0.0, -5.0])
@pytest.mark.parametrize("kind", KINDS)
def test_frame_period_must_be_positive(kind, dt_ms):
    with pytest.raises(ConfigurationError, match="must be a number > 0"):
        make_wav2spec(kind, audio_fs=16000, dt_ms=dt_ms)


@pytest.mark.parametrize("kind", ["mel", "gammatone", "leaf"])
def test_f_max_above_nyquist_is_clamped(kind):
    module = make_wav2spec(kind, audio_fs=16000, dt_ms=5.0, f_max=22627.0)
    assert module.f_max == 8000.0
    assert max(module.centre_frequencies()) <= 8000.0


def test_unknown_kind_lists_the_available_kinds():
    with pytest.raises(ConfigurationError) as info:
        make_wav2spec("cochleagram", audio_fs=16000, dt_ms=5.0)
    assert "'cochleagram'" in str(info.value)
    for kind in KINDS:
        assert kind in str(info.value)


def test_kind_is_case_insensitive_and_dt_sets_the_hop():
    module = make_wav2spec("MEL", audio_fs=16000, dt_ms=5.0)
    assert module.kind == "mel" and module.hop == 80
    assert make_wav2spec("icnet", audio_fs=16000, dt_ms=5.0, n_filters=4, encoder_channels=4,
                         bottleneck_channels=4).encoder_strides == [2, 2, 2, 2, 5]


def test_frame_period_given_twice_is_refused():
    with pytest.raises(ConfigurationError, match="pass the frame period once"):
        make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, hop_ms=10.0)


@pytest.mark.parametrize("kind", KINDS)
def test_every_frontend_describes_itself(kind):
    module = make_wav2spec(kind, audio_fs=16000, dt_ms=5.0)
    info = module.describe()
    assert info["kind"] == kind
    assert info["hop"] == 80 and info["audio_fs"] == 16000
    names = [field["name"] for field in info["schema"]]
    assert len(names) == len(set(names)) and "audio_fs" in names
    for field in info["schema"]:
        assert field["help"] and field["type"] in {"int", "float", "str", "bool"}
        assert field["name"] in info["config"]
    fc = info["centre_frequencies_hz"]
    if kind == "icnet":
        assert fc is None  # latent channels have no centre frequency
    else:
        assert len(fc) == module.out_channels and fc == sorted(fc)
    assert set(info["learnable"]) == set(module.learnable_tensors())
    assert bool(info["learnable"]) == (kind in {"sincnet", "leaf", "icnet"})
    # The schema's defaults rebuild the same front-end.
    defaults = {f["name"]: f["default"] for f in info["schema"] if f["name"] not in ("audio_fs", "hop_ms", "dt_ms")}
    rebuilt = make_wav2spec(kind, audio_fs=16000, dt_ms=5.0, **defaults)
    assert rebuilt.out_channels == module.out_channels and rebuilt.config == module.config
