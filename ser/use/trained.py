"""Trained models in memory, one class per family, each fed new audio exactly as its training
data was made (ser.use.load rebuilds them from their files).

A torch model.pt comes back as a `TrainedModel`; everything comes from the checkpoint (`ser.train.outputs.load_checkpoint`): the architecture and
the keywords it was built with, the weights, the class names, the training split's normaliser and
how the shards were made (sample rate, offset, duration or stretch, feature parameters). The
features themselves are computed by the pipeline's own code (`ser.audio`, `ser.features.extract`,
`ser.features.shards.stretched_clip`) and turned into the model input by the trainer's
(`ser.train.data.build_input` and `Normaliser`), so a file of a fold's test actors gets the
probabilities that fold's predictions.csv holds.

A linear model's model.npz (the classical family and the `_lr` heads on pretrained encoders,
rule train_classical) comes back as a `LinearTrained` with the same interface: its arrays, and
the openSMILE functionals or the encoder's pooled layers of each window, made as the features
rule makes them (over the unpadded window). A fusion's model.json comes back as a
`FusionTrained`: its members, each one of the two above, and the weights chosen on validation
actors.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser.encoders import at_rate, get_encoder, is_encoder, load_encoder, pool
from ser.features.extract import extract_all
from ser.features.functionals import functionals_of, is_functional
from ser.features.shards import stretched_clip
from ser.models.fusion import weighted_average
from ser.models.registry import InputSpec
from ser.train.data import build_input
from ser.train.normalise import Normaliser
from ser.train.recipe import crop_mean
from ser.use.calibration import apply_temperature
from ser.weight_files import recorded_cache_dir


@functools.lru_cache(maxsize=4)
def loaded_encoder(kind: str, params_json: str, device: torch.device, weights_dir: Path):
    """The encoder, loaded and its weights checked once per process, not once per batch of
    windows (`ser predict` on thousands of files)."""
    return load_encoder(kind, json.loads(params_json), device, weights_dir=weights_dir)


def window_features(kind: str, params: dict, windows: list[np.ndarray], sample_rate: int,
                    device: torch.device, weights_dir: str | None = None) -> np.ndarray:
    """(windows, F) of a kind stored as one vector per file (openSMILE functionals, an
    encoder's pooled layers), from windows cut as the features rule cuts its clips;
    `weights_dir`: the hub snapshot folder the training recorded (ser.weight_files)."""
    if is_encoder(kind):
        run = loaded_encoder(kind, json.dumps(params, sort_keys=True), device,
                             recorded_cache_dir(weights_dir))
        rate = get_encoder(kind).sample_rate
        with torch.inference_mode():
            return np.stack([pool(run(at_rate(w, sample_rate, rate, "<window>")))
                             for w in windows])
    return np.stack([functionals_of(w, sample_rate, kind) for w in windows])


def vector_kind(kind: str) -> bool:
    """A kind stored as one vector per file of its unpadded window (not frames of a padded one)."""
    return is_functional(kind) or is_encoder(kind)


class Windowed:
    """The audio a model reads, from its `preprocessing` record."""

    preprocessing: dict

    @property
    def sample_rate(self) -> int:
        return int(self.preprocessing["sample_rate"])

    @property
    def window_samples(self) -> int:
        """Samples of audio one model input covers."""
        return int(round(self.preprocessing["window_seconds"] * self.sample_rate))


@dataclass
class TrainedModel(Windowed):
    """A model in eval mode with what it needs to turn waveforms into class probabilities."""

    model: nn.Module
    classes: list[str]
    spec: InputSpec
    normaliser: Normaliser
    preprocessing: dict
    info: dict
    device: torch.device
    temperature: float = 1.0  # calibration (ser.use.calibration); 1: none

    @property
    def unpadded(self) -> bool:
        """Its features describe the window without zero padding (functionals, encoders)."""
        return any(vector_kind(kind) for kind in self.preprocessing["features"])

    def features(self, windows: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """Stored-layout features of the windows, as the features rule makes them."""
        out = {}
        sr = self.sample_rate
        for kind, made in self.preprocessing["features"].items():
            if vector_kind(kind):
                out[kind] = torch.from_numpy(window_features(
                    kind, made["params"], windows, sr, self.device, made.get("weights_dir"))
                ).to(self.device)
            elif made["stretch_frames"]:
                out[kind] = torch.cat([stretched_clip(w, kind, made["params"], sr,
                                                      made["stretch_frames"], self.device)
                                       for w in windows])
            else:
                waves = torch.from_numpy(np.stack(windows)).to(self.device)
                out[kind] = extract_all(waves, sr, {kind: made["params"]})[kind]
        return out

    def model_input(self, raw: dict[str, torch.Tensor]) -> torch.Tensor:
        """The normalised model input, as the trainer builds each batch."""
        return self.normaliser(build_input({k: v.float() for k, v in raw.items()}, self.spec))

    @property
    def crops(self) -> tuple[int | None, int]:
        """(frames, n) of the test crops a crop-trained model is scored on; (None, 1): whole."""
        crops = self.info.get("test_crops") or {}
        return crops.get("frames"), int(crops.get("n", 1))

    @torch.no_grad()
    def probabilities(self, windows: list[np.ndarray]) -> np.ndarray:
        """(windows, classes) softmax probabilities (over the test crops when it was trained on
        crops; calibrated by the temperature)."""
        probs = crop_mean(self.model, self.model_input(self.features(windows)), *self.crops)
        return apply_temperature(probs.cpu().numpy(), self.temperature)


@dataclass
class LinearTrained(Windowed):
    """A linear model.npz with what it needs to turn waveforms into class probabilities."""

    model: object  # ser.models.classical.LinearModel
    classes: list[str]
    preprocessing: dict
    info: dict
    device: torch.device
    temperature: float = 1.0
    unpadded = True

    @property
    def kind(self) -> str:
        return next(iter(self.preprocessing["features"]))

    def features(self, windows: list[np.ndarray]) -> np.ndarray:
        made = self.preprocessing["features"][self.kind]
        return window_features(self.kind, made["params"], windows, self.sample_rate, self.device,
                               made.get("weights_dir"))

    def probabilities(self, windows: list[np.ndarray]) -> np.ndarray:
        """(windows, classes) probabilities, from the stored arrays only (calibrated)."""
        return apply_temperature(self.model.probabilities(self.features(windows)),
                                 self.temperature)




@dataclass
class FusionTrained:
    """A fusion's members (name, model file, loaded model), their weights and the classes.

    It scores a recording as the fuse rule scored a fold's files: each member the whole
    recording its own way (its own sample rate, window and features; windows averaged over a
    long recording), then the weighted average of the members' probabilities."""

    members: list[tuple[str, Path, TrainedModel | LinearTrained]]
    weights: list[float]
    classes: list[str]
    info: dict
    temperature: float = 1.0  # the fusion's own; its members are scored uncalibrated

    def fuse(self, member_probs: list[np.ndarray]) -> np.ndarray:
        """sum_m w_m p_m of the members' (files, classes) probabilities, in member order
        (calibrated by the fusion's temperature)."""
        return apply_temperature(weighted_average(self.weights, member_probs), self.temperature)
