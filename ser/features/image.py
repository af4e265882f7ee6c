"""The 3-channel image that the ImageNet models read, composed on the device at training time."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# the stored kinds behind the red, green and blue channels, in that order
IMAGE = ("stft", "scalogram", "mfcc")


def compose_image(stft: torch.Tensor, scalogram: torch.Tensor, mfcc: torch.Tensor,
                  size: tuple[int, int] = (299, 299)) -> torch.Tensor:
    """Stack (B, F_i, T_i) features into (B, 3, H, W): red STFT dB, green scalogram, blue MFCC.

    Each feature is resized on its own (bicubic) because the three have different frequency and
    time resolutions; normalisation per channel is the trainer's, with training-fold statistics.
    """
    channels = []
    for name, feat in (("stft", stft), ("scalogram", scalogram), ("mfcc", mfcc)):
        if feat.dim() != 3:
            raise ValueError(f"{name} must be (batch, freq, time), got shape {tuple(feat.shape)}")
        channels.append(F.interpolate(feat[:, None].float(), size=tuple(size), mode="bicubic",
                                      align_corners=False))
    if len({c.shape[0] for c in channels}) != 1:
        raise ValueError("stft, scalogram and mfcc must hold the same number of items")
    return torch.cat(channels, dim=1)
