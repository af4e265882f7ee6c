"""A trained model back in memory from its file, whatever its family: a torch model.pt
(`load_torch`), a linear model.npz (`load_linear`) or a fusion's model.json (`load_fusion`: its
members' models, loaded from the files model.json names, `member_models`, relative to its folder).
`load_trained` takes the file or the folder holding one and picks by the file's suffix, and
calibrates it with the temperature of the calibration.json beside it (rule calibration).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ser.io import read_json_object
from ser.models import build_model
from ser.models.classical import load_npz
from ser.models.registry import InputSpec
from ser.train.config import resolve_device
from ser.train.normalise import Normaliser
from ser.train.outputs import CheckpointError, load_checkpoint
from ser.use.calibration import temperature_beside
from ser.use.trained import FusionTrained, LinearTrained, TrainedModel

SPEAKER_NORM = ("trained with speaker normalisation (training.speaker_norm), so each input needs "
                "its speaker's statistics, which ser predict and ser export do not compute: use a "
                "model trained with speaker_norm: false")
MODEL_FILES = ("model.pt", "model.npz", "model.json")


def model_file(path: str | Path) -> Path:
    """`path`, or the model file in a fold's or final model's folder."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = [path / name for name in MODEL_FILES if (path / name).exists()]
    if len(found) != 1:
        raise CheckpointError(f"{path}: a model folder holds one of {', '.join(MODEL_FILES)}; "
                              f"found {[p.name for p in found] or 'none'}")
    return found[0]


def load_trained(path: str | Path, device: str | torch.device | None = None,
                 calibrated: bool = True) -> TrainedModel | LinearTrained | FusionTrained:
    """The model of a model.pt, model.npz or model.json, given the file or its folder, on
    `device` (the GPU when there is one); with `calibrated`, its temperature set."""
    path = model_file(path)
    if path.suffix == ".npz":
        trained = load_linear(path, device)
    elif path.suffix == ".json":
        trained = load_fusion(path, device)
    else:
        trained = load_torch(path, device)
    if calibrated:
        trained.temperature = temperature_beside(path)
    return trained


def load_torch(path: str | Path, device: str | torch.device | None = None) -> TrainedModel:
    """Rebuild the model of a model.pt (no pretrained weights fetched: the checkpoint holds
    them all)."""
    ckpt = load_checkpoint(path)
    info, device = ckpt["info"], resolve_device(device)
    if info.get("speaker_norm"):
        raise CheckpointError(f"{path}: {SPEAKER_NORM}")
    model = build_model(info["arch"], len(ckpt["classes"]), "none", **info["build_hparams"])
    model.load_state_dict(ckpt["state_dict"])
    model.to(device)
    model.eval()
    size = ckpt["input"]["size"]
    norm = ckpt["normaliser"]
    normaliser = Normaliser() if norm["axis"] < 0 else Normaliser(norm["axis"], norm["mean"],
                                                                   norm["std"])
    spec = InputSpec(tuple(ckpt["input"]["features"]), None if size is None else tuple(size))
    return TrainedModel(model, list(ckpt["classes"]), spec, normaliser, info["preprocessing"],
                        info, device)


def load_linear(path: str | Path, device: str | torch.device | None = None) -> LinearTrained:
    """A model.npz of rule train_classical or final_train_classical."""
    path = Path(path)
    try:
        model, classes = load_npz(path)
        with np.load(path, allow_pickle=False) as npz:
            info = json.loads(str(npz["info"])) if "info" in npz else {}
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: not a readable model.npz ({err})") from err
    if "preprocessing" not in info:
        raise CheckpointError(f"{path}: made by an older ser, without the record of how its "
                              f"features were made; retrain it to use it outside the run")
    if info.get("speaker_norm"):
        raise CheckpointError(f"{path}: {SPEAKER_NORM}")
    return LinearTrained(model, classes, info["preprocessing"], info, resolve_device(device))


def load_fusion(path: str | Path, device: str | torch.device | None = None) -> FusionTrained:
    """A fold's or a final fusion's model.json and the member models it names."""
    path = Path(path)
    record = read_json_object(path, "a fusion model", ("members", "weights", "classes"))
    if "member_models" not in record:
        raise CheckpointError(f"{path}: made by an older ser, without the paths of its members' "
                              "models; rerun its fuse job (snakemake --forcerun fuse)")
    members = []
    for name in record["members"]:
        file = (path.parent / record["member_models"][name]).resolve()
        if not file.exists():
            raise CheckpointError(f"{path}: its member {name}'s model {file} is missing; "
                                  "keep the run's results folder together")
        trained = load_trained(file, device, calibrated=False)  # as the weights were chosen
        if list(trained.classes) != list(record["classes"]):
            raise CheckpointError(f"{file}: classes {trained.classes}, not the fusion's "
                                  f"{record['classes']}")
        members.append((name, file, trained))
    return FusionTrained(members, [float(w) for w in record["weights"]],
                         list(record["classes"]), {"arch": "fusion", **record})
