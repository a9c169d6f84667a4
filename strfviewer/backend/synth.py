"""Generated sounds for a first look when no recording is at hand."""

from __future__ import annotations

import numpy as np


def vocalization_like(audio_fs: int = 48000, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A harmonic call with a rising-falling pitch contour, amplitude modulation and a noise burst.

    It exercises every part of a front-end: harmonics spread over the spectrum, frequency sweeps, onsets
    and a broadband transient. Mono float32, peak 0.5.
    """
    rng = np.random.default_rng(seed)
    n = int(audio_fs * seconds)
    t = np.arange(n) / audio_fs
    contour = 600 + 900 * np.sin(np.pi * t / seconds) ** 2 + 80 * np.sin(2 * np.pi * 6 * t)
    phase = 2 * np.pi * np.cumsum(contour) / audio_fs
    nyquist = audio_fs / 2
    voice = sum(np.sin(k * phase) / k for k in range(1, 9) if k * contour.max() < nyquist)
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    burst = np.zeros(n)
    start, length = int(0.8 * n), int(0.04 * audio_fs)
    burst[start : start + length] = rng.standard_normal(min(length, n - start)) * np.hanning(min(length, n - start))
    sound = voice * syllables + 0.6 * burst
    return (0.5 * sound / np.abs(sound).max()).astype(np.float32)


# The demo's stimulus families (``strfviewer/resources/demo``). Each returns mono float64 with unit RMS over its
# sounding part; ``demo_stimuli`` sets the level. Onsets and offsets are ramped (5 ms) so no family clicks by accident.


def _ramp(n: int, audio_fs: int, ramp_s: float = 0.005) -> np.ndarray:
    envelope = np.ones(n)
    k = min(int(ramp_s * audio_fs), n // 2)
    if k:
        rise = np.sin(0.5 * np.pi * np.arange(k) / k) ** 2
        envelope[:k], envelope[n - k:] = rise, rise[::-1]
    return envelope


def _unit_rms(sound: np.ndarray) -> np.ndarray:
    return sound / np.sqrt(np.mean(sound**2))


def harmonic_fm_call(audio_fs: int, seconds: float, f0: float, sweep: float, calls: int, seed: int) -> np.ndarray:
    """Calls of a harmonic voice whose pitch rises and falls by ``sweep`` (ratio) with vibrato, like a vocalization."""
    rng = np.random.default_rng(seed)
    n = int(audio_fs * seconds)
    out = np.zeros(n)
    starts = np.sort(rng.uniform(0.05, seconds - 0.45, calls))
    for start in starts:
        length = int(audio_fs * rng.uniform(0.18, 0.4))
        i0 = int(start * audio_fs)
        length = min(length, n - i0)
        u = np.arange(length) / length
        contour = f0 * rng.uniform(0.8, 1.25) * sweep ** np.sin(np.pi * u) * (1 + 0.02 * np.sin(2 * np.pi * 9 * u))
        phase = 2 * np.pi * np.cumsum(contour) / audio_fs
        tilt = rng.uniform(0.6, 1.0)
        voice = sum(np.sin(k * phase) * tilt ** k for k in range(1, 16) if k * contour.max() < 0.45 * audio_fs)
        out[i0:i0 + length] += voice * _ramp(length, audio_fs, 0.02)
    return _unit_rms(out)


def formant_sequence(audio_fs: int, seconds: float, f0: float, seed: int) -> np.ndarray:
    """Speech-like syllables: a glottal pulse train through three formant resonators that step between vowels."""
    rng = np.random.default_rng(seed)
    vowels = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]])
    n = int(audio_fs * seconds)
    t = np.arange(n) / audio_fs
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = np.cumsum(pitch) / audio_fs
    source = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
    syllable = 0.22
    out = np.zeros(n)
    for index, start in enumerate(np.arange(0.0, seconds - syllable, syllable + 0.06)):
        i0, length = int(start * audio_fs), int(syllable * audio_fs)
        formants = vowels[rng.integers(len(vowels))] * rng.uniform(0.95, 1.1)
        segment = source[i0:i0 + length]
        voiced = np.zeros(length)
        for centre in formants:
            bandwidth = 60 + 0.06 * centre
            radius = np.exp(-np.pi * bandwidth / audio_fs)
            theta = 2 * np.pi * centre / audio_fs
            y1 = y2 = 0.0
            y = np.empty(length)
            a1, a2 = 2 * radius * np.cos(theta), -radius * radius
            for i, s in enumerate(segment):
                y1, y2 = s + a1 * y1 + a2 * y2, y1
                y[i] = y1
            voiced += y / (1 + centre / 1000)
        if index % 3 == 2:  # a fricative now and then
            voiced += 0.3 * np.std(voiced) * np.diff(rng.standard_normal(length + 1))
        out[i0:i0 + length] = voiced * _ramp(length, audio_fs, 0.02)
    return _unit_rms(out)


def noise_bursts(audio_fs: int, seconds: float, seed: int) -> np.ndarray:
    """Bursts of white, low-pass and high-pass noise, 20-300 ms long, with gaps: onsets and offsets everywhere."""
    rng = np.random.default_rng(seed)
    n = int(audio_fs * seconds)
    out = np.zeros(n)
    position = 0.05
    while position < seconds - 0.35:
        length = int(audio_fs * rng.uniform(0.02, 0.3))
        i0 = int(position * audio_fs)
        burst = rng.standard_normal(length + 1)
        colour = rng.integers(3)
        if colour == 1:
            burst = np.cumsum(burst) * 0.05
            burst -= np.linspace(burst[0], burst[-1], burst.size)
        elif colour == 2:
            burst = np.diff(burst, prepend=0.0)
        burst = burst[:length] * rng.uniform(0.3, 1.0) / np.std(burst[:length])
        out[i0:i0 + length] = burst * _ramp(length, audio_fs)
        position += length / audio_fs + rng.uniform(0.05, 0.3)
    return _unit_rms(out)


def am_tones(audio_fs: int, seconds: float, carriers: list[float], rates: list[float], seed: int) -> np.ndarray:
    """Tone pips at several carriers, each sinusoidally amplitude-modulated at its own rate (Hz), in sequence."""
    rng = np.random.default_rng(seed)
    n = int(audio_fs * seconds)
    out = np.zeros(n)
    slot = n // len(carriers)
    for index, (carrier, rate) in enumerate(zip(carriers, rates, strict=True)):
        length = int(slot * 0.85)
        i0 = index * slot + int(0.05 * slot)
        u = np.arange(length) / audio_fs
        tone = np.sin(2 * np.pi * carrier * u + rng.uniform(0, 2 * np.pi))
        out[i0:i0 + length] = tone * (1 - np.cos(2 * np.pi * rate * u)) / 2 * _ramp(length, audio_fs)
    return _unit_rms(out)


def click_trains(audio_fs: int, seconds: float, rates: list[float]) -> np.ndarray:
    """Trains of 0.1 ms clicks at each rate (clicks per second), one train after another."""
    n = int(audio_fs * seconds)
    out = np.zeros(n)
    slot = n // len(rates)
    width = max(1, int(1e-4 * audio_fs))
    for index, rate in enumerate(rates):
        first, last = index * slot + int(0.05 * slot), index * slot + int(0.8 * slot)
        for i0 in np.arange(first, last, audio_fs / rate).astype(int):
            out[i0:i0 + width] = 1.0
    return _unit_rms(out)


def demo_stimuli(audio_fs: int = 48000, rms: float = 0.0356) -> list[tuple[str, str, np.ndarray]]:
    """The demo's stimuli as (id, label, samples), every one at the same RMS (0.0356: 65 dB SPL in pascals)."""
    recipes = [
        ("call_a", "vocalization-like harmonic FM calls", lambda: harmonic_fm_call(audio_fs, 3.0, 520, 1.8, 6, 1)),
        ("speech_a", "speech-like formant sequence", lambda: formant_sequence(audio_fs, 3.5, 120, 2)),
        ("noise_a", "noise bursts", lambda: noise_bursts(audio_fs, 3.0, 3)),
        ("am_a", "amplitude-modulated tones",
         lambda: am_tones(audio_fs, 3.0, [500, 1500, 4000, 10000], [4, 8, 16, 32], 4)),
        ("clicks_a", "click trains", lambda: click_trains(audio_fs, 2.5, [4, 10, 25, 50])),
        ("call_b", "vocalization-like harmonic FM calls", lambda: harmonic_fm_call(audio_fs, 3.5, 900, 1.5, 7, 5)),
        ("speech_b", "speech-like formant sequence", lambda: formant_sequence(audio_fs, 4.0, 190, 6)),
        ("noise_b", "noise bursts", lambda: noise_bursts(audio_fs, 2.5, 7)),
        ("am_b", "amplitude-modulated tones",
         lambda: am_tones(audio_fs, 2.5, [800, 2500, 6000, 14000], [32, 16, 8, 4], 8)),
        ("call_c", "vocalization-like harmonic FM calls", lambda: harmonic_fm_call(audio_fs, 3.0, 700, 1.6, 6, 9)),
        ("speech_c", "speech-like formant sequence", lambda: formant_sequence(audio_fs, 3.5, 150, 10)),
    ]
    return [(name, label, (rms * make()).astype(np.float32)) for name, label, make in recipes]
