"""dchung1209/RAVDESS's transfer models: torchvision's ImageNet CNNs on 1-channel log-mel images
(B, 1, 128, 256).

- `vgg19_bn_attn`, `alexnet_attn`: a learned 1 -> 3 channel 3x3 convolution in front (as dchung
  did), the network's convolutional `features`, U-vector attention pooling (arXiv 1806.01506,
  whose FCN is AlexNet's convolutional part) and one FC layer to the classes.
- `resnet18`: ResNet-18 with a 1-channel first convolution. Our choice: with ImageNet weights it
  starts from the pretrained conv1 summed over the RGB channels, which gives a grey image the
  response the pretrained filters give the same grey image in RGB.

ImageNet weights come from torchvision's weight enums (`IMAGENET1K_V1`), downloaded into the
weights cache; `pretrained` may also be a local file in torchvision's layout.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ser.models.attention import UVectorAttention
from ser.models.dchung_recipe import LOGMEL_IMAGE, dchung_defaults
from ser.models.registry import ModelSpec, register
from ser.weight_files import from_hub_url
from ser.models.weights import describe, load_strict, torchvision_state_dict

SOURCE = "dchung1209/RAVDESS (PyTorch); torchvision ImageNet weights"
TRANSFER = ("none", "imagenet")


def tvm():
    """torchvision.models, imported when a model is built: `ser predict` of another family does
    not pay for it (~160 MB resident, issue 45)."""
    from torchvision import models

    return models


def imagenet_file(enum: str):
    """The `weight_files` of a model on torchvision's weights enum `enum` (IMAGENET1K_V1)."""
    return lambda pretrained, hparams: [from_hub_url(getattr(tvm(), enum).IMAGENET1K_V1.url)]


def load_imagenet(net: nn.Module, weights, pretrained: str, cache_dir: Path,
                  head: str) -> str:
    """Load ImageNet (or local) weights into the torchvision `net`, keeping its own `head`."""
    if pretrained == "none":
        return "none (random init)"
    state_dict, description = torchvision_state_dict(weights, pretrained, cache_dir)
    load_strict(net, state_dict, pretrained if pretrained != "imagenet" else str(weights),
                skip=(head,))
    return description


class AttentionCNN(nn.Module):
    """1 -> 3 channel conv -> pretrained conv features -> U-vector attention -> FC."""

    def __init__(self, features: nn.Module, channels: int, n_classes: int,
                 attention_lambda: float = 0.3):
        super().__init__()
        self.to_rgb = nn.Conv2d(1, 3, 3, padding=1)
        self.features = features
        self.attention = UVectorAttention(channels, attention_lambda)
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, None] if x.dim() == 3 else x   # (B, 1, H, W)
        x = self.features(self.to_rgb(x))       # (B, C, H', W')
        return self.fc(self.attention(x))      # (B, n_classes)


def build_attention_cnn(constructor, weights, channels: int, n_classes: int, pretrained: str,
                        cache_dir: Path, attention_lambda: float) -> AttentionCNN:
    net = constructor(weights=None)
    description = load_imagenet(net, weights, pretrained, cache_dir, head="classifier.")
    model = AttentionCNN(net.features, channels, n_classes, attention_lambda)
    return describe(model, description)


@register(ModelSpec("vgg19_bn_attn", "transfer", LOGMEL_IMAGE, dchung_defaults(30),
                    SOURCE + "; U-vector attention of arXiv 1806.01506", TRANSFER,
                    imagenet_file("VGG19_BN_Weights")))
def build_vgg19_bn_attn(n_classes: int, pretrained: str, cache_dir: Path,
                        attention_lambda: float = 0.3) -> AttentionCNN:
    return build_attention_cnn(tvm().vgg19_bn, tvm().VGG19_BN_Weights.IMAGENET1K_V1, 512, n_classes,
                               pretrained, cache_dir, attention_lambda)


@register(ModelSpec("alexnet_attn", "transfer", LOGMEL_IMAGE, dchung_defaults(30),
                    SOURCE + "; AlexNet FCN with U-vector attention of arXiv 1806.01506",
                    TRANSFER, imagenet_file("AlexNet_Weights")))
def build_alexnet_attn(n_classes: int, pretrained: str, cache_dir: Path,
                       attention_lambda: float = 0.3) -> AttentionCNN:
    """dchung gives no epoch count for AlexNet + Attn; VGG19 + Attn's 30 is the default."""
    return build_attention_cnn(tvm().alexnet, tvm().AlexNet_Weights.IMAGENET1K_V1, 256, n_classes,
                               pretrained, cache_dir, attention_lambda)


@register(ModelSpec("resnet18", "transfer", LOGMEL_IMAGE, dchung_defaults(40), SOURCE,
                    TRANSFER, imagenet_file("ResNet18_Weights")))
def build_resnet18(n_classes: int, pretrained: str, cache_dir: Path) -> nn.Module:
    weights = tvm().ResNet18_Weights.IMAGENET1K_V1
    net = tvm().resnet18(weights=None)
    description = load_imagenet(net, weights, pretrained, cache_dir, head="fc.")
    rgb_conv1 = net.conv1.weight.detach()                        # (64, 3, 7, 7)
    net.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
    if pretrained != "none":
        with torch.no_grad():
            net.conv1.weight.copy_(rgb_conv1.sum(dim=1, keepdim=True))  # (64, 1, 7, 7)
    net.fc = nn.Linear(net.fc.in_features, n_classes)
    return describe(net, description)
