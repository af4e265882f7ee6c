"""The Kaggle baseline 1-D CNN (Eu Jin Lok, "Audio Emotion Part 3 - Baseline model", 2019), the
from-scratch model of jingwoo4710/Audio-Emotions-Classification.

The original reads 13 MFCCs averaged over the coefficient axis, one value per frame (about 216
frames of 2.5 s at 44.1 kHz, hop 512). Here the model takes the stored `mfcc` feature (B, n_mfcc,
T) and averages over the coefficients itself, so the stored shard stays a plain MFCC matrix; it
averages the first `n_coefficients` (13, as the original) of however many are stored.

Our choice on the input length: the original ends in Flatten -> Dense, whose width depends on the
number of frames. We keep that layer (rather than a lazy or pooled one, which would change the
model or leave parameters uncreated when the trainer builds its optimiser) and declare the number
of frames as the hyper-parameter `n_frames`. Its default, 251, is the frame count of the
pipeline's default features (4 s at 16 kHz, hop 256, centred frames); an input of another length
is an error that says which value to set.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ser.models.panns import init_layer
from ser.models.registry import InputSpec, ModelSpec, register
from ser.models.weights import init_from_scratch


def conv_relu(c_in: int, c_out: int, n: int) -> list[nn.Module]:
    """`n` x [Conv1D(c_out, 8) -> ReLU], stride 1 and the notebook's padding='same'."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv1d(c_in if i == 0 else c_out, c_out, 8, padding="same"), nn.ReLU()]
    return layers


def conv_bn_block(c_in: int, c_out: int) -> list[nn.Module]:
    """Conv1D(c_out, 8) -> BN -> ReLU -> Dropout 0.25 -> MaxPool1D(8); BN with Keras' defaults
    (momentum 0.99, epsilon 1e-3)."""
    return [nn.Conv1d(c_in, c_out, 8, padding="same"),
            nn.BatchNorm1d(c_out, eps=1e-3, momentum=0.01), nn.ReLU(),
            nn.Dropout(0.25), nn.MaxPool1d(8)]


class KaggleCNN1D(nn.Module):
    """Conv1D(256) x 2 (BN, pool 8) -> Conv1D(128) x 4 (BN, pool 8) -> Conv1D(64) x 2 -> Flatten
    -> Dense(n_classes). The softmax lives in the loss."""

    def __init__(self, n_classes: int, n_frames: int = 251, n_coefficients: int = 13):
        super().__init__()
        self.n_frames, self.n_coefficients = n_frames, n_coefficients
        self.features = nn.Sequential(
            *conv_relu(1, 256, 1), *conv_bn_block(256, 256),
            *conv_relu(256, 128, 3), *conv_bn_block(128, 128),
            *conv_relu(128, 64, 2))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64 * (n_frames // 64), n_classes)
        for layer in self.modules():
            if isinstance(layer, (nn.Conv1d, nn.Linear)):
                init_layer(layer)  # Keras' default: Glorot-uniform kernels, zero biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.n_frames or x.shape[1] < self.n_coefficients:
            raise ValueError(f"kaggle_cnn1d expects MFCCs (B, >={self.n_coefficients}, "
                             f"{self.n_frames}), got {tuple(x.shape)}; set the model's "
                             f"`n_frames` to the number of frames of the features")
        x = x[:, :self.n_coefficients].mean(dim=1, keepdim=True)  # (B, 1, T): mean MFCC per frame
        x = self.features(x)             # (B, 64, T/64)
        return self.fc(self.flatten(x))  # (B, n_classes)


@register(ModelSpec(
    name="kaggle_cnn1d", family="scratch", input=InputSpec(("mfcc",), None),
    defaults={"optimizer": "rmsprop", "lr": 1e-5, "batch_size": 16, "epochs": 100,
              "n_frames": 251, "n_coefficients": 13},
    source="Eu Jin Lok 2019, Kaggle 'Audio Emotion Part 3 - Baseline model'; "
           "jingwoo4710/Audio-Emotions-Classification"))
def build_kaggle_cnn1d(n_classes: int, pretrained: str, cache_dir: Path,
                       n_frames: int = 251, n_coefficients: int = 13) -> KaggleCNN1D:
    del cache_dir
    return init_from_scratch(KaggleCNN1D(n_classes, int(n_frames), int(n_coefficients)),
                             pretrained)
