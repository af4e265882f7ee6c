"""Heads on a frozen pretrained encoder's pooled layers (ser.encoders): the transfer family with
real pretrained weights.

Two heads per encoder, as the field evaluates frozen encoders:
- `<encoder>_lr`: standardisation + logistic regression on ONE layer's [mean, std] vector; the
  layer and C are chosen together by the inner GroupKFold over the training actors
  (ser.models.classical.LinearModel, fitted by rule train_classical), as hsn07pk's frozen
  WavLM/XLS-R + LR rows choose their best middle layer.
- `<encoder>_ws`: SUPERB's recipe (Yang et al. 2021): a learned softmax-weighted sum of every
  layer + a small head, trained by the torch trainer and selected on the validation actors. CREPE's
  layers differ in width, so each layer is first projected to a common width (a linear map per
  layer; SUPERB's equal-width transformer layers need none).

Both read a stored vector per file whose layer widths come from the shards (`layers`), so one
head serves an encoder of any size. The encoder's weights are verified and recorded when the
features are extracted; the head starts from random init.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.encoders import ENCODER_MODULES, get_encoder
from ser.models.classical import C_GRID, LinearModel
from ser.models.registry import InputSpec, ModelSpec, register

# the encoder's own weights: from its package, or fetched from the model hub
HEAD_OPTIONS = {"packaged": ("packaged",), "hub": ("hub",)}


def head_options(kind: str) -> tuple[str, ...]:
    return HEAD_OPTIONS["packaged" if get_encoder(kind).hub is None else "hub"]


def statistics_pooling(h: torch.Tensor) -> torch.Tensor:
    """(B, T, D) frames -> (B, 2 D): their mean and population std over time (Snyder et al.
    2018), as the stored encoder layers are pooled (ser.encoders.pool)."""
    return torch.cat([h.mean(1), h.std(1, correction=0)], 1)


class LayerWeightedSum(nn.Module):
    """softmax(w)-weighted sum of per-layer projections of the stored [mean, std] vectors."""

    def __init__(self, n_classes: int, layers: list[tuple[str, int]], proj_dim: int = 128,
                 hidden: int = 0, dropout: float = 0.2):
        super().__init__()
        self.layer_names = [str(n) for n, _ in layers]
        self.widths = [int(w) for _, w in layers]
        self.project = nn.ModuleList(nn.Linear(w, proj_dim) for w in self.widths)
        self.layer_logits = nn.Parameter(torch.zeros(len(self.widths)))
        self.dropout = float(dropout)
        self.hidden = nn.Linear(proj_dim, hidden) if hidden else None
        self.fc = nn.Linear(hidden or proj_dim, n_classes)

    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits, 0)                # (L,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.widths, dim=1)                 # L x (B, W_l)
        h = torch.stack([proj(F.dropout(p, self.dropout, self.training))
                         for proj, p in zip(self.project, parts)], 1)  # (B, L, P)
        h = torch.einsum("blp,l->bp", h, self.layer_weights())     # (B, P)
        if self.hidden is not None:
            h = F.relu(self.hidden(F.dropout(h, self.dropout, self.training)))  # (B, H)
        return self.fc(F.dropout(h, self.dropout, self.training))  # (B, n_classes)


def encoder_description(kind: str) -> str:
    from ser.encoders import package_version

    spec = get_encoder(kind)
    if spec.hub is not None:  # the file's SHA-256 is in the shards that the head reads
        return (f"{spec.pretrained_on}: {kind} from {spec.hub.repo_id} through transformers "
                f"{package_version(spec.package)}, frozen; head from random init")
    return (f"{spec.pretrained_on}: {kind} from {spec.package} "
            f"{package_version(spec.package)} {spec.weight_file} (sha256 {spec.sha256[:12]}), "
            f"frozen; head from random init")


def _check_pretrained(kind: str, name: str, pretrained: str) -> None:
    options = head_options(kind)
    if pretrained not in ("none", *options):
        raise ValueError(f"{name} reads its encoder's weights through its features; "
                         f"pretrained must be {options[0]!r}, got {pretrained!r}")


def _lr_builder(kind: str):
    def build(n_classes: int, pretrained: str | None = None, cache_dir: Path | None = None,
              **hparams) -> LinearModel:
        del n_classes, cache_dir
        _check_pretrained(kind, f"{kind}_lr", pretrained or head_options(kind)[0])
        return LinearModel(loss="logistic", weights_description=encoder_description(kind),
                           **hparams)
    return build


def _ws_builder(kind: str):
    def build(n_classes: int, pretrained: str | None = None, cache_dir: Path | None = None,
              layers: list | None = None, proj_dim: int = 128, hidden: int = 0,
              dropout: float = 0.2) -> LayerWeightedSum:
        del cache_dir
        _check_pretrained(kind, f"{kind}_ws", pretrained or head_options(kind)[0])
        layers = layers or get_encoder(kind).layer_widths()
        model = LayerWeightedSum(n_classes, layers, int(proj_dim), int(hidden), float(dropout))
        model.weights_description = encoder_description(kind)
        return model
    return build


def register_heads(kind: str) -> None:
    spec = get_encoder(kind)
    source = f"frozen {kind} ({spec.pretrained_on}); "
    register(ModelSpec(f"{kind}_lr", "transfer", InputSpec((kind,)),
                       defaults={"C_grid": list(C_GRID), "inner_folds": 5,
                                 "layers": spec.layer_widths()},
                       source=source + "one layer + logistic regression (layer and C by inner CV)",
                       pretrained_options=head_options(kind), trainer="linear"))(_lr_builder(kind))
    register(ModelSpec(f"{kind}_ws", "transfer", InputSpec((kind,)),
                       defaults={"layers": spec.layer_widths(), "proj_dim": 128, "hidden": 0,
                                 "dropout": 0.2},
                       source=source + "SUPERB weighted sum of layers (Yang et al. 2021) + head",
                       pretrained_options=head_options(kind)))(_ws_builder(kind))


def _register_all() -> None:
    from importlib import import_module

    for module in ENCODER_MODULES:
        import_module(module)
    from ser.encoders import ENCODERS

    for kind in sorted(ENCODERS):
        register_heads(kind)


_register_all()
