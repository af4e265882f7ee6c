"""Cross-validation folds: which files each fold trains, validates and tests on.

Schemes:
- `emobox_6fold`: the 6 speaker-independent test folds of EmoBox (arXiv 2406.07162), 4 actors each.
- `dchung_4fold`: the 4 folds of dchung1209/RAVDESS, `KFold(4, shuffle=True, random_state=351)`
  over actors 1..24 (6 actors each).
- `actor_kfold`: k folds of actors drawn with `seed`, males and females dealt out separately so
  that every fold holds both genders where possible.
- `loso`: leave one speaker out; the fold id is the held-out actor's number.
- `random_kfold`: k folds of *files*. The same speaker lands in training and test, so its scores
  are optimistic; it exists only to reproduce projects that split this way and must be asked for.

In every actor scheme, each fold's training actors give up `n_val_actors` validation actors (one
male and one female when 2), drawn from the fold's non-test actors with `seed`; no actor is in two
of train / val / test. When the corpus holds only some actors, the published schemes keep the folds
that still have a test actor, under their published ids.
"""
from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources
from itertools import zip_longest
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ser.io import atomic_file
from ser.data.ravdess import actor_gender

PUBLISHED = ("emobox_6fold", "dchung_4fold")
# The fold id of a final model's split: every actor trains but the validation actors, none is
# tested. Cross-validation folds count from 1, so 0 never names one of them.
FINAL_FOLD = 0
SCHEMES = (*PUBLISHED, "actor_kfold", "loso", "random_kfold")
COLUMNS = ["fold", "file", "actor", "split"]


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown fold scheme {scheme!r}; valid: {list(SCHEMES)}")


def is_speaker_independent(scheme: str) -> bool:
    """False for `random_kfold`, whose test speakers are also heard in training."""
    _check_scheme(scheme)
    return scheme != "random_kfold"


@lru_cache(maxsize=None)
def published_folds(scheme: str) -> dict[int, int]:
    """Actor -> test fold of a published scheme, from the CSV shipped with the package."""
    if scheme not in PUBLISHED:
        raise ValueError(f"{scheme!r} is not a published fold list; those are {list(PUBLISHED)}")
    text = resources.files("ser.data").joinpath("folds", f"{scheme}.csv").read_text()
    table = pd.read_csv(io.StringIO(text))
    return dict(zip(table["actor"].astype(int), table["test_fold"].astype(int)))


def _check_k(k: int | None, n: int, what: str) -> int:
    if k is None or not 2 <= k <= n:
        raise ValueError(f"k must be between 2 and the number of {what} ({n}), got {k}")
    return int(k)


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise ValueError(f"the fold seed must be >= 0, got {seed}")


def _actor_kfold(actors: list[int], k: int | None, seed: int) -> dict[int, int]:
    k = _check_k(k, len(actors), "actors")
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    males = rng.permutation([a for a in actors if actor_gender(a) == "male"]).tolist()
    females = rng.permutation([a for a in actors if actor_gender(a) == "female"]).tolist()
    # Dealing on from where the males stopped keeps fold sizes within one actor of each other.
    return {actor: i % k + 1 for i, actor in enumerate(males + females)}


def actor_test_folds(
    scheme: str, actors: Iterable[int], k: int | None = None, seed: int = 0
) -> dict[int, int]:
    """Actor -> the fold in which it is tested, for the speaker-independent schemes."""
    _check_scheme(scheme)
    actors = sorted(set(int(a) for a in actors))
    if scheme == "random_kfold":
        raise ValueError("random_kfold splits files, not actors: it has no test fold per actor")
    if scheme == "loso":
        return {a: a for a in actors}
    if scheme == "actor_kfold":
        return _actor_kfold(actors, k, seed)
    table = published_folds(scheme)
    unknown = [a for a in actors if a not in table]
    if unknown:
        raise ValueError(f"{scheme} has no fold for actors {unknown}")
    return {a: table[a] for a in actors}


def fold_ids(scheme: str, actors: Iterable[int], k: int | None = None) -> list[int]:
    """The fold ids `make_folds` will produce for these actors, without reading any data."""
    _check_scheme(scheme)
    actors = sorted(set(actors))
    if scheme == "random_kfold":
        if k is None or k < 2:
            raise ValueError(f"random_kfold needs k >= 2, got {k}")
        return list(range(1, k + 1))
    return sorted(set(actor_test_folds(scheme, actors, k).values()))


