"""CREPE fine-tuned for emotion: its upper blocks trained from the packaged pitch weights.

The transfer family's fine-tuned side, with real pretrained weights measurable on a CPU: the
blocks of CREPE (Kim et al. 2018; torchcrepe's packaged weights, verified by SHA-256) above the
`crepe_<capacity>_frames` feature's layer start from their pretrained values and train at
`trunk_lr_scale` times the head's learning rate; each frame's conv6 output is pooled over time into
its mean and standard deviation (statistics pooling, Snyder et al. 2018: how a pitch contour
varies is what carries emotion, and a mean alone kept 20 % validation UA in a first run, where
the frozen layers' mean and std reach 43 %), batch-normalised and classified by a new linear head.

The blocks below are frozen, their batch norms in eval mode, so their outputs are the stored
frames (ser.encoders.crepe.crepe_frames) and this trains the blocks above end to end from the
waveform. The fine-tuned blocks' batch norms stay in eval mode too: torchcrepe converts them
with momentum 0, so training mode would normalise with batch statistics the pretrained weights
never saw and never update the running ones. The stored frames are fed as they are (the
trainer's z-score is off: `normalise: false` in config.yaml), since the pretrained blocks
expect their own input scale.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.encoders import get_encoder, verified_weights
from ser.encoders.crepe import CAPACITY, LAYER_NAMES, build_crepe, crepe_block
from ser.models.encoder_heads import statistics_pooling
from ser.models.registry import InputSpec, ModelSpec, register

OPTIONS = ("packaged",)


class CrepeFineTune(nn.Module):
    """CREPE's blocks after `frozen_through`, statistics pooling over frames and a linear head."""

    def __init__(self, n_classes: int, capacity: str, frozen_through: str, weights: Path | None,
                 trunk_lr_scale: float = 0.1, dropout: float = 0.3):
        super().__init__()
        if frozen_through not in LAYER_NAMES[:-1]:
            raise ValueError(f"frozen_through must be one of {LAYER_NAMES[:-1]}, "
                             f"got {frozen_through!r}")
        crepe = build_crepe(capacity, weights, torch.device("cpu")) if weights else \
            _random_crepe(capacity)
        self.first = LAYER_NAMES.index(frozen_through) + 2
        for i in range(1, self.first):  # the frozen blocks live in the stored frames
            delattr(crepe, f"conv{i}")
            delattr(crepe, f"conv{i}_BN")
        del crepe.classifier
        self.crepe = crepe
        width = CAPACITY[capacity][5] * 4  # conv6's channels x its 4 positions
        self.pooled_norm = nn.BatchNorm1d(2 * width)
        self.fc = nn.Linear(2 * width, n_classes)
        self.trunk_lr_scale = float(trunk_lr_scale)
        self.dropout = float(dropout)

    def train(self, mode: bool = True) -> CrepeFineTune:
        super().train(mode)
        for module in self.crepe.modules():  # see the module docstring
            if isinstance(module, nn.BatchNorm2d):
                module.train(False)
        return self

    def parameter_groups(self, lr: float) -> list[dict]:
        """The pretrained blocks at `trunk_lr_scale` x the head's learning rate."""
        return [{"params": list(self.crepe.parameters()), "lr": lr * self.trunk_lr_scale},
                {"params": [*self.pooled_norm.parameters(), *self.fc.parameters()], "lr": lr}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]                                        # x: (B, T, C, P)
        h = x.reshape(b * t, *x.shape[2:], 1)                     # (B*T, C, P, 1)
        for i in range(self.first, 7):
            h = crepe_block(self.crepe, h, i)                     # (B*T, C_i, P_i, 1)
        h = h.permute(0, 2, 1, 3).reshape(b, t, -1)              # (B, T, D = 4 x C_6)
        h = statistics_pooling(h)                                 # (B, 2 D)
        h = self.pooled_norm(h)                                   # (B, 2 D)
        return self.fc(F.dropout(h, self.dropout, self.training))  # (B, n_classes)


def _random_crepe(capacity: str) -> nn.Module:
    import torchcrepe

    return torchcrepe.Crepe(capacity)


def _builder(capacity: str):
    def build(n_classes: int, pretrained: str = "packaged", cache_dir: Path | None = None,
              frozen_through: str = "conv4", trunk_lr_scale: float = 0.1,
              dropout: float = 0.3) -> CrepeFineTune:
        del cache_dir
        if pretrained not in ("none", *OPTIONS):
            raise ValueError(f"crepe_{capacity}_ft: pretrained must be 'packaged' (CREPE's "
                             f"weights) or 'none' (its blocks from random init), got "
                             f"{pretrained!r}")
        spec = get_encoder(f"crepe_{capacity}")
        weights = verified_weights(spec) if pretrained == "packaged" else None
        model = CrepeFineTune(n_classes, capacity, frozen_through, weights, trunk_lr_scale,
                              dropout)
        model.weights_description = (
            f"{spec.pretrained_on}: CREPE {capacity} from {spec.package} {spec.weight_file} "
            f"(sha256 {spec.sha256[:12]}), blocks after {frozen_through} fine-tuned"
            if weights else "none (random init)")
        return model
    return build


for _capacity in ("tiny", "full"):
    register(ModelSpec(
        f"crepe_{_capacity}_ft", "transfer", InputSpec((f"crepe_{_capacity}_frames",)),
        defaults={"frozen_through": "conv4", "trunk_lr_scale": 0.1, "dropout": 0.3},
        source="CREPE (Kim et al. 2018), upper blocks fine-tuned; statistics pooling "
               "(Snyder et al. 2018)",
        pretrained_options=OPTIONS))(_builder(_capacity))
