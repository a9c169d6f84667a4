"""The live input's causal resampler: chunked output equals the offline conversion, no output reads a later
input, and a sine comes out as the same sine, delayed by exactly the filter's centre."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.live.resample import ZERO_CROSSINGS, CausalResampler, resample_causal

RATES = [(44100, 48000), (48000, 16000), (16000, 48000), (48000, 48000)]


@pytest.mark.parametrize("source,target", RATES)
def test_chunked_output_equals_the_offline_conversion(source, target):
    x = np.random.default_rng(0).normal(size=source // 5)
    offline = resample_causal(x, source, target)
    assert abs(offline.shape[0] - x.shape[0] * target / source) <= 1
    stream = CausalResampler(source, target)
    sizes = np.random.default_rng(1).integers(0, 700, size=200)
    parts, start = [], 0
    for size in sizes:
        parts.append(stream.push(x[start:start + size]))
        start += size
    parts.append(stream.push(x[start:]))
    np.testing.assert_array_equal(np.concatenate(parts), offline)


@pytest.mark.parametrize("source,target", RATES[:3])
def test_no_output_reads_a_later_input(source, target):
    x = np.random.default_rng(2).normal(size=3000)
    stream = CausalResampler(source, target)
    before = resample_causal(x, source, target)
    for cut in (100, 1234, 2500):
        later = x.copy()
        later[cut:] += 1.0
        after = resample_causal(later, source, target)
        # output m reads inputs up to floor(m M / L): those before the cut are untouched
        untouched = int(np.sum((np.arange(before.shape[0]) * stream.down) // stream.up < cut))
        np.testing.assert_array_equal(after[:untouched], before[:untouched])
        assert not np.array_equal(after[untouched:untouched + 5], before[untouched:untouched + 5])


@pytest.mark.parametrize("source,target", [(44100, 48000), (48000, 16000)])
def test_a_sine_comes_out_as_the_same_sine_delayed_by_the_filter_centre(source, target):
    frequency = 1000.0
    t = np.arange(source) / source
    y = resample_causal(np.sin(2 * np.pi * frequency * t), source, target).astype(np.float64)
    delay = CausalResampler(source, target).delay_s
    assert delay == pytest.approx(ZERO_CROSSINGS / source)
    out_t = np.arange(y.shape[0]) / target
    steady = slice(target // 20, y.shape[0] - target // 20)
    expected = np.sin(2 * np.pi * frequency * (out_t - delay))
    assert np.abs(y[steady] - expected[steady]).max() < 1e-3


def test_content_above_the_lower_nyquist_is_removed():
    source, target = 48000, 16000
    t = np.arange(source) / source
    y = resample_causal(np.sin(2 * np.pi * 12000.0 * t), source, target)  # would alias to 4 kHz
    assert np.abs(y[target // 10:]).max() < 1e-3


def test_equal_rates_pass_samples_through_without_delay():
    x = np.random.default_rng(3).normal(size=500).astype(np.float32)
    stream = CausalResampler(48000, 48000)
    assert stream.delay_s == 0.0
    np.testing.assert_array_equal(np.concatenate([stream.push(x[:7]), stream.push(x[7:])]), x)


@pytest.mark.parametrize("source,target,fragment", [(0, 48000, "source_rate"), (44100, 1.5, "target_rate"),
                                                    (44101, 48000, "simple fraction")])
def test_rates_a_live_converter_cannot_take_are_refused_with_the_fix(source, target, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        CausalResampler(source, target)
