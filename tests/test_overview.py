"""The overview's traces keep every peak: the envelope of a whole sound, and the growing one of the microphone,
which stays within its column budget however long the recording and however the blocks arrive."""

from __future__ import annotations

import numpy as np

from strfviewer.backend.overview import GrowingEnvelope, envelope


def test_the_growing_envelope_is_the_min_max_of_its_columns_at_every_step():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(100_000).astype(np.float32)
    grow = GrowingEnvelope(1000, columns=64, first_span_s=0.01)
    done = 0
    while done < x.size:
        n = int(rng.integers(1, 3000))
        grow.append(x[done:done + n])
        done = min(x.size, done + n)
        k, per = grow.lows.shape[0], grow.per
        assert k <= 64
        np.testing.assert_array_equal(grow.lows, x[:k * per].reshape(k, per).min(axis=1))
        np.testing.assert_array_equal(grow.highs, x[:k * per].reshape(k, per).max(axis=1))
        t, y = grow.trace()
        rest = x[k * per:done]
        if rest.size:  # the open column: what arrived since the last whole one
            assert (y[-2], y[-1]) == (rest.min(), rest.max())
        assert t.shape == y.shape and np.all(np.diff(t) >= 0) and t[-1] <= done / 1000
    assert grow.per > 10  # it did merge
    assert y.max() == x.max() and y.min() == x.min()  # no peak is lost


def test_a_short_sound_is_traced_sample_by_sample_and_a_long_one_by_columns():
    short = np.arange(10, dtype=np.float32)
    _, y = envelope(short, 10)
    np.testing.assert_array_equal(y, short)
    long = np.sin(np.arange(100_000, dtype=np.float32))
    _, y = envelope(long, 1000, columns=100)
    assert y.shape == (200,) and y.max() == long[:100_000].max()
