"""Running an encoder: loaded with verified weights, fed each file's window at its own rate, its
layers pooled into one shard row per file."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ser.audio import AudioError, clip_window, load_audio
from ser.encoders.pooling import pool
from ser.encoders.registry import check_encoder_params, get_encoder
from ser.encoders.spec import EncoderSpec
from ser.encoders.weights import verified_snapshot, verified_weights


def encoder_layers(spec: EncoderSpec, params: dict | None = None,
                   weights_dir: str | Path | None = None) -> list[tuple[str, int]]:
    """(name, stored width) of each pooled layer: a hub snapshot's own (a checkpoint of another
    size), else the registered ones."""
    if spec.layers_of is None:
        return spec.layer_widths()
    snapshot = verified_snapshot(spec, params or {}, weights_dir)
    return [(name, 2 * size) for name, size in spec.layers_of(snapshot)]


def load_encoder(kind: str, params: dict, device: str | torch.device = "cpu",
                 weights: str | Path | None = None, weights_dir: str | Path | None = None
                 ) -> Callable[[np.ndarray], list[torch.Tensor]]:
    """The encoder `kind` with verified weights (`weights`: another copy of a packaged file, for
    tests; `weights_dir`: the cache holding a hub encoder's snapshot)."""
    spec = get_encoder(kind)
    check_encoder_params(kind, params)
    accepted = inspect.signature(spec.load).parameters
    extra = {k: v for k, v in {**spec.params, **params}.items() if k in accepted}
    source = (verified_snapshot(spec, params, weights_dir) if spec.hub is not None
              else verified_weights(spec, weights))
    return spec.load(source, torch.device(device), **extra)


def at_rate(wave: np.ndarray, sr: int, target: int, path: str) -> np.ndarray:
    """`wave` at the encoder's rate `target`; AudioError naming `path` when it is empty."""
    if len(wave) == 0:
        raise AudioError(path, "no audio in the window the encoder reads")
    if sr == target:
        return np.ascontiguousarray(wave, np.float32)
    import soxr

    return soxr.resample(wave, sr, target).astype(np.float32)


def encoder_features(paths: Sequence[str], kind: str, params: dict, audio_params: dict,
                     device: str | torch.device = "cpu",
                     weights_dir: str | Path | None = None) -> np.ndarray:
    """(N, sum of layer widths) pooled layers of each file's window, in the order of `paths`."""
    spec = get_encoder(kind)
    run = load_encoder(kind, params, device, weights_dir=weights_dir)  # checks params, weights
    sr = int(audio_params["sample_rate"])
    offset, duration = float(audio_params.get("offset", 0.0)), float(audio_params["duration"])
    width = sum(w for _, w in encoder_layers(spec, params, weights_dir))
    rows = []
    with torch.inference_mode():
        for path in paths:
            wave = clip_window(load_audio(path, sr), sr, offset, duration)
            rows.append(pool(run(at_rate(wave, sr, spec.sample_rate, path))))
    return np.stack(rows) if rows else np.zeros((0, width), np.float32)
