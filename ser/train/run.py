"""The training rule's body: one model on one fold, from config entries to written outputs.

A model's config entry mixes three things: `arch` and `pretrained`; overrides of the `training`
block (any TrainConfig key); and everything else, which are hyper-parameters of the architecture
passed to `ser.models.build_model`. `input_size` is special: it replaces the model's default input
size (the trainer resizes features to it) and reaches build_model only if the model declares it
among its defaults.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ser.train import state
from ser.train.config import TrainConfig, resolve_device
from ser.models.registry import InputSpec
from ser.train.data import FoldData
from ser.train.loop import train_fold

_TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}


def split_model_config(model_name: str, model_cfg: Mapping) -> tuple[str, str, dict, dict]:
    """(arch, pretrained, training overrides, architecture hyper-parameters)."""
    arch = model_cfg.get("arch", model_name)
    pretrained = str(model_cfg.get("pretrained", "none"))
    overrides = {k: v for k, v in model_cfg.items() if k in _TRAIN_KEYS}
    # Constructor keywords live under `hparams` (config schema); `input_size` rides along with them.
    hparams = dict(model_cfg.get("hparams") or {})
    if "input_size" in model_cfg:
        hparams["input_size"] = model_cfg["input_size"]
    return arch, pretrained, overrides, hparams


def input_spec(arch_spec, hparams: dict) -> tuple[InputSpec, dict]:
    """The input the trainer builds, and the hyper-parameters build_model receives."""
    size = arch_spec.input.size
    hparams = dict(hparams)
    if "input_size" in hparams:
        size = tuple(int(s) for s in hparams["input_size"])
        if "input_size" not in getattr(arch_spec, "defaults", {}):
            del hparams["input_size"]
    return InputSpec(tuple(arch_spec.input.features), size), hparams


def with_data_shape(arch_spec, hparams: dict, data: FoldData) -> dict:
    """Fill `n_frames`, when the model declares it and the config leaves it out, from the data.

    A model on the stored layout (size None) with a fixed dense head must know the number of
    frames, which follows from the audio duration and hop, not from the model.
    """
    if "n_frames" in getattr(arch_spec, "defaults", {}) and "n_frames" not in hparams \
            and arch_spec.input.size is None:
        kind = arch_spec.input.features[0]
        return {**hparams, "n_frames": int(data.splits["train"].features[kind].shape[-1])}
    return hparams


def with_encoder_layers(arch_spec, hparams: dict,
                        feature_shards: Mapping[str, Sequence[str | Path]]) -> dict:
    """Fill `layers`, when the model declares it (a head on a pretrained encoder's layers) and
    the config leaves it out, from what the shards hold: the same head then serves an encoder of
    any size."""
    from ser.features.shards import shard_layers

    if "layers" not in getattr(arch_spec, "defaults", {}) or "layers" in hparams:
        return hparams
    kind = arch_spec.input.features[0]
    return {**hparams, "layers": shard_layers(list(feature_shards[kind]))}


def preprocessing(feature_shards: Mapping[str, Sequence[str | Path]], kinds: Sequence[str],
                  metadata_csv: str | Path) -> dict:
    """How the model's features were made, read from the shards themselves (what was really
    computed, not what the config says now), for feeding new audio to the trained model.

    `window_seconds` is the stretch of audio one input covers: the cut-or-pad `duration`, or,
    for whole clips stretched to a fixed number of frames, the longest clip of the corpus.
    """
    from ser.features.shards import shard_preprocessing

    kinds_made = {kind: shard_preprocessing(list(feature_shards[kind])) for kind in kinds}
    first = kinds_made[kinds[0]]
    audio = {k: first[k] for k in ("sample_rate", "offset", "duration")}
    window = audio["duration"]
    if any(made["stretch_frames"] for made in kinds_made.values()):
        longest = float(pd.read_csv(metadata_csv, usecols=["duration"])["duration"].max())
        window = max(longest - audio["offset"], audio["duration"])
    features = {kind: {"params": made["params"], "stretch_frames": made["stretch_frames"],
                       **({"weights_dir": made["weights_dir"]} if "weights_dir" in made else {})}
                for kind, made in kinds_made.items()}
    return {**audio, "window_seconds": window, "features": features}


@dataclass(frozen=True)
class TrainJob:
    """One model of the config on one fold: what the train rule's params and inputs hold.

    `feature_params` (the config's `features` block), when given, is checked against the
    parameters recorded in every shard, so stale features are an error rather than a silent mix.
    `threads` caps torch's CPU threads at the job's share of the machine.
    """

    model_name: str
    model_cfg: Mapping
    training_defaults: Mapping
    protocol: Mapping
    label_set: str
    feature_shards: Mapping[str, Sequence[str | Path]]
    metadata_csv: str | Path
    folds_csv: str | Path
    fold: int
    out_dir: str | Path
    state_dir: str | Path | None = None
    weights_cache_dir: str | Path | None = None
    feature_params: Mapping[str, dict] | None = None
    threads: int | None = None


def run_training(job: TrainJob, log: logging.Logger,
                 after_epoch: Callable[[int], None] | None = None) -> dict:
    """Build the job's model, train it on its fold and write its outputs; returns the metrics.

    `after_epoch` goes to `train_fold` (benchmarks/device/run.py stops a job there when its time
    budget is spent).
    """
    from ser import models

    if job.threads is not None:
        torch.set_num_threads(max(1, int(job.threads)))

    arch, pretrained, overrides, hparams = split_model_config(job.model_name, job.model_cfg)
    select = {"select": job.protocol["select"]} if "select" in job.protocol else {}
    cfg = TrainConfig.from_layers(job.training_defaults, select, overrides)
    spec = models.get_spec(arch)
    in_spec, build_hparams = input_spec(spec, hparams)
    data = FoldData.from_files(job.feature_shards, job.metadata_csv, job.folds_csv, job.fold,
                               job.label_set, in_spec, job.feature_params, cfg.speaker_norm)
    # the initial weights are part of what the seed must fix
    state.seed_everything(cfg.seed, resolve_device(cfg.device))
    build_hparams = with_encoder_layers(spec, with_data_shape(spec, build_hparams, data),
                                        job.feature_shards)
    model = models.build_model(arch, data.n_classes, pretrained, cache_dir=job.weights_cache_dir,
                               **build_hparams)
    info = {"model": job.model_name, "arch": arch, "family": spec.family,
            "weights": models.weights_description(model), "pretrained": pretrained,
            "features": list(in_spec.features),
            "input_size": None if in_spec.size is None else list(in_spec.size),
            "protocol": job.protocol.get("scheme"), "hparams": hparams,
            "speaker_norm": cfg.speaker_norm,
            # scored as the test split was: the mean over evenly spaced crops (ser predict too)
            "test_crops": {"frames": cfg.crop_frames, "n": cfg.test_crops} if cfg.crop_frames
            else None,
            "build_hparams": build_hparams,
            "preprocessing": preprocessing(job.feature_shards, in_spec.features,
                                           job.metadata_csv)}
    log.info("training %s (%s, %s) on fold %d: %d train / %d val / %d test files",
             job.model_name, arch, info["weights"], job.fold, len(data.splits["train"]),
             len(data.splits["val"]), len(data.splits["test"]))
    return train_fold(model, data, cfg, job.out_dir, log, state_dir=job.state_dir, info=info,
                      after_epoch=after_epoch)
