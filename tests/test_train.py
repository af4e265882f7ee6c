"""ser.train: reproducibility, resume, model selection, outputs and speaker independence.

The mechanics are tested with a tiny CNN on small synthetic "spectrograms" whose emotion shows
as a brighter frequency band, so that training learns something within a few epochs on CPU.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from ser.train.config import TrainConfig
from ser.train.data import FoldData, InputSpec, build_input
from ser.train.loop import train_fold
from ser.train.recipe import spec_augment
from ser.train.state import RESUME_FILE

N_BINS, N_FRAMES = 16, 20
SPLIT = {1: "test", 2: "test", 3: "val", 4: "train", 5: "train", 6: "train", 7: "train"}
LOG = logging.getLogger("test_train")


def corpus(signal: float = 2.0, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rows = [{"file": f"03-01-{e:02d}-{i:02d}-01-{r:02d}-{a:02d}", "actor": a,
             "gender": "male" if a % 2 else "female", "emotion": e, "intensity": i}
            for a in SPLIT for e in range(1, 9) for i in (1, 2) for r in (1, 2)]
    meta = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(len(meta), N_BINS, N_FRAMES)).astype(np.float32)
    feats[np.arange(len(meta)), meta["emotion"].to_numpy() * 2 - 1, :] += signal
    return meta, feats


def folds_table(meta: pd.DataFrame, split: dict[int, str] = SPLIT) -> pd.DataFrame:
    return pd.DataFrame({"fold": 1, "file": meta["file"], "actor": meta["actor"],
                         "split": meta["actor"].map(split)})


def make_data(signal: float = 2.0, split: dict[int, str] = SPLIT,
              size: tuple[int, int] | None = (N_BINS, N_FRAMES)) -> FoldData:
    meta, feats = corpus(signal)
    return FoldData.build({"logmel": (feats, list(meta["file"]))}, meta,
                          folds_table(meta, split), 1, "emotion", InputSpec(("logmel",), size))


def tiny_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Dropout(0.2), nn.AdaptiveAvgPool2d((8, 1)), nn.Flatten(),
                         nn.Linear(32, 8))


CFG = TrainConfig(epochs=5, patience=5, batch_size=16, lr=0.01, specaugment=True, mixup=0.3)


def run(tmp: Path, cfg: TrainConfig = CFG, data: FoldData | None = None, **kwargs) -> dict:
    return train_fold(tiny_cnn(), data or make_data(), cfg, tmp / "out", LOG,
                      state_dir=tmp / "state", info={"model": "tiny"}, **kwargs)


def comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("train_seconds", "peak_memory_mb")}


def assert_same_run(a: Path, b: Path) -> None:
    """Same metrics, predictions, history (but timings) and checkpoint weights."""
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert comparable(ma) == comparable(mb)
    pd.testing.assert_frame_equal(pd.read_csv(a / "predictions.csv"),
                                  pd.read_csv(b / "predictions.csv"), check_exact=True)
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="seconds") for d in (a, b))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)
    sa, sb = (torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (a, b))
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_gives_identical_results(tmp_path: Path) -> None:
    first = run(tmp_path / "a")
    second = run(tmp_path / "b")
    assert first["accuracy"] > 0.5  # it learned the bands, so the comparison is not trivial
    assert_same_run(tmp_path / "a" / "out", tmp_path / "b" / "out")
    other = run(tmp_path / "c", TrainConfig(**{**CFG.as_dict(), "seed": 1}))
    assert (pd.read_csv(tmp_path / "c" / "out" / "history.csv")["train_loss"]
            != pd.read_csv(tmp_path / "a" / "out" / "history.csv")["train_loss"]).any()
    assert other["seed"] == 1


class Interrupt(Exception):
    pass


def stop_after(epoch: int):
    def hook(done: int) -> None:
        if done == epoch:
            raise Interrupt(f"killed after epoch {done}")
    return hook


def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    run(tmp_path / "whole")
    with pytest.raises(Interrupt):
        run(tmp_path / "cut", after_epoch=stop_after(2))
    assert (tmp_path / "cut" / "state" / RESUME_FILE).exists()
    assert not (tmp_path / "cut" / "out" / "metrics.json").exists()
    epochs_seen = []
    run(tmp_path / "cut", after_epoch=epochs_seen.append)
    assert epochs_seen == [3, 4, 5]  # it resumed, it did not start again
    assert_same_run(tmp_path / "whole" / "out", tmp_path / "cut" / "out")
    assert not (tmp_path / "cut" / "state" / RESUME_FILE).exists()


def test_resume_state_of_another_config_is_ignored(tmp_path: Path, caplog) -> None:
    with pytest.raises(Interrupt):
        run(tmp_path / "cut", after_epoch=stop_after(2))
    changed = TrainConfig(**{**CFG.as_dict(), "lr": 0.005})
    epochs_seen = []
    with caplog.at_level(logging.INFO):
        run(tmp_path / "cut", changed, after_epoch=epochs_seen.append)
    assert epochs_seen == [1, 2, 3, 4, 5]
    assert "ignoring resume state" in caplog.text
    run(tmp_path / "fresh", changed)
    assert_same_run(tmp_path / "fresh" / "out", tmp_path / "cut" / "out")


def test_resume_state_of_a_changed_architecture_is_ignored(tmp_path: Path, caplog) -> None:
    """Same name and config, but the model's code changed (a wider head): start afresh."""
    with pytest.raises(Interrupt):
        run(tmp_path / "cut", after_epoch=stop_after(2))
    torch.manual_seed(0)
    wider = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d((8, 1)), nn.Flatten(), nn.Linear(64, 8))
    epochs_seen = []
    with caplog.at_level(logging.INFO):
        train_fold(wider, make_data(), CFG, tmp_path / "cut" / "out", LOG,
                   state_dir=tmp_path / "cut" / "state", info={"model": "tiny"},
                   after_epoch=epochs_seen.append)
    assert epochs_seen == [1, 2, 3, 4, 5]
    assert "ignoring resume state" in caplog.text


