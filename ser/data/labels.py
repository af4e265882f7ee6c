"""Label sets: which classes a model is trained to tell apart.

- `emotion`: the 8 RAVDESS emotions in code order (neutral, calm, happy, sad, angry, fearful,
  disgust, surprised).
- `emotion7`: calm merged into neutral, as many RAVDESS papers do (the two differ mainly in
  intensity, and neutral has only half as many files).
- `gender_emotion`: the 14 classes of jingwoo4710/Audio-Emotions-Classification, which follows Eu
  Jin Lok's Kaggle notebooks: those map RAVDESS code 02 (calm) to "neutral" and prefix the
  speaker's gender, giving 2 genders x 7 emotions. Calm is therefore merged into neutral here too
  (not dropped), so every file keeps a label; classes are female_* first, then male_*.

Song (`ravdess.vocal_channel: song`) has six of the eight emotions (no disgust, no surprise): on a
corpus of song every label set keeps only the classes song has, so no class goes unseen.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ser.data.ravdess import EMOTIONS

GENDERS = ("female", "male")
NOT_IN_SONG = ("disgust", "surprised")
_EMOTION7 = {code: ("neutral" if name == "calm" else name) for code, name in EMOTIONS.items()}
_SEVEN = [name for name in EMOTIONS.values() if name != "calm"]
LABEL_SETS: dict[str, list[str]] = {
    "emotion": list(EMOTIONS.values()),
    "emotion7": _SEVEN,
    "gender_emotion": [f"{g}_{e}" for g in GENDERS for e in _SEVEN],
}


def class_names(label_set: str) -> list[str]:
    """The classes of `label_set`, in the order of the integer labels."""
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label set {label_set!r}; valid: {sorted(LABEL_SETS)}")
    return list(LABEL_SETS[label_set])


def _names(df: pd.DataFrame, label_set: str) -> pd.Series:
    if label_set == "emotion":
        return df["emotion"].map(EMOTIONS)
    seven = df["emotion"].map(_EMOTION7)
    if label_set == "emotion7":
        return seven
    return df["gender"].astype(str) + "_" + seven


def encode(df: pd.DataFrame, label_set: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels (int64) for every metadata row, and the class names they index."""
    names = class_names(label_set)
    needed = ["emotion"] + (["gender"] if label_set == "gender_emotion" else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"label set {label_set!r} needs metadata columns {missing}")
    if "vocal_channel" in df.columns and len(df) and (df["vocal_channel"] == 2).all():
        names = [n for n in names if not n.endswith(NOT_IN_SONG)]
    labels = _names(df, label_set)
    index = {name: i for i, name in enumerate(names)}
    y = labels.map(index)
    bad = y.isna()
    if bad.any():
        rows = df.loc[bad, ["emotion"] + needed[1:]].drop_duplicates().to_dict("records")
        raise ValueError(f"rows with values outside the RAVDESS codes for {label_set!r}: {rows}")
    return y.to_numpy(dtype=np.int64), names
