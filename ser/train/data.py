"""One fold's data, held in memory, and the model input built from it on the device.

`LabelledFold` reads the shards and tables once, aligns the kinds and labels the files;
`FoldData` keeps it on the device and batches it. Batches are index slices of those tensors, so
an epoch needs no loader workers. The model input (resize, channel axis, the 3-channel image) is
built on the device, where it costs a fraction of the forward pass, then normalised with
training-split statistics (ser.train.normalise).
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
from ser.data.ravdess import read_metadata
from ser.features.image import IMAGE, compose_image
from ser.models.registry import InputSpec
from ser.train.normalise import Normaliser, by_speaker, fit_normaliser

SPLITS = ("train", "val", "test")
ROW_COLUMNS = ["file", "actor", "gender", "intensity"]


def build_input(raw: Mapping[str, torch.Tensor], spec: InputSpec) -> torch.Tensor:
    """The model's input from a batch of stored features, on the batch's device."""
    kinds = tuple(spec.features)
    if kinds == IMAGE:
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


@dataclass
class LabelledFold:
    """Reading, aligning and labelling: the train/val/test files of one fold with their stored
    features (every kind in one file order) and labels."""

    fold: int
    label_set: str
    classes: list[str]
    splits: dict[str, Split]
    fingerprint: str

    @classmethod
    def build(cls, features: Mapping[str, tuple[np.ndarray, Sequence[str]]],
              metadata: pd.DataFrame, folds: pd.DataFrame, fold: int, label_set: str,
              kinds: Sequence[str], speaker_norm: bool = False) -> LabelledFold:
        """`speaker_norm` z-scores every file's features with its own speaker's statistics
        (ser.train.normalise.by_speaker, transductive) instead of leaving them as stored."""
        missing = sorted(set(kinds) - set(features))
        if missing:
            raise ValueError(f"the model reads {missing} but no shards of them were given")
        arrays, files = _align({k: features[k] for k in kinds})
        table = folds[folds["fold"] == fold]
        if table.empty:
            raise ValueError(f"fold {fold} is not in the folds table (folds: "
                             f"{sorted(folds['fold'].unique())})")
        meta = _check_metadata(metadata, table, files, fold)
        y_all, classes = label_sets.encode(meta.reset_index(), label_set)
        splits = _splits(arrays, files, meta, dict(zip(meta.index, y_all)), table)
        if speaker_norm:
            _normalise_speakers(splits)
        if not len(splits["train"]):
            raise ValueError(f"fold {fold} has no training files")
        if not len(splits["test"]) and fold != FINAL_FOLD:
            raise ValueError(f"fold {fold} has no test files (only the final model's "
                             f"fold {FINAL_FOLD} may have none)")
        return cls(fold, label_set, classes, splits, _fingerprint(splits))

    @classmethod
    def read(cls, feature_shards: Mapping[str, Sequence[str | Path]], metadata_csv: str | Path,
             folds_csv: str | Path, fold: int, label_set: str, kinds: Sequence[str],
             feature_params: Mapping[str, dict] | None = None, speaker_norm: bool = False
             ) -> LabelledFold:
        """Read the shards of `kinds` (checked against `feature_params`) and the two tables."""
        from ser.features.shards import read_shards

        features = {}
        for kind in kinds:
            if kind not in feature_shards:
                raise ValueError(f"the model reads {kind!r} but no {kind} shards were given")
            params = (feature_params or {}).get(kind)
            features[kind] = read_shards([Path(p) for p in feature_shards[kind]],
                                         expect_kind=kind, expect_params=params)
        return cls.build(features, read_metadata(metadata_csv), pd.read_csv(folds_csv), fold,
                         label_set, kinds, speaker_norm)


def _splits(arrays: dict, files: list[str], meta: pd.DataFrame, label: dict,
            table: pd.DataFrame) -> dict[str, Split]:
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
    return splits


def _normalise_speakers(splits: dict[str, Split]) -> None:
    """Every kind of every split z-scored per speaker, the statistics of an actor taken over all
    of that actor's files in any split (by_speaker)."""
    names = [n for n in SPLITS if len(splits[n])]
    actors = torch.cat([torch.tensor(splits[n].rows["actor"].to_numpy(dtype=np.int64))
                        for n in names])
    sizes = [len(splits[n]) for n in names]
    for kind in splits[names[0]].features:
        if kind == "waveform":
            raise ValueError("speaker normalisation (training.speaker_norm) applies to spectral "
                             "features and functionals, not to the raw waveform")
        joined = by_speaker(torch.cat([splits[n].features[kind] for n in names]), actors)
        for name, part in zip(names, joined.split(sizes)):
            splits[name].features[kind] = part


class FoldData:
    """Device placement and batching: a labelled fold kept on the device, its batches built there
    as model input and normalised with training statistics (ser.train.normalise)."""

    def __init__(self, labelled: LabelledFold, spec: InputSpec) -> None:
        self.labelled = labelled
        self.spec = InputSpec(tuple(spec.features), None if spec.size is None else tuple(spec.size))
        self.normaliser = Normaliser()
        self.device = torch.device("cpu")

    @classmethod
    def build(cls, features: Mapping[str, tuple[np.ndarray, Sequence[str]]],
              metadata: pd.DataFrame, folds: pd.DataFrame, fold: int, label_set: str,
              spec: InputSpec) -> FoldData:
        """From in-memory features (kind -> (array, files)) and the two tables."""
        return cls(LabelledFold.build(features, metadata, folds, fold, label_set,
                                      tuple(spec.features)), spec)

    @classmethod
    def from_files(cls, feature_shards: Mapping[str, Sequence[str | Path]],
                   metadata_csv: str | Path, folds_csv: str | Path, fold: int, label_set: str,
                   spec: InputSpec, feature_params: Mapping[str, dict] | None = None,
                   speaker_norm: bool = False) -> FoldData:
        """Read the shards of the kinds `spec` needs (checked against `feature_params`)."""
        return cls(LabelledFold.read(feature_shards, metadata_csv, folds_csv, fold, label_set,
                                     tuple(spec.features), feature_params, speaker_norm), spec)

    # what the trainer and the outputs read of the labelled fold
    splits = property(lambda self: self.labelled.splits)
    classes = property(lambda self: self.labelled.classes)
    fold = property(lambda self: self.labelled.fold)
    label_set = property(lambda self: self.labelled.label_set)
    fingerprint = property(lambda self: self.labelled.fingerprint)

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
        self.normaliser = Normaliser()
        if normalise:
            self.normaliser = fit_normaliser(
                (x for x, _, _ in self.batches("train", 64, normalise=False)), self.spec)
        return self

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
