"""GE2E's speaker LSTM trained end to end for emotion: one network, from random init or from its
packaged pretrained weights.

The same architecture as the frozen GE2E rows (ser.encoders.ge2e: Wan et al. 2018, resemblyzer's
3-layer LSTM of 256 units over 40 mel bands and its 256-d ReLU projection, 1.4 M parameters) and
the same head as `ge2e_ws` (SUPERB's softmax-weighted sum of the layers' pooled [mean, std],
ser.models.encoder_heads.LayerWeightedSum), so that the three ways differ in the weights only:
- `pretrained: none`: every weight from random init, trained on RAVDESS (a scratch network);
- `ge2e_ws` (frozen): the packaged weights, only the head trained, on stored pooled layers;
- `pretrained: packaged` here: the packaged weights fine-tuned end to end, the LSTM at
  `trunk_lr_scale` times the head's learning rate (ULMFiT's discriminative rates, Howard and
  Ruder 2018: a new head's gradients at the full rate would wreck what the trunk knows).

The input is `ge2e_mel` (ser.features.ge2e_mel): mel power, as the pretrained LSTM was trained.
A scratch network has no such habit, so `log_input` gives it log power batch-normalised per band.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.encoders import get_encoder, verified_weights
from ser.encoders.ge2e import EMBEDDING, HIDDEN, N_LAYERS, single_layers
from ser.features.ge2e_mel import N_MELS
from ser.models.encoder_heads import LayerWeightedSum, statistics_pooling
from ser.models.registry import InputSpec, ModelSpec, register

OPTIONS = ("packaged",)
LAYERS = [("lstm1", HIDDEN), ("lstm2", HIDDEN), ("lstm3", HIDDEN), ("projection", EMBEDDING)]


class GE2EFineTune(nn.Module):
    """resemblyzer's LSTM layers and projection, each pooled over time, and a weighted-sum head."""

    def __init__(self, n_classes: int, weights: Path | None, trunk_lr_scale: float = 0.1,
                 proj_dim: int = 128, dropout: float = 0.2, log_input: bool = False):
        super().__init__()
        lstm = nn.LSTM(N_MELS, HIDDEN, N_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING)
        if weights is not None:
            state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
            lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
            self.linear.load_state_dict({k[7:]: v for k, v in state.items()
                                         if k.startswith("linear.")})
        self.layers = single_layers(lstm)  # one module per layer, so each layer's frames show
        self.input_norm = nn.BatchNorm1d(N_MELS) if log_input else None
        # the frozen head reads z-scored pooled layers; this is its learned counterpart
        self.pooled_norm = nn.BatchNorm1d(2 * sum(w for _, w in LAYERS))
        self.head = LayerWeightedSum(n_classes, [(n, 2 * w) for n, w in LAYERS], proj_dim,
                                     0, dropout)
        self.trunk_lr_scale = float(trunk_lr_scale)

    def parameter_groups(self, lr: float) -> list[dict]:
        """The LSTM and projection at `trunk_lr_scale` x the head's learning rate."""
        trunk = [*self.layers.parameters(), *self.linear.parameters()]
        head = [*self.pooled_norm.parameters(), *self.head.parameters(),
                *(self.input_norm.parameters() if self.input_norm is not None else [])]
        return [{"params": trunk, "lr": lr * self.trunk_lr_scale}, {"params": head, "lr": lr}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm is not None:                        # x: (B, 40, T) mel power
            x = self.input_norm(torch.log(x.float().clamp_min(1e-6)))  # (B, 40, T)
        h, pooled = x.transpose(1, 2), []                      # (B, T, 40)
        for layer in self.layers:
            h, _ = layer(h)                                    # (B, T, 256)
            pooled.append(statistics_pooling(h))               # (B, 512)
        pooled.append(statistics_pooling(F.relu(self.linear(h))))  # (B, 512)
        return self.head(self.pooled_norm(torch.cat(pooled, 1)))   # (B, n_classes)


def build(n_classes: int, pretrained: str = "packaged", cache_dir: Path | None = None,
          trunk_lr_scale: float = 0.1, proj_dim: int = 128, dropout: float = 0.2,
          log_input: bool = False) -> GE2EFineTune:
    del cache_dir
    if pretrained not in ("none", *OPTIONS):
        raise ValueError(f"ge2e_ft: pretrained must be 'packaged' (GE2E's weights) or 'none' "
                         f"(the same LSTM from random init), got {pretrained!r}")
    spec = get_encoder("ge2e")
    weights = verified_weights(spec) if pretrained == "packaged" else None
    model = GE2EFineTune(n_classes, weights, trunk_lr_scale, int(proj_dim), float(dropout),
                         bool(log_input))
    model.weights_description = (
        f"{spec.pretrained_on}: GE2E from {spec.package} {spec.weight_file} "
        f"(sha256 {spec.sha256[:12]}), fine-tuned end to end" if weights is not None
        else "none (random init)")
    return model


register(ModelSpec(
    "ge2e_ft", "transfer", InputSpec(("ge2e_mel",)),
    defaults={"trunk_lr_scale": 0.1, "proj_dim": 128, "dropout": 0.2, "log_input": False},
    source="GE2E speaker LSTM (Wan et al. 2018) trained end to end; SUPERB weighted-sum head",
    pretrained_options=OPTIONS))(build)
