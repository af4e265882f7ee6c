"""Late fusion with members refitted on every training actor, its weights chosen on validation.

A fusion's weights need validation actors (ser.models.fusion), while EmoBox's own set-up trains
on all 20 training actors of a fold (workflow/presets/all_training_actors.yaml). This takes each
fold's weights as the held-out run chose them on its validation actors (that run's fusion
`metrics.json`), applies them to the test probabilities of the same members retrained on every
training actor of the fold, and scores the result. Nothing is chosen on the refit run, nor on any
test file.

As a check of the arithmetic, the held-out run's own fusion is first recomputed from its members'
test probabilities with the same function; the script stops if that differs from what the rule
`fuse` wrote.

    python benchmarks/refit_fusion.py --chosen benchmarks/out/final120/emobox_6fold \
        --refit benchmarks/out/all20/emobox_6fold
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser.metrics import classification_metrics  # noqa: E402
from ser.models.fusion import weighted_average  # noqa: E402
from ser.train.fusion import check_members, fold_files, read_member  # noqa: E402


def fold_dirs(run: Path, model: str) -> dict[int, Path]:
    """fold number -> that fold's output folder of `model` in the run `run`."""
    folds = {int(p.name.split("_")[1]): p for p in (run / "results/models" / model).glob("fold_*")}
    if not folds:
        raise SystemExit(f"{run}: no folds of {model} (results/models/{model}/fold_*)")
    return dict(sorted(folds.items()))


def fuse(run: Path, weights: dict[str, float], fold: int) -> dict:
    """The weighted average of the members' test probabilities of `fold` in `run`, scored."""
    folders = {m: run / "results/models" / m / f"fold_{fold}" for m in weights}
    members = [read_member(m, f / "val_predictions.csv", f / "predictions.csv", f / "metrics.json")
               for m, f in folders.items()]
    try:
        check_members(members, fold_files(run / "results/folds.csv", fold), fold)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    first = members[0]
    probs = weighted_average(list(weights.values()), [m.probs("test") for m in members])
    return classification_metrics(first.tables["test"]["y_true"].to_numpy(), probs.argmax(1),
                                  len(first.metrics["classes"]))


def same_test_files(chosen: Path, refit: Path, fold: int) -> None:
    """Stop unless both runs test `fold` on the same files: the weights of one fold's held-out
    run mean nothing for another fold's actors."""
    a, b = (fold_files(run / "results/folds.csv", fold)["test"] for run in (chosen, refit))
    if a != b:
        odd = sorted(set(a) ^ set(b))
        raise SystemExit(f"fold {fold}: {refit} tests other files than {chosen} ({len(b)} and "
                         f"{len(a)} files; differing: {odd[:3]}{' ...' if len(odd) > 3 else ''})")


def refit_table(chosen: Path, refit: Path, fusion: str = "fusion") -> pd.DataFrame:
    """One row per fold: the chosen weights, the held-out fusion's UA and the refit one's
    scores, recomputed from the refit members' predictions."""
    rows = []
    for fold, folder in fold_dirs(chosen, fusion).items():
        meta = json.loads((folder / "metrics.json").read_text())
        weights = meta["fusion_weights"]
        again = fuse(chosen, weights, fold)
        if not np.isclose(again["unweighted_accuracy"], meta["unweighted_accuracy"]):
            raise SystemExit(f"fold {fold}: recomputed fusion UA {again['unweighted_accuracy']} "
                             f"differs from {folder / 'metrics.json'}'s "
                             f"{meta['unweighted_accuracy']}")
        same_test_files(chosen, refit, fold)
        scores = fuse(refit, weights, fold)
        rows.append({"fold": fold, **{f"w_{m}": w for m, w in weights.items()},
                     "held_out_ua": 100 * meta["unweighted_accuracy"],
                     "refit_ua": 100 * scores["unweighted_accuracy"],
                     "refit_wa": 100 * scores["accuracy"], "refit_f1": 100 * scores["f1_macro"]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chosen", type=Path, required=True,
                        help="work directory of the held-out run whose fusion chose the weights")
    parser.add_argument("--refit", type=Path, required=True,
                        help="work directory of the members trained on every training actor")
    parser.add_argument("--fusion", default="fusion", help="the fusion model of --chosen")
    args = parser.parse_args()
    table = refit_table(args.chosen, args.refit, args.fusion)
    print(table.round(2).to_markdown(index=False))
    means, stds = table.mean(numeric_only=True), table.std(numeric_only=True)
    print("\nmean ± std over folds: " + ", ".join(
        f"{k} {means[k]:.2f} ± {stds[k]:.2f}" for k in ("held_out_ua", "refit_ua", "refit_wa",
                                                        "refit_f1")))


if __name__ == "__main__":
    main()
