"""A PANNs Cnn6 (Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition", 2020, arXiv 1912.10211) sized for training from scratch on RAVDESS.

PANNs' Cnn6 is four blocks of [5x5 convolution -> BatchNorm -> ReLU -> 2x2 average pooling] of
64, 128, 256 and 512 channels, the frequency axis averaged away, then max + mean pooling over
time and two dense layers. Here it reads the stored log-mel image (no waveform front-end, like
dchung's CNN-14), and its width and kernel are hyper-parameters: 1,400 utterances of 24 speakers
do not need (and on two CPU cores cannot afford) the 4.8 M parameters AudioSet did. The time
pooling is PANNs' max + mean, or the project's U-vector attention (ser.models.attention), which
lets the emotional part of an utterance outweigh its silence.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ser.models.attention import UVectorAttention
from ser.models.dchung import as_image
from ser.models.dropout import dropout
from ser.models.panns import init_layer
from ser.models.registry import InputSpec, ModelSpec, register
from ser.models.weights import init_from_scratch

POOLING = ("attention", "mean_max")


class Cnn6Block(nn.Module):
    """k x k conv (no bias) -> BN -> ReLU -> 2x2 average pooling (PANNs' ConvBlock5x5)."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        init_layer(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # measured to pay in CPU training; on a GPU cuDNN's BatchNorm and pooling are kept
        cpu_training = self.training and x.device.type == "cpu"
        folded = cpu_training and self.conv.in_channels == 1 and self.bn.track_running_stats
        y = batch_norm_of_patches(x, self.conv, self.bn) if folded else self.bn(self.conv(x))
        if cpu_training:
            return ReluAvgPool.apply(y)                  # (B, C_out, H/2, W/2)
        return F.avg_pool2d(F.relu(y), 2)                # (B, C_out, H/2, W/2)


class ReluAvgPool(torch.autograd.Function):
    """`F.avg_pool2d(F.relu(y), 2)` whose backward spreads the gradient in one pass.

    torch's backward zero-fills the input's gradient, adds a quarter of each output gradient to
    its 2 x 2 window, then masks by ReLU: three passes over the block's largest tensor. Here the
    nearest-neighbour upsampling of the quarter gradient goes straight into ReLU's mask
    (`threshold_backward`): the same numbers (tests/test_cpu_speed.py) in two passes.
    """

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(y)
        return F.avg_pool2d(F.relu(y), 2)                # (B, C, H/2, W/2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        spread = F.interpolate(grad * 0.25, scale_factor=2, mode="nearest")  # (B, C, H', W')
        # an odd last row or column is in no window: its gradient is 0. F.pad copies even when
        # it adds nothing, a whole pass over the block's largest tensor, so only then.
        h, w = y.shape[-2:]
        if spread.shape[-2:] != (h, w):
            spread = F.pad(spread, (0, w - spread.shape[-1], 0, h - spread.shape[-2]))
        return torch.ops.aten.threshold_backward(spread, y, 0)  # (B, C, H, W)


def batch_norm_of_patches(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """`bn(conv(x))` in training mode for a 1-channel input, BatchNorm folded into the conv.

    A channel of a bias-free conv is w . p over the input's k x k patches p, so its batch mean
    and variance are w . mean(p) and w' cov(p) w: statistics of k^2 patch dimensions instead of
    C_out full-resolution maps. BatchNorm then becomes the conv's weight and bias, and no
    BatchNorm pass (forward or backward) touches the first block's largest tensor: 1.06x and
    1.30x the epochs per second on two CPU hosts (benchmarks/train_speed.py). The outputs, gradients and running
    statistics are BatchNorm's to float32 rounding (tests/test_cpu_speed.py).
    """
    with torch.autocast(x.device.type, enabled=False):  # statistics in float32
        patches = _patches(x.float(), conv)                                     # (k*k, N)
        n = patches.shape[1]
        mean_p = patches.mean(1)                                                # (k*k,)
        patches -= mean_p[:, None]
        cov = patches @ patches.T / n                                           # (k*k, k*k)
        w = conv.weight.flatten(1).float()                                      # (C, k*k)
        mean, var = w @ mean_p, ((w @ cov) * w).sum(1)                         # (C,), (C,)
        scale = bn.weight * torch.rsqrt(var + bn.eps)
        with torch.no_grad():
            bn.num_batches_tracked += 1
            factor = bn.momentum if bn.momentum is not None else 1 / bn.num_batches_tracked
            bn.running_mean.lerp_(mean, factor)
            bn.running_var.lerp_(var * (n / (n - 1)), factor)  # unbiased, as BatchNorm's
        weight, bias = conv.weight * scale.view(-1, 1, 1, 1), bn.bias - mean * scale
    return F.conv2d(x, weight, bias, conv.stride, conv.padding)               # (B, C, H, W)


def _patches(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """(B, 1, H, W) -> the k x k zero-padded patches the (stride 1) conv sees, (k*k, B*H*W).

    Stacked shifted views: four times faster than F.unfold's layout on the CPU."""
    (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
    padded = F.pad(x[:, 0], (pw, pw, ph, ph))                                  # (B, H', W')
    h, w = padded.shape[1] - kh + 1, padded.shape[2] - kw + 1
    return torch.stack([padded[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)]
                       ).view(kh * kw, -1)


class Cnn6(nn.Module):
    """Four Cnn6 blocks -> mean over frequency -> time pooling -> FC -> ReLU -> FC."""

    def __init__(self, n_classes: int, widths: tuple[int, ...] = (24, 48, 96, 192),
                 kernel: int = 3, pooling: str = "attention", dropout: float = 0.2,
                 attention_lambda: float = 0.3):
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(f"cnn6 pooling must be one of {POOLING}, got {pooling!r}")
        if kernel % 2 != 1:
            raise ValueError(f"cnn6 kernel must be odd (same padding), got {kernel}")
        self.pooling, self.dropout = pooling, dropout
        channels = (1, *widths)
        self.blocks = nn.ModuleList(Cnn6Block(a, b, kernel)
                                    for a, b in zip(channels[:-1], channels[1:]))
        width = widths[-1]
        self.attention = UVectorAttention(width, attention_lambda) if pooling == "attention" \
            else None
        self.fc1 = nn.Linear(width, width)
        self.fc = nn.Linear(width, n_classes)
        init_layer(self.fc1)
        init_layer(self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_image(x)                                  # (B, 1, F, T)
        for block in self.blocks:
            x = dropout(block(x), self.dropout, self.training)  # (B, C, F/2^i, T/2^i)
        x = x.mean(2)                                    # (B, C, T')
        if self.attention is not None:
            x = self.attention(x)                        # (B, C)
        else:
            x = x.amax(2) + x.mean(2)                    # (B, C)
        x = dropout(x, 0.5, self.training)
        x = F.relu(self.fc1(x))                          # (B, C)
        return self.fc(dropout(x, 0.5, self.training))  # (B, n_classes)


@register(ModelSpec(
    "cnn6", "scratch", InputSpec(("logmel",), (64, 200)),
    defaults={"widths": [24, 48, 96, 192], "kernel": 3, "pooling": "attention",
              "dropout": 0.2},
    source="Cnn6 of Kong et al. 2020 (arXiv 1912.10211), narrowed; U-vector attention of "
           "arXiv 1806.01506"))
def build_cnn6(n_classes: int, pretrained: str, cache_dir: Path,
               widths: tuple[int, ...] = (24, 48, 96, 192), kernel: int = 3,
               pooling: str = "attention", dropout: float = 0.2,
               attention_lambda: float = 0.3) -> Cnn6:
    del cache_dir
    model = Cnn6(n_classes, tuple(int(w) for w in widths), int(kernel), pooling, float(dropout),
                 float(attention_lambda))
    return init_from_scratch(model, pretrained)
