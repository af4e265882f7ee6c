"""benchmarks/device/run.py, the prepared GPU run, in its CPU smoke mode on real actors.

The smoke mode trains two small models for one epoch on six real actors (two emobox_6fold
folds), through the same code the GPU run takes, so that the command cannot rot between runs.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device" / "run.py"
# The columns: epochs run, seconds per epoch, total seconds, peak memory, WA, UA, macro F1,
# and where the initial weights came from.
REQUIRED = {"model", "fold", "epochs_run", "s_per_epoch", "train_s", "job_s", "peak_memory_mb",
            "wa", "ua", "f1_macro", "weights"}
# Smoke actors 1, 11, 20 are tested in emobox_6fold's fold 1 and 4, 10, 12 in its fold 2
# (EmoBox's published list, ser/data/folds/emobox_6fold.csv).
SMOKE_JOBS = {(m, f) for m in ("kaggle_cnn1d", "cnnx") for f in (1, 2)}


def load_run_module():
    spec = importlib.util.spec_from_file_location("device_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_device(out: Path, work: Path, corpus: Path, *extra: str) -> None:
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(out), "--workdir", str(work),
           "--corpus", str(corpus), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, ravdess16k: Path) -> tuple[Path, Path]:
    out, work = tmp_path_factory.mktemp("device_out"), tmp_path_factory.mktemp("device_work")
    run_device(out, work, ravdess16k)
    return out, work


@pytest.mark.slow
def test_smoke_table_has_every_column_and_a_row_per_job(smoke):
    out, _ = smoke
    table = pd.read_csv(out / "device.csv")
    assert REQUIRED <= set(table.columns)
    assert set(zip(table["model"], table["fold"])) == SMOKE_JOBS and len(table) == 4
    assert (table["status"] == "done").all() and (table["epochs_run"] == 1).all()
    assert table["weights"].str.startswith("none (random init)").all()
    markdown = (out / "device.md").read_text()
    assert markdown.count("| kaggle_cnn1d ") == 2 and markdown.count("| cnnx ") == 2
    info = json.loads((out / "run.json").read_text())
    assert info["gpu"] == "none (CPU)" and info["torch"] and info["wall_s"] > 0
    assert info["not_started"] == []


@pytest.mark.slow
def test_smoke_scores_are_the_folds_metrics(smoke):
    """The table copies each fold's metrics.json, the file the pipeline's report reads."""
    out, work = smoke
    for row in pd.read_csv(out / "device.csv").itertuples():
        metrics = json.loads((work / "models" / row.model / f"fold_{row.fold}" /
                              "metrics.json").read_text())
        assert (row.wa, row.ua, row.f1_macro) == pytest.approx(
            (metrics["accuracy"], metrics["unweighted_accuracy"], metrics["f1_macro"]))
        assert row.train_s == pytest.approx(metrics["train_seconds"])
        assert row.job_s >= row.train_s > 0


def test_no_budget_starts_no_job_and_still_writes_the_table(tmp_path, ravdess16k: Path):
    run_device(tmp_path / "out", tmp_path / "work", ravdess16k, "--budget-s", "0")
    assert pd.read_csv(tmp_path / "out" / "device.csv").empty
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert sorted(info["not_started"]) == sorted(f"{m} fold {f}" for m, f in SMOKE_JOBS)
    assert not (tmp_path / "work" / "features").exists()


def test_job_order_puts_cnn14_models_on_every_fold_first():
    run = load_run_module()
    jobs = run.job_order(["kaggle_cnn1d", "cnn14", "cnnx", "cnn14_attn"], [1, 2, 3])
    assert jobs == [("cnn14_attn", 1), ("cnn14", 1), ("cnn14_attn", 2), ("cnn14", 2),
                    ("cnn14_attn", 3), ("cnn14", 3), ("kaggle_cnn1d", 1), ("cnnx", 1),
                    ("kaggle_cnn1d", 2), ("cnnx", 2), ("kaggle_cnn1d", 3), ("cnnx", 3)]


def test_budget_guard_stops_before_an_epoch_that_would_overrun():
    run = load_run_module()
    now = time.time()
    with pytest.raises(run.OutOfBudget):
        run.budget_guard(deadline=now + 5, started=now - 10, max_epochs=60)(1)
    run.budget_guard(deadline=now + 5, started=now - 10, max_epochs=1)(1)  # last epoch: finish
    run.budget_guard(deadline=now + 100, started=now - 10, max_epochs=60)(1)


def test_pretrained_weights_not_at_hand_mean_random_init(tmp_path):
    run = load_run_module()
    entry = {"arch": "resnet18", "pretrained": "imagenet", "lr": 1e-4}
    chosen, note = run.weights_choice(entry, tmp_path / "missing")
    assert chosen == {**entry, "pretrained": "none"} and note == "imagenet weights not at hand"
    (tmp_path / "resnet18-f37072fd.pth").write_bytes(b"x")
    assert run.weights_choice(entry, tmp_path) == (entry, "")
    assert run.weights_choice({"arch": "cnnx", "pretrained": "none"}, tmp_path / "missing") == (
        {"arch": "cnnx", "pretrained": "none"}, "")


def test_size_counts_the_carried_folders(tmp_path):
    """size.py adds each carried folder's files to the checkout's and says whether the device
    tool's limit holds it: 64 MB, not the 64 MiB its README names (63.0 MiB was refused)."""
    size = REPO / "benchmarks" / "device" / "size.py"
    base = subprocess.run([sys.executable, str(size), "--carry"], capture_output=True, text=True)
    assert base.returncode == 0 and "fits" in base.stdout
    with open(tmp_path / "blob", "wb") as blob:  # sparse: 65 MiB long, nothing written
        blob.truncate(65 * 2**20)
    over = subprocess.run([sys.executable, str(size), "--carry", str(tmp_path)],
                          capture_output=True, text=True)
    assert over.returncode == 1 and "OVER the limit" in over.stdout
    assert "65.00 MiB" in over.stdout
    with open(tmp_path / "blob", "wb") as blob:  # under 64 MiB, over the 64 MB the tool takes
        blob.truncate(63 * 2**20)
    near = subprocess.run([sys.executable, str(size), "--carry", str(tmp_path)],
                          capture_output=True, text=True)
    assert near.returncode == 1 and "of 61.0 MiB: OVER the limit" in near.stdout


