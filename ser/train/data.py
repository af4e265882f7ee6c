"""One fold's data, held in memory, and the model input built from it on the device.

The features of every file of the fold are read from the shards once; batches are index slices of
those tensors, so an epoch needs no loader workers. The model input (resize, channel axis, the
3-channel image) is built on the device, where it costs a fraction of the forward pass.

Normalisation is a z-score of the model input with statistics of the TRAINING split only (never
validation or test files, which would leak their distribution): per frequency bin for a 2-D
feature, per colour channel for the image, none for the raw waveform.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ser.data import labels as label_sets
from ser.data.folds import FINAL_FOLD

IMAGE = ("stft", "scalogram", "mfcc")
SPLITS = ("train", "val", "test")
ROW_COLUMNS = ["file", "actor", "gender", "intensity"]


@dataclass(frozen=True)
class InputSpec:
    """What a model reads (mirrors ser.models' InputSpec, so the trainer works without it)."""

    features: tuple[str, ...]
    size: tuple[int, ...] | None = None


def build_input(raw: Mapping[str, torch.Tensor], spec: InputSpec) -> torch.Tensor:
    """The model's input from a batch of stored features, on the batch's device."""
    kinds = tuple(spec.features)
    if kinds == IMAGE:
        from ser.features.image import compose_image

        if spec.size is None:
            raise ValueError("the 3-channel image needs an input size")
        return compose_image(raw["stft"], raw["scalogram"], raw["mfcc"], tuple(spec.size))
    if len(kinds) != 1:
        raise ValueError(f"unsupported feature combination {kinds}; one kind or {IMAGE}")
    x = raw[kinds[0]]
    if spec.size is None:
        return x  # waveform and 1-D models take the stored layout as it is
    if len(spec.size) != 2 or x.ndim != 3:
        raise ValueError(f"cannot resize {kinds[0]} of shape {tuple(x.shape)} to {spec.size}")
    return F.interpolate(x.unsqueeze(1), size=tuple(spec.size), mode="bilinear",
                         align_corners=False)


def stat_axis(spec: InputSpec, ndim: int) -> int | None:
    """The axis whose entries get their own statistics: channel, frequency bin, or none."""
    if tuple(spec.features) == IMAGE:
        return 1
    if spec.features == ("waveform",) or ndim < 3:
        return None
    return ndim - 2


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


@dataclass
class Split:
    """The in-memory features, labels and identifying rows of one split."""

    features: dict[str, torch.Tensor]
    y: torch.Tensor
    rows: pd.DataFrame

    def __len__(self) -> int:
        return len(self.y)


def _align(features: Mapping[str, tuple[np.ndarray, Sequence[str]]]) -> tuple[dict, list[str]]:
    """Every kind in the file order of the first; a file missing from any kind is an error."""
    kinds = list(features)
    files = list(features[kinds[0]][1])
    position = {f: i for i, f in enumerate(files)}
    out = {}
    for kind in kinds:
        array, names = features[kind]
        if len(names) != len(array):
            raise ValueError(f"{kind}: {len(array)} feature rows for {len(names)} files")
        missing = sorted(set(files) ^ set(names))
        if missing:
            raise ValueError(f"{kind} and {kinds[0]} shards hold different files, "
                             f"e.g. {missing[:3]}")
        order = np.argsort([position[n] for n in names])
        out[kind] = array[order]
    return out, files


def _check_metadata(metadata: pd.DataFrame, table: pd.DataFrame, files: list[str],
                    fold: int) -> pd.DataFrame:
    """The metadata indexed by file, after checking it and the features cover the fold."""
    absent = sorted(set(ROW_COLUMNS) - set(metadata.columns))
    if absent:
        raise ValueError(f"the metadata lacks columns {absent} needed for the predictions")
    meta = metadata.drop_duplicates("file").set_index("file")
    lost = sorted(set(table["file"]) - set(files))
    if lost:
        raise ValueError(f"{len(lost)} files of fold {fold} have no features, e.g. {lost[:3]}")
    unknown = sorted(set(table["file"]) - set(meta.index))
    if unknown:
        raise ValueError(f"{len(unknown)} files of the folds table are not in the metadata, "
                         f"e.g. {unknown[:3]}")
    return meta


class FoldData:
    """Train/val/test of one fold in memory, with batches built as model input on the device."""

    def __init__(self, features: Mapping[str, tuple[np.ndarray, Sequence[str]]],
                 metadata: pd.DataFrame, folds: pd.DataFrame, fold: int, label_set: str,
                 spec: InputSpec) -> None:
        self.spec = InputSpec(tuple(spec.features), None if spec.size is None else tuple(spec.size))
        missing = sorted(set(self.spec.features) - set(features))
        if missing:
            raise ValueError(f"the model reads {missing} but no shards of them were given")
        arrays, files = _align({k: features[k] for k in self.spec.features})
        table = folds[folds["fold"] == fold]
        if table.empty:
            raise ValueError(f"fold {fold} is not in the folds table (folds: "
                             f"{sorted(folds['fold'].unique())})")
        self.fold, self.label_set = fold, label_set
        self.splits = self._split(arrays, files, metadata, table)
        self.normaliser = Normaliser()
        self.device = torch.device("cpu")
        self.fingerprint = _fingerprint(self.splits)

    def _split(self, arrays: dict, files: list[str], metadata: pd.DataFrame,
               table: pd.DataFrame) -> dict[str, Split]:
        meta = _check_metadata(metadata, table, files, self.fold)
        y_all, self.classes = label_sets.encode(meta.reset_index(), self.label_set)
        label = dict(zip(meta.index, y_all))
        position = {f: i for i, f in enumerate(files)}
        splits = {}
        for name in SPLITS:
            chosen = sorted(table.loc[table["split"] == name, "file"])
            index = np.array([position[f] for f in chosen], dtype=np.int64)
            rows = meta.loc[chosen].reset_index()[ROW_COLUMNS] if chosen else \
                pd.DataFrame(columns=ROW_COLUMNS)
            splits[name] = Split({k: torch.from_numpy(np.ascontiguousarray(a[index]))
                                  for k, a in arrays.items()},
                                 torch.tensor([label[f] for f in chosen], dtype=torch.int64), rows)
        if not len(splits["train"]):
            raise ValueError(f"fold {self.fold} has no training files")
        if not len(splits["test"]) and self.fold != FINAL_FOLD:
            raise ValueError(f"fold {self.fold} has no test files (only the final model's "
                             f"fold {FINAL_FOLD} may have none)")
        return splits

    @classmethod
    def from_files(cls, feature_shards: Mapping[str, Sequence[str | Path]],
                   metadata_csv: str | Path, folds_csv: str | Path, fold: int, label_set: str,
                   spec: InputSpec, feature_params: Mapping[str, dict] | None = None
                   ) -> FoldData:
        """Read the shards of the kinds `spec` needs (checked against `feature_params`)."""
        from ser.features.shards import read_shards

        features = {}
        for kind in spec.features:
            if kind not in feature_shards:
                raise ValueError(f"the model reads {kind!r} but no {kind} shards were given")
            params = (feature_params or {}).get(kind)
            features[kind] = read_shards([Path(p) for p in feature_shards[kind]],
                                         expect_kind=kind, expect_params=params)
        return cls(features, pd.read_csv(metadata_csv), pd.read_csv(folds_csv), fold,
                   label_set, spec)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to(self, device: str | torch.device, normalise: bool = True) -> FoldData:
        """Keep every split on `device` (a fold fits easily) and fit the normaliser there
        (an identity one when not `normalise`)."""
        self.device = torch.device(device)
        for split in self.splits.values():
            split.features = {k: v.to(self.device) for k, v in split.features.items()}
            split.y = split.y.to(self.device)
        self.normaliser = self._fit_normaliser() if normalise else Normaliser()
        return self

    def _fit_normaliser(self, batch_size: int = 64) -> Normaliser:
        total = square = None
        count = 0
        for x, _, _ in self.batches("train", batch_size, normalise=False):
            axis = stat_axis(self.spec, x.ndim)
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

    def batches(self, split: str, batch_size: int, generator: torch.Generator | None = None,
                drop_singleton: bool = False, normalise: bool = True
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(input, labels, row indices) on the device; shuffled when a generator is given.

        `drop_singleton` skips a last batch of one example, which BatchNorm cannot train on.
        """
        part = self.splits[split]
        n = len(part)
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if drop_singleton and len(idx) == 1:
                break
            on_device = idx.to(self.device)
            x = build_input({k: v[on_device].float() for k, v in part.features.items()}, self.spec)
            yield (self.normaliser(x) if normalise else x), part.y[on_device], idx


def _fingerprint(splits: Mapping[str, Split]) -> str:
    """A digest of files, labels and feature values: a resume state is valid only for these."""
    digest = hashlib.blake2b(digest_size=16)
    for name, split in splits.items():
        digest.update(f"{name}:{','.join(split.rows['file'])}".encode())
        digest.update(split.y.numpy().tobytes())
        for kind, tensor in sorted(split.features.items()):
            digest.update(kind.encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
