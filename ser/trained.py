"""A trained model.pt back in memory, fed new audio exactly as its training data was made.

Everything comes from the checkpoint (`ser.train.outputs.load_checkpoint`): the architecture and
the keywords it was built with, the weights, the class names, the training split's normaliser and
how the shards were made (sample rate, offset, duration or stretch, feature parameters). The
features themselves are computed by the pipeline's own code (`ser.audio`, `ser.features.extract`,
`ser.features.shards.stretched_clip`) and turned into the model input by the trainer's
(`ser.train.data.build_input` and `Normaliser`), so a file of a fold's test actors gets the
probabilities that fold's predictions.csv holds.
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
from ser.train.loop import resolve_device
from ser.train.outputs import CheckpointError, load_checkpoint


@dataclass
class TrainedModel:
    """A model in eval mode with what it needs to turn waveforms into class probabilities."""

    model: nn.Module
    classes: list[str]
    spec: InputSpec
    normaliser: Normaliser
    preprocessing: dict
    info: dict
    device: torch.device

    @property
    def sample_rate(self) -> int:
        return int(self.preprocessing["sample_rate"])

    @property
    def window_samples(self) -> int:
        """Samples of audio one model input covers."""
        return int(round(self.preprocessing["window_seconds"] * self.sample_rate))

    def features(self, windows: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """Stored-layout features of equal-length windows, as the features rule makes them."""
        from ser.encoders import is_encoder

        out = {}
        sr = self.sample_rate
        for kind, made in self.preprocessing["features"].items():
            if is_encoder(kind):  # pooled over the unpadded window, which windows here are not
                raise ValueError(f"this model reads {kind}'s pooled layers (a head on a "
                                 f"pretrained encoder): `ser predict` and `ser export` do not "
                                 f"serve such heads yet; use the pipeline's predictions.csv")
            if made["stretch_frames"]:
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


def load_trained(path: str | Path, device: str | torch.device | None = None) -> TrainedModel:
    """Rebuild the model of a model.pt (no pretrained weights fetched: the checkpoint holds
    them all) on `device` (the GPU when there is one)."""
    from ser.models import build_model

    ckpt = load_checkpoint(path)
    info, device = ckpt["info"], resolve_device(device)
    if info.get("speaker_norm"):
        raise CheckpointError(
            f"{path}: trained with speaker normalisation (training.speaker_norm), so each input "
            "needs its speaker's statistics, which ser predict and ser export do not compute: "
            "use a model trained with speaker_norm: false")
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
