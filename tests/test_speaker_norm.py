"""training.speaker_norm: each file z-scored with its own speaker's statistics, on real shards.

The expected values are computed here in float64 NumPy from the stored shards, one actor at a
time, independently of ser.train.normalise.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ser.train.config import TrainConfig
from ser.train.data import FoldData, InputSpec, LabelledFold
from test_train import LOGMEL, REAL_ACTORS, real_fold  # noqa: F401 - the fixture


@pytest.fixture(scope="module")
def shards(real_fold: dict) -> dict:
    """test_train's four real actors, with their stored log-mels and metadata read back."""
    from ser.data.ravdess import read_metadata
    from ser.features.shards import read_shards

    feats, files = read_shards(real_fold["shards"]["logmel"])
    return {"paths": real_fold["shards"]["logmel"], "root": real_fold["metadata_csv"].parent,
            "folds": real_fold["folds"], "feats": feats.astype(np.float64), "files": list(files),
            "meta": read_metadata(real_fold["metadata_csv"])}


def own_speaker_zscore(feats: np.ndarray, actors: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    out = np.empty_like(feats)
    for actor in np.unique(actors):
        part = feats[actors == actor]
        out[actors == actor] = (part - part.mean(axes, keepdims=True)) / part.std(axes,
                                                                                   keepdims=True)
    return out


def actors_of(files: list[str]) -> np.ndarray:
    return np.array([int(f.split("-")[-1]) for f in files])


def test_every_file_is_scored_with_its_own_speakers_statistics(shards: dict) -> None:
    data = FoldData.from_files({"logmel": shards["paths"]}, shards["root"] / "metadata.csv",
                               shards["root"] / "folds.csv", 1, "emotion",
                               InputSpec(("logmel",), None), {"logmel": LOGMEL},
                               speaker_norm=True)
    expected = own_speaker_zscore(shards["feats"], actors_of(shards["files"]), (0, 2))
    position = {f: i for i, f in enumerate(shards["files"])}
    seen = set()
    for name, split in data.splits.items():
        rows = [position[f] for f in split.rows["file"]]
        np.testing.assert_allclose(split.features["logmel"].numpy(), expected[rows], atol=2e-5)
        seen |= set(split.rows["actor"])
    assert seen == set(REAL_ACTORS)
    # each test actor's bins have mean 0 and spread 1 over its own files and frames
    test = data.splits["test"].features["logmel"].double()
    assert torch.allclose(test.mean((0, 2)), torch.zeros(LOGMEL["n_mels"], dtype=torch.float64),
                          atol=1e-4)


def test_functionals_are_scored_per_feature_and_the_default_keeps_them(shards: dict) -> None:
    functionals = shards["feats"].mean(2)  # (files, n_mels) stands in for a functionals vector
    features = {"egemaps": (functionals.astype(np.float32), shards["files"])}
    folds = shards["folds"]
    scored = LabelledFold.build(features, shards["meta"], folds, 2, "emotion", ("egemaps",),
                                speaker_norm=True)
    stored = LabelledFold.build(features, shards["meta"], folds, 2, "emotion", ("egemaps",))
    expected = own_speaker_zscore(functionals, actors_of(shards["files"]), (0,))
    position = {f: i for i, f in enumerate(shards["files"])}
    for name in ("train", "val", "test"):
        rows = [position[f] for f in scored.splits[name].rows["file"]]
        np.testing.assert_allclose(scored.splits[name].features["egemaps"].numpy(),
                                   expected[rows], atol=2e-5)
        np.testing.assert_allclose(stored.splits[name].features["egemaps"].numpy(),
                                   functionals[rows], rtol=1e-6)
    assert scored.fingerprint != stored.fingerprint  # a resume state of the other is not reused


def test_the_raw_waveform_is_refused(shards: dict) -> None:
    waves = np.random.default_rng(0).normal(size=(len(shards["files"]), 800)).astype(np.float32)
    with pytest.raises(ValueError, match="not to the raw waveform"):
        LabelledFold.build({"waveform": (waves, shards["files"])}, shards["meta"],
                           shards["folds"], 1, "emotion", ("waveform",), speaker_norm=True)


@pytest.mark.parametrize("command", ["predict", "export"])
def test_training_records_speaker_norm_and_predict_and_export_refuse_it(
        shards: dict, tmp_path: Path, capsys, command: str) -> None:
    """End to end from a trained fold: the training job (as rule train runs it) writes the flag
    into the checkpoint, and the CLI refuses the model in one line."""
    from ser.use.cli import main
    from ser.train.outputs import load_checkpoint
    from ser.train.run import TrainJob, run_training

    job = TrainJob("cnn6", {"arch": "cnn6", "pretrained": "none", "epochs": 1},
                   {"speaker_norm": True, "batch_size": 32, "amp": False, "seed": 0},
                   {"scheme": "actor_kfold"}, "emotion", {"logmel": shards["paths"]},
                   shards["root"] / "metadata.csv", shards["root"] / "folds.csv", 1,
                   tmp_path / "fold_1", feature_params={"logmel": LOGMEL}, threads=1)
    run_training(job, logging.getLogger("test"))
    model = tmp_path / "fold_1" / "model.pt"
    assert load_checkpoint(model)["info"]["speaker_norm"] is True
    target = str(shards["meta"]["path"].iloc[0]) if command == "predict" else str(tmp_path / "x")
    assert main([command, str(model), target]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {model}: trained with speaker normalisation (training.speaker_norm), so each "
        "input needs its speaker's statistics, which ser predict and ser export do not compute: "
        "use a model trained with speaker_norm: false"]
    assert not (tmp_path / "x").exists()
