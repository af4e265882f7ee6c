"""The registry of feature kinds and `extract`, the one entry point the pipeline calls.

Every kind is a function ``(waves (B, S) float32 tensor, sample_rate, **params) -> tensor`` that
runs on whatever device `waves` is on. Parameters come from config.yaml `features.<kind>`; an
unknown key is an error rather than silently ignored, so a typo cannot produce a shard that
differs from the one the config describes.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from ser.features.spectral import logmel, mfcc, stft_db
from ser.features.wavelet import scalogram


def waveform(waves: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The raw waveform (B, S), for the 1-D CNNs."""
    del sample_rate
    return waves


FEATURES: dict[str, Callable[..., torch.Tensor]] = {
    "waveform": waveform,
    "logmel": logmel,
    "mfcc": mfcc,
    "stft": stft_db,
    "scalogram": scalogram,
}


def check_params(kind: str, params: dict) -> None:
    """Raise a ValueError naming the kind and the keys it does not accept."""
    if kind not in FEATURES:
        raise ValueError(f"unknown feature kind {kind!r}; known: {sorted(FEATURES)}")
    accepted = set(inspect.signature(FEATURES[kind]).parameters) - {"waves", "sample_rate"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"feature {kind!r} does not take {unknown}; it takes {sorted(accepted)}")


def extract(kind: str, waves: torch.Tensor, sample_rate: int, params: dict) -> torch.Tensor:
    """Features of one batch of equal-length waveforms (B, S): (B, F, T), or (B, S) for waveform."""
    check_params(kind, params)
    if waves.dim() != 2:
        raise ValueError(f"waves must be (batch, samples), got shape {tuple(waves.shape)}")
    with torch.inference_mode():
        return FEATURES[kind](waves.float(), sample_rate, **params).float()
