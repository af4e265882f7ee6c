"""The real pipeline through `--profile profiles/slurm` on a real one-node SLURM cluster.

Runs tests/configs/cluster.yaml (three real actors, one model, one epoch) as SLURM jobs, then a
run with a job that must fail. Needs root (or SLURM already installed and running rights); run
with `make test-cluster`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from slurm_cluster import SYSTEM_CONF, leftover_daemons, slurm_cluster

REPO = Path(__file__).resolve().parents[1]
CLUSTER_CONFIG = REPO / "tests" / "configs" / "cluster.yaml"
RUN_TIMEOUT_S = 420

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def write_config(workdir: Path, ravdess16k: Path, extra: dict | None = None) -> list[str]:
    """--configfile arguments: the repository config, cluster.yaml, the corpus and `extra`."""
    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / "local.yaml"
    local.write_text(yaml.safe_dump({"ravdess": {"source": str(ravdess16k)}, **(extra or {})}))
    return ["--configfile", str(REPO / "config.yaml"), str(CLUSTER_CONFIG), str(local)]


def run_on_cluster(partition: str, workdir: Path, configs: list[str],
                   *targets: str) -> subprocess.CompletedProcess:
    """snakemake --profile profiles/slurm, with what differs on the one-node test cluster."""
    cmd = ["timeout", "-k", "10", str(RUN_TIMEOUT_S), sys.executable, "-m", "snakemake",
           "--profile", "profiles/slurm", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), *configs,
           # no account, no GPU; one CPU a job, so that two jobs share the small test node;
           # plus a quick first status check
           "--default-resources", f"slurm_partition={partition}", "mem_mb=1000", "runtime=30",
           "--max-threads", "1", "--retries", "0", "--latency-wait", "5",
           "--slurm-init-seconds-before-status-checks", "1", *targets]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S + 30)


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def slurm_jobs(proc: subprocess.CompletedProcess) -> dict[str, tuple[str, str, str]]:
    """{job id: (state, comment, gres)} of the SLURM jobs the run says it submitted.

    The executor plugin puts `rule_<rule>_wildcards_<wildcards>` into each job's comment.
    """
    submitted = set(re.findall(r"SLURM jobid (\d+)", proc.stderr + proc.stdout))
    listing = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k|%b"],
                             capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in listing.splitlines():
        job_id, state, comment, gres = line.split("|")
        rows[job_id] = (state, comment, gres)
    assert submitted <= set(rows), (submitted, listing)
    return {j: rows[j] for j in submitted}


def rules_of(jobs: dict[str, tuple[str, str, str]]) -> list[str]:
    return sorted(re.match(r"rule_([a-z]+)", comment).group(1) for _, comment, _ in jobs.values())


# First in the file: it runs before the module's shared cluster starts.
def test_teardown_leaves_no_daemon_and_restores_conf(tmp_path):
    munge_before = leftover_daemons(("munged",))
    before = os.readlink(SYSTEM_CONF) if SYSTEM_CONF.is_symlink() else SYSTEM_CONF.exists()
    with slurm_cluster(tmp_path) as running:
        # a job still running at teardown: its slurmstepd must go too
        subprocess.run(["sbatch", "-p", running.partition, "-o", str(tmp_path / "sleep.out"),
                        "--wrap", "sleep 300"], check=True, capture_output=True)
        deadline = time.monotonic() + 20
        while not leftover_daemons(("slurmstepd",)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert leftover_daemons(("slurmstepd",)), "the job never started"
    deadline = time.monotonic() + 10
    while leftover_daemons() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftover_daemons() == []
    assert leftover_daemons(("munged",)) == munge_before
    after = os.readlink(SYSTEM_CONF) if SYSTEM_CONF.is_symlink() else SYSTEM_CONF.exists()
    assert after == before


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with slurm_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster_run(cluster, tmp_path_factory, ravdess16k: Path):
    """The whole pipeline on cluster.yaml, every job but the `all` target a SLURM job."""
    workdir = tmp_path_factory.mktemp("cluster_run")
    proc = run_on_cluster(cluster.partition, workdir, write_config(workdir, ravdess16k))
    return workdir, proc


def test_pipeline_runs_as_slurm_jobs(cluster_run):
    workdir, proc = cluster_run
    assert proc.returncode == 0, explain(proc)
    cfg = yaml.safe_load(CLUSTER_CONFIG.read_text())
    metrics = pd.read_csv(workdir / "results" / "metrics.csv")
    assert sorted(metrics["fold"]) == list(range(1, cfg["protocol"]["k"] + 1)), metrics
    assert (workdir / "reports" / "report.html").stat().st_size > 10_000
    jobs = slurm_jobs(proc)
    assert all(state == "COMPLETED" for state, _, _ in jobs.values()), jobs
    # one SLURM job per job of the DAG: the model reads mfcc only, so one shard per actor
    n_actors, k = len(cfg["ravdess"]["actors"]), cfg["protocol"]["k"]
    assert rules_of(jobs) == sorted(["metadata", "corpus", "folds", *["features"] * n_actors,
                                     *["train"] * k, "aggregate", "report"]), jobs
    # the profile asks for no GPU (gpu: 0), so training ran on the node's CPU
    assert all(gres in ("", "N/A", "(null)") for _, _, gres in jobs.values()), jobs
    fold1 = json.loads((workdir / "results/models/kaggle_cnn1d/fold_1/metrics.json").read_text())
    assert fold1["device"] == "cpu" and fold1["epochs_run"] == 1


def test_failing_job_fails_the_run(cluster, cluster_run, tmp_path, ravdess16k: Path):
    """A model whose weights file was never placed: its SLURM job fails, the run fails, and
    keep-going still builds the other target."""
    finished, _ = cluster_run
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir, symlinks=True)
    missing = tmp_path / "weights" / "kaggle_cnn1d.pt"
    cfg = yaml.safe_load(CLUSTER_CONFIG.read_text())
    broken = {**cfg["models"]["kaggle_cnn1d"], "pretrained": str(missing)}
    extra = {"run_models": ["kaggle_cnn1d", "unplaced_weights"],
             "models": {"unplaced_weights": broken}}
    other = "results/features/logmel/actor_01.h5"
    proc = run_on_cluster(cluster.partition, workdir, write_config(workdir, ravdess16k, extra),
                          "results/models/unplaced_weights/fold_1/metrics.json", other)
    assert proc.returncode != 0, explain(proc)
    assert (workdir / other).is_file(), f"keep-going did not build {other}\n{explain(proc)}"
    assert not (workdir / "results/models/unplaced_weights/fold_1").exists()
    states = {comment.split("_wildcards_")[0]: state for state, comment, _ in
              slurm_jobs(proc).values()}
    assert states == {"rule_train": "FAILED", "rule_features": "COMPLETED"}, states
    # the job's own log names the file to place
    log = (workdir / "logs" / "train" / "unplaced_weights" / "fold_1.log").read_text()
    assert str(missing) in log and "does not exist" in log, log
