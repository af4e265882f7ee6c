"""The train_classical rule's body: one classical model (ser.models.classical) on one fold.

Writes the same files as the torch trainer (ser.train.outputs), except that the model is
`model.npz` (arrays only, `np.load(allow_pickle=False)`) instead of `model.pt`:
- `predictions.csv`: the test files with y_true, y_pred and p_<class> columns;
- `val_predictions.csv`: the same for the fold's validation files (a header only when there
  are none), for late fusion (ser.train.fusion);
- `metrics.json`: the same keys as the torch trainer's, measured the same way. The model is
  fitted on the fold's training actors alone, as a torch model is: C (and an encoder head's
  layer) chosen by an inner cross-validation grouped by actor inside them, then refitted on all
  of them. `val_accuracy` and `val_unweighted_accuracy` are that model's scores on the fold's
  validation actors, which it never saw, so that every family's validation UA is of one kind
  (issue 42). The inner-CV means of the chosen C are kept beside them (`inner_accuracy`,
  `inner_unweighted_accuracy`); a protocol without validation actors falls back to them, as
  `val_source` says. `best_epoch` is the chosen C's 1-based index in the grid and `epochs_run`
  the grid's size;
- `history.csv`: one row per candidate C in increasing order (`epoch` = its index, as the
  report's curves expect), with the inner-CV training and validation loss and accuracy.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ser.train.config import TrainConfig
from ser.models.registry import InputSpec
from ser.train.data import FoldData
from ser.train.outputs import peak_memory_mb, write_csv, write_json, write_predictions
from ser.train.run import TrainJob, preprocessing, split_model_config, with_encoder_layers


def pools_validation(data: FoldData) -> bool:
    """A fold of one training actor (a tiny corpus) leaves the inner cross-validation no actor to
    hold out: its linear model pools the validation actors in, as before issue 42, and its
    validation score is the inner cross-validation's (`val_source` says so)."""
    return data.splits["train"].rows["actor"].nunique() < 2 and len(data.splits["val"]) > 0


