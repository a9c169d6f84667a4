"""Simulated neurons for the demo response set: auditory-nerve fibres and a few cortex-like units.

The auditory nerve is the Bruce, Erfani & Zilany (2018) model (PyPI ``brucezilany``, cat cochlea), run on each
stimulus at 100 kHz with the samples taken as pascals. The cortex-like units are small rate models driven by
the simulated nerve population (band-weighted sums of fibre rates with adaptation, synaptic depression or
delayed inhibition), turned into spikes by a Poisson process with a refractory period. None of this uses
strfviewer's own models, so fitting them is a fair test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

AN_FS = 100_000  # the nerve model's sample rate (it accepts 100-500 kHz)
TICK_S = 1e-5  # spike times are stored as integer ticks of 10 us
DRIVE_FS = 1000  # cortex-like units run at 1 ms steps


@dataclass(frozen=True)
class Fibre:
    cf_hz: float
    spont: float  # spontaneous rate (spikes/s): 100 high, 10 medium, 0.1 low
    label: str


@dataclass(frozen=True)
class CortexUnit:
    name: str
    kind: str  # onset | offset | sideband | depressing | envelope | onoff
    bf_hz: float
    bandwidth_oct: float
    delay_ms: float
    max_rate: float
    spont: float
    description: str


def fibres(n: int, f_min: float = 200.0, f_max: float = 16000.0) -> list[Fibre]:
    """``n`` fibres at log-spaced characteristic frequencies, alternately high- and medium-spontaneous."""
    cfs = np.geomspace(f_min, f_max, n)
    return [Fibre(float(cf), 100.0 if i % 2 == 0 else 10.0, "high" if i % 2 == 0 else "medium")
            for i, cf in enumerate(cfs)]


CORTEX_UNITS = [
    CortexUnit("ctx-onset-2k", "onset", 2000, 0.8, 12, 150, 2,
               "onset unit: band drive minus its own 60 ms running mean (strong adaptation)"),
    CortexUnit("ctx-offset-6k", "offset", 6000, 0.8, 15, 90, 3,
               "offset unit: fires when the band drive falls below its 80 ms running mean"),
    CortexUnit("ctx-sideband-1k", "sideband", 1000, 0.5, 10, 110, 4,
               "sustained unit with delayed inhibitory side bands (one octave away, 6 ms later)"),
    CortexUnit("ctx-depress-broad", "depressing", 3000, 2.0, 14, 160, 2,
               "broadband unit with depressing synapses (recovery 250 ms): follows slow modulations only"),
    CortexUnit("ctx-envelope-4k", "envelope", 4000, 0.7, 11, 120, 3,
               "envelope unit: band-pass envelope follower (fast minus slow smoothing, 10 and 120 ms)"),
    CortexUnit("ctx-onoff-10k", "onoff", 10000, 0.7, 13, 120, 2,
               "on-off unit: responds to rising and falling band energy"),
]


def simulate_fibre(audio_an: np.ndarray, tail_s: float, fibre: Fibre, repeats: int, seed: int) -> list[np.ndarray]:
    """Spike times (s) of one fibre on one stimulus (samples in Pa at ``AN_FS``), one array per repeat."""
    import brucezilany as bz

    bz.set_seed(seed)
    duration = audio_an.size / AN_FS + tail_s
    stimulus = bz.stimulus.Stimulus(audio_an.astype(np.float64).tolist(), AN_FS, duration)
    ihc = bz.inner_hair_cell(stimulus=stimulus, cf=fibre.cf_hz, n_rep=repeats, cohc=1.0, cihc=1.0,
                             species=bz.Species.CAT)
    mapped = bz.map_to_synapse(ihc_output=ihc, spontaneous_firing_rate=fibre.spont,
                               characteristic_frequency=fibre.cf_hz, time_resolution=stimulus.time_resolution)
    output = bz.synapse(amplitude_ihc=mapped, cf=fibre.cf_hz, n_rep=repeats,
                        n_timesteps=stimulus.n_simulation_timesteps, time_resolution=stimulus.time_resolution,
                        spontaneous_firing_rate=fibre.spont, noise=bz.NoiseType.RANDOM)
    # The repeats run back to back: repeat r occupies [r * duration, (r + 1) * duration).
    times = np.asarray(output.spike_times, dtype=np.float64)
    step = stimulus.n_simulation_timesteps * stimulus.time_resolution
    which = np.minimum((times // step).astype(int), repeats - 1)
    return [np.sort(times[which == r] - r * step) for r in range(repeats)]


def population_rate(spikes: list[np.ndarray], seconds: float) -> np.ndarray:
    """Mean rate over repeats (spikes/s) at ``DRIVE_FS``, smoothed by a 3 ms Hann window."""
    n = round(seconds * DRIVE_FS)
    counts = np.zeros(n)
    for times in spikes:
        index = np.minimum((times * DRIVE_FS).astype(int), n - 1)
        np.add.at(counts, index, 1.0)
    rate = counts * DRIVE_FS / len(spikes)
    window = np.hanning(5)[1:-1]
    return np.convolve(rate, window / window.sum(), mode="same")


def _smooth(x: np.ndarray, tau_ms: float) -> np.ndarray:
    """Causal one-pole low-pass with time constant ``tau_ms`` along the last axis."""
    alpha = math.exp(-1000.0 / (tau_ms * DRIVE_FS))
    out = np.empty_like(x)
    state = x[..., 0]
    for t in range(x.shape[-1]):
        state = alpha * state + (1 - alpha) * x[..., t]
        out[..., t] = state
    return out


def _band(drive: np.ndarray, cfs: np.ndarray, centre: float, width_oct: float) -> np.ndarray:
    weights = np.exp(-0.5 * (np.log2(cfs / centre) / width_oct) ** 2)
    return weights @ drive / weights.sum()


def cortex_rate(unit: CortexUnit, drive: np.ndarray, cfs: np.ndarray) -> np.ndarray:
    """Rate (spikes/s, before scaling) of one unit from the fibre drive ``(fibres, steps)``, normalised per fibre."""
    delay = round(unit.delay_ms * DRIVE_FS / 1000)
    band = _band(drive, cfs, unit.bf_hz, unit.bandwidth_oct)
    if unit.kind == "onset":
        rate = np.maximum(band - _smooth(band, 60.0), 0.0)
    elif unit.kind == "offset":
        rate = np.maximum(_smooth(band, 80.0) - band - 0.05, 0.0)
    elif unit.kind == "sideband":
        flanks = 0.5 * (_band(drive, cfs, unit.bf_hz * 2, 0.4) + _band(drive, cfs, unit.bf_hz / 2, 0.4))
        inhibition = np.concatenate([np.zeros(6), flanks[:-6]])
        rate = np.maximum(band - 0.9 * inhibition, 0.0)
    elif unit.kind == "depressing":
        resources, out = 1.0, np.empty_like(band)
        for t, value in enumerate(band):
            out[t] = resources * value
            resources += (1.0 - resources) / 250.0 - 0.02 * resources * value
            resources = min(max(resources, 0.0), 1.0)
        rate = np.maximum(out - 0.1, 0.0)
    elif unit.kind == "envelope":
        rate = np.maximum(_smooth(band, 10.0) - _smooth(band, 120.0), 0.0)
    elif unit.kind == "onoff":
        slow = _smooth(band, 50.0)
        rate = np.abs(band - slow)
    else:
        raise ValueError(f"unknown cortex-like unit kind {unit.kind!r}")
    return np.concatenate([np.zeros(delay), rate[: rate.size - delay]])


def poisson_spikes(rate: np.ndarray, repeats: int, rng: np.random.Generator, refractory_ms: float = 2.0) \
        -> list[np.ndarray]:
    """Spike times (s) from a rate at ``DRIVE_FS`` with an absolute refractory period, one array per repeat."""
    dt = 1.0 / DRIVE_FS
    dead = round(refractory_ms * DRIVE_FS / 1000)
    out = []
    for _ in range(repeats):
        fire = rng.random(rate.size) < np.clip(rate * dt, 0.0, 0.9)
        times, last = [], -dead - 1
        for t in np.flatnonzero(fire):
            if t - last > dead:
                times.append((t + rng.random()) * dt)
                last = t
        out.append(np.asarray(times))
    return out


def bin_counts(spikes: list[np.ndarray], dt_s: float, n_bins: int) -> np.ndarray:
    """Counts ``(repeats, n_bins)`` of spike times in bins of ``dt_s`` from onset."""
    out = np.zeros((len(spikes), n_bins), dtype=np.int16)
    for r, times in enumerate(spikes):
        index = (times / dt_s).astype(int)
        np.add.at(out[r], index[(index >= 0) & (index < n_bins)], 1)
    return out
