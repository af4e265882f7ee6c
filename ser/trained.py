"""A trained model.pt back in memory, fed new audio exactly as its training data was made.

Everything comes from the checkpoint (`ser.train.outputs.load_checkpoint`): the architecture and
the keywords it was built with, the weights, the class names, the training split's normaliser and
how the shards were made (sample rate, offset, duration or stretch, feature parameters). The
features themselves are computed by the pipeline's own code (`ser.audio`, `ser.features.extract`,
`ser.features.shards.stretched_clip`) and turned into the model input by the trainer's
(`ser.train.data.build_input` and `Normaliser`), so a file of a fold's test actors gets the
probabilities that fold's predictions.csv holds.

A linear model's model.npz (the classical family and the `_lr` heads on pretrained encoders,
rule train_classical) comes back as a `LinearTrained` with the same interface: its arrays, and
the openSMILE functionals or the encoder's pooled layers of each window, made as the features
rule makes them (over the unpadded window).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser.features.extract import extract_all
from ser.features.shards import stretched_clip
from ser.models.registry import InputSpec
from ser.train.data import build_input
from ser.train.normalise import Normaliser
from ser.train.config import resolve_device
from ser.train.outputs import CheckpointError, load_checkpoint


SPEAKER_NORM = ("trained with speaker normalisation (training.speaker_norm), so each input needs "
                "its speaker's statistics, which ser predict and ser export do not compute: use a "
                "model trained with speaker_norm: false")


def window_features(kind: str, params: dict, windows: list[np.ndarray], sample_rate: int,
                    device: torch.device) -> np.ndarray:
    """(windows, F) of a kind stored as one vector per file (openSMILE functionals, an
    encoder's pooled layers), from windows cut as the features rule cuts its clips."""
    from ser.encoders import is_encoder
    from ser.features.functionals import functionals_of

    if is_encoder(kind):
        from ser.encoders import _at_rate, get_encoder, load_encoder, pool

        run, rate = load_encoder(kind, params, device), get_encoder(kind).sample_rate
        with torch.inference_mode():
            return np.stack([pool(run(_at_rate(w, sample_rate, rate, "<window>")))
                             for w in windows])
    return np.stack([functionals_of(w, sample_rate, kind) for w in windows])


def vector_kind(kind: str) -> bool:
    """A kind stored as one vector per file of its unpadded window (not frames of a padded one)."""
    from ser.encoders import is_encoder
    from ser.features.functionals import is_functional

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
                out[kind] = torch.from_numpy(window_features(kind, made["params"], windows, sr,
                                                             self.device)).to(self.device)
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

    @torch.no_grad()
    def probabilities(self, windows: list[np.ndarray]) -> np.ndarray:
        """(windows, classes) softmax probabilities."""
        logits = self.model(self.model_input(self.features(windows))).float()
        return logits.softmax(1).cpu().numpy()


@dataclass
class LinearTrained(Windowed):
    """A linear model.npz with what it needs to turn waveforms into class probabilities."""

    model: object  # ser.models.classical.LinearModel
    classes: list[str]
    preprocessing: dict
    info: dict
    device: torch.device
    unpadded = True

    @property
    def kind(self) -> str:
        return next(iter(self.preprocessing["features"]))

    def features(self, windows: list[np.ndarray]) -> np.ndarray:
        made = self.preprocessing["features"][self.kind]
        return window_features(self.kind, made["params"], windows, self.sample_rate, self.device)

    def probabilities(self, windows: list[np.ndarray]) -> np.ndarray:
        """(windows, classes) probabilities, from the stored arrays only."""
        return self.model.probabilities(self.features(windows))


def load_linear(path: str | Path, device: str | torch.device | None = None) -> LinearTrained:
    """A model.npz of rule train_classical or final_train_classical."""
    import json

    from ser.models.classical import load_npz

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


def load_trained(path: str | Path, device: str | torch.device | None = None):
    """Rebuild the model of a model.pt (no pretrained weights fetched: the checkpoint holds
    them all) on `device` (the GPU when there is one), a linear model.npz or a fusion's
    model.json (ser.trained_fusion), given the file or its folder."""
    from ser.models import build_model

    path = model_file(path)
    if path.suffix == ".npz":
        return load_linear(path, device)
    if path.suffix == ".json":
        from ser.trained_fusion import load_fusion

        return load_fusion(path, device)
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