def training_arrays(data: FoldData, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, actor) of the fold's training actors (never its validation or test actors; the
    validation actors too where `pools_validation`)."""
    parts = [data.splits[s] for s in (("train", "val") if pools_validation(data) else ("train",))]
    return (np.concatenate([p.features[kind].numpy() for p in parts]),
            np.concatenate([p.y.numpy() for p in parts]),
            np.concatenate([p.rows["actor"].to_numpy(dtype=np.int64) for p in parts]))


def validation_probabilities(model, data: FoldData, kind: str, cfg: TrainConfig) -> np.ndarray:
    """The validation files' probabilities: the model's own, or, where it pooled them in, those
    of its C refitted on the training actors alone."""
    from ser.models.classical import decision, softmax

    train, val = data.splits["train"], data.splits["val"]
    if not len(val):
        return np.zeros((0, data.n_classes))
    if not pools_validation(data):
        return model.probabilities(val.features[kind].numpy())
    arrays = model.fit_chosen(train.features[kind].numpy(), train.y.numpy(), data.n_classes,
                              cfg.class_weights, cfg.seed)
    return softmax(decision(val.features[kind].numpy(), *arrays))


def history_table(model) -> pd.DataFrame:
    """One row per candidate (layer and) C, in the order tried."""
    return pd.DataFrame([{"epoch": i + 1, **({"layer": s.layer} if model.layers else {}),
                          "C": s.C, "train_loss": s.train_loss,
                          "train_acc": s.train_accuracy, "val_loss": s.val_loss,
                          "val_acc": s.val_accuracy, "val_ua": s.val_unweighted_accuracy}
                         for i, s in enumerate(model.inner)])


def run_classical(job: TrainJob, log: logging.Logger) -> dict:
    """Fit the job's classical model on its fold and write its outputs (`state_dir` and
    `weights_cache_dir` do not apply).

    Of the `training` block only `seed` and `class_weights` apply ('balanced' weights when true).
    """
    from threadpoolctl import threadpool_limits

    from ser import models

    arch, pretrained, overrides, hparams = split_model_config(job.model_name, job.model_cfg)
    cfg = TrainConfig.from_layers(job.training_defaults, overrides)
    spec = models.get_spec(arch)
    if spec.trainer != "linear":
        raise ValueError(f"{job.model_name}: arch {arch} is a {spec.family} model that rule "
                         f"{'train' if spec.trainer == 'torch' else 'fuse'} fits")
    kind = spec.input.features[0]
    data = FoldData.from_files(job.feature_shards, job.metadata_csv, job.folds_csv, job.fold,
                               job.label_set, InputSpec((kind,)), job.feature_params,
                               cfg.speaker_norm)
    model = models.build_model(arch, data.n_classes, pretrained,
                               **with_encoder_layers(spec, hparams, job.feature_shards))
    x, y, actors = training_arrays(data, kind)
    log.info("fitting %s (%s, %s) on fold %d: %d files of actors %s; test actors %s", job.model_name,
             arch, kind, job.fold, len(y), sorted(set(actors.tolist())),
             sorted(set(data.splits["test"].rows["actor"].tolist())))
    start = time.monotonic()
    with threadpool_limits(limits=max(1, int(job.threads or 1))):
        model.fit(x, y, actors, data.n_classes, class_weights=cfg.class_weights, seed=cfg.seed)
        seconds = time.monotonic() - start
    val_probs = validation_probabilities(model, data, kind, cfg)
    history = history_table(model)
    log.info("inner cross-validation (UA by %sC):\n%s", "layer and " if model.layers else "",
             history.to_string(index=False))
    probs = model.probabilities(data.splits["test"].features[kind].numpy())
    info = {"model": job.model_name, "arch": arch, "family": spec.family,
            "weights": model.weights_description, "pretrained": pretrained, "features": [kind],
            "input_size": None, "protocol": job.protocol.get("scheme"), "hparams": hparams,
            # how the features were made, so that `ser predict` feeds new audio as the shards were
            "preprocessing": preprocessing(job.feature_shards, [kind], job.metadata_csv),
            "speaker_norm": bool(cfg.speaker_norm)}
    metrics = fold_metrics(model, data, (probs, val_probs), info, cfg, seconds)
    write_outputs(Path(job.out_dir), model, data, (probs, val_probs), history, metrics,
                  {**info, "val_unweighted_accuracy": metrics["val_unweighted_accuracy"]})
    log.info("fold %d: %sC %g, inner UA %.4f, validation UA %.4f, test UA %.4f, WA %.4f "
             "(nan: a final model)", job.fold, f"layer {model.layer}, " if model.layer else "",
             model.C, metrics["inner_unweighted_accuracy"], metrics["val_unweighted_accuracy"],
             metrics["unweighted_accuracy"], metrics["accuracy"])
    return metrics


def write_outputs(out: Path, model, data: FoldData, probs: tuple[np.ndarray, np.ndarray],
                  history: pd.DataFrame, metrics: dict, info: dict) -> None:
    """model.npz, history.csv, predictions.csv and val_predictions.csv (`probs`: test and
    validation), then metrics.json (its presence means the fold is complete), each written
    atomically."""
    from ser.models.classical import save_npz

    out.mkdir(parents=True, exist_ok=True)
    save_npz(model, list(data.classes), out / "model.npz", feature=metrics["features"][0],
             fold=data.fold, info=json.dumps(info))
    write_csv(history, out / "history.csv")
    write_predictions(out, data, *probs)
    write_json(metrics, out / "metrics.json")


def validation_scores(model, data: FoldData, val_probs: np.ndarray) -> dict:
    """The validation keys of metrics.json: the model's scores on the validation actors, or the
    inner cross-validation's means where the protocol holds out none (module docstring)."""
    from ser.metrics import classification_metrics

    inner = model.chosen()
    actors = len(model.inner_actors)
    scores = {"inner_accuracy": inner.val_accuracy,
              "inner_unweighted_accuracy": inner.val_unweighted_accuracy}
    y_val = data.splits["val"].y.numpy()
    if not len(y_val) or pools_validation(data):
        why = "one training actor, so the validation actors pooled in" if len(y_val) else \
            "no validation actors"
        return {**scores, "val_accuracy": inner.val_accuracy,
                "val_unweighted_accuracy": inner.val_unweighted_accuracy,
                "val_source": f"{why}: the inner {min(model.inner_folds, actors)}-fold "
                              f"GroupKFold over the actors that chose C"}
    held_out = classification_metrics(y_val, val_probs.argmax(1), data.n_classes)
    return {**scores, "val_accuracy": held_out["accuracy"],
            "val_unweighted_accuracy": held_out["unweighted_accuracy"],
            "val_source": "the validation actors, never seen by the fit on the training actors "
                          f"({'layer and ' if model.layers else ''}C by an inner "
                          f"{min(model.inner_folds, actors)}-fold GroupKFold inside them)"}


def fold_metrics(model, data: FoldData, probs: tuple[np.ndarray, np.ndarray], info: dict,
                 cfg: TrainConfig, seconds: float) -> dict:
    """metrics.json's content: the torch trainer's keys, filled for a classical model
    (`probs`: test and validation)."""
    import torch

    from ser.metrics import classification_metrics

    y_true = data.splits["test"].y.numpy()
    chosen = model.inner.index(model.chosen())
    scores = classification_metrics(y_true, probs[0].argmax(1), data.n_classes)
    if not len(y_true):  # a final model: nothing tested, no score to claim
        scores = {k: (float("nan") if isinstance(v, float) else v) for k, v in scores.items()}
    return {**info, "label_set": data.label_set, "fold": data.fold,
            "n_train": len(data.splits["train"]) + (len(data.splits["val"])
                                                    if pools_validation(data) else 0),
            "n_val": 0 if pools_validation(data) else len(data.splits["val"]),
            "n_test": len(y_true), **scores, **validation_scores(model, data, probs[1]),
            "best_epoch": chosen + 1, "epochs_run": len(model.inner), "C": model.C,
            **({"layer": model.layer} if model.layers else {}),
            "inner_actors": model.inner_actors, "train_seconds": seconds, "device": "cpu",
            "seed": cfg.seed, "classes": list(data.classes), "class_weights": cfg.class_weights,
            "peak_memory_mb": peak_memory_mb(torch.device("cpu"))}
