"""The fuse rule's body: one fusion model (ser.models.fusion) on one fold, from its members'
outputs of the same fold.

Each member's `val_predictions.csv` (the fold's validation files), `predictions.csv` (its test
files) and `metrics.json` are read and checked against each other and against the fold's files in
results/folds.csv (same classes and label set, exactly the fold's validation and test files, the
same labels). The weights are chosen on the validation files only, then applied once to the test
files. The outputs have the form of every model's (ser.train.outputs):
- `predictions.csv`, `val_predictions.csv`: the fused probabilities of the test / validation files
  (the validation files' cross-fitted, see below);
- `metrics.json`: the usual keys (`features`: the members' together). `val_accuracy` and
  `val_unweighted_accuracy` are cross-fitted: each validation actor's files are fused with weights
  chosen on the other validation actors' files (`val_predictions.csv` holds those), so that no
  file scores the weighting chosen on it, as no other model's validation file does (issue 42);
  `in_sample_val_unweighted_accuracy` is the chosen weights' on all of them. A torch member's
  validation predictions still come from the checkpoint chosen on those files. Besides: `members`,
  `fusion_weights` (member -> weight), `n_fitted_on_files` and `fitted_on_actors` (the validation
  files and actors the weights saw); `n_train`, the largest training pool of a member (training
  and validation files), which the report's corrected t-test uses; `best_epoch`, the chosen
  weighting's 1-based index in the grid, and `epochs_run`, the grid's size;
- `history.csv`: one row per candidate weighting (`epoch` = its index, `w_<member>`, `val_loss`,
  `val_acc`, `val_ua`; no training scores, NaN);
- `model.json`: members, weights, classes, step, the validation files the weights saw, and
  `member_models`: each member's model file of the same fold, relative to model.json's folder
  (`ser predict` and `ser export` load the fusion through them).
A protocol without validation actors (dchung_4fold) stops the job with one line: test files
never choose the weights. A final fusion (rule final_fuse, `test_predictions` None) chooses its
weights the same way on the final split's validation actors, from its members' final models;
it has no test files, and its test scores are NaN.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ser.io import read_json_object, read_table
from ser.metrics import classification_metrics
from ser.models.fusion import LateFusion
from ser.train.data import ROW_COLUMNS
from ser.train.outputs import probability_table, write_csv, write_json


@dataclass(frozen=True)
class FusionJob:
    """One fusion model of the config on one fold: the fuse rule's params and inputs, the three
    member files in the order of `model_cfg['hparams']['members']`."""

    model_name: str
    model_cfg: Mapping
    protocol: Mapping
    val_predictions: Sequence[str | Path]
    test_predictions: Sequence[str | Path] | None  # None: a final fusion (no test actors)
    member_metrics: Sequence[str | Path]
    folds_csv: str | Path
    fold: int
    out_dir: str | Path


@dataclass
class Member:
    """One member's outputs of the fold: metrics, then validation and test tables by file."""

    name: str
    metrics: dict
    tables: dict[str, pd.DataFrame]     # "val", "test"
    paths: dict[str, Path]
    metrics_path: Path

    def probs(self, split: str) -> np.ndarray:
        return self.tables[split][[f"p_{c}" for c in self.metrics["classes"]]].to_numpy()


def read_member(name: str, val: str | Path, test: str | Path | None,
                metrics: str | Path) -> Member:
    """A member's files (no test table for a final fusion), each checked for what fusion reads."""
    meta = read_json_object(metrics, f"{name}'s fold metrics", ("classes", "label_set", "fold"))
    columns = [*ROW_COLUMNS, "y_true", *(f"p_{c}" for c in meta["classes"])]
    paths = {"val": Path(val)} | ({} if test is None else {"test": Path(test)})
    tables = {}
    for split, path in paths.items():
        table = read_table(path, f"{name}'s predictions", columns)
        tables[split] = table.sort_values("file", ignore_index=True)
    return Member(name, meta, tables, paths, Path(metrics))


def fold_files(folds_csv: str | Path, fold: int) -> dict[str, list[str]]:
    """The fold's validation and test files of results/folds.csv, sorted."""
    folds = pd.read_csv(folds_csv)
    rows = folds[folds["fold"] == fold]
    if rows.empty:
        raise ValueError(f"{folds_csv}: fold {fold} is not in the folds table")
    return {split: sorted(rows.loc[rows["split"] == split, "file"]) for split in ("val", "test")}


