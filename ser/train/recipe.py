"""The regularisers of a small-data recipe, applied by the trainer (ser.train.loop).

Training only: SpecAugment masks, random time crops, mel shifts and mixup change what the model
sees while it learns; `Trainer.predict` never calls them. At test time `multi_crop` cuts every
example into the same evenly spaced crops, and the class probabilities of its crops are averaged,
so a prediction depends on its own example only, whatever batch it arrives in.

The exponential moving average of the weights (`WeightEMA`, as in timm's ModelEmaV2) is what the
trainer evaluates and keeps: on 18 training speakers the live weights jump from epoch to epoch,
and their average generalises more smoothly (Polyak & Juditsky 1992).
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def spec_augment(x: torch.Tensor, generator: torch.Generator, n_masks: int = 2,
                 max_fraction: float = 0.125) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) frequency and time masks on the last two axes.

    Each example gets `n_masks` masks per axis up to `max_fraction` of its length, set to 0,
    which after normalisation is the training mean. A waveform (2-D batch) is left alone.
    """
    if x.ndim < 3:
        return x
    batch, n_freq, n_time = x.shape[0], x.shape[-2], x.shape[-1]

    def masked(length: int) -> torch.Tensor:
        width = torch.randint(0, max(1, int(length * max_fraction)) + 1, (batch, n_masks),
                              generator=generator)
        start = (torch.rand(batch, n_masks, generator=generator) * (length - width + 1)).long()
        pos = torch.arange(length)
        return ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(1)

    keep = ~(masked(n_freq)[:, :, None] | masked(n_time)[:, None, :])
    keep = keep.view(batch, *([1] * (x.ndim - 3)), n_freq, n_time).to(x.device)
    return x * keep


def mel_shift(x: torch.Tensor, max_bins: int, generator: torch.Generator) -> torch.Tensor:
    """Each example's frequency axis (-2) moved by its own whole number of bins in
    [-max_bins, max_bins], the edge bin repeated into the space it leaves.

    On a mel axis a shift of a few bins is close to scaling every frequency by one factor, as a
    shorter or longer vocal tract does: a cheap vocal tract length perturbation (Jaitly & Hinton
    2013), which makes more speakers of 18 training speakers. A waveform (2-D batch) is left alone.
    """
    if x.ndim < 3 or max_bins <= 0:
        return x
    n_freq = x.shape[-2]
    shift = torch.randint(-max_bins, max_bins + 1, (x.shape[0],), generator=generator)
    source = (torch.arange(n_freq) - shift[:, None]).clamp(0, n_freq - 1)     # (B, F)
    index = source.view(x.shape[0], *([1] * (x.ndim - 3)), n_freq, 1).to(x.device)
    return torch.gather(x, -2, index.expand(*x.shape))


def _check_crop(x: torch.Tensor, frames: int) -> None:
    if x.ndim < 3:
        raise ValueError(f"crop_frames needs a time axis (B, ..., F, T), got {tuple(x.shape)}")
    if not 0 < frames <= x.shape[-1]:
        raise ValueError(f"crop_frames = {frames} must be in [1, {x.shape[-1]}], the number of "
                         f"frames of the model input")


def random_crop(x: torch.Tensor, frames: int, generator: torch.Generator) -> torch.Tensor:
    """A window of `frames` along the last (time) axis at its own random start per example."""
    _check_crop(x, frames)
    start = torch.randint(0, x.shape[-1] - frames + 1, (x.shape[0],), generator=generator)
    index = (start[:, None] + torch.arange(frames)).to(x.device)            # (B, frames)
    index = index.view(x.shape[0], *([1] * (x.ndim - 2)), frames).expand(*x.shape[:-1], frames)
    return torch.gather(x, -1, index)


def crop_starts(n_frames: int, frames: int, n_crops: int) -> list[int]:
    """`n_crops` evenly spaced starts from the first to the last possible one."""
    last = n_frames - frames
    if n_crops == 1:
        return [last // 2]
    return [round(i * last / (n_crops - 1)) for i in range(n_crops)]


def multi_crop(x: torch.Tensor, frames: int | None, n_crops: int) -> torch.Tensor:
    """(B, ..., T) -> (B * n_crops, ..., frames), the crops of an example next to each other.

    Without `frames` the input is returned whole (one view per example)."""
    if frames is None:
        return x
    _check_crop(x, frames)
    # int(): a traced shape (ONNX export) is a tensor; the crops of a fixed window are constants
    views = [x[..., s:s + frames] for s in crop_starts(int(x.shape[-1]), frames, n_crops)]
    return torch.stack(views, 1).flatten(0, 1)


def crop_mean(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               frames: int | None, n_crops: int) -> torch.Tensor:
    """(B, classes) probabilities: the softmax of `forward` averaged over the example's
    `n_crops` evenly spaced crops (its whole input without `frames`). The test split, `ser
    predict` and the exported graph score a crop-trained model the same way."""
    n = n_crops if frames else 1
    return forward(multi_crop(x, frames, n)).float().softmax(1).view(x.shape[0], n, -1).mean(1)


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """mixup (Zhang et al. 2018): (mixed x, partner labels, weight of the own labels)."""
    if alpha <= 0:
        return x, y, 1.0
    lam = float(np.random.beta(alpha, alpha))
    perm = torch.randperm(len(y), generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[perm], y[perm], lam


class WeightEMA:
    """An exponential moving average of a model's parameters and buffers (decay per step).

    The BatchNorm statistics are averaged like the weights (timm's ModelEmaV2 does the same).
    The decay warms up as (1 + t) / (10 + t) for step t, as in timm's ModelEmaV3: averaging the
    random initialisation with weights that have since moved far gives a network whose weights
    and BatchNorm statistics no longer match, which predicts one class for everything.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"training.ema must be in (0, 1), got {decay}")
        self.decay, self.steps = decay, 0
        self.module = copy.deepcopy(model)
        self.module.train(False)
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.steps += 1
        decay = min(self.decay, self.steps / (self.steps + 9))  # (1 + t) / (10 + t), t = steps - 1
        for ema, live in zip(self.module.state_dict().values(), model.state_dict().values()):
            if ema.dtype.is_floating_point:
                ema.lerp_(live.detach(), 1 - decay)
            else:
                ema.copy_(live)
