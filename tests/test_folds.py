"""Fold schemes on the real corpus's metadata: speaker independence and the published lists."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from ser.data.folds import (
    SCHEMES,
    fold_ids,
    is_speaker_independent,
    make_folds,
    published_folds,
    validation_actors,
    write_folds,
)
from ser.data.ravdess import scan_corpus

from conftest import REPO, layered_config

ACTOR_SCHEMES = [("emobox_6fold", None), ("dchung_4fold", None), ("actor_kfold", 5), ("loso", None)]


@pytest.fixture(scope="module")
def metadata(ravdess16k: Path) -> pd.DataFrame:
    return scan_corpus(ravdess16k)


def _actors(folds: pd.DataFrame, fold: int, split: str) -> set[int]:
    rows = folds[(folds["fold"] == fold) & (folds["split"] == split)]
    return set(rows["actor"])


@pytest.mark.parametrize("scheme, k", ACTOR_SCHEMES)
def test_actor_schemes_are_speaker_independent(metadata, scheme, k):
    folds = make_folds(metadata, scheme, k=k, seed=3, n_val_actors=2)
    assert list(folds.columns) == ["fold", "file", "actor", "split"]
    assert sorted(folds["fold"].unique()) == fold_ids(scheme, range(1, 25), k)
    tested = []
    for fold, rows in folds.groupby("fold"):
        assert len(rows) == len(metadata) and set(rows["file"]) == set(metadata["file"])
        train, val, test = (_actors(folds, fold, s) for s in ("train", "val", "test"))
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == set(range(1, 25))
        assert len(val) == 2 and {a % 2 for a in val} == {0, 1}
        tested += sorted(test)
    assert sorted(tested) == list(range(1, 25))
    assert is_speaker_independent(scheme)


@pytest.mark.parametrize("scheme", ["emobox_6fold", "dchung_4fold"])
def test_published_folds_match_reference(metadata, reference_dir: Path, scheme):
    reference = pd.read_csv(reference_dir / "folds" / f"{scheme}.csv")
    folds = make_folds(metadata, scheme, n_val_actors=0)
    test = folds[folds["split"] == "test"].groupby("actor")["fold"].unique()
    got = {actor: int(f[0]) for actor, f in test.items()}
    assert got == dict(zip(reference["actor"], reference["test_fold"]))
    assert set(folds["split"]) == {"train", "test"}


def test_dchung_is_sklearn_kfold_351():
    actors = np.arange(1, 25)
    splits = KFold(n_splits=4, shuffle=True, random_state=351).split(actors)
    regenerated = {int(a): fold for fold, (_, test) in enumerate(splits, 1) for a in actors[test]}
    assert published_folds("dchung_4fold") == regenerated


def test_actor_kfold_balanced_and_seeded(metadata):
    a = make_folds(metadata, "actor_kfold", k=4, seed=1)
    b = make_folds(metadata, "actor_kfold", k=4, seed=1)
    c = make_folds(metadata, "actor_kfold", k=4, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    for fold in range(1, 5):
        test = _actors(a, fold, "test")
        assert len(test) == 6 and sum(x % 2 for x in test) == 3


def test_subset_of_actors_keeps_published_ids(metadata):
    actors = [1, 2, 3, 4, 5, 6]
    subset = metadata[metadata["actor"].isin(actors)]
    folds = make_folds(subset, "emobox_6fold", n_val_actors=2)
    # emobox tests actor 1 in fold 1, 4 in 2, 3 and 5 in 4, 2 in 5, 6 in 6; no actor of fold 3
    assert fold_ids("emobox_6fold", actors, 6) == [1, 2, 4, 5, 6]
    assert sorted(folds["fold"].unique()) == [1, 2, 4, 5, 6]
    assert _actors(folds, 4, "test") == {3, 5}
    assert len(_actors(folds, 4, "train")) == 2


def test_random_kfold_leaks_speakers(metadata):
    folds = make_folds(metadata, "random_kfold", k=5, seed=0, n_val_actors=2)
    assert not is_speaker_independent("random_kfold")
    assert fold_ids("random_kfold", range(1, 25), 5) == [1, 2, 3, 4, 5]
    test = folds[folds["split"] == "test"]
    assert test["file"].is_unique and len(test) == len(metadata)
    assert _actors(folds, 1, "train") & _actors(folds, 1, "test")
    val_share = (folds["split"] == "val").sum() / ((folds["split"] != "test").sum())
    assert val_share == pytest.approx(2 / 24, abs=0.01)


def test_validation_actors_one_of_each_gender():
    for seed in range(5):
        for fold in range(1, 7):
            val = validation_actors(range(1, 21), 2, seed, fold)
            assert len(val) == 2 and {a % 2 for a in val} == {0, 1}
    assert validation_actors([2, 4, 6], 2, 0, 1) in ([2, 4], [2, 6], [4, 6])
    assert validation_actors(range(1, 10), 0, 0, 1) == []


def test_too_many_validation_actors(metadata):
    subset = metadata[metadata["actor"].isin([1, 2, 3])]
    with pytest.raises(ValueError, match="fold 1: 2 non-test actors cannot give 2 validation"):
        make_folds(subset, "loso", n_val_actors=2)


def test_unknown_scheme_lists_valid(metadata):
    with pytest.raises(ValueError) as err:
        make_folds(metadata, "speaker_split")
    assert "speaker_split" in str(err.value)
    assert all(s in str(err.value) for s in SCHEMES)
    with pytest.raises(ValueError, match="loso"):
        fold_ids("nope", range(1, 25), 4)


def test_bad_k(metadata):
    with pytest.raises(ValueError, match="k must be between 2 and the number of actors"):
        make_folds(metadata, "actor_kfold", k=30)
    with pytest.raises(ValueError, match="k must be between 2"):
        fold_ids("actor_kfold", range(1, 25), None)


def test_write_folds(metadata, tmp_path):
    folds = make_folds(metadata, "loso", n_val_actors=1)
    out = tmp_path / "results" / "folds.csv"
    write_folds(folds, out)
    assert [p.name for p in out.parent.iterdir()] == ["folds.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(out), folds)
    with pytest.raises(ValueError, match="columns \\['split'\\] are missing"):
        write_folds(folds.drop(columns="split"), tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_all_training_actors_preset_trains_on_the_validation_actors(metadata):
    """workflow/presets/all_training_actors.yaml over emobox_6fold: the same test actors, every
    other actor in training (EmoBox's 20), no validation split, the final epoch kept."""
    config = layered_config(*(REPO / f"workflow/presets/{name}.yaml"
                              for name in ("emobox_6fold", "all_training_actors")))
    p = config["protocol"]
    assert p["select"] == "final"
    folds = make_folds(metadata, p["scheme"], k=p["k"], seed=p["seed"],
                       n_val_actors=p["n_val_actors"])
    held_out = make_folds(metadata, "emobox_6fold", n_val_actors=2)
    assert set(folds["split"]) == {"train", "test"}
    for fold in range(1, 7):
        assert _actors(folds, fold, "test") == _actors(held_out, fold, "test")
        assert _actors(folds, fold, "train") == \
            _actors(held_out, fold, "train") | _actors(held_out, fold, "val")
        assert len(_actors(folds, fold, "train")) == 20
