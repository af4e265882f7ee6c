"""What an encoder is: its weights, what they learnt and its layers (`EncoderSpec`), and where a
model-hub encoder's files are (`HubRepo`). The encoders' modules (crepe, ge2e, hub) each describe
theirs with these; `ser.encoders.registry` collects them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ser.weight_files import WeightFile


@dataclass(frozen=True)
class HubRepo:
    """An encoder's files on the model hub: repository, default revision and (file, SHA-256 or
    None: recorded at its first fetch) pairs."""

    repo_id: str
    revision: str
    files: tuple[tuple[str, str | None], ...]

    def snapshot(self, revision: str | None = None) -> str:
        """The snapshot folder in the hub's cache layout, relative to the weights cache."""
        return f"hub/models--{self.repo_id.replace('/', '--')}/snapshots/{revision or self.revision}"

    def weight_files(self, revision: str | None = None) -> list[WeightFile]:
        """One `WeightFile` per file: its cache path is its mirror path and the hub's layout."""
        rev = revision or self.revision
        return [WeightFile(f"{self.snapshot(rev)}/{name}",
                           f"https://huggingface.co/{self.repo_id}/resolve/{rev}/{name}",
                           sha256=sha256, trust_on_first_fetch=sha256 is None)
                for name, sha256 in self.files]


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
    hub: HubRepo | None = None  # weights fetched from the model hub, not packaged
    layers_of: Callable[[Path], tuple] | None = None  # a hub snapshot's own layers

    def layer_widths(self) -> list[tuple[str, int]]:
        """(name, stored width) of each layer: mean and std side by side (2 x frame size)."""
        return [(name, 2 * size) for name, size in self.layers]
