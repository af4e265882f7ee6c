"""InceptionResNetV2 on the 3-channel "sound image" (jingwoo4710/Audio-Emotions-Classification;
Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections", 2016).

The image is composed by the trainer from the stored `stft` (red), `scalogram` (green) and `mfcc`
(blue) features at 299 x 299. As in the earlier work: ImageNet weights, no top, every backbone
layer frozen, global average pooling, Dense(1024, ReLU), Dense(n_classes). `finetune=True`
unfreezes the backbone.

The network is timm's `inception_resnet_v2` (a port of the TF-slim/Keras weights,
`inception_resnet_v2.tf_in1k`). Our choices: the weights file is timm's own release of that port
(`inception_resnet_v2-940b1cd6.pth`, the URL timm's default config used before its Hugging Face
copy; its name carries its SHA-256 prefix, so it is verified like torchvision's), fetched into the
weights cache and loaded with our strict loader (classifier dropped), so that a missing or
corrupt file is one clear error; a frozen backbone keeps its batch-norm statistics fixed (Keras
runs frozen BatchNormalization layers in inference mode).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ser.models.registry import InputSpec, ModelSpec, register
from ser.weight_files import from_hub_url
from ser.models.weights import (describe, fetch, file_description, load_strict, read_state_dict,
                                sha256_prefix)

TIMM_NAME = "inception_resnet_v2.tf_in1k"
WEIGHTS = from_hub_url("https://github.com/rwightman/pytorch-image-models/releases/download/"
                       "v0.1-weights/inception_resnet_v2-940b1cd6.pth")


class InceptionResNetV2(nn.Module):
    """timm backbone (global average pooled, 1536-d) -> Dense(1024, ReLU) -> Dense(n_classes)."""

    def __init__(self, n_classes: int, finetune: bool = False):
        super().__init__()
        self.finetune = finetune
        import timm  # here: `ser predict` of another family does not pay for it (~30 MB)

        self.backbone = timm.create_model("inception_resnet_v2", pretrained=False, num_classes=0)
        self.backbone.requires_grad_(finetune)
        self.fc1 = nn.Linear(self.backbone.num_features, 1024)
        self.fc2 = nn.Linear(1024, n_classes)

    def train(self, mode: bool = True) -> InceptionResNetV2:
        super().train(mode)
        if not self.finetune:
            self.backbone.eval()  # frozen layers run in inference mode, as in Keras
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)                      # (B, 1536) from (B, 3, 299, 299)
        return self.fc2(torch.relu(self.fc1(x)))  # (B, n_classes)


@register(ModelSpec(
    name="inception_resnet_v2", family="transfer",
    input=InputSpec(("stft", "scalogram", "mfcc"), (299, 299)),
    defaults={"optimizer": "rmsprop", "lr": 1e-5, "batch_size": 32, "epochs": 50,
              "finetune": False},
    source="jingwoo4710/Audio-Emotions-Classification (Keras InceptionResNetV2); "
           "timm inception_resnet_v2.tf_in1k",
    pretrained_options=("none", "imagenet"),
    weight_files=lambda pretrained, hparams: [WEIGHTS]))
def build_inception_resnet_v2(n_classes: int, pretrained: str, cache_dir: Path,
                              finetune: bool = False) -> InceptionResNetV2:
    model = InceptionResNetV2(n_classes, bool(finetune))
    if pretrained == "none":
        return describe(model, "none (random init)")
    path = fetch(WEIGHTS, cache_dir) if pretrained == "imagenet" else Path(pretrained)
    # read first: a missing local file is its clear error
    load_strict(model.backbone, read_state_dict(path), path, skip=("classif.",))
    if pretrained == "imagenet":
        return describe(model, f"imagenet:{TIMM_NAME} (sha256 {sha256_prefix(path)})")
    return describe(model, file_description(path))
