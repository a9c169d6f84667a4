"""When each sample of a live input reached strfviewer: the start of the capture-to-pixel latency.

The views run at their own rate (the front-ends' or the model's); the device may run at another, with the
causal resampler between. Sample ``n`` of the views' stream stands for the device's time
``n / rate - delay_s`` (the resampler's fixed delay), so its capture time is that device sample's arrival.
"""

from __future__ import annotations

import math
from typing import Protocol


class ArrivalClock(Protocol):
    rate: int

    def arrival_time(self, sample: int) -> float | None: ...


class InputTimeline:
    """Capture times of a live input's samples at ``rate`` Hz, from a device clock and the resampler delay."""

    def __init__(self, clock: ArrivalClock, rate: int, delay_s: float = 0.0) -> None:
        self.clock, self.rate, self.delay_s = clock, rate, delay_s

    def captured_at(self, sample: int) -> float | None:
        """``time.monotonic`` seconds at which sample ``sample`` (at :attr:`rate`) was captured, None if unknown."""
        device_sample = math.floor((sample / self.rate - self.delay_s) * self.clock.rate)
        return self.clock.arrival_time(max(0, device_sample))
