"""The from-scratch models of dchung1209/RAVDESS on log-mel images (B, 1, 128, 256).

The image is the stored `logmel` resized by the trainer to 128 x 256; under the dchung_4fold
preset the stored log-mel is already each whole clip resized to 256 frames, as dchung resized his
mel images (`audio.stretch_frames`). Training defaults are dchung's: Adam lr 1e-4, weight decay
1e-5, batch 32, his epochs per model. CNN-X and the 1DCNNLSTM follow the notebook that produced
his README's table (emotion.ipynb): unpadded ('valid') convolutions, and the 1DCNNLSTM pools
after its first two convolutions only, so its LSTM reads 60 steps of a 256-frame image, not 32.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.models.attention import UVectorAttention
from ser.models.panns import add_conv_blocks, init_layer, run_conv_blocks
from ser.models.dchung_recipe import LOGMEL_IMAGE, SOURCE, dchung_defaults
from ser.models.registry import ModelSpec, register
from ser.models.weights import init_from_scratch

def as_image(x: torch.Tensor) -> torch.Tensor:
    """(B, F, T) or (B, 1, F, T) -> (B, 1, F, T)."""
    if x.dim() == 3:
        return x[:, None]
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected a 1-channel image (B, 1, F, T) or (B, F, T), got "
                         f"{tuple(x.shape)}")
    return x


def valid_conv_pool_size(size: tuple[int, int], n_blocks: int) -> tuple[int, int]:
    """The map size after `n_blocks` of [unpadded 3x3 conv -> 2x2 pooling]."""
    h, w = size
    for _ in range(n_blocks):
        h, w = (h - 2) // 2, (w - 2) // 2
    if h < 1 or w < 1:
        raise ValueError(f"input size {tuple(size)} is too small for {n_blocks} blocks of "
                         f"3x3 convolution and 2x2 pooling")
    return h, w


class CNNX(nn.Module):
    """CNN-X ("Shallow over Deep Neural Networks", 2021, as used by dchung): three unpadded 3x3
    convs (8, 16, 32 channels, ReLU, 2x2 average pooling) -> FC 2048 -> FC 2048 -> n_classes.

    On a 128 x 256 image the first FC reads 32 x 14 x 30 = 13,440 values, as in dchung's code;
    no dropout, as there.
    """

    def __init__(self, n_classes: int, input_size: tuple[int, int] = (128, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((1, 8), (8, 16), (16, 32)):
            layers += [nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.AvgPool2d(2)]
        self.features = nn.Sequential(*layers)
        h, w = valid_conv_pool_size(input_size, 3)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * h * w, 2048), nn.ReLU(),
                                        nn.Linear(2048, 2048), nn.ReLU(),
                                        nn.Linear(2048, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(as_image(x))  # (B, 32, ((H-2)/2-2)/2-2)/2, same for W)
        return self.classifier(x)       # (B, n_classes)


class CNN1DLSTM(nn.Module):
    """1DCNNLSTM: Conv1d over time with the mel bins as channels (64, 128, 256; kernel 3,
    unpadded, ReLU; max-pooling 2 after the first two), an LSTM of 256 units, its last hidden
    state -> FC 256 -> n_classes.

    Pooling only twice keeps the sequence long enough for the LSTM to follow the contour of an
    utterance: 256 frames become 60 steps.
    """

    def __init__(self, n_classes: int, n_mels: int = 128):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(n_mels, 64, 3), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(64, 128, 3), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(128, 256, 3), nn.ReLU())
        self.lstm = nn.LSTM(256, 256, batch_first=True)
        self.fc = nn.Linear(256, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_image(x)[:, 0]                # (B, F, T)
        x = self.conv(x).transpose(1, 2)     # (B, ((T-2)/2-2)/2-2, 256)
        _, (h, _) = self.lstm(x)             # h: (1, B, 256)
        return self.fc(h[-1])                # (B, n_classes)


class CNN14Attn(nn.Module):
    """dchung's CNN-14 from scratch with U-vector attention: PANNs' six conv blocks (64 ... 2048)
    with 2x2 average pooling after every block and dropout 0.1, the attention pooling in place of
    global pooling, FC 2048 -> 512 -> ReLU -> n_classes. No log-mel front-end or bn0: the input is
    the stored log-mel image."""

    def __init__(self, n_classes: int, dropout: float = 0.1, attention_lambda: float = 0.3):
        super().__init__()
        self.dropout = dropout
        add_conv_blocks(self, (64, 128, 256, 512, 1024, 2048))
        self.attention = UVectorAttention(2048, attention_lambda)
        self.fc1 = nn.Linear(2048, 512)
        self.fc2 = nn.Linear(512, n_classes)
        init_layer(self.fc1)
        init_layer(self.fc2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = run_conv_blocks(self, as_image(x), [(2, 2)] * 6, self.dropout)  # (B, 2048, H/64, W/64)
        x = self.attention(x)                                               # (B, 2048)
        x = F.relu(self.fc1(x))                                             # (B, 512)
        return self.fc2(F.dropout(x, p=self.dropout, training=self.training))  # (B, n_classes)


@register(ModelSpec("cnnx", "scratch", LOGMEL_IMAGE,
                    dchung_defaults(60, input_size=(128, 256)), SOURCE + "; CNN-X (2021)"))
def build_cnnx(n_classes: int, pretrained: str, cache_dir: Path,
               input_size: tuple[int, int] = (128, 256)) -> CNNX:
    del cache_dir
    return init_from_scratch(CNNX(n_classes, tuple(int(s) for s in input_size)), pretrained)


@register(ModelSpec("cnn1d_lstm", "scratch", LOGMEL_IMAGE,
                    dchung_defaults(140, input_size=(128, 256)), SOURCE))
def build_cnn1d_lstm(n_classes: int, pretrained: str, cache_dir: Path,
                     input_size: tuple[int, int] = (128, 256)) -> CNN1DLSTM:
    """The mel axis of `input_size` sets the first convolution's input channels."""
    del cache_dir
    return init_from_scratch(CNN1DLSTM(n_classes, int(input_size[0])), pretrained)


@register(ModelSpec("cnn14_attn", "scratch", LOGMEL_IMAGE, dchung_defaults(120),
                    SOURCE + "; CNN-14 of arXiv 1912.10211 with U-vector attention of "
                    "arXiv 1806.01506"))
def build_cnn14_attn(n_classes: int, pretrained: str, cache_dir: Path, dropout: float = 0.1,
                     attention_lambda: float = 0.3) -> CNN14Attn:
    del cache_dir
    return init_from_scratch(CNN14Attn(n_classes, dropout, attention_lambda), pretrained)