def validation_actors(candidates: Iterable[int], n_val: int, seed: int, fold: int) -> list[int]:
    """`n_val` of the candidates, alternating genders, drawn from (seed, fold)."""
    candidates = sorted(candidates)
    _check_seed(seed)
    if n_val and len(candidates) - n_val < 1:
        raise ValueError(
            f"fold {fold}: {len(candidates)} non-test actors cannot give {n_val} validation actors "
            "and keep one for training; lower protocol.n_val_actors"
        )
    rng = np.random.default_rng([seed, fold])
    by_gender = [
        rng.permutation([a for a in candidates if actor_gender(a) == g]).tolist()
        for g in ("male", "female")
    ]
    first = int(rng.integers(2))
    alternating = zip_longest(by_gender[first], by_gender[1 - first])
    chosen = [a for pair in alternating for a in pair if a is not None]
    return sorted(chosen[:n_val])


def _fold_frame(fold: int, meta: pd.DataFrame, split: np.ndarray) -> pd.DataFrame:
    columns = {"fold": fold, "file": meta["file"], "actor": meta["actor"], "split": split}
    return pd.DataFrame(columns)


def _split_actors(meta: pd.DataFrame, scheme: str, k, seed: int, n_val: int) -> pd.DataFrame:
    actors = sorted(meta["actor"].unique().tolist())
    test_of = actor_test_folds(scheme, actors, k, seed)
    frames = []
    for fold in sorted(set(test_of.values())):
        test = {a for a, f in test_of.items() if f == fold}
        val = set(validation_actors([a for a in actors if a not in test], n_val, seed, fold))
        split = np.where(meta["actor"].isin(val), "val", "train")
        split[meta["actor"].isin(test).to_numpy()] = "test"
        frames.append(_fold_frame(fold, meta, split))
    return pd.concat(frames, ignore_index=True)


def _split_files(meta: pd.DataFrame, k, seed: int, n_val: int) -> pd.DataFrame:
    """random_kfold: validation takes the share of training files n_val actors would hold."""
    from sklearn.model_selection import KFold  # here: Snakemake's DAG imports this module

    k = _check_k(k, len(meta), "files")
    _check_seed(seed)
    share = n_val / meta["actor"].nunique()
    frames = []
    for fold, (train, test) in enumerate(KFold(k, shuffle=True, random_state=seed).split(meta), 1):
        split = np.full(len(meta), "train", dtype=object)
        split[test] = "test"
        rng = np.random.default_rng([seed, fold])
        split[rng.choice(train, size=int(round(share * len(train))), replace=False)] = "val"
        frames.append(_fold_frame(fold, meta, split))
    return pd.concat(frames, ignore_index=True)


def make_folds(
    metadata: pd.DataFrame, scheme: str, k: int | None = None, seed: int = 0, n_val_actors: int = 2
) -> pd.DataFrame:
    """One row per fold x file: `fold` (1-based), `file`, `actor`, `split` (train / val / test)."""
    _check_scheme(scheme)
    if n_val_actors < 0:
        raise ValueError(f"n_val_actors must be >= 0, got {n_val_actors}")
    if metadata["file"].duplicated().any():
        dups = sorted(metadata.loc[metadata["file"].duplicated(), "file"])
        raise ValueError(f"metadata lists files more than once: {dups}")
    meta = metadata.sort_values("file", ignore_index=True)
    if scheme == "random_kfold":
        folds = _split_files(meta, k, seed, n_val_actors)
    else:
        folds = _split_actors(meta, scheme, k, seed, n_val_actors)
    return folds.sort_values(["fold", "file"], ignore_index=True)[COLUMNS]


def final_folds(metadata: pd.DataFrame, n_val_actors: int = 2, seed: int = 0) -> pd.DataFrame:
    """The split of a final model (fold `FINAL_FOLD`): `n_val_actors` validation actors, drawn
    as in every fold, kept out for early stopping; every other actor trains; no test split."""
    actors = sorted(metadata["actor"].unique().tolist())
    val = validation_actors(actors, n_val_actors, seed, FINAL_FOLD)
    meta = metadata.sort_values("file", ignore_index=True)
    split = np.where(meta["actor"].isin(val), "val", "train")
    return _fold_frame(FINAL_FOLD, meta, split)[COLUMNS]


def write_folds(folds: pd.DataFrame, path: str | Path) -> None:
    """Write the fold table CSV under a temporary name and rename it into place."""
    missing = [c for c in COLUMNS if c not in folds.columns]
    if missing:
        raise ValueError(f"not a fold table: columns {missing} are missing (writing {path})")
    with atomic_file(path) as tmp:
        folds[COLUMNS].to_csv(tmp, index=False)
