"""What the causality view draws, without Qt: colour scales over decades with ticks in real gradient values,
screen-sized images that keep every gradient, the lag view's extent, and the segment."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.analysis.causality_display import (
    ColumnPyramid,
    ProgressiveDisplay,
    Segment,
    build_display,
    choose_scale,
    choose_segment,
    compute_display,
    draws_progressively,
    energy_lag,
    gradient_label,
    heat_tile,
    lag_extent,
    lag_rows,
    lag_tile,
    magnitude_stats,
)
from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.frontends import make_wav2spec
from strfviewer.backend.synth import vocalization_like

HOP = 240


def _decaying_jacobian(n_frames: int = 40, reach: int = 1440, decades: float = 4.0) -> np.ndarray:
    """Rows whose gradient decays over ``decades`` across a receptive field of ``reach`` samples."""
    rng = np.random.default_rng(0)
    jac = np.zeros((n_frames, n_frames * HOP), dtype=np.float32)
    for t in range(n_frames):
        end = (t + 1) * HOP
        a = max(0, end - reach)
        jac[t, a:end] = rng.choice([-1.0, 1.0], end - a) * np.logspace(-decades, 0, reach)[reach - (end - a) :]
    return jac


def test_the_signed_log_scale_spreads_decades_and_its_ticks_read_real_gradients():
    jac = _decaying_jacobian(decades=4.0)
    scale = choose_scale(magnitude_stats(jac))
    assert scale.kind == "signed log" and scale.top == pytest.approx(1.0)
    assert 2.0 <= scale.decades <= 6.0
    low, high = scale.levels
    assert low == -high and high == pytest.approx(np.log10(1 + 1 / scale.floor), rel=1e-5)
    # Each decade of gradient takes about the same share of the colour range, not 1/10 of the last one.
    positions = [scale.position(10.0**e) for e in (-3, -2, -1, 0)]
    steps = np.diff(positions)
    assert steps.min() > 0.8 * steps.max()
    labels = dict((label, value) for value, label in scale.ticks())
    for label in ("1e-3", "0.01", "0.1", "1", "-1e-3", "-0.01", "-0.1", "-1", "0"):
        assert label in labels, labels
    assert labels["1e-3"] == pytest.approx(scale.position(1e-3)) and labels["0"] == 0.0
    values = scale.transform(np.array([-1e-3, 0.0, 1e-3, np.nan], dtype=np.float32))
    assert values[0] == -values[2] and values[1] == 0 and np.isnan(values[3])


def test_the_user_sets_the_decades_shown_and_the_linear_scale_clips_at_a_percentile():
    stats = magnitude_stats(_decaying_jacobian())
    two = choose_scale(stats, decades=2)
    assert two.floor == pytest.approx(two.top / 100) and two.decades == pytest.approx(2.0)
    assert [label for _, label in two.ticks()] == ["-1", "-0.1", "0", "0.1", "1"]
    linear = choose_scale(stats, "linear", percentile=90.0)
    assert linear.levels == (-linear.top, linear.top) and linear.top == pytest.approx(stats.percentile(90.0))
    assert linear.top < stats.maximum
    ticks = linear.ticks()
    assert (0.0, "0") in ticks and all(abs(value) <= linear.top for value, _ in ticks) and len(ticks) >= 3
    absolute = choose_scale(stats, absolute=True)
    assert absolute.levels[0] == 0 and all(value >= 0 for value, _ in absolute.ticks())
    with pytest.raises(ConfigurationError, match="colour scale must be one of"):
        choose_scale(stats, "rainbow")


def test_the_scale_of_an_all_zero_jacobian_is_still_drawable():
    scale = choose_scale(magnitude_stats(np.zeros((3, 30), dtype=np.float32)))
    low, high = scale.levels
    assert np.isfinite(low) and high > low


def test_a_screen_sized_window_keeps_a_single_sample_gradient_of_any_sign():
    jac = np.zeros((8, 96_000), dtype=np.float32)
    jac[3, 50_001] = -1e-4  # one sample, tiny, negative: averaging or skipping columns would lose it
    jac[5, 123] = 2.0
    pyramid = ColumnPyramid(jac)
    tile = pyramid.window(0, 96_000, 600)
    assert tile.image.shape[1] <= 600 and tile.first == 0 and tile.last >= 96_000
    column = (50_001 - tile.first) * tile.image.shape[1] // (tile.last - tile.first)
    assert tile.image[3, column] == np.float32(-1e-4)
    assert np.count_nonzero(tile.image) == 2 and tile.image.max() == 2.0


def test_a_zoomed_window_is_the_full_resolution_slice():
    jac = np.random.default_rng(1).standard_normal((6, 48_000)).astype(np.float32)
    pyramid = ColumnPyramid(jac)
    tile = pyramid.window(10_000, 10_400, 800)  # 400 samples on 800 pixels
    assert (tile.first, tile.last, tile.rows) == (10_000, 10_400, 6)
    np.testing.assert_array_equal(tile.image, jac[:, 10_000:10_400])
    tile = pyramid.window(10_000, 14_000, 800)  # 4,000 samples: reduced, still covering the range
    assert tile.image.shape[1] <= 800 and tile.first <= 10_000 and tile.last >= 14_000
    np.testing.assert_array_equal(np.abs(tile.image).max(), np.abs(jac[:, tile.first : tile.last]).max())


def test_rows_are_reduced_to_the_pixels_by_largest_magnitude():
    jac = np.zeros((400, 1000), dtype=np.float32)
    jac[201, 10] = 5.0
    tile = ColumnPyramid(jac).window(0, 1000, 1000, rows=100)
    assert tile.image.shape[0] == 100 and tile.rows == 400 and tile.image[50, 10] == 5.0


def test_the_lag_view_covers_the_receptive_field_or_the_gradient_energy_with_a_future_margin():
    jac = _decaying_jacobian(reach=1440)
    past, future = lag_extent(jac, HOP, 1440, leaks=False)
    assert past == 1440 + 2 * HOP and future >= 4 * HOP
    lag = lag_rows(jac, HOP, past, future)
    assert lag.shape == (40, past + future)
    np.testing.assert_array_equal(lag[39, past - 1440 : past], jac[39, 39 * HOP + HOP - 1440 : 40 * HOP])
    assert np.isnan(lag[0, : past - HOP]).all()  # before the segment
    # A recursive (whole-past) field: where 99% of sum |J|^2 lies, not the whole segment.
    recursive = np.zeros((100, 100 * HOP), dtype=np.float32)
    for t in range(100):
        end = (t + 1) * HOP
        recursive[t, :end] = np.exp(-(end - np.arange(end)) / 2000.0)[:end]
    lag99 = energy_lag(recursive, HOP)
    assert 4000 < lag99 < 8000  # e^(-2 lag / 2000) holds 99% of its energy by ~4,600 samples
    past, _ = lag_extent(recursive, HOP, None, leaks=False)
    assert past == lag99 + 2 * HOP and past < recursive.shape[1] / 2


def test_a_leak_widens_the_future_margin():
    jac = _decaying_jacobian()
    jac[10, 11 * HOP + 1999] = 0.5  # frame 10 reads a sample 2,000 samples after its end
    _, future = lag_extent(jac, HOP, 1440, leaks=True)
    assert future >= 2000


def test_build_display_and_progressive_rows():
    jac = _decaying_jacobian()
    display = build_display(jac, HOP, 1440, leaks=False)
    assert display.heat.image is jac and display.past == 1440 + 2 * HOP
    assert display.scale().top == pytest.approx(1.0)
    partial = ProgressiveDisplay(40, 40 * HOP, HOP, reach_hint=1440)
    assert np.isnan(partial.jacobian).all() and partial.rows_done == 0
    partial.add_rows(8, jac[8:16])
    assert partial.rows_done == 8
    shown = partial.display()
    tile = shown.heat.window(0, 40 * HOP, 300)
    assert np.isnan(tile.image[:8]).all() and np.isfinite(tile.image[8:16]).all() and np.isnan(tile.image[16:]).all()
    assert shown.scale().top == pytest.approx(np.abs(jac[8:16]).max())
    np.testing.assert_array_equal(shown.lag.image[8:16], lag_rows(jac, HOP, partial.past, partial.future)[8:16])


def test_labels_name_the_gradient_and_its_unit():
    assert gradient_label("neuron", True) == "∂ rate / ∂ sample"
    assert gradient_label("projection", False) == "∂ frame / ∂ sample"
    assert gradient_label("abs", False) == "Σ |∂ channel / ∂ sample|"
    assert gradient_label("channel", False) == "∂ channel / ∂ sample"


def test_segments_are_whole_frames_capped_and_widened():
    segment = choose_segment((0.1, 0.1001), 4000, 16000, 80)
    assert segment.n_frames == 1 and "widened to one frame" in segment.notes
    segment = choose_segment((0.0, 3.0), 3 * 16000, 16000, 80)
    assert segment.duration_s == 2.0 and "capped" in segment.notes[0]
    with pytest.raises(ConfigurationError, match="shorter than one frame"):
        choose_segment((0, 1), 10, 16000, 80)


def test_a_segment_places_frame_ends_receptive_fields_and_the_first_lag_axis():
    segment = Segment(1600, 4 * 80, 16000, 80)
    x, y = segment.frame_boundary()
    np.testing.assert_allclose(x, np.repeat([0.105, 0.11, 0.115, 0.12], 2))
    np.testing.assert_array_equal(y, [0, 1, 1, 2, 2, 3, 3, 4])
    assert segment.reach_start_s(2, 120) == pytest.approx(0.115 - 120 / 16000)
    assert segment.reach_start_s(0, 10_000) == pytest.approx(0.1)  # never before the segment
    assert segment.reach_start_s(3, None) == pytest.approx(0.1)  # unbounded: the whole segment
    assert segment.preview_lag_ms() == pytest.approx((-20.0, 5.0))


def test_tiles_land_where_their_samples_and_lags_are():
    jac = _decaying_jacobian()
    segment = Segment(4800, jac.shape[1], 48000, HOP)
    display = build_display(jac, HOP, 1440, leaks=False)
    heat = heat_tile(display, segment, (segment.start_s, segment.start_s + segment.duration_s), (0, 40), 20000, 40)
    assert heat.image.shape == jac.shape and heat.rows == 40  # fits the pixels: full resolution
    assert heat.x == pytest.approx(segment.start_s) and heat.width == pytest.approx(segment.duration_s)
    past_ms, future_ms = display.lag_range_ms(segment.audio_fs)
    assert past_ms == pytest.approx(-display.past / 48) and future_ms == pytest.approx(display.future / 48)
    lag = lag_tile(display, segment, (past_ms, future_ms), (0, 40), 20000, 40)
    assert lag.image.shape == display.lag.image.shape
    assert lag.x == pytest.approx(past_ms) and lag.width == pytest.approx(future_ms - past_ms)
    small = heat_tile(display, segment, (segment.start_s, segment.start_s + segment.duration_s), (0, 10), 100, 5)
    assert small.image.shape[1] <= 100 and small.rows >= 40  # reduced; each tile row stands for whole frames


def test_the_job_computes_a_view_mode_and_hands_out_rows_only_for_slow_modules():
    frontend = make_wav2spec("mel", audio_fs=16000, dt_ms=5.0, n_mels=8).eval()
    samples = vocalization_like(16000, 0.1)[: 20 * 80]
    arrived = []
    shown = compute_display(frontend, samples, "channel", 3, rows_ready=lambda first, part: arrived.append(first))
    assert shown.result.jacobian.shape == (20, 1600) and shown.result.leak_is_exactly_zero
    assert not draws_progressively(frontend) and arrived == []
    assert not shown.display.absolute
    assert compute_display(frontend, samples, "abs", None).display.absolute
    encoder = make_wav2spec("icnet", audio_fs=16000, dt_ms=5.0)
    assert draws_progressively(encoder)