def test_preset_merges_as_snakemake_configfile_does():
    """`--preset` must give the config Snakemake runs under `--configfile` with the same preset."""
    import copy

    import yaml
    from snakemake.utils import update_config

    run = load_run_module()
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    preset = yaml.safe_load((REPO / "workflow/presets/dchung_4fold.yaml").read_text())
    expected = copy.deepcopy(config)
    update_config(expected, preset)
    merged = run.overlay(config, preset)
    assert merged == expected
    assert merged["protocol"]["scheme"] == "dchung_4fold" and merged["protocol"]["k"] == 6
    assert config["protocol"]["scheme"] == "emobox_6fold"  # the base is left as it was


def test_preset_and_folds_pick_the_published_folds_and_only_the_named_one(
        tmp_path, ravdess16k: Path, reference_dir: Path):
    run_device(tmp_path / "out", tmp_path / "work", ravdess16k, "--budget-s", "0",
               "--preset", str(REPO / "workflow/presets/dchung_4fold.yaml"), "--folds", "3")
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert sorted(info["not_started"]) == ["cnnx fold 3", "kaggle_cnn1d fold 3"]
    folds = pd.read_csv(tmp_path / "work" / "folds.csv")
    published = pd.read_csv(reference_dir / "folds" / "dchung_4fold.csv")
    tested = folds[folds["split"] == "test"].groupby("fold")["actor"].unique()
    assert len(tested) == 4  # the 6 actors fall in all 4 of dchung's folds
    for fold, actors in tested.items():
        assert sorted(actors) == sorted(
            a for a in published.loc[published["test_fold"] == fold, "actor"]
            if a in {1, 11, 20, 4, 10, 12})
    assert (folds["split"] != "val").all()  # the preset's n_val_actors: 0


def test_dchung_preset_plain_cnn14_is_the_attention_network_with_average_pooling():
    """dchung1209's CNN-14 row (60.0 % WA) needs his network without attention: cnn14_avg."""
    import torch
    import yaml

    from ser.models import build_model
    from ser.train.run import split_model_config

    run = load_run_module()
    config = run.overlay(yaml.safe_load((REPO / "config.yaml").read_text()),
                         yaml.safe_load((REPO / "workflow/presets/dchung_4fold.yaml").read_text()))
    arch, pretrained, overrides, hparams = split_model_config("cnn14_avg",
                                                              config["models"]["cnn14_avg"])
    assert (arch, pretrained, overrides["epochs"]) == ("cnn14_attn", "none", 120)
    model = build_model(arch, n_classes=8, pretrained=pretrained, **hparams).eval()
    feature_map = torch.randn(2, 2048, 2, 4)
    assert torch.allclose(model.attention(feature_map), feature_map.mean(dim=(2, 3)), atol=1e-5)
    assert "cnn14_avg" not in yaml.safe_load((REPO / "config.yaml").read_text())["models"]
