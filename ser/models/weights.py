"""Pretrained weights: where they come from, how they are loaded, and what the model records.

`pretrained` is `none`, `imagenet` (torchvision's weight enums, timm's released checkpoints),
`audioset` (the PANNs checkpoints on Zenodo record 3987831) or a path to a local file. Downloads
go into `cache_dir` (config `weights.cache_dir`); a file that is neither cached nor downloadable
raises `WeightsUnavailableError` naming the file to place and where; every file is verified
(ser.weight_files). Nothing ever falls back to
random weights. Every loaded file is loaded with strict keys, apart from the head the caller
replaces, and with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser.weight_files import WeightsUnavailableError, digest, fetch, from_hub_url

__all__ = ["WeightsUnavailableError", "fetch"]  # re-exported: the loaders' one import

# PANNs checkpoints carry their sampler's numpy state beside the weights; these data-only numpy
# types (no code) are what that state needs, under numpy 1 and numpy 2 module names.
_reconstruct = np._core.multiarray._reconstruct
_NUMPY_SAFE = [(_reconstruct, "numpy.core.multiarray._reconstruct"),
               (_reconstruct, "numpy._core.multiarray._reconstruct"),
               np.ndarray, np.dtype, np.dtypes.Int64DType, np.dtypes.Int32DType,
               np.dtypes.Float64DType, np.dtypes.Float32DType, np.dtypes.UInt32DType,
               (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
               (np._core.multiarray.scalar, "numpy._core.multiarray.scalar")]


def sha256_prefix(path: Path, n: int = 12) -> str:
    return digest(path, "sha256")[:n]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a plain state_dict, a safetensors file, or a checkpoint dict
    holding it under `model` (PANNs) or `state_dict`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        with torch.serialization.safe_globals(_NUMPY_SAFE):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        # An empty or cut file can fail with an empty message; its size then says why.
        detail = str(err).partition("\n")[0] or f"{path.stat().st_size} bytes"
        raise ValueError(f"{path}: not a readable weights file ({type(err).__name__}: "
                         f"{detail})") from err
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: holds no state_dict (expected tensors, or a dict with 'model')")
    return dict(obj)


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | Path,
                skip: Iterable[str] = ()) -> None:
    """Load `state_dict` into `model`; apart from keys starting with a `skip` prefix (a head the
    caller replaces), any missing, unexpected or mis-shaped key is a ValueError naming `source`."""
    skip = tuple(skip)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}
    given = {k: v for k, v in state_dict.items() if not k.startswith(skip)}
    missing, unexpected = sorted(set(own) - set(given)), sorted(set(given) - set(own))
    shapes = [f"{k}: file {tuple(given[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in given and given[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{source}: weights do not fit {type(model).__name__}: "
                         f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                         f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
                         f"shape mismatches {shapes[:5]}")
    model.load_state_dict(given, strict=False)


def describe(model: nn.Module, description: str) -> nn.Module:
    """Record where `model`'s initial weights came from (read by `weights_description`)."""
    model.weights_description = description
    return model


def weights_description(model: nn.Module) -> str:
    """Where `model`'s initial weights came from: 'none (random init)',
    'imagenet:<enum> (sha256 ...)', 'audioset:<file>' or 'file:<path> (sha256 ...)'."""
    return getattr(model, "weights_description", "unknown (not built by ser.models)")


def file_description(path: Path) -> str:
    return f"file:{Path(path).resolve()} (sha256 {sha256_prefix(Path(path))})"


def torchvision_state_dict(weights, pretrained: str, cache_dir: Path
                           ) -> tuple[dict[str, torch.Tensor], str]:
    """The state_dict and description for `pretrained` (`imagenet` -> torchvision enum `weights`,
    or a local file in torchvision's layout)."""
    path = fetch(from_hub_url(weights.url), cache_dir) if pretrained == "imagenet" \
        else Path(pretrained)
    state_dict = read_state_dict(path)  # first: a missing local file is its clear error
    if pretrained == "imagenet":
        return state_dict, f"imagenet:{weights} (sha256 {sha256_prefix(path)})"
    return state_dict, file_description(path)


def init_from_scratch(model: nn.Module, pretrained: str) -> nn.Module:
    """A from-scratch model: random weights, or a local file in its own layout (e.g. a model.pt
    of an earlier run, strict keys)."""
    if pretrained == "none":
        return describe(model, "none (random init)")
    if pretrained in ("imagenet", "audioset"):
        raise ValueError(f"{type(model).__name__} is trained from scratch: no {pretrained} "
                         f"weights exist for it; use `pretrained: none` or a path")
    load_strict(model, read_state_dict(pretrained), pretrained)
    return describe(model, file_description(Path(pretrained)))