def test_early_stopping_keeps_the_best_validation_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=40, patience=3, batch_size=16, lr=0.05, scheduler="none")
    data = make_data(signal=0.7)
    metrics = run(tmp_path, cfg, data)
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    assert metrics["epochs_run"] < cfg.epochs == 40  # it stopped early ...
    assert metrics["epochs_run"] - metrics["best_epoch"] == cfg.patience  # ... patience after
    best = max(history.itertuples(), key=lambda r: (r.val_ua, -r.val_loss))
    assert metrics["best_epoch"] == best.epoch
    # the saved weights are that epoch's: re-scoring them on validation reproduces its row
    model = tiny_cnn()
    saved = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    model.load_state_dict(saved["state_dict"])
    model.eval()
    with torch.no_grad():
        x, y, _ = next(data.batches("val", 10_000))
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
    assert loss == pytest.approx(best.val_loss, rel=1e-5)
    # metrics.json records that checkpoint's validation scores (what the report chooses by)
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    pred = logits.argmax(1).numpy()
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["val_unweighted_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert saved["val_accuracy"] == pytest.approx(accuracy_score(y, pred))


@pytest.mark.parametrize("no_val", [True, False])
def test_final_epoch_without_validation_or_when_asked(tmp_path: Path, no_val: bool) -> None:
    split = {a: ("train" if s == "val" else s) for a, s in SPLIT.items()} if no_val else SPLIT
    cfg = TrainConfig(epochs=4, patience=1, batch_size=16, lr=0.05,
                      select="best_val" if no_val else "final")
    metrics = run(tmp_path, cfg, make_data(signal=0.3, split=split))
    assert metrics["n_val"] == (0 if no_val else 16 * 2)
    assert metrics["best_epoch"] == metrics["epochs_run"] == 4  # patience 1 never stops it
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    last = pd.read_csv(tmp_path / "out" / "history.csv").iloc[-1]
    if no_val:  # no validation split: no validation score, null rather than a made-up number
        assert saved["val_unweighted_accuracy"] is None and saved["val_accuracy"] is None
    else:  # the final epoch is kept, so its validation scores are the ones recorded
        assert saved["val_unweighted_accuracy"] == pytest.approx(last["val_ua"])
        assert saved["val_accuracy"] == pytest.approx(last["val_acc"])
    # the kept checkpoint's predictions of the validation files (late fusion weighs on them);
    # a header only without validation actors
    val = pd.read_csv(tmp_path / "out" / "val_predictions.csv")
    test = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert list(val.columns) == list(test.columns)
    assert set(val["actor"]) == (set() if no_val else {3}) and len(val) == metrics["n_val"]
    if not no_val:
        assert (val["y_pred"] == val["y_true"]).mean() == pytest.approx(last["val_acc"])


def test_outputs_load_with_weights_only(tmp_path: Path) -> None:
    data = make_data()
    metrics = run(tmp_path, data=data)
    ckpt = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert ckpt["classes"] == metrics["classes"] and len(ckpt["classes"]) == 8
    assert ckpt["input"] == {"features": ["logmel"], "size": [N_BINS, N_FRAMES]}
    # per-bin statistics of the training actors only (the resize to the stored size is exact)
    meta, feats = corpus()
    train = feats[meta["actor"].map(SPLIT).to_numpy() == "train"].astype(np.float64)
    norm = ckpt["normaliser"]
    assert norm["axis"] == 2
    np.testing.assert_allclose(norm["mean"].numpy(), train.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(norm["std"].numpy(), train.std(axis=(0, 2)), rtol=1e-4)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("model", "label_set", "fold", "n_train", "n_val", "n_test", "accuracy",
                "unweighted_accuracy", "precision_macro", "recall_macro", "f1_macro",
                "best_epoch", "epochs_run", "train_seconds", "device", "seed", "classes"):
        assert key in saved, key
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind


def test_normalise_false_feeds_the_stored_features_as_they_are(tmp_path: Path) -> None:
    meta, feats = corpus()
    data = make_data()
    run(tmp_path, TrainConfig(epochs=1, batch_size=16, normalise=False), data)
    assert torch.load(tmp_path / "out" / "model.pt", weights_only=True)["normaliser"]["axis"] == -1
    x, _, idx = next(data.batches("test", 8))
    files = list(meta["file"])
    rows = [files.index(f) for f in data.splits["test"].rows["file"].iloc[idx.numpy()]]
    np.testing.assert_array_equal(x[:, 0].numpy(), feats[rows])
    data.to("cpu")  # the default z-scores each bin: the same batch is no longer the stored one
    assert not torch.allclose(next(data.batches("test", 8))[0], x)


def test_no_test_actor_is_seen_in_training(tmp_path: Path) -> None:
    metrics = run(tmp_path)
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    train_actors = {a for a, s in SPLIT.items() if s != "test"}
    assert set(predictions["actor"]) == {1, 2}
    assert not set(predictions["actor"]) & train_actors
    assert metrics["n_test"] == len(predictions) == 2 * 32
    assert metrics["n_train"] == 4 * 32 and metrics["n_val"] == 32
    # every prediction's label is the file name's emotion code
    codes = predictions["file"].str.split("-").str[2].astype(int) - 1
    assert (predictions["y_true"] == codes).all()
    probs = predictions.filter(like="p_").to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert (probs.argmax(1) == predictions["y_pred"]).all()


def test_input_building() -> None:
    raw = {"logmel": torch.randn(3, N_BINS, N_FRAMES)}
    x = build_input(raw, InputSpec(("logmel",), (32, 40)))
    assert x.shape == (3, 1, 32, 40)
    assert build_input(raw, InputSpec(("logmel",), None)) is raw["logmel"]
    wave = {"waveform": torch.randn(2, 1600)}
    assert build_input(wave, InputSpec(("waveform",), None)).shape == (2, 1600)
    with pytest.raises(ValueError, match="unsupported feature combination"):
        build_input(raw, InputSpec(("logmel", "mfcc"), None))


def test_spec_augment_masks_bands_and_frames() -> None:
    x = torch.ones(8, 1, 64, 80)
    out = spec_augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.sum() < x.sum()
    zero_rows = (out[:, 0] == 0).all(dim=2).sum(1)  # fully masked frequency bins per example
    assert (zero_rows <= 2 * 64 // 8).all()
    wave = torch.ones(2, 100)
    assert torch.equal(spec_augment(wave, torch.Generator()), wave)


def test_fold_data_errors_name_the_problem() -> None:
    meta, feats = corpus()
    with pytest.raises(ValueError, match="have no features"):
        FoldData.build({"logmel": (feats[1:], list(meta["file"])[1:])}, meta, folds_table(meta), 1,
                       "emotion", InputSpec(("logmel",), None))
    with pytest.raises(ValueError, match="fold 3 is not in the folds table"):
        FoldData.build({"logmel": (feats, list(meta["file"]))}, meta, folds_table(meta), 3,
                       "emotion", InputSpec(("logmel",), None))
    with pytest.raises(ValueError, match="reads \\['mfcc'\\]"):
        FoldData.build({"logmel": (feats, list(meta["file"]))}, meta, folds_table(meta), 1,
                       "emotion", InputSpec(("mfcc",), None))


def test_train_config_layers() -> None:
    cfg = TrainConfig.from_layers({"lr": 0.001, "epochs": 60}, {"select": "final"},
                                  {"lr": "1e-4", "epochs": 3})
    assert cfg.lr == 1e-4 and cfg.epochs == 3 and cfg.select == "final"
    with pytest.raises(ValueError, match="unknown training keys \\['lrate'\\]"):
        TrainConfig.from_layers({"lrate": 0.1})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")


# --- the real corpus through the real feature shards -----------------------------------------

REAL_ACTORS = [1, 2, 3, 4]
AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 2.0}
LOGMEL = {"n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 40, "fmin": 50.0,
          "fmax": 8000.0}


@pytest.fixture(scope="module")
def real_fold(tmp_path_factory, ravdess16k: Path) -> dict:
    """metadata.csv, folds.csv and log-mel shards of four real actors (1 test, 1 val, 2 train)."""
    from ser.data.folds import make_folds
    from ser.data.ravdess import scan_corpus, write_metadata
    from ser.features.shards import build_actor_shard

    root = tmp_path_factory.mktemp("real_fold")
    meta = scan_corpus(ravdess16k, REAL_ACTORS)
    write_metadata(meta, root / "metadata.csv")
    folds = make_folds(meta, "actor_kfold", k=4, seed=0, n_val_actors=1)
    folds.to_csv(root / "folds.csv", index=False)
    shards = [root / f"logmel/actor_{a:02d}.h5" for a in REAL_ACTORS]
    for actor, path in zip(REAL_ACTORS, shards):
        build_actor_shard(root / "metadata.csv", actor, "logmel", LOGMEL, AUDIO, path)
    return {"shards": {"logmel": shards}, "metadata_csv": root / "metadata.csv",
            "folds_csv": root / "folds.csv", "folds": folds}


def test_real_shards_train_speaker_independently(real_fold: dict, tmp_path: Path) -> None:
    from ser.features.shards import read_shards

    spec = InputSpec(("logmel",), None)
    data = FoldData.from_files(real_fold["shards"], real_fold["metadata_csv"],
                               real_fold["folds_csv"], 1, "emotion", spec,
                               feature_params={"logmel": LOGMEL})
    fold = real_fold["folds"].query("fold == 1")
    for split in ("train", "val", "test"):
        expected = sorted(fold.loc[fold["split"] == split, "file"])
        assert expected == list(data.splits[split].rows["file"])
    feats, files = read_shards(real_fold["shards"]["logmel"])
    train_files = set(fold.loc[fold["split"] == "train", "file"])
    train = feats[[f in train_files for f in files]].astype(np.float64)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.003)
    model = nn.Sequential(nn.Conv1d(LOGMEL["n_mels"], 16, 5), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 8))
    metrics = train_fold(model, data, cfg, tmp_path, LOG, state_dir=tmp_path / "state")
    norm = torch.load(tmp_path / "model.pt", weights_only=True)["normaliser"]
    assert norm["axis"] == 1  # per mel bin of the (B, F, T) input
    np.testing.assert_allclose(norm["mean"].numpy(), train.mean(axis=(0, 2)), rtol=1e-4)
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    test_actor = set(fold.loc[fold["split"] == "test", "actor"])
    assert set(predictions["actor"]) == test_actor and len(test_actor) == 1
    assert not test_actor & set(fold.loc[fold["split"] != "test", "actor"])
    assert metrics["n_test"] == 60 and metrics["n_train"] == 120 and metrics["n_val"] == 60


