"""A synthetic corpus in RAVDESS form, for running the whole pipeline offline in seconds.

Each file is a source-filter "utterance" of the statement's seven syllables: a sawtooth glottal
source (with aspiration noise for breathiness) through three formant resonators per vowel, shaped
by a syllable-rate amplitude envelope. Emotions differ the way acted emotional speech does
(Banse & Scherer 1996; Juslin & Laukka 2003): pitch level, pitch range and contour slope, speaking
rate, loudness, breathiness and spectral brightness; strong intensity exaggerates the difference
from neutral. Actors differ in pitch (male actors about an octave lower), vocal-tract length,
rate, level and breathiness, and every file gets its own jitter, so the classes overlap: a model
has to learn prosody relative to the speaker, not a fixed threshold.

The output is byte-identical for the same arguments: every random draw comes from a generator
seeded with (seed, actor[, file codes]).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from ser.io import atomic_dir
from ser.data.ravdess import EMOTIONS, RavdessName, actor_gender

SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Prosody:
    pitch: float  # factor on the actor's mean f0
    range_st: float  # size of the syllable pitch accents, semitones
    slope_st: float  # rise (+) or fall (-) over the utterance, semitones
    rate: float  # syllables per second
    level_db: float  # loudness relative to neutral
    breath: float  # share of aspiration noise in the source
    dark: float  # one-pole low-pass coefficient: higher is a duller, softer voice


PROSODY = {
    "neutral": Prosody(1.00, 2.0, -2.0, 4.4, 0.0, 0.05, 0.55),
    "calm": Prosody(0.95, 1.5, -3.0, 3.9, -4.0, 0.10, 0.65),
    "happy": Prosody(1.20, 5.0, 1.5, 4.9, 3.0, 0.06, 0.45),
    "sad": Prosody(0.91, 1.0, -4.0, 3.6, -6.0, 0.18, 0.75),
    "angry": Prosody(1.22, 4.0, -1.0, 5.1, 7.0, 0.07, 0.25),
    "fearful": Prosody(1.38, 3.5, 2.0, 5.6, 1.0, 0.20, 0.50),
    "disgust": Prosody(0.93, 3.0, -5.0, 3.8, -1.0, 0.12, 0.60),
    "surprised": Prosody(1.42, 7.0, 6.0, 4.6, 4.0, 0.06, 0.45),
}
STRONG = 1.6  # strong intensity moves every cue this much further from neutral

# Vowel formants (F1, F2, F3 in Hz, adult male) of "Kids are talking by the door" and
# "Dogs are sitting by the door", one per syllable, and the syllables' relative lengths.
_VOWELS = {
    "ih": (400, 1900, 2550), "aa": (730, 1090, 2440), "ao": (570, 840, 2410),
    "ay": (660, 1400, 2500), "ax": (500, 1500, 2500),
}
STATEMENTS = {
    1: (("ih", "aa", "ao", "ih", "ay", "ax", "ao"), (1.0, 0.7, 1.2, 0.8, 1.0, 0.6, 1.4)),
    2: (("ao", "aa", "ih", "ih", "ay", "ax", "ao"), (1.2, 0.7, 1.1, 0.8, 1.0, 0.6, 1.4)),
}
_BANDWIDTHS = (80.0, 100.0, 140.0)


@dataclass(frozen=True)
class Voice:
    f0: float
    formant_scale: float
    rate: float
    level_db: float
    breath: float


def actor_voice(actor: int, seed: int) -> Voice:
    """The actor's own voice: female voices are higher and have shorter vocal tracts."""
    rng = np.random.default_rng([seed, actor])
    male = actor_gender(actor) == "male"
    return Voice(
        f0=(115.0 if male else 210.0) * float(np.exp(rng.normal(0, 0.12))),
        formant_scale=(1.0 if male else 1.16) * float(np.exp(rng.normal(0, 0.04))),
        rate=float(np.exp(rng.normal(0, 0.08))),
        level_db=float(rng.normal(0, 2.0)),
        breath=float(np.exp(rng.normal(0, 0.3))),
    )


def prosody(emotion: int, intensity: int) -> Prosody:
    """The emotion's cues; strong intensity exaggerates their distance from neutral."""
    base, cue = PROSODY["neutral"], PROSODY[EMOTIONS[emotion]]
    if intensity == 1:
        return cue
    return Prosody(*(
        getattr(base, f.name) + STRONG * (getattr(cue, f.name) - getattr(base, f.name))
        for f in fields(Prosody)
    ))


def _resonators(vowel: str, scale: float, sr: int) -> np.ndarray:
    """Denominator of the three formant resonators in cascade."""
    a = np.array([1.0])
    for freq, bw in zip(_VOWELS[vowel], _BANDWIDTHS):
        r = np.exp(-np.pi * bw / sr)
        a = np.convolve(a, [1.0, -2 * r * np.cos(2 * np.pi * freq * scale / sr), r * r])
    return a