def check_members(members: Sequence[Member], files: Mapping[str, list[str]], fold: int) -> None:
    """Members that agree with each other and cover exactly the fold's files; a ValueError
    naming the file and the reason otherwise."""
    first = members[0]
    for member in members:
        for key in ("classes", "label_set", "fold"):
            if member.metrics[key] != first.metrics[key]:
                raise ValueError(f"{member.metrics_path}: {key} {member.metrics[key]!r}, not "
                                 f"{first.metrics[key]!r} as in {first.metrics_path}")
        for split, path in member.paths.items():
            got = member.tables[split]["file"].tolist()
            if got != files[split]:
                odd = sorted(set(got) ^ set(files[split]))
                raise ValueError(f"{path}: its files are not fold {fold}'s {split} files "
                                 f"({len(got)} rows for {len(files[split])} files; differing: "
                                 f"{odd[:3]}{' ...' if len(odd) > 3 else ''})")
            if not member.tables[split]["y_true"].equals(first.tables[split]["y_true"]):
                raise ValueError(f"{path}: its labels differ from {first.paths[split]}'s")


def fused_table(member: Member, split: str, probs: np.ndarray) -> pd.DataFrame:
    """A predictions table of `member`'s files with the fused probabilities."""
    table = member.tables[split]
    return probability_table(table[ROW_COLUMNS], table["y_true"].to_numpy(), probs,
                             list(member.metrics["classes"]))


def history_table(fusion: LateFusion) -> pd.DataFrame:
    return pd.DataFrame([{"epoch": i + 1, **{f"w_{m}": w for m, w in zip(fusion.members,
                                                                      c.weights)},
                          "train_loss": np.nan, "train_acc": np.nan, "val_loss": c.val_loss,
                          "val_acc": c.val_accuracy, "val_ua": c.val_unweighted_accuracy}
                         for i, c in enumerate(fusion.candidates)])


def _test_scores(test: pd.DataFrame | None, n_classes: int) -> dict:
    """The test scores; NaN for a final fusion, which has no test files."""
    if test is not None:
        return classification_metrics(test["y_true"].to_numpy(), test["y_pred"].to_numpy(),
                                      n_classes)
    nan = float("nan")
    return {"accuracy": nan, "unweighted_accuracy": nan, "precision_macro": nan,
            "recall_macro": nan, "f1_macro": nan, "confusion_matrix": []}


def validation_scores(chosen, val: pd.DataFrame, n_classes: int) -> dict:
    """The validation keys of metrics.json: the cross-fitted scores over the validation actors
    (each scored under weights chosen on the others) when there are two or more, else the chosen
    weights' own, on the files they were chosen on (module docstring)."""
    in_sample = {"in_sample_val_unweighted_accuracy": chosen.val_unweighted_accuracy}
    if val["actor"].nunique() < 2:
        return {"val_accuracy": chosen.val_accuracy,
                "val_unweighted_accuracy": chosen.val_unweighted_accuracy,
                "val_source": "the validation actor's files, on which the weights were chosen "
                              "(one validation actor: nothing to cross-fit)", **in_sample}
    m = classification_metrics(val["y_true"].to_numpy(), val["y_pred"].to_numpy(), n_classes)
    return {"val_accuracy": m["accuracy"], "val_unweighted_accuracy": m["unweighted_accuracy"],
            "val_source": "the validation actors, each scored under weights chosen on the "
                          "other validation actors' files", **in_sample}


def fusion_metrics(job: FusionJob, fusion: LateFusion, members: Sequence[Member],
                   tables: Mapping[str, pd.DataFrame], seconds: float) -> dict:
    """metrics.json's content: every model's keys, filled for a fusion (module docstring)."""
    first, chosen = members[0], fusion.chosen
    classes = list(first.metrics["classes"])
    val, test = tables["val"], tables.get("test")
    return {"model": job.model_name, "arch": job.model_cfg.get("arch", "fusion"),
            "family": "fusion", "weights": fusion.weights_description, "pretrained": "none",
            "features": list(dict.fromkeys(f for m in members
                                           for f in m.metrics.get("features", []))),
            "input_size": None, "protocol": job.protocol.get("scheme"),
            "hparams": dict(job.model_cfg.get("hparams") or {}),
            "label_set": first.metrics["label_set"], "fold": job.fold,
            "n_train": max(int(m.metrics.get("n_train", 0)) + int(m.metrics.get("n_val", 0))
                           for m in members),
            "n_val": len(val), "n_test": 0 if test is None else len(test),
            **_test_scores(test, len(classes)),
            **validation_scores(chosen, val, len(classes)),
            "members": list(fusion.members),
            "fusion_weights": dict(zip(fusion.members, fusion.weights)),
            "n_fitted_on_files": len(val),
            "fitted_on_actors": sorted(int(a) for a in val["actor"].unique()),
            "best_epoch": fusion.candidates.index(chosen) + 1,
            "epochs_run": len(fusion.candidates), "train_seconds": seconds, "device": "cpu",
            "seed": _common(m.metrics.get("seed") for m in members), "classes": classes}


