"""The live input's ring buffer: a writer thread's samples reach the reader whole and in order while the
reader stalls less than the ring holds; beyond that, exactly the overwritten samples are counted."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from strfviewer.backend.errors import ConfigurationError
from strfviewer.backend.live.ring import SampleRing


def test_a_writer_thread_and_a_stalling_reader_lose_nothing_within_capacity():
    ring = SampleRing(48000)  # 1 s at 48 kHz
    signal = np.arange(96000, dtype=np.float32)
    done = threading.Event()

    def callback_thread() -> None:
        for start in range(0, signal.shape[0], 480):  # 10 ms blocks, as an audio callback delivers them
            ring.write(signal[start:start + 480])
            time.sleep(0.0005)
        done.set()

    writer = threading.Thread(target=callback_thread)
    writer.start()
    received, expected_index = [], 0
    while not done.is_set() or ring.written > expected_index:
        index, block = ring.read()
        assert index == expected_index
        received.append(block)
        expected_index += block.shape[0]
        time.sleep(0.05)  # a busy GUI thread: far less than the ring's second
    writer.join()
    np.testing.assert_array_equal(np.concatenate(received), signal)
    assert ring.dropped == 0


def test_a_stall_longer_than_the_ring_counts_exactly_the_overwritten_samples():
    ring = SampleRing(1000)
    for start in range(0, 2500, 100):
        ring.write(np.arange(start, start + 100, dtype=np.float32), overflowed=start == 300)
    index, block = ring.read()
    assert ring.dropped == 1500 and index == 1500 and ring.overflows == 1
    np.testing.assert_array_equal(block, np.arange(1500, 2500, dtype=np.float32))
    ring.write(np.arange(2500, 5000, dtype=np.float32))  # one block longer than the ring
    index, block = ring.read()
    assert index == 4000 and ring.dropped == 3000
    np.testing.assert_array_equal(block, np.arange(4000, 5000, dtype=np.float32))
    assert ring.read()[1].shape == (0,)


def test_a_ring_needs_a_capacity():
    with pytest.raises(ConfigurationError, match="capacity"):
        SampleRing(0)
