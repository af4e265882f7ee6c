"""The train_classical rule's body: one classical model (ser.models.classical) on one fold.

Writes the same files as the torch trainer (ser.train.outputs), except that the model is
`model.npz` (arrays only, `np.load(allow_pickle=False)`) instead of `model.pt`:
- `predictions.csv`: the test files with y_true, y_pred and p_<class> columns;
- `val_predictions.csv`: the same for the fold's validation files, for late fusion
  (ser.train.fusion). The model itself has seen them (its training pool holds the validation
  actors), so they come from a second fit of the chosen C, with the same standardisation, class
  weights and seed, on the fold's training actors alone. C was chosen by an inner
  cross-validation that pooled those validation actors with the training ones, so these scores
  are slightly optimistic, as the torch trainer's are; a header only when there are none;
- `metrics.json`: the same keys as the torch trainer's. The fold's training and validation actors
  are pooled (`n_train`; `n_val` is 0), because the inner cross-validation over them is the
  validation: `val_accuracy` and `val_unweighted_accuracy` are the inner-CV means (WA, UA) of
  the chosen C, measured on held-out training actors only, never on test actors.
  `best_epoch` is the chosen C's 1-based index in the grid and `epochs_run` the grid's size;
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
from ser.models.classical import decision, softmax
from ser.train.outputs import peak_memory_mb, write_csv, write_json, write_predictions
from ser.train.run import TrainJob, preprocessing, split_model_config, with_encoder_layers


def training_arrays(data: FoldData, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, actor) of every non-test file of the fold: its training and validation actors."""
    parts = [data.splits[s] for s in ("train", "val") if len(data.splits[s])]
    x = np.concatenate([p.features[kind].numpy() for p in parts])
    y = np.concatenate([p.y.numpy() for p in parts])
    actors = np.concatenate([p.rows["actor"].to_numpy(dtype=np.int64) for p in parts])
    return x, y, actors


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
    metrics = fold_metrics(model, data, probs, info, cfg, seconds)
    write_outputs(Path(job.out_dir), model, data, (probs, val_probs), history, metrics,
                  {**info, "val_unweighted_accuracy": metrics["val_unweighted_accuracy"]})
    log.info("fold %d: %sC %g, inner UA %.4f, test UA %.4f, WA %.4f (nan: a final model)",
             job.fold,
             f"layer {model.layer}, " if model.layer else "", model.C,
             metrics["val_unweighted_accuracy"], metrics["unweighted_accuracy"],
             metrics["accuracy"])
    return metrics


def validation_probabilities(model, data: FoldData, kind: str, cfg: TrainConfig) -> np.ndarray:
    """The validation files' probabilities by the chosen C refitted on the training actors
    alone (see the module docstring)."""
    train, val = data.splits["train"], data.splits["val"]
    if not len(val):
        return np.zeros((0, data.n_classes))
    arrays = model.fit_chosen(train.features[kind].numpy(), train.y.numpy(), data.n_classes,
                              cfg.class_weights, cfg.seed)
    return softmax(decision(val.features[kind].numpy(), *arrays))


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


def fold_metrics(model, data: FoldData, probs: np.ndarray, info: dict, cfg: TrainConfig,
                 seconds: float) -> dict:
    """metrics.json's content: the torch trainer's keys, filled for a classical model."""
    import torch

    from ser.metrics import classification_metrics

    y_true = data.splits["test"].y.numpy()
    chosen = model.inner.index(model.chosen())
    scores = classification_metrics(y_true, probs.argmax(1), data.n_classes)
    if not len(y_true):  # a final model: nothing tested, no score to claim
        scores = {k: (float("nan") if isinstance(v, float) else v) for k, v in scores.items()}
    return {**info, "label_set": data.label_set, "fold": data.fold,
            "n_train": len(data.splits["train"]) + len(data.splits["val"]), "n_val": 0,
            "n_test": len(y_true), **scores,
            "val_accuracy": model.inner[chosen].val_accuracy,
            "val_unweighted_accuracy": model.inner[chosen].val_unweighted_accuracy,
            "val_source": f"inner {min(model.inner_folds, len(model.inner_actors))}-fold "
                          f"GroupKFold over the training actors, chosen "
                          f"{'layer and ' if model.layers else ''}C",
            "best_epoch": chosen + 1, "epochs_run": len(model.inner), "C": model.C,
            **({"layer": model.layer} if model.layers else {}),
            "inner_actors": model.inner_actors, "train_seconds": seconds, "device": "cpu",
            "seed": cfg.seed, "classes": list(data.classes), "class_weights": cfg.class_weights,
            "peak_memory_mb": peak_memory_mb(torch.device("cpu"))}
