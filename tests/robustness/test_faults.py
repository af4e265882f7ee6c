"""Faults through the real workflow: jobs SIGKILLed mid-way, files truncated on disk.

Each killed job is rerun and must end exactly where an uninterrupted run ends (on CPU, same seed):
nothing half-written may ever be accepted as finished. Three real actors and the smallest model
keep the whole file to a couple of minutes.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, SNAKEMAKE, run_snakemake
from ser.features.shards import ShardError, read_shards
from ser.models.weights import read_state_dict
from ser.train.state import load_resume

pytestmark = pytest.mark.slow

MODEL = "kaggle_cnn1d"  # reads mfcc, the cheapest feature
SHARD = "results/features/mfcc/actor_01.h5"
FOLD_DIR = f"results/models/{MODEL}/fold_1"
RESUME = f"results/.resume/{MODEL}/fold_1/resume.pt"
# Wall-clock and memory figures differ between any two runs; every other key must be equal.
UNTIMED = {"train_seconds", "peak_memory_mb"}


@pytest.fixture(scope="module")
def fault_config(tmp_path_factory, ravdess16k: Path) -> Path:
    cfg = {
        "ravdess": {"source": str(ravdess16k), "actors": [1, 2, 3]},
        "audio": {"sample_rate": 16000, "offset": 0.0, "duration": 3.0},
        "protocol": {"scheme": "actor_kfold", "k": 3, "seed": 0, "n_val_actors": 1,
                     "select": "best_val"},
        "training": {"epochs": 3, "patience": 3, "batch_size": 32, "amp": False, "seed": 0},
        "run_models": [MODEL],
        "models": {MODEL: {"arch": MODEL, "pretrained": "none", "optimizer": "adam",
                           "lr": 0.001, "epochs": 3}},
    }
    path = tmp_path_factory.mktemp("fault_config") / "faults.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, fault_config: Path) -> Path:
    """One fold trained without interruption: the shards and outputs every fault must reproduce."""
    workdir = tmp_path_factory.mktemp("reference")
    run_snakemake(workdir, "--cores", "2", f"{FOLD_DIR}/metrics.json",
                  configfiles=(fault_config,), timeout=600)
    return workdir


def _start(workdir: Path, config: Path, target: str) -> subprocess.Popen:
    """Snakemake in its own process group, so that one killpg reaches it and its job."""
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(config), "--cores", "2", target]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    """SIGKILL the whole process group as soon as `ready()` holds; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before the fault could be injected")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the job never reached the point where the fault is injected")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _rerun(workdir: Path, config: Path, target: str) -> subprocess.CompletedProcess:
    """What a user does after a crash: lift the dead run's lock, then rerun what it left."""
    run_snakemake(workdir, "--unlock", target, configfiles=(config,), timeout=120)
    return run_snakemake(workdir, "--cores", "2", "--rerun-incomplete", target,
                         configfiles=(config,), timeout=600)


def _shard_contents(path: Path) -> tuple[bytes, list, dict]:
    with h5py.File(path, "r") as h5:
        features = h5["features"][()]
        files = list(h5["files"][()])
        attrs = {k: (v.tolist() if isinstance(v, np.generic | np.ndarray) else v)
                 for k, v in h5.attrs.items()}
    return features.dtype.str.encode() + str(features.shape).encode() + features.tobytes(), \
        files, attrs


def _accepted(path: Path) -> bool:
    try:
        read_shards([path])
    except ShardError:
        return False
    return True


def _fresh_copy(src: Path, dst: Path, drop: tuple[str, ...]) -> Path:
    """A copy of a finished run (with Snakemake's records) minus the outputs under `drop`."""
    shutil.copytree(src, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("locks", "incomplete"))
    for rel in drop:
        shutil.rmtree(dst / rel, ignore_errors=True)
    return dst


def test_feature_job_killed_midway(tmp_path, fault_config, reference_run):
    workdir = _fresh_copy(reference_run, tmp_path / "run",
                          drop=("results/features", "results/models"))
    out, log = workdir / SHARD, workdir / "logs/features/mfcc.log"
    log.unlink(missing_ok=True)
    proc = _start(workdir, fault_config, SHARD)
    # The log opens when the job starts; the .tmp appears once extraction is done.
    _kill_when(proc, lambda: log.exists() or out.with_suffix(".h5.tmp").exists())

    # Whatever the kill left at the final name must be refused, unless it is the finished shard.
    if out.exists() and _accepted(out):
        assert _shard_contents(out) == _shard_contents(reference_run / SHARD)
    _rerun(workdir, fault_config, SHARD)
    assert _accepted(out)
    assert _shard_contents(out) == _shard_contents(reference_run / SHARD)
    assert not out.with_suffix(".h5.tmp").exists()


def _resume_epoch(path: Path) -> int:
    if not path.exists():
        return 0
    return torch.load(path, map_location="cpu", weights_only=True)["progress"]["epoch"]


def test_training_job_killed_midway(tmp_path, fault_config, reference_run, caplog):
    workdir = _fresh_copy(reference_run, tmp_path / "run",
                          drop=("results/models", "results/.resume"))
    target, resume = f"{FOLD_DIR}/metrics.json", workdir / RESUME
    proc = _start(workdir, fault_config, target)
    _kill_when(proc, lambda: _resume_epoch(resume) >= 1)
    assert _resume_epoch(resume) < 3, "the job ran to its end before the kill"
    assert not (workdir / target).exists()

    # A resume state cut short on disk is refused, by name, and costs only a fresh start.
    cut = tmp_path / "cut" / "resume.pt"
    cut.parent.mkdir()
    cut.write_bytes(resume.read_bytes()[: resume.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        assert load_resume(cut.parent, key="any", log=logging.getLogger("t")) is None
    assert str(cut) in caplog.text and "unreadable" in caplog.text

    _rerun(workdir, fault_config, target)
    train_log = (workdir / f"logs/train/{MODEL}/fold_1.log").read_text()
    assert "resuming from" in train_log, train_log[-2000:]
    ref, got = reference_run / FOLD_DIR, workdir / FOLD_DIR
    metrics = [{k: v for k, v in json.loads((d / "metrics.json").read_text()).items()
                if k not in UNTIMED} for d in (ref, got)]
    assert metrics[0] == metrics[1]
    assert metrics[1]["epochs_run"] == 3
    assert (got / "predictions.csv").read_bytes() == (ref / "predictions.csv").read_bytes()
    history = [pd.read_csv(d / "history.csv").drop(columns="seconds") for d in (ref, got)]
    pd.testing.assert_frame_equal(history[0], history[1], check_exact=True)
    assert not resume.exists(), "the resume state outlived the finished fold"


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_shard_rejected(tmp_path, reference_run, keep):
    path = tmp_path / "actor_01.h5"
    data = (reference_run / SHARD).read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ShardError, match="truncated or corrupt") as err:
        read_shards([path])
    assert str(path) in str(err.value)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_checkpoint_rejected(tmp_path, reference_run, keep):
    full = reference_run / FOLD_DIR / "model.pt"
    assert read_state_dict(full)  # the finished checkpoint itself is readable
    path = tmp_path / "model.pt"
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="not a readable weights file") as err:
        read_state_dict(path)
    assert str(path) in str(err.value)
