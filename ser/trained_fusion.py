"""A fusion's model.json back in memory (ser predict, ser export): its members' models, loaded
from the files model.json names (`member_models`, relative to its folder), and the weights chosen
on validation actors.

A fusion scores a recording as the fuse rule scored a fold's files: each member scores the whole
recording its own way (its own sample rate, window and features; windows averaged over a long
recording), and the fusion is the weighted average of the members' probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ser.io import read_json_object
from ser.models.fusion import weighted_average
from ser.train.outputs import CheckpointError


@dataclass
class FusionTrained:
    """Members (name, model file, loaded model), their weights and the classes."""

    members: list[tuple[str, Path, object]]  # object: TrainedModel | LinearTrained
    weights: list[float]
    classes: list[str]
    info: dict

    def fuse(self, member_probs: list[np.ndarray]) -> np.ndarray:
        """sum_m w_m p_m of the members' (files, classes) probabilities, in member order."""
        return weighted_average(self.weights, member_probs)


def load_fusion(path: str | Path, device: str | torch.device | None = None) -> FusionTrained:
    """A fold's or a final fusion's model.json and the member models it names."""
    from ser.trained import load_trained

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
        trained = load_trained(file, device)
        if list(trained.classes) != list(record["classes"]):
            raise CheckpointError(f"{file}: classes {trained.classes}, not the fusion's "
                                  f"{record['classes']}")
        members.append((name, file, trained))
    return FusionTrained(members, [float(w) for w in record["weights"]],
                         list(record["classes"]), {"arch": "fusion", **record})
