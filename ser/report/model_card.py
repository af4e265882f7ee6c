"""The model card of a final model: what it recognises, what it was trained on, how well the same
recipe did on actors it never heard (this run's cross-validation), and what it may be used for.

The final model itself has no test score: every actor but the validation actors trained it. The
scores quoted are those of the same model entry (same recipe, features and initial weights)
trained on each cross-validation fold of this run and tested on that fold's held-out actors.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ser.data.provenance import describe, read_corpus_record
from ser.io import atomic_file

LICENCE = (
    "RAVDESS (Livingstone & Russo 2018, https://doi.org/10.1371/journal.pone.0196391) is "
    "released under CC BY-NC-SA 4.0. A model trained on it is for **non-commercial use only**, "
    "must credit the corpus, and adaptations must be shared under the same licence."
)
LIMITS = (
    "Trained only on acted North-American English speech of 24 professional actors (12 female, "
    "12 male), two fixed neutral sentences, studio recordings, emotions as the actors intended "
    "to portray them. Nothing here measures how it does on spontaneous speech, other languages "
    "or accents, children or older speakers, noisy or telephone audio, or other sentences; "
    "expect far lower scores there."
)


def _actors(folds: pd.DataFrame, split: str) -> list[int]:
    return sorted(int(a) for a in folds.loc[folds["split"] == split, "actor"].unique())


def cv_table(fold_metrics: list[dict], folds: pd.DataFrame) -> pd.DataFrame:
    """One row per cross-validation fold: test actors, UA, WA, macro F1."""
    rows = []
    for m in sorted(fold_metrics, key=lambda m: m["fold"]):
        test = _actors(folds[folds["fold"] == m["fold"]], "test")
        rows.append({"fold": m["fold"], "test actors": ", ".join(map(str, test)),
                     "UA": m["unweighted_accuracy"], "WA": m["accuracy"],
                     "macro F1": m["f1_macro"]})
    return pd.DataFrame(rows)


def per_class_recall(fold_metrics: list[dict], classes: list[str]) -> pd.DataFrame:
    """Recall of each class over every fold's test files (confusion matrices summed)."""
    cm = np.sum([np.asarray(m["confusion_matrix"]) for m in fold_metrics], axis=0)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(len(classes)), where=support > 0)
    return pd.DataFrame({"class": classes, "test files": support, "recall": recall})


def _markdown(table: pd.DataFrame) -> str:
    def cell(v) -> str:
        return f"{100 * v:.2f} %" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


def _linear_training(final: dict, split: pd.DataFrame) -> list[str]:
    """A linear model trains on the training actors alone, as a torch model does; an inner
    cross-validation over them chose C (and an encoder head's layer), and the validation
    actors score it."""
    layer = f"layer `{final['layer']}`, " if final.get("layer") else ""
    inner = final.get("inner_unweighted_accuracy", final["val_unweighted_accuracy"])
    return [f"- Training actors ({final['n_train']} files): "
            f"{', '.join(map(str, _actors(split, 'train')))}.",
            f"- {layer}C {final['C']:g} chosen by the inner cross-validation over the training "
            f"actors (inner UA {100 * inner:.2f} %); scored on {final['val_source']}: UA "
            f"{100 * final['val_unweighted_accuracy']:.2f} %, WA "
            f"{100 * final['val_accuracy']:.2f} %."]


def _fusion_training(final: dict, split: pd.DataFrame) -> list[str]:
    """A fusion's members are final models of the same split; its weights were chosen on the
    validation actors' files, scored by members fitted without them."""
    weights = ", ".join(f"`{m}` {w:g}" for m, w in final["fusion_weights"].items())
    return [f"- Members: this run's final models of {', '.join(f'`{m}`' for m in final['members'])}"
            f" (a torch member trains on actors {', '.join(map(str, _actors(split, 'train')))} "
            "and stops on the validation actors; a linear one pools both into its fit).",
            f"- Weights: {weights}; chosen on the {final['n_val']} files of validation actors "
            f"{', '.join(map(str, final['fitted_on_actors']))}, scored by the members fitted "
            f"without them (UA {100 * final['val_unweighted_accuracy']:.2f} %, WA "
            f"{100 * final['val_accuracy']:.2f} %, optimistic: the weights were chosen on them)."]


