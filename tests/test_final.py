"""`snakemake final`: a model trained on every actor but the validation actors, and its card
quoting this run's cross-validated scores of the same recipe."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ser.data.folds import FINAL_FOLD, final_folds
from ser.train.data import FoldData, InputSpec

MODEL = "kaggle_cnn1d"


def test_final_split_has_no_test_actors_and_only_the_final_fold_may_lack_them():
    meta = pd.DataFrame({"file": [f"f{a}_{i}" for a in range(1, 7) for i in range(4)],
                         "actor": [a for a in range(1, 7) for _ in range(4)]})
    split = final_folds(meta, n_val_actors=2, seed=0)
    assert set(split["fold"]) == {FINAL_FOLD} and set(split["split"]) == {"train", "val"}
    val = set(split.loc[split["split"] == "val", "actor"])
    assert len(val) == 2 and {a % 2 for a in val} == {0, 1}  # one male, one female
    meta = meta.assign(gender="x", intensity=1,
                       emotion=[1 + i % 8 for i in range(len(meta))])
    feats = (np.zeros((len(meta), 3, 5), dtype=np.float32), list(meta["file"]))
    spec = InputSpec(("mfcc",))
    data = FoldData.build({"mfcc": feats}, meta, split, FINAL_FOLD, "emotion", spec)
    assert len(data.splits["test"]) == 0 and len(data.splits["train"]) == 16
    with pytest.raises(ValueError, match="fold 1 has no test files"):
        FoldData.build({"mfcc": feats}, meta, split.assign(fold=1), 1, "emotion", spec)


def test_final_model_and_its_card(use_run):
    final = use_run / "results/final"
    split = pd.read_csv(final / "folds.csv")
    assert set(split["split"]) == {"train", "val"} and set(split["actor"]) == {1, 2, 3, 4, 5, 6}
    metrics = json.loads((final / MODEL / "metrics.json").read_text())
    assert metrics["n_test"] == 0 and metrics["n_train"] + metrics["n_val"] == 360
    assert not (final / MODEL / "predictions.csv").exists()
    card = (final / MODEL / "model_card.md").read_text()
    folds = [json.loads((use_run / f"results/models/{MODEL}/fold_{k}/metrics.json").read_text())
             for k in (1, 2)]
    ua = [f["unweighted_accuracy"] for f in folds]
    wa = [f["accuracy"] for f in folds]
    assert f"UA {100 * np.mean(ua):.2f} ± {100 * np.std(ua, ddof=1):.2f} %" in card
    assert f"WA {100 * np.mean(wa):.2f} ± {100 * np.std(wa, ddof=1):.2f} %" in card
    assert ", ".join(metrics["classes"]) in card
    train = sorted(split.loc[split["split"] == "train", "actor"].unique())
    assert f"Training actors (300 files): {', '.join(map(str, train))}." in card
    assert "CC BY-NC-SA 4.0" in card and "non-commercial" in card
    assert "North-American English" in card and "(files not checked against the release)" in card
    # recall of each class over both folds' test files, from the confusion matrices
    cm = np.sum([f["confusion_matrix"] for f in folds], axis=0)
    first = metrics["classes"][1]
    assert f"| {first} | {cm[1].sum()} | {100 * cm[1, 1] / cm[1].sum():.2f} % |" in card


def test_a_linear_final_model_its_card_and_its_predictions(use_run, ravdess16k, tmp_path):
    """Issue 33: egemaps_lr's final model is fitted on the final split's training actors with C
    chosen by the same inner cross-validation inside them, scored on its validation actors
    (issue 42, as a torch final model), gets its card, and `ser predict` serves it."""
    from ser.use.cli import main

    final = use_run / "results/final/egemaps_lr"
    split = pd.read_csv(use_run / "results/final/folds.csv")
    train = sorted(split.loc[split["split"] == "train", "actor"].unique())
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["n_test"] == 0 and metrics["n_train"] == 300 and metrics["n_val"] == 60
    assert sorted(metrics["inner_actors"]) == train and len(train) == 5
    history = pd.read_csv(final / "history.csv")
    best = history.loc[history["val_ua"].idxmax()]
    assert metrics["C"] == best["C"]  # the inner cross-validation's choice
    card = (final / "model_card.md").read_text()
    assert f"C {metrics['C']:g} chosen by the inner cross-validation over the training actors " \
           f"(inner UA {100 * best['val_ua']:.2f} %)" in card
    assert f"Training actors (300 files): {', '.join(map(str, train))}." in card
    folds = [json.loads((use_run / f"results/models/egemaps_lr/fold_{k}/metrics.json")
                        .read_text()) for k in (1, 2)]
    ua = [f["unweighted_accuracy"] for f in folds]
    assert f"UA {100 * np.mean(ua):.2f} ± {100 * np.std(ua, ddof=1):.2f} %" in card
    files = sorted((ravdess16k / "Actor_02").glob("*.flac"))[:3]
    assert main(["predict", str(final / "model.npz"), *map(str, files),
                 "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv")
    probs = table[[c for c in table.columns if c.startswith("p_")]]
    assert len(table) == 3 and np.allclose(probs.sum(axis=1), 1, atol=1e-6)
