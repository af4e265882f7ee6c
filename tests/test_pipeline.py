"""The whole workflow: a real run on six actors, dry runs of the default config, offline failure."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table of a dry run, as {rule: count}."""
    table = dry_run_stdout.split("Job stats:")[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
        elif line.strip().startswith("total"):
            break
    return counts


def test_tiny_run_produces_report_and_metrics(tiny_run: Path):
    report = tiny_run / "reports" / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    metrics = pd.read_csv(tiny_run / "results" / "metrics.csv")
    assert sorted(metrics["model"].unique()) == ["kaggle_cnn1d", "resnet18"]
    assert sorted(metrics["fold"].unique()) == [1, 2, 3]
    assert metrics["accuracy"].between(0, 1).all()
    # every fold tested on actors it never trained on
    folds = pd.read_csv(tiny_run / "results" / "folds.csv")
    for fold, group in folds.groupby("fold"):
        train = set(group.loc[group.split == "train", "actor"])
        test = set(group.loc[group.split == "test", "actor"])
        assert train and test and not train & test
        preds = pd.read_csv(tiny_run / "results" / "models" / "resnet18" / f"fold_{fold}" /
                            "predictions.csv")
        assert set(preds["actor"]) == test
    meta = json.loads((tiny_run / "results/models/resnet18/fold_1/metrics.json").read_text())
    assert meta["weights"].startswith("none")
    assert meta["family"] == "transfer"


def test_tiny_run_logs_and_benchmarks_every_job(tiny_run: Path):
    logs = list((tiny_run / "logs" / "train").rglob("*.log"))
    bench = list((tiny_run / "logs" / "benchmarks" / "train").glob("*.tsv"))
    assert len(logs) == 6 and len(bench) == 6
    assert any("epoch" in p.read_text() for p in logs)


def test_default_config_dry_run_schedules_every_model_on_every_fold(tmp_path: Path):
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules")
    counts = job_counts(proc.stdout)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    from ser.models import get_spec

    classical = [m for m in cfg["models"].values() if get_spec(m["arch"]).trainer == "linear"]
    assert classical  # the torch trainer's rule and the classical family's rule split the models
    assert counts["train"] == (len(cfg["models"]) - len(classical)) * 6
    assert counts["train_classical"] == len(classical) * 6
    assert counts["download"] == 1 and counts["unpack"] == 1
    assert counts["metadata"] == 1 and counts["folds"] == 1 and counts["corpus"] == 1
    assert counts["aggregate"] == 1 and counts["report"] == 1
    # one job (writing a shard per actor) for each feature kind some model reads
    kinds = {k for m in cfg["models"].values() for k in get_spec(m["arch"]).input.features}
    assert counts["features"] == len(kinds) and len(kinds) >= 3


def test_default_source_offline_fails_fast_with_one_line(tmp_path: Path):
    proc = run_snakemake(tmp_path, "--cores", "1", "results/metadata.csv", check=False,
                         timeout=120)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if "ravdess.source" in l]
    assert lines, proc.stderr[-3000:]
    assert "OfflineError" in lines[0]
    # fast however loaded the machine: it gave up at the reachability probe, before any download
    # attempt or retry back-off
    log = (tmp_path / "logs" / "download.log").read_text()
    assert "OfflineError" in log and "retrying" not in log and " bytes (" not in log


def test_config_typo_is_a_schema_error_naming_the_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("protocol: {shceme: loso}\n")
    proc = run_snakemake(tmp_path / "wd", "-n", configfiles=(bad,), check=False)
    assert proc.returncode != 0
    assert "shceme" in proc.stderr + proc.stdout
