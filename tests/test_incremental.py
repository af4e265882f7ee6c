"""Incremental reruns: after one edit, a dry run on the finished tiny run schedules exactly the
jobs the edit affects, for the reason Snakemake gives (params, code, or inputs they feed)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from conftest import REPO, run_snakemake
from ser.models import get_spec, list_models
from ser.models.registry import model_source, model_sources

pytestmark = pytest.mark.slow

JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")
DOWNSTREAM = {"aggregate", "report", "all"}  # the jobs every retrained model feeds


def scheduled(dry_run_stdout: str) -> dict[str, str]:
    """{job: reason} of a dry run's job blocks; a job is `rule` or `rule[key=value,...]`."""
    jobs = {}
    for block in dry_run_stdout.split("\n\n"):
        lines = [l for l in block.splitlines() if l.strip() and not l.startswith("[")]
        header = JOB_HEADER.match(lines[0]) if lines else None
        if not header:
            continue
        fields = dict(l.strip().split(": ", 1) for l in lines[1:] if ": " in l)
        wildcards = sorted(fields["wildcards"].split(", ")) if "wildcards" in fields else []
        job = header.group(1) + (f"[{','.join(wildcards)}]" if wildcards else "")
        assert job not in jobs, f"{job} scheduled twice"
        jobs[job] = fields.get("reason", "")
    return jobs


def dry_run(workdir: Path, *configfiles: Path) -> dict[str, str]:
    proc = run_snakemake(workdir, "-n", configfiles=configfiles, timeout=180)
    if "Nothing to be done" in proc.stdout:
        return {}
    jobs = scheduled(proc.stdout)
    assert jobs, f"no job blocks in the dry run:\n{proc.stdout[-3000:]}"
    return jobs


def override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny(tiny_config: Path) -> dict:
    return yaml.safe_load(tiny_config.read_text())


def train_jobs(tiny: dict, model: str) -> set[str]:
    folds = range(1, tiny["protocol"]["k"] + 1)
    return {f"train[fold={f},model={model}]" for f in folds}


def test_unchanged_tree_reruns_nothing(tiny_run: Path, tiny_config: Path):
    assert dry_run(tiny_run, tiny_config) == {}


def test_one_model_hyperparameter_reruns_only_that_model(tiny_run, tiny_config, tiny, tmp_path):
    lr = tiny["models"]["resnet18"]["lr"] / 2
    edit = override(tmp_path, f"models:\n  resnet18:\n    lr: {lr}\n")
    jobs = dry_run(tiny_run, tiny_config, edit)
    assert set(jobs) == train_jobs(tiny, "resnet18") | DOWNSTREAM
    for job in train_jobs(tiny, "resnet18"):
        assert jobs[job].startswith("Params have changed"), jobs[job]


def test_one_feature_parameter_rebuilds_its_shards_and_their_models(tiny_run, tiny_config,
                                                                    tiny, tmp_path):
    # the premise: kaggle_cnn1d reads the mfcc shards, resnet18 does not
    assert "mfcc" in get_spec("kaggle_cnn1d").input.features
    assert "mfcc" not in get_spec("resnet18").input.features
    n_mfcc = yaml.safe_load((REPO / "config.yaml").read_text())["features"]["mfcc"]["n_mfcc"]
    edit = override(tmp_path, f"features:\n  mfcc:\n    n_mfcc: {n_mfcc // 2}\n")
    jobs = dry_run(tiny_run, tiny_config, edit)
    shards = {"features[feature=mfcc]"}  # one job writes every actor's mfcc shard
    assert set(jobs) == shards | train_jobs(tiny, "kaggle_cnn1d") | DOWNSTREAM
    for job in shards:
        assert jobs[job].startswith("Params have changed"), jobs[job]
    for job in train_jobs(tiny, "kaggle_cnn1d"):
        assert "Input files updated by another job: results/features/mfcc/" in jobs[job], jobs[job]