def _common(values):
    """The one value all members share, else None."""
    values = set(values)
    return values.pop() if len(values) == 1 else None


def run_fusion(job: FusionJob, log: logging.Logger) -> dict:
    """Choose the job's fusion weights on its members' validation predictions, apply them to
    their test predictions and write the fold's outputs; returns the metrics."""
    from ser import models

    hparams = dict(job.model_cfg.get("hparams") or {})
    fusion = models.build_model(job.model_cfg.get("arch", "fusion"), 1, **hparams)
    tests = job.test_predictions if job.test_predictions is not None else \
        [None] * len(job.val_predictions)
    paths = list(zip(job.val_predictions, tests, job.member_metrics))
    if len(paths) != len(fusion.members):
        raise ValueError(f"{job.model_name}: {len(paths)} members' files for members "
                         f"{list(fusion.members)}")
    members = [read_member(name, *files) for name, files in zip(fusion.members, paths)]
    files = fold_files(job.folds_csv, job.fold)
    if not files["val"]:
        raise ValueError(f"fusion weights need validation actors: fold {job.fold} of "
                         f"{job.protocol.get('scheme')} has none (protocol.n_val_actors 0), and "
                         "test files never choose them")
    check_members(members, files, job.fold)
    start = time.monotonic()
    first = members[0]
    fusion.fit([m.probs("val") for m in members], first.tables["val"]["y_true"].to_numpy(),
               len(first.metrics["classes"]))
    seconds = time.monotonic() - start
    history = history_table(fusion)
    log.info("fold %d, %d validation files of actors %s; validation UA by weighting:\n%s",
             job.fold, len(first.tables["val"]), sorted(set(first.tables["val"]["actor"].tolist())),
             history.to_string(index=False))
    tables = {split: fused_table(first, split, fusion.probabilities([m.probs(split)
                                                                     for m in members]))
              for split in first.tables}
    val = first.tables["val"]
    crossed = fusion.cross_fitted([m.probs("val") for m in members], val["y_true"].to_numpy(),
                                  val["actor"].to_numpy(), len(first.metrics["classes"]))
    if crossed is not None:
        tables["val"] = fused_table(first, "val", crossed)
    metrics = fusion_metrics(job, fusion, members, tables, seconds)
    write_outputs(Path(job.out_dir), fusion, metrics, tables, history,
                  member_models(members, Path(job.out_dir)))
    log.info("fold %d: weights %s, validation UA %.4f, test UA %.4f, WA %.4f", job.fold,
             metrics["fusion_weights"], metrics["val_unweighted_accuracy"],
             metrics["unweighted_accuracy"], metrics["accuracy"])
    return metrics


def member_models(members: Sequence[Member], out: Path) -> dict[str, str]:
    """member -> its model file beside its metrics.json, relative to the fusion's folder."""
    found = {}
    for member in members:
        files = [member.metrics_path.with_name(f"model.{ext}") for ext in ("pt", "npz")]
        file = next((f for f in files if f.exists()), files[0])
        found[member.name] = os.path.relpath(file, out)
    return found


def write_outputs(out: Path, fusion: LateFusion, metrics: dict, tables: dict[str, pd.DataFrame],
                  history: pd.DataFrame, members: Mapping[str, str]) -> None:
    """model.json, history.csv, the predictions tables, then metrics.json (its presence
    means the fold is complete), each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_json({"members": list(fusion.members), "weights": list(fusion.weights),
                "step": fusion.step, "classes": metrics["classes"],
                "label_set": metrics["label_set"], "fold": metrics["fold"],
                "member_models": dict(members),
                "fitted_on_files": tables["val"]["file"].tolist()}, out / "model.json")
    write_csv(history, out / "history.csv")
    if "test" in tables:
        write_csv(tables["test"], out / "predictions.csv")
    write_csv(tables["val"], out / "val_predictions.csv")
    write_json(metrics, out / "metrics.json")