def test_run_training_with_a_registry_model(real_fold: dict, tmp_path: Path) -> None:
    from ser import models
    from ser.train.run import TrainJob, run_training

    model_cfg = {"arch": "cnnx", "pretrained": "none", "epochs": 1, "batch_size": 32,
                 "input_size": [64, 128]}
    training = {"seed": 0, "epochs": 60, "lr": 0.001, "amp": True, "channels_last": True}
    protocol = {"scheme": "actor_kfold", "k": 4, "seed": 0, "n_val_actors": 1,
                "select": "best_val"}
    out = tmp_path / "models" / "cnnx" / "fold_2"
    state_dir = tmp_path / ".resume" / "cnnx" / "fold_2"
    job = TrainJob("cnnx", model_cfg, training, protocol, "emotion7", real_fold["shards"],
                   real_fold["metadata_csv"], real_fold["folds_csv"], 2, out, state_dir,
                   tmp_path / "weights", feature_params={"logmel": LOGMEL}, threads=2)
    metrics = run_training(job, LOG)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["arch"] == "cnnx" and saved["family"] == "scratch"
    assert saved["features"] == ["logmel"] and saved["input_size"] == [64, 128]
    assert saved["protocol"] == "actor_kfold" and saved["epochs_run"] == 1
    assert len(saved["classes"]) == 7 and saved["weights"]
    assert metrics["fold"] == 2 and not (state_dir / RESUME_FILE).exists()
    ckpt = torch.load(out / "model.pt", weights_only=True)
    fresh = models.build_model("cnnx", 7, "none", input_size=(64, 128))
    fresh.load_state_dict(ckpt["state_dict"])  # the checkpoint rebuilds the trained model
    with pytest.raises(ValueError, match="params"):
        run_training(replace(job, out_dir=tmp_path / "x", state_dir=None, weights_cache_dir=None,
                             feature_params={"logmel": {**LOGMEL, "n_mels": 64}}), LOG)