def _training_section(final: dict, history: pd.DataFrame, split: pd.DataFrame,
                      corpus: dict) -> list[str]:
    weights = ["", "## Initial weights", "",
               f"{final['weights']} (`pretrained: {final['pretrained']}`).", ""]
    head = ["## Training data", "",
            f"- Corpus: {describe(corpus)}; label set `{final['label_set']}`."]
    if "C" in final:
        return head + _linear_training(final, split) + weights
    if final["family"] == "fusion":
        return head + _fusion_training(final, split) + weights
    train, val = _actors(split, "train"), _actors(split, "val")
    best = history[history["epoch"] == final["best_epoch"]].iloc[0]
    kept = (f"epoch {final['best_epoch']} of {final['epochs_run']} run, chosen on the validation "
            f"actors (UA {100 * best['val_ua']:.2f} %, WA {100 * best['val_acc']:.2f} %)"
            if val and not np.isnan(best["val_ua"])
            else f"the last epoch ({final['epochs_run']}); no validation actors")
    return head + [
        f"- Training actors ({final['n_train']} files): {', '.join(map(str, train))}.",
        f"- Validation actors ({final['n_val']} files, early stopping and checkpoint "
        f"selection only): {', '.join(map(str, val)) or 'none'}.",
        f"- Checkpoint kept: {kept}."] + weights


def _mean_std(values: pd.Series) -> str:
    return f"{100 * values.mean():.2f} ± {100 * values.std(ddof=1):.2f} %"


def _calibration_section(record: dict) -> list[str]:
    """What the probabilities `ser predict` gives mean: the temperature and its check."""
    lines = ["## Calibrated probabilities", "",
             f"`ser predict` divides the log-probabilities by a temperature T = "
             f"{record['temperature']:.3f} before the softmax (temperature scaling, fitted on "
             f"{record['fitted_on']}, {record['n_val']} files; calibration.json). The class "
             "ranking stays; a probability of 0.8 then comes true about 8 times in 10."]
    if record.get("folds"):
        lines += ["", f"Expected calibration error (15 bins) on the cross-validation folds' test "
                      f"files, each fold's T fitted on its own validation actors: "
                      f"{100 * record['test_ece_before']:.1f} % uncalibrated, "
                      f"{100 * record['test_ece_after']:.1f} % calibrated (mean over "
                      f"{len(record['folds'])} folds)."]
    return [*lines, ""]


def model_card(final: dict, history: pd.DataFrame, split: pd.DataFrame, folds: pd.DataFrame,
               fold_metrics: list[dict], corpus: dict, calibration: dict | None = None) -> str:
    """The card's Markdown text."""
    cv = cv_table(fold_metrics, folds)
    pre = final.get("preprocessing", {})
    made = (f"of {pre['window_seconds']} s windows at {pre['sample_rate']} Hz" if pre else
            "of each member's own windows, as its card says")
    lines = [f"# Model card: {final['model']} ({final['arch']}, {final['family']})", "",
             f"Classes ({len(final['classes'])}): {', '.join(final['classes'])}.", "",
             f"Input: {' + '.join(final['features'])} {made} (`python -m ser predict` computes "
             "them from any recording; `python -m ser export` writes ONNX and the parameters).", ""]
    lines += _training_section(final, history, split, corpus)
    lines += ["## Cross-validated scores of the same recipe", "",
              f"Protocol `{final['protocol']}`: the same model entry trained on each fold of this "
              "run and tested on the fold's held-out actors (never seen in training or "
              f"validation). Over {len(cv)} folds: UA {_mean_std(cv['UA'])}, "
              f"WA {_mean_std(cv['WA'])}, macro F1 {_mean_std(cv['macro F1'])} "
              "(mean ± std across folds).", "",
              _markdown(cv), "", "Recall per class, over every fold's test files:", "",
              _markdown(per_class_recall(fold_metrics, final["classes"])), ""]
    lines += _calibration_section(calibration) if calibration else []
    lines += ["## Licence", "", LICENCE, "", "## Limits", "", LIMITS, ""]
    return "\n".join(lines)


def write_model_card(final_metrics: str | Path, final_history: str | Path,
                     final_folds: str | Path, folds: str | Path, fold_metrics: list[str | Path],
                     corpus_json: str | Path, out: str | Path,
                     calibration_json: str | Path | None = None) -> None:
    """Read the final model's and the folds' outputs and write the card atomically."""
    final = json.loads(Path(final_metrics).read_text())
    metrics = [json.loads(Path(p).read_text()) for p in fold_metrics]
    text = model_card(final, pd.read_csv(final_history), pd.read_csv(final_folds),
                      pd.read_csv(folds), metrics, read_corpus_record(corpus_json),
                      json.loads(Path(calibration_json).read_text()) if calibration_json else None)
    with atomic_file(out) as tmp:
        tmp.write_text(text)
