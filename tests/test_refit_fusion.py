"""benchmarks/refit_fusion.py (the README's fusion of members refitted on all training actors):
both runs must test the same files in every fold, and the refitted scores are recomputed from
the refit members' predictions (checked here by hand, in NumPy)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from test_fusion import FUSION, LOG, corpus, fusion_job, write_member  # noqa: F401 - fixture
from ser.train.fusion import run_fusion

sys.path.insert(0, str(REPO / "benchmarks"))
import refit_fusion  # noqa: E402

FOLDS = (1, 2, 3)


def make_run(corpus: dict, run: Path, seed: int, folds: pd.DataFrame | None = None,
             fused: bool = False) -> Path:
    """A run folder: results/folds.csv and two members' fold outputs (and their fusion)."""
    (run / "results").mkdir(parents=True)
    (corpus["folds"] if folds is None else folds).to_csv(run / "results/folds.csv", index=False)
    skill = {"good": {"val": 0.8, "test": 0.6}, "poor": {"val": 0.4, "test": 0.5}}
    for fold in FOLDS:
        members = {m: run / "results/models" / m / f"fold_{fold}" for m in skill}
        for i, (m, out) in enumerate(members.items()):
            write_member(corpus, out, fold, skill[m], seed=100 * seed + 10 * fold + i)
        if fused:
            job = fusion_job(corpus, members, fold, run / "results/models/fusion" / f"fold_{fold}")
            job = type(job)(**{**job.__dict__, "folds_csv": run / "results/folds.csv"})
            run_fusion(job, LOG)
    return run


def hand_ua(run: Path, fold: int, weights: dict[str, float], classes: list[str]) -> float:
    tables = {m: pd.read_csv(run / "results/models" / m / f"fold_{fold}" / "predictions.csv")
              .sort_values("file") for m in weights}
    probs = sum(w * tables[m][[f"p_{c}" for c in classes]].to_numpy() for m, w in weights.items())
    y = next(iter(tables.values()))["y_true"].to_numpy()
    pred = probs.argmax(1)
    return 100 * np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)])


def test_refit_scores_are_recomputed_from_the_refit_predictions(corpus, tmp_path):
    chosen = make_run(corpus, tmp_path / "chosen", seed=1, fused=True)
    refit = make_run(corpus, tmp_path / "refit", seed=2)
    table = refit_fusion.refit_table(chosen, refit)
    assert table["fold"].tolist() == list(FOLDS)
    for row in table.itertuples():
        meta = json.loads((chosen / f"results/models/fusion/fold_{row.fold}/metrics.json")
                          .read_text())
        weights = meta["fusion_weights"]
        assert (row.w_good, row.w_poor) == (weights["good"], weights["poor"])
        assert row.refit_ua == pytest.approx(hand_ua(refit, row.fold, weights,
                                                     corpus["classes"]))
        assert row.held_out_ua == pytest.approx(100 * meta["unweighted_accuracy"])
    assert not np.allclose(table["refit_ua"], table["held_out_ua"])  # other predictions


def test_runs_testing_other_files_in_a_fold_are_refused(corpus, tmp_path):
    chosen = make_run(corpus, tmp_path / "chosen", seed=1, fused=True)
    swapped = corpus["folds"].copy()
    swapped["fold"] = swapped["fold"].map({1: 2, 2: 1, 3: 3})
    refit = tmp_path / "refit"
    (refit / "results").mkdir(parents=True)
    swapped.to_csv(refit / "results/folds.csv", index=False)
    with pytest.raises(SystemExit, match="fold 1: .* tests other files than"):
        refit_fusion.refit_table(chosen, refit)
