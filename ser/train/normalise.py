"""Normalisation of the model input: a z-score with statistics of the TRAINING split only.

Never validation or test files, which would leak their distribution. Per frequency bin for a 2-D
feature, per colour channel for the image, per dimension for one vector per file (a pretrained
encoder's pooled layers), none for the raw waveform.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ser.features.image import IMAGE
from ser.models.registry import InputSpec


def stat_axis(spec: InputSpec, ndim: int) -> int | None:
    """The axis whose entries get their own statistics: channel, frequency bin, or none."""
    if tuple(spec.features) == IMAGE:
        return 1
    if spec.features == ("waveform",) or ndim < 2:
        return None
    return ndim - 2 if ndim >= 3 else 1  # (B, D) vectors: one z-score per dimension


@dataclass
class Normaliser:
    """z-score along `axis` with training-split statistics (identity when `axis` is None)."""

    axis: int | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.axis is None or self.mean is None:
            return x
        shape = [1] * x.ndim
        shape[self.axis] = -1
        mean = self.mean.to(x.device, x.dtype).view(shape)
        return (x - mean) / self.std.to(x.device, x.dtype).view(shape)

    def state(self) -> dict:
        """Plain tensors and ints, so a checkpoint holding it loads with weights_only=True."""
        empty = torch.zeros(0)
        return {"axis": -1 if self.axis is None else self.axis,
                "mean": empty if self.mean is None else self.mean.cpu(),
                "std": empty if self.std is None else self.std.cpu()}


def fit_normaliser(train_inputs: Iterable[torch.Tensor], spec: InputSpec) -> Normaliser:
    """The normaliser of `spec`'s input from the un-normalised training batches."""
    total = square = None
    count = 0
    for x in train_inputs:
        axis = stat_axis(spec, x.ndim)
        if axis is None:
            return Normaliser()
        dims = [d for d in range(x.ndim) if d != axis]
        x = x.double()
        total = x.sum(dims) + (0 if total is None else total)
        square = (x * x).sum(dims) + (0 if square is None else square)
        count += x.numel() // x.shape[axis]
    mean = total / count
    std = (square / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-5)
    return Normaliser(axis, mean.float(), std.float())


def by_speaker(x: torch.Tensor, actors: torch.Tensor) -> torch.Tensor:
    """`x` z-scored per feature with the statistics of each file's own speaker.

    Speaker normalisation (Busso et al., "Iterative feature normalization scheme for automatic
    emotion detection from speech", IEEE TAC 2013): what is left after removing a speaker's own
    mean and spread is closer to what the emotion changes. It is transductive: a test speaker is
    normalised with all of that speaker's (unlabelled) files, which a deployed model would need as
    enrolment speech, so results with it are reported as such (ANCHORS.md: +5-9 points).
    `x` is (files, D) functionals, or (files, F, T) frames, z-scored per bin over files and frames.
    """
    if x.ndim not in (2, 3):
        raise ValueError(f"speaker normalisation takes (files, D) or (files, F, T) features, "
                         f"got shape {tuple(x.shape)}")
    dims = [0, 2] if x.ndim == 3 else [0]
    out = torch.empty(x.shape, dtype=torch.float32)
    for actor in actors.unique():
        rows = actors == actor
        part = x[rows].double()
        mean = part.mean(dims, keepdim=True)
        std = part.std(dims, keepdim=True, correction=0).clamp_min(1e-5)
        out[rows] = ((part - mean) / std).float()
    return out
