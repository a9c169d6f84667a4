"""The frequency range a new front-end starts with: it follows the response set (hearing range, neurons' CFs)
or the sound's band and says why, while make_wav2spec keeps deepSTRF's defaults; neurons below a fit's
filterbank are counted."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from strfviewer.backend.data.responses import NeuronInfo
from strfviewer.backend.frontends import KINDS, make_wav2spec
from strfviewer.backend.frontends.band import (
    SOUND_LOWEST_HZ,
    cf_coverage,
    describe_range,
    frequency_range,
    suggest_frequency_range,
)
from strfviewer.backend.frontends.scales import erb_bandwidth


@dataclass
class FakeResponses:
    """What the suggestion reads from a ResponseSet."""

    hearing_range_hz: tuple | None = None
    neurons: list = field(default_factory=list)
    name: str = "fake"


def _neurons(*cfs) -> list[NeuronInfo]:
    return [NeuronInfo(f"n{i}", meta={} if cf is None else {"cf_hz": cf}) for i, cf in enumerate(cfs)]


def test_make_wav2spec_keeps_the_deepstrf_defaults():
    assert make_wav2spec("mel", audio_fs=48000, dt_ms=5.0).f_min == 500.0
    assert make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0).f_min == 500.0


def test_without_a_response_set_mel_and_gammatone_start_at_50_hz_and_say_why():
    for kind in ("mel", "gammatone"):
        suggestion = suggest_frequency_range(kind, audio_fs=48000)
        assert suggestion.args["f_min"] == SOUND_LOWEST_HZ == 50.0
        assert suggestion.reason.startswith("lowest frequency 50 Hz: the sound's band")
        assert "500 Hz hides speech F0" in suggestion.reason and "\n" not in suggestion.reason
    for kind in ("sincnet", "leaf", "icnet"):  # their own defaults already reach low, or have no range
        assert suggest_frequency_range(kind, audio_fs=48000).args == {}
    assert suggest_frequency_range("no-such-kind").args == {}


def test_the_hearing_range_sets_the_lowest_frequency_with_the_reason():
    rs = FakeResponses((100.0, 40000.0), _neurons(200.0, 1000.0, None))
    suggestion = suggest_frequency_range("mel", responses=rs, audio_fs=48000)
    assert suggestion.args == {"f_min": 100.0}  # 24 kHz Nyquist is barely above the default top: kept
    assert suggestion.reason == "lowest frequency 100 Hz: from the response set's hearing range 100–40,000 Hz"
    for kind in ("sincnet", "leaf"):
        assert suggest_frequency_range(kind, responses=rs, audio_fs=48000).args["f_min"] == 100.0
    assert suggest_frequency_range("icnet", responses=rs, audio_fs=48000).args == {}


def test_a_neuron_below_the_hearing_range_or_no_hearing_range_uses_the_lowest_cf():
    below = suggest_frequency_range("mel", responses=FakeResponses((125.0, 8000.0), _neurons(90.0, 400.0)),
                                    audio_fs=48000)
    assert below.args["f_min"] == 90.0 and "lowest neuron CF" in below.reason and "125–8,000 Hz" in below.reason
    assert below.args["f_max"] == 8000.0 and "highest 8,000 Hz" in below.reason  # the hearing range ends early
    only_cfs = suggest_frequency_range("gammatone", responses=FakeResponses(None, _neurons(250.0, 3000.0)),
                                       audio_fs=48000)
    assert only_cfs.args["f_min"] == 250.0 and "f_max" not in only_cfs.args


def test_malformed_hearing_ranges_and_cfs_are_ignored_for_the_sounds_band():
    for rs in (FakeResponses(("low", 8000.0), _neurons(-5.0, math.nan, True)), FakeResponses((9000.0, 100.0))):
        suggestion = suggest_frequency_range("mel", responses=rs, audio_fs=48000)
        assert suggestion.args == {"f_min": 50.0} and "the sound's band" in suggestion.reason
        assert suggest_frequency_range("sincnet", responses=rs, audio_fs=48000).args == {}


def test_ultrasound_raises_the_top_and_everything_stays_below_nyquist():
    bat = FakeResponses((2000.0, 120000.0))
    high = suggest_frequency_range("mel", responses=bat, audio_fs=250000)
    assert high.args["f_max"] == 120000.0 and "highest 120,000 Hz: the hearing range" in high.reason
    capped = suggest_frequency_range("gammatone", responses=bat, audio_fs=96000)
    assert capped.args["f_max"] == 48000.0 and "Nyquist" in capped.reason
    tiny = suggest_frequency_range("mel", audio_fs=80)  # Nyquist 40 Hz, below the sound band's 50 Hz
    assert tiny.args["f_min"] < 40.0 and "capped below" in tiny.reason


@pytest.mark.parametrize("audio_fs", [8000, 16000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("responses", [None, FakeResponses((20.0, 20000.0)), FakeResponses((125.0, 40000.0))])
def test_every_suggestion_builds_and_no_mel_band_is_empty(audio_fs, responses):
    for kind in KINDS:
        suggestion = suggest_frequency_range(kind, responses=responses, audio_fs=audio_fs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torchaudio warns about all-zero mel bands
            frontend = make_wav2spec(kind, audio_fs=audio_fs, dt_ms=5.0, **suggestion.args)
        if kind == "mel":
            assert (frontend._mel_fb.sum(dim=0) > 0).all()


def test_a_lower_gammatone_bank_gets_kernels_that_hold_its_lowest_channel():
    """The 20 ms default holds the 500 Hz channel's envelope down to a few %: the suggested length holds the
    50 Hz channel as well, where 20 ms would cut it off near its peak."""
    suggestion = suggest_frequency_range("gammatone", audio_fs=48000)
    assert suggestion.args["kernel_ms"] == math.ceil(20 * erb_bandwidth(500.0) / erb_bandwidth(50.0))
    assert "kernels" in suggestion.reason

    def tail(frontend) -> float:
        envelope = np.abs(frontend.impulse_responses()[0].numpy())
        return envelope[-envelope.size // 20:].max() / envelope.max()

    default = tail(make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0))
    suggested = tail(make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0, **suggestion.args))
    truncated = tail(make_wav2spec("gammatone", audio_fs=48000, dt_ms=5.0, f_min=50.0))
    assert suggested <= 1.5 * default and truncated > 5 * default


def test_the_range_of_a_front_end_is_described():
    assert frequency_range("mel", {}) == (500.0, 22627.0)
    assert frequency_range("mel", {"f_max": None}, audio_fs=16000) == (500.0, 8000.0)
    assert frequency_range("sincnet", {})[1] == math.inf and describe_range("sincnet", {}) == "300 Hz to Nyquist"
    assert describe_range("gammatone", {"f_min": 62.5}, audio_fs=16000) == "62.5 Hz to 8,000 Hz"
    assert frequency_range("icnet", {}) is None and describe_range("icnet", {}) == ""


def test_neurons_below_the_lowest_filter_are_counted():
    rs = FakeResponses((100.0, 8000.0), _neurons(150.0, 300.0, 2000.0, 90.0, None))
    coverage = cf_coverage(rs, "mel", {})
    assert (coverage.below, coverage.with_cf, coverage.lowest_cf_hz, coverage.lowest_filter_hz) == (3, 4, 90.0, 500.0)
    message = coverage.message()
    assert message.startswith("3 of 4 neurons have a characteristic frequency (cf_hz) below the mel front-end's "
                              "lowest frequency of 500 Hz (lowest cf 90 Hz)")
    assert message.endswith("set f_min to 90 Hz or lower")
    assert cf_coverage(rs, "mel", {}, neurons=[1, 2]).below == 1
    assert cf_coverage(rs, "mel", {"f_min": 90.0}) is None
    assert cf_coverage(rs, "icnet", {}) is None and cf_coverage(FakeResponses(), "mel", {}) is None