def _contour(rng, cue: Prosody, voice: Voice, t: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """f0 in Hz at times `t`: declination/rise, syllable accents and a little jitter."""
    start, end = bounds[0], bounds[-1]
    u = np.clip((t - start) / (end - start), 0, 1)
    centres = (bounds[:-1] + bounds[1:]) / 2
    spread = cue.range_st * float(np.exp(rng.normal(0, 0.2)))
    accents = rng.uniform(-0.5, 0.5, len(centres)) * spread
    wander = np.interp(t, np.linspace(0, t[-1], 40), rng.normal(0, 0.3, 40))
    semitones = cue.slope_st * (u - 0.5) + np.interp(t, centres, accents) + wander
    return voice.f0 * cue.pitch * float(np.exp(rng.normal(0, 0.05))) * 2 ** (semitones / 12)


def synthesize_utterance(
    name: RavdessName, voice: Voice, seed: int, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """One file's waveform (float, peak below 1)."""
    codes = (name.emotion, name.intensity, name.statement, name.repetition)
    rng = np.random.default_rng([seed, name.actor, *codes])
    cue = prosody(name.emotion, name.intensity)
    vowels, weights = STATEMENTS[name.statement]
    weights = np.array(weights) * np.exp(rng.normal(0, 0.1, len(weights)))
    speech = len(weights) / (cue.rate * voice.rate * float(np.exp(rng.normal(0, 0.07))))
    lead = 0.15 + rng.uniform(0, 0.1)
    bounds = lead + np.concatenate([[0], np.cumsum(weights / weights.sum() * speech)])
    t = np.arange(int((bounds[-1] + 0.2) * sample_rate)) / sample_rate
    # Pitch moves slowly: draw the contour every millisecond and interpolate.
    coarse = t[:: sample_rate // 1000]
    f0 = np.interp(t, coarse, _contour(rng, cue, voice, coarse, bounds))
    phase = np.cumsum(f0) / sample_rate
    breath = min(0.6, cue.breath * voice.breath)
    noise = rng.standard_normal(len(t), dtype=np.float32)
    source = (1 - breath) * (2 * (phase % 1) - 1) + breath * noise
    out = np.zeros(len(t))
    for vowel, begin, stop in zip(vowels, bounds[:-1], bounds[1:]):
        i, j = int(begin * sample_rate), int((begin + 0.85 * (stop - begin)) * sample_rate)
        envelope = np.sqrt(np.sin(np.linspace(0, np.pi, j - i)))
        resonators = _resonators(vowel, voice.formant_scale, sample_rate)
        out[i:j] = lfilter([1.0], resonators, source[i:j]) * envelope
    out = lfilter([1 - cue.dark], [1, -cue.dark], out)
    voiced = out[int(bounds[0] * sample_rate) : int(bounds[-1] * sample_rate)]
    level = cue.level_db + voice.level_db + rng.normal(0, 1.5)
    out *= 10 ** ((level - 28) / 20) / (np.sqrt(np.mean(voiced**2)) + 1e-12)
    out += 3e-4 * noise[::-1]  # the recording room's noise floor
    return out / max(1.0, np.abs(out).max() / 0.95)


def corpus_names(
    actors: Iterable[int], statements: Iterable[int] = (1, 2), repetitions: Iterable[int] = (1,)
) -> list[RavdessName]:
    """Every audio-only speech name for these actors (neutral only at normal intensity)."""
    return [
        RavdessName(3, 1, emotion, intensity, statement, repetition, actor)
        for actor in sorted(actors)
        for emotion in EMOTIONS
        for intensity in ((1,) if emotion == 1 else (1, 2))
        for statement in sorted(statements)
        for repetition in sorted(repetitions)
    ]


def synthesize_corpus(
    out_dir: str | Path,
    actors: Iterable[int] = range(1, 25),
    seed: int = 0,
    statements: Iterable[int] = (1, 2),
    repetitions: Iterable[int] = (1,),
    sample_rate: int = SAMPLE_RATE,
) -> list[Path]:
    """Write `out_dir/Actor_XX/<name>.wav` (16-bit PCM) for every name; the folder appears whole.

    Returns the written files, under `out_dir`.
    """
    names = corpus_names(actors, statements, repetitions)
    voices = {actor: actor_voice(actor, seed) for actor in {n.actor for n in names}}
    with atomic_dir(out_dir) as tmp:
        for name in names:
            folder = tmp / f"Actor_{name.actor:02d}"
            folder.mkdir(exist_ok=True)
            wave = synthesize_utterance(name, voices[name.actor], seed, sample_rate)
            sf.write(folder / f"{name.stem}.wav", wave, sample_rate, subtype="PCM_16", format="WAV")
    return [Path(out_dir) / f"Actor_{n.actor:02d}" / f"{n.stem}.wav" for n in names]