def test_image_input_is_normalised_per_channel_on_training_files() -> None:
    meta, _ = corpus()
    rng = np.random.default_rng(1)
    shapes = {"stft": (33, 20), "scalogram": (24, 20), "mfcc": (13, 20)}
    scale = {"stft": 10.0, "scalogram": 0.01, "mfcc": 100.0}  # very different ranges on purpose
    features = {k: ((rng.normal(size=(len(meta), *s)) * scale[k]).astype(np.float32),
                    list(meta["file"])) for k, s in shapes.items()}
    data = FoldData.build(features, meta, folds_table(meta), 1, "emotion",
                          InputSpec(("stft", "scalogram", "mfcc"), (24, 24))).to("cpu")
    assert data.normaliser.axis == 1 and data.normaliser.mean.shape == (3,)
    x, _, _ = next(data.batches("train", 10_000))
    assert x.shape == (len(data.splits["train"]), 3, 24, 24)
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3)).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(dim=(0, 2, 3), unbiased=False).numpy(), 1, atol=1e-3)


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import test_train as t

def kill(epoch):
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no exception handler or cleanup runs

t.run(Path({tmp!r}), after_epoch=kill)
"""


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_result(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    script = KILLED_RUN.format(tests=str(Path(__file__).parent), tmp=str(tmp_path / "cut"))
    # the same torch thread count as the resumed and the whole run below (an earlier test may
    # have set it): float reductions split over other thread counts round differently
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    saved = torch.load(tmp_path / "cut" / "state" / RESUME_FILE, weights_only=True)
    assert saved["progress"]["epoch"] == 2
    run(tmp_path / "cut")
    run(tmp_path / "whole")
    assert_same_run(tmp_path / "whole" / "out", tmp_path / "cut" / "out")


def test_class_weights_are_inverse_training_frequencies() -> None:
    from ser.train.loop import Trainer

    meta, feats = corpus()
    folds = folds_table(meta)
    # keep only a quarter of the training files of neutral (emotion code 1)
    drop = (meta["emotion"] == 1) & (folds["split"] == "train") & (meta["actor"] != 4)
    data = FoldData.build({"logmel": (feats, list(meta["file"]))}, meta, folds[~drop], 1, "emotion",
                          InputSpec(("logmel",), None))
    cfg = TrainConfig(class_weights=True)
    weights = Trainer(tiny_cnn(), data, cfg, torch.device("cpu")).criterion.weight
    counts = np.bincount(data.splits["train"].y.numpy(), minlength=8)
    assert counts[0] * 4 == counts[1]
    np.testing.assert_allclose(weights.numpy(), counts.sum() / (8 * counts), rtol=1e-6)
    unweighted = Trainer(tiny_cnn(), data, TrainConfig(), torch.device("cpu")).criterion.weight
    assert unweighted is None


def test_frame_count_of_a_1d_model_comes_from_the_data() -> None:
    from ser import models
    from ser.train.run import with_data_shape

    meta, _ = corpus()
    mfcc = np.random.default_rng(0).normal(size=(len(meta), 13, 188)).astype(np.float32)
    spec = models.get_spec("kaggle_cnn1d")
    data = FoldData.build({"mfcc": (mfcc, list(meta["file"]))}, meta, folds_table(meta), 1,
                          "emotion", InputSpec(spec.input.features, spec.input.size))
    assert with_data_shape(spec, {}, data) == {"n_frames": 188}
    assert with_data_shape(spec, {"n_frames": 7}, data) == {"n_frames": 7}  # config wins
    model = models.build_model("kaggle_cnn1d", 8, "none", **with_data_shape(spec, {}, data))
    x, _, _ = next(data.batches("train", 4))
    assert model(x).shape == (4, 8)
