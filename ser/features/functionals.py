"""openSMILE functionals: one vector of statistics per file (the `egemaps` and `compare` kinds).

`egemaps` is eGeMAPSv02 (88 functionals, Eyben et al. 2016) and `compare` ComParE_2016 (6,373
functionals, Schuller et al. 2016), both from the `opensmile` package, whose wheel ships the
openSMILE library; the shard records the package's version.

What the functionals see: the same window of each clip as every other kind (`audio.offset`, then
at most `audio.duration` seconds), but never the zero padding that makes a short clip up to
`duration`. A functional is a statistic over the frames of the clip (means, percentiles, slopes
...), so padding would mix a clip-dependent share of digital silence into every one of them; the
spectrogram kinds need equal lengths, the functionals do not.

Files openSMILE cannot describe:
- too short: below `MIN_SECONDS` of audio in the window openSMILE fills every functional with NaN
  (a "Segment too short" warning). That is an `AudioError` naming the file and its length; so is
  any other non-finite functional.
- silent (all samples zero): openSMILE returns finite values (the statistics of silence: zero
  loudness, no voicing). Like the other kinds (see ser.audio) such a file is kept, not an error.
- clipped: a clipped recording is still a recording; its functionals are finite and kept.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ser.audio import AudioError, clip_window, load_audio

# kind -> openSMILE feature set; the number of functionals each has
FUNCTIONAL_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
N_FUNCTIONALS = {"egemaps": 88, "compare": 6373}
# openSMILE 2.6.0 returns all-NaN functionals below 60 ms of audio in both sets (measured on a
# RAVDESS clip cut to 10..200 ms); 100 ms leaves a margin and is far below any real utterance
MIN_SECONDS = 0.1


def is_functional(kind: str) -> bool:
    return kind in FUNCTIONAL_SETS


def opensmile_version() -> str:
    from importlib.metadata import version

    return version("opensmile")


@lru_cache(maxsize=None)
def _smile(kind: str):
    import opensmile

    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, FUNCTIONAL_SETS[kind]),
                           feature_level=opensmile.FeatureLevel.Functionals)


def functionals_of(wave: np.ndarray, sample_rate: int, kind: str, path: str = "<signal>"
                   ) -> np.ndarray:
    """The functionals (F,) float32 of one waveform; an AudioError names `path` when openSMILE
    cannot describe it."""
    if kind not in FUNCTIONAL_SETS:
        raise ValueError(f"{kind!r} is not a functional kind; those are {sorted(FUNCTIONAL_SETS)}")
    seconds = len(wave) / sample_rate
    if seconds < MIN_SECONDS:
        raise AudioError(path, f"too short for openSMILE functionals: {seconds * 1000:.0f} ms "
                               f"in the window, at least {MIN_SECONDS * 1000:.0f} ms needed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Segment too short": checked below
        values = _smile(kind).process_signal(np.ascontiguousarray(wave, np.float32), sample_rate)
    row = values.to_numpy(dtype=np.float64)[0]
    bad = int((~np.isfinite(row)).sum())
    if bad:
        raise AudioError(path, f"openSMILE gave {bad} of {len(row)} {kind} functionals as NaN or "
                               f"infinite ({seconds:.3f} s in the window)")
    return row.astype(np.float32)


def functional_features(paths: Sequence[str], kind: str, audio_params: dict) -> np.ndarray:
    """(N, F) functionals of the files' windows (module docstring), in the order of `paths`."""
    sr = int(audio_params["sample_rate"])
    offset, duration = float(audio_params.get("offset", 0.0)), float(audio_params["duration"])
    rows = [functionals_of(clip_window(load_audio(p, sr), sr, offset, duration), sr, kind, str(p))
            for p in paths]
    return np.stack(rows) if rows else np.zeros((0, N_FUNCTIONALS[kind]), np.float32)
