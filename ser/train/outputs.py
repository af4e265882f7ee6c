"""The files a trained fold leaves behind, each written to a temporary name and renamed.

- `model.pt`: the selected checkpoint with everything needed to use it: state_dict, the
  normaliser's training statistics, class names, model name, arch, hparams, input spec and the
  preprocessing the shards were made with, under a `format` number (`load_checkpoint`). Only
  tensors and primitives, so `torch.load(path, weights_only=True)` reads it.
- `history.csv`: one row per epoch.
- `predictions.csv`: one row per test file: file, actor, gender, intensity, y_true and y_pred as
  class indices into metrics.json's `classes`, and p_<class> probabilities.
- `val_predictions.csv`: the same for the fold's validation files, by the kept checkpoint (the
  one chosen on those files, so its scores there are optimistic); a header only when the
  protocol holds out no validation actors. Late fusion (ser.train.fusion) weighs models on it.
- `metrics.json`: the fold's scores and provenance.
"""
from __future__ import annotations

import json
import resource
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ser import __version__
from ser.io import atomic_file, rebuild_hint, short_error
from ser.train.data import FoldData

# 1: the first release (no `format` key, no preprocessing); 2: `format`, `ser_version`, and
# info's `build_hparams` and `preprocessing`, which `ser predict` and `ser export` need.
FORMAT_VERSION = 2


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _plain(value):
    """JSON round trip: tuples become lists, so the checkpoint holds primitives only."""
    return json.loads(json.dumps(value))


def checkpoint(state_dict: Mapping[str, torch.Tensor], data: FoldData, info: dict) -> dict:
    return {
        "format": FORMAT_VERSION,
        "ser_version": __version__,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "normaliser": data.normaliser.state(),
        "classes": list(data.classes),
        "label_set": data.label_set,
        "input": {"features": list(data.spec.features),
                  "size": None if data.spec.size is None else list(data.spec.size)},
        "info": _plain(info),
    }


class CheckpointError(ValueError):
    """A model.pt that this version of ser cannot use; the message names the file and why."""


def load_checkpoint(path: str | Path) -> dict:
    """Read a model.pt with `weights_only=True` after checking its format is this version's."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".json":  # rule fuse's models: ser.use.load.load_trained reads them
        raise CheckpointError(f"{path}: a fusion model, not a torch checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle and zip errors alike mean "not a checkpoint"
        raise CheckpointError(f"{path}: not a readable ser checkpoint "
                              f"({short_error(err)}); "
                              f"{rebuild_hint(path)}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a ser checkpoint (no state_dict)")
    found = ckpt.get("format", 1)
    if found != FORMAT_VERSION:
        older = found < FORMAT_VERSION
        version = f", ser {ckpt['ser_version']}" if "ser_version" in ckpt else ""
        raise CheckpointError(
            f"{path}: written by {'an older' if older else 'a newer'} version of ser (checkpoint "
            f"format {found}{version}); this is ser {__version__}, which reads format "
            f"{FORMAT_VERSION}: {'retrain the model with it' if older else 'upgrade ser'}")
    return ckpt


def probability_table(rows: pd.DataFrame, y_true: np.ndarray, probs: np.ndarray,
                      classes: list[str]) -> pd.DataFrame:
    """The predictions.csv layout: `rows` (file, actor, ...), y_true, y_pred and p_<class>."""
    table = rows.reset_index(drop=True).copy()
    table["y_true"] = np.asarray(y_true)
    table["y_pred"] = probs.argmax(1)
    for i, name in enumerate(classes):
        table[f"p_{name}"] = probs[:, i]
    return table


def predictions_table(data: FoldData, probs: np.ndarray, split: str = "test") -> pd.DataFrame:
    part = data.splits[split]
    return probability_table(part.rows, part.y.cpu().numpy(), probs, list(data.classes))


def write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(value: dict, path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, allow_nan=True) + "\n")


def write_predictions(out_dir: Path, data: FoldData, probs: np.ndarray,
                      val_probs: np.ndarray) -> None:
    """val_predictions.csv (empty without validation actors), and predictions.csv of a
    cross-validation fold: a final model has no test actors, but a final fusion chooses its
    weights on its members' validation predictions."""
    if len(data.splits["test"]):
        write_csv(predictions_table(data, probs), out_dir / "predictions.csv")
    write_csv(predictions_table(data, val_probs, "val"), out_dir / "val_predictions.csv")


def write_fold_outputs(out_dir: Path, state_dict: Mapping[str, torch.Tensor], data: FoldData,
                       probs: np.ndarray, history: list[dict], metrics: dict, info: dict,
                       val_probs: np.ndarray) -> None:
    """model.pt, history.csv, predictions.csv, val_predictions.csv and metrics.json;
    metrics.json last, so its presence means the fold is complete."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(out_dir / "model.pt") as tmp:
        torch.save(checkpoint(state_dict, data, info), tmp)
    write_csv(pd.DataFrame(history), out_dir / "history.csv")
    write_predictions(out_dir, data, probs, val_probs)
    write_json(metrics, out_dir / "metrics.json")