def replace_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temporary name beside `path` and rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def edited(path: Path, extra: str) -> Iterator[None]:
    """`path` with `extra` appended; afterwards its bytes and mtime exactly as before.

    A touch is not enough: Snakemake 9 compares the checksum it recorded for inputs under
    --max-checksum-file-size (1 MB), so an input whose mtime alone changed reruns nothing.
    """
    original, before = path.read_bytes(), path.stat()
    try:
        replace_bytes(path, original + extra.encode())
        yield
    finally:
        replace_bytes(path, original)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_editing_one_model_family_source_reruns_only_that_model(tiny_run, tiny_config, tiny):
    source = Path(model_source(tiny["models"]["kaggle_cnn1d"]["arch"]))
    assert source == REPO / "ser" / "models" / "kaggle.py"
    assert source != Path(model_source(tiny["models"]["resnet18"]["arch"]))
    with edited(source, "# edited by tests/test_incremental.py (restored afterwards)\n"):
        jobs = dry_run(tiny_run, tiny_config)
    assert set(jobs) == train_jobs(tiny, "kaggle_cnn1d") | DOWNSTREAM
    for job in train_jobs(tiny, "kaggle_cnn1d"):
        assert jobs[job] == f"Updated input files: {source}", jobs[job]


def test_editing_a_shared_layer_reruns_exactly_the_models_built_from_it(tiny_run, tiny_config,
                                                                       tiny):
    """ser/models/panns.py holds ConvBlock and init_layer, which dchung.py, kaggle.py and cnn6.py import
    too: editing it reruns those models (here kaggle_cnn1d), not resnet18."""
    panns = REPO / "ser" / "models" / "panns.py"
    users = {name for name in list_models() if str(panns) in model_sources(name)}
    assert users == {"cnn14", "cnnx", "cnn1d_lstm", "cnn14_attn", "kaggle_cnn1d", "cnn6"}
    with edited(panns, "# edited by tests/test_incremental.py (restored afterwards)\n"):
        jobs = dry_run(tiny_run, tiny_config)
    assert set(jobs) == train_jobs(tiny, "kaggle_cnn1d") | DOWNSTREAM
    for job in train_jobs(tiny, "kaggle_cnn1d"):
        assert jobs[job] == f"Updated input files: {panns}", jobs[job]


def test_a_touched_corpus_folder_reruns_nothing_but_a_changed_file_does(ravdess16k, tiny_config,
                                                                        tmp_path):
    """Copying, mounting or touching the corpus folder moves its modification time; only its
    listing (names and sizes) decides whether the metadata, and all after it, is rebuilt."""
    corpus = tmp_path / "corpus"
    for actor in (1, 2, 3, 4, 5, 6):
        shutil.copytree(ravdess16k / f"Actor_{actor:02d}", corpus / f"Actor_{actor:02d}")
    config = yaml.safe_load(tiny_config.read_text())
    config["ravdess"]["source"] = str(corpus)
    edit = override(tmp_path, yaml.safe_dump(config))
    workdir = tmp_path / "run"
    target = ("--cores", "1", "results/metadata.csv")  # after an option: not a config file
    run_snakemake(workdir, *target, configfiles=(edit,))

    later = os.stat(workdir / "results" / "metadata.csv").st_mtime_ns + 10**10
    for folder in (corpus, *corpus.iterdir()):
        os.utime(folder, ns=(later, later))
    proc = run_snakemake(workdir, "-n", *target, configfiles=(edit,))
    assert "Nothing to be done" in proc.stdout, proc.stdout[-2000:]

    sorted((corpus / "Actor_03").iterdir())[0].unlink()
    jobs = scheduled(run_snakemake(workdir, "-n", *target, configfiles=(edit,)).stdout)
    assert set(jobs) == {"metadata"}, jobs
    assert jobs["metadata"].startswith("Params have changed"), jobs["metadata"]
