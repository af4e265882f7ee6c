"""What the workflow must know before anything runs: the weight files (fetched once by a local
rule), the sample rate a model needs; and outputs that colleagues can read (umask respected)."""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
import torch
import yaml
from torchvision import models as tvm

from conftest import run_snakemake
from ser.data.ravdess import scan_corpus, write_metadata
from ser.io import atomic_dir
from weights_server import serve

RESNET18 = "resnet18-f37072fd.pth"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_outputs_get_ordinary_permissions(ravdess16k, tmp_path, umask):
    table = scan_corpus(ravdess16k, actors=[4])
    old = os.umask(umask)
    try:
        write_metadata(table, tmp_path / "metadata.csv")
        with atomic_dir(tmp_path / "audio") as tmp:
            (tmp / "a.txt").write_text("x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "metadata.csv") == 0o666 & ~umask
    assert mode(tmp_path / "audio") == 0o777 & ~umask


def write_config(tmp_path, ravdess16k, **extra) -> os.PathLike:
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump({"ravdess": {"source": str(ravdess16k), "actors": [1, 2, 3]},
                                    "protocol": {"scheme": "actor_kfold", "k": 3}, **extra}))
    return path


def test_a_model_fed_the_wrong_sample_rate_stops_before_anything_runs(ravdess16k, tmp_path):
    config = write_config(tmp_path, ravdess16k, run_models=["cnn14"],
                          audio={"sample_rate": 48000})
    proc = run_snakemake(tmp_path / "run", "-n", configfiles=(config,), check=False,
                         timeout=300)
    assert proc.returncode != 0
    assert ("models.cnn14 (cnn14) takes 16000 Hz audio, but audio.sample_rate is 48000; set "
            "audio.sample_rate: 16000, or models.cnn14.hparams.sample_rate"
            ) in proc.stdout + proc.stderr
    assert not (tmp_path / "run" / "results").exists()


def test_until_weights_fetches_each_file_once_and_training_takes_it_as_input(
        ravdess16k, tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    torch.save(tvm.resnet18().state_dict(), served / RESNET18)
    checksums = tmp_path / "checksums.json"
    digest = hashlib.sha256((served / RESNET18).read_bytes()).hexdigest()
    checksums.write_text(json.dumps({RESNET18: {"sha256": digest}}))
    monkeypatch.setenv("SER_WEIGHTS_CHECKSUMS", str(checksums))
    # two models on the same file: one weights job
    models = {m: {"arch": "resnet18", "pretrained": "imagenet"} for m in ("r18", "r18_lr")}
    config = write_config(tmp_path, ravdess16k, run_models=list(models), models=models)
    workdir = tmp_path / "run"
    with serve(served) as mirror:
        monkeypatch.setenv("SER_WEIGHTS_MIRROR", mirror.url)
        run_snakemake(workdir, "--cores", "1", "--until", "weights", configfiles=(config,),
                      timeout=300)
        assert [path for _, path in mirror.requests] == [f"/{RESNET18}"]
        assert hashlib.sha256((workdir / "resources/weights" / RESNET18).read_bytes()
                              ).hexdigest() == digest
        dry = run_snakemake(workdir, "-n", configfiles=(config,), timeout=300).stdout
    assert "rule weights:" not in dry and "localrule weights:" not in dry
    train_blocks = [b for b in dry.split("\n\n") if "rule train:" in b]
    assert len(train_blocks) == 6
    assert all(f"resources/weights/{RESNET18}" in b for b in train_blocks)
