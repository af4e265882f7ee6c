"""The model registry: one `ModelSpec` per architecture and `build_model`, the one way to build one.

Each family module decorates its builder with `register(spec)`; a builder has the signature
``builder(n_classes, pretrained, cache_dir, **hparams) -> nn.Module``; the `classical` family's
builders return an unfitted scikit-learn-backed `ser.models.classical.LinearModel` instead, which
`ser.train.classical` fits (rule train_classical) rather than the torch trainer (so do the
pretrained encoders' `_lr` heads of the transfer family: `ModelSpec.trainer` says which), and the `fusion`
family's an unfitted `ser.models.fusion.LateFusion`, whose weights `ser.train.fusion` chooses from
its members' predictions (rule fuse). `build_model` records where
the initial weights came from on the returned model (see `ser.models.weights`), so the trainer can
write it into every fold's metrics.
"""
from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from torch import nn

Family = Literal["scratch", "transfer", "classical", "fusion"]
Trainer = Literal["torch", "linear", "fusion"]
_PACKAGE = "ser.models"


@dataclass(frozen=True)
class InputSpec:
    """The stored feature kinds a model reads and the size the trainer resizes them to.

    `("stft", "scalogram", "mfcc")` means the 3-channel image; `size=None` means the stored layout
    as it is (waveforms, 1-D sequences).
    """

    features: tuple[str, ...]
    size: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline needs to know about an architecture before building it.

    `defaults` holds the earlier work's training hyper-parameters (lr, batch_size, epochs,
    optimizer ...) and any architecture hyper-parameter the builder accepts; `pretrained_options`
    the values of `pretrained` besides a local path.
    """

    name: str
    family: Family
    input: InputSpec
    defaults: dict = field(default_factory=dict)
    source: str = ""
    pretrained_options: tuple[str, ...] = ("none",)
    # (pretrained, hparams) -> the published weight files that choice downloads
    weight_files: Callable[[str, Mapping], list] | None = None
    # which rule fits it: the torch trainer (train), a linear model (train_classical), or the
    # fusion (fuse); by default the family's (a transfer head may be a linear model)
    trainer: Trainer | None = None

    def __post_init__(self) -> None:
        if self.trainer is None:
            default = {"classical": "linear", "fusion": "fusion"}.get(self.family, "torch")
            object.__setattr__(self, "trainer", default)


Builder = Callable[..., nn.Module]  # or a classical LinearModel, or a LateFusion
_REGISTRY: dict[str, tuple[ModelSpec, Builder]] = {}


def register(spec: ModelSpec) -> Callable[[Builder], Builder]:
    """Decorator adding `builder` to the registry under `spec.name`."""
    def decorate(builder: Builder) -> Builder:
        if spec.name in _REGISTRY:
            raise ValueError(f"model {spec.name!r} is registered twice")
        _REGISTRY[spec.name] = (spec, builder)
        return builder
    return decorate


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of model `name`; a ValueError lists the valid names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _REGISTRY[name][0]


def model_source(name: str) -> str:
    """The source file of model `name`'s family."""
    import inspect

    get_spec(name)
    return inspect.getsourcefile(_REGISTRY[name][1])


def _imported_model_modules(path: Path) -> set[str]:
    """Modules of ser.models that the file at `path` imports by name (absolute imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(_PACKAGE + ".")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(_PACKAGE + "."):
                found.add(node.module)
            elif node.module == _PACKAGE:  # `from ser.models import panns`: only submodules
                found |= {f"{_PACKAGE}.{a.name}" for a in node.names
                          if importlib.util.find_spec(f"{_PACKAGE}.{a.name}") is not None}
    return found


def model_sources(name: str) -> list[str]:
    """Every source file of ser.models that model `name`'s family imports, transitively, with
    its own first: the code the workflow must watch, so that editing a shared layer reruns
    exactly the models built from it."""
    family = _REGISTRY[get_spec(name).name][1].__module__
    seen, todo = [], [family]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.append(module)
        origin = Path(importlib.util.find_spec(module).origin)
        todo += sorted(_imported_model_modules(origin) - set(seen))
    return [importlib.util.find_spec(m).origin for m in seen]


def required_sample_rate(name: str, hparams: Mapping) -> int | None:
    """The sample rate model `name` takes its waveform at (its `sample_rate` hyper-parameter,
    e.g. Cnn14's front-end), or None when it has no fixed rate."""
    defaults = get_spec(name).defaults
    if "sample_rate" not in defaults:
        return None
    return int(hparams.get("sample_rate", defaults["sample_rate"]))


def required_weights(name: str, pretrained: str, hparams: Mapping) -> list:
    """The published weight files (`WeightFile`) model `name` needs for `pretrained`; none for
    random init or a local file."""
    spec = get_spec(name)
    if spec.weight_files is None or str(pretrained) not in spec.pretrained_options \
            or str(pretrained) == "none":
        return []
    return spec.weight_files(str(pretrained), hparams)


def build_model(name: str, n_classes: int, pretrained: str = "none",
                cache_dir: str | Path | None = None, **hparams) -> nn.Module:
    """Build model `name` with a fresh `n_classes` head and its initial weights.

    `pretrained` is `none`, one of the spec's `pretrained_options` (`imagenet`, `audioset`) or a
    path to a local weights file; `cache_dir` is where downloaded weights live (config
    `weights.cache_dir`). Raises ValueError for unknown names, options or hyper-parameters.
    """
    from ser.weight_files import resolve_cache_dir

    spec = get_spec(name)
    if n_classes < 1:
        raise ValueError(f"{name}: n_classes must be positive, got {n_classes}")
    pretrained = str(pretrained)
    is_option = pretrained in spec.pretrained_options or pretrained == "none"
    if not is_option and not Path(pretrained).suffix and "/" not in pretrained:
        options = list(dict.fromkeys(("none", *spec.pretrained_options)))
        raise ValueError(f"{name}: pretrained={pretrained!r} is neither one of {options} nor a "
                         f"path to a weights file")
    builder = _REGISTRY[name][1]
    try:
        model = builder(n_classes, pretrained, resolve_cache_dir(cache_dir), **hparams)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise ValueError(f"{name}: {err}") from err
        raise
    if not hasattr(model, "weights_description"):
        raise RuntimeError(f"builder of {name} did not record its weights")  # programming error
    return model
