"""The real pipeline through `--profile profiles/slurm` on a real one-node SLURM cluster.

Runs tests/configs/cluster.yaml (three real actors, one pretrained model, one epoch) as SLURM
jobs the way an offline cluster is used: `--until weights` first (the local rule fetches the
weights, here from a loopback mirror), then the submission, whose jobs must not fetch anything.
Then a run with a job that must fail. A run is stopped only when it stops making progress (no new
output, no file written in its folder for STALL_S), never for being slow. Needs root (or SLURM
already installed and running rights); run with `make test-cluster`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from torchvision import models as tvm

from slurm_cluster import SYSTEM_CONF, leftover_daemons, slurm_cluster
from weights_server import serve

REPO = Path(__file__).resolve().parents[1]
CLUSTER_CONFIG = REPO / "tests" / "configs" / "cluster.yaml"
STALL_S = 300  # no output and no file written for this long: the run is stuck, not slow
RESNET18 = "resnet18-f37072fd.pth"

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def write_config(workdir: Path, ravdess16k: Path, extra: dict | None = None) -> list[str]:
    """--configfile arguments: the repository config, cluster.yaml, the corpus and `extra`."""
    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / "local.yaml"
    local.write_text(yaml.safe_dump({"ravdess": {"source": str(ravdess16k)}, **(extra or {})}))
    return ["--configfile", str(REPO / "config.yaml"), str(CLUSTER_CONFIG), str(local)]


def progress(workdir: Path, *outputs: Path) -> tuple:
    """What changes while a run makes progress: its output and the files in its folder."""
    newest = max((p.stat().st_mtime for p in workdir.rglob("*") if p.is_file()), default=0)
    return (*(o.stat().st_size for o in outputs), newest)


def run_watched(cmd: list[str], workdir: Path, env: dict) -> subprocess.CompletedProcess:
    """Run `cmd`, ending it (its whole process group) only after STALL_S without progress."""
    out, err = workdir.parent / f"{workdir.name}.out", workdir.parent / f"{workdir.name}.err"
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fo, stderr=fe,
                                start_new_session=True)
        last, since = None, time.monotonic()
        while proc.poll() is None:
            time.sleep(2)
            now = progress(workdir, out, err)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > STALL_S:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                fe.write(f"\ntest: killed after {STALL_S} s without progress\n")
    return subprocess.CompletedProcess(cmd, proc.returncode, out.read_text(), err.read_text())


def run_on_cluster(partition: str, workdir: Path, configs: list[str], *targets: str,
                   env: dict | None = None) -> subprocess.CompletedProcess:
    """snakemake --profile profiles/slurm, with what differs on the one-node test cluster."""
    cmd = [sys.executable, "-m", "snakemake",
           "--profile", "profiles/slurm", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), *configs,
           # no account, no GPU; one CPU a job, so that two jobs share the small test node;
           # plus a quick first status check
           "--default-resources", f"slurm_partition={partition}", "mem_mb=1000", "runtime=30",
           "--max-threads", "1", "--retries", "0", "--latency-wait", "5",
           "--slurm-init-seconds-before-status-checks", "1", *targets]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return run_watched(cmd, workdir, {**os.environ, **(env or {}), "PATH": path})


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
def mirror(tmp_path_factory):
    """A loopback mirror serving resnet18-f37072fd.pth as torchvision saves it (random weights,
    so its own SHA-256 stands in for torchvision's)."""
    folder = tmp_path_factory.mktemp("mirror")
    torch.save(tvm.resnet18().state_dict(), folder / RESNET18)
    checksums = folder.parent / "checksums.json"
    digest = hashlib.sha256((folder / RESNET18).read_bytes()).hexdigest()
    checksums.write_text(json.dumps({RESNET18: {"sha256": digest}}))
    with serve(folder) as server:
        server.env = {"SER_WEIGHTS_MIRROR": server.url, "SER_WEIGHTS_CHECKSUMS": str(checksums)}
        yield server


@pytest.fixture(scope="module")
def cluster_run(cluster, mirror, tmp_path_factory, ravdess16k: Path):
    """The offline-cluster recipe: `--until weights` on the submit host, then the whole pipeline
    on cluster.yaml, every job but the local ones a SLURM job. Returns the folder, both runs and
    the mirror's requests after each."""
    workdir = tmp_path_factory.mktemp("cluster_run")
    configs = write_config(workdir, ravdess16k)
    fetch = run_on_cluster(cluster.partition, workdir, configs, "--until", "weights",
                           env=mirror.env)
    after_fetch = list(mirror.requests)
    proc = run_on_cluster(cluster.partition, workdir, configs, env=mirror.env)
    return workdir, fetch, after_fetch, proc, list(mirror.requests)


def test_weights_are_fetched_before_submission_and_jobs_stay_offline(cluster_run):
    workdir, fetch, after_fetch, proc, after_run = cluster_run
    assert fetch.returncode == 0, explain(fetch)
    assert slurm_jobs(fetch) == {}, "--until weights submitted SLURM jobs"
    assert [path for _, path in after_fetch] == [f"/{RESNET18}"]
    assert (workdir / "resources" / "weights" / RESNET18).is_file()
    # the training jobs, which could reach the loopback mirror, asked it for nothing
    assert after_run == after_fetch, after_run
    fold1 = json.loads((workdir / "results/models/resnet18/fold_1/metrics.json").read_text())
    assert fold1["weights"].startswith("imagenet:ResNet18_Weights.IMAGENET1K_V1"), fold1


def test_pipeline_runs_as_slurm_jobs(cluster_run):
    workdir, _, _, proc, _ = cluster_run
    assert proc.returncode == 0, explain(proc)
    cfg = yaml.safe_load(CLUSTER_CONFIG.read_text())
    metrics = pd.read_csv(workdir / "results" / "metrics.csv")
    assert sorted(metrics["fold"]) == list(range(1, cfg["protocol"]["k"] + 1)), metrics
    assert (workdir / "reports" / "report.html").stat().st_size > 10_000
    jobs = slurm_jobs(proc)
    assert all(state == "COMPLETED" for state, _, _ in jobs.values()), jobs
    # one SLURM job per job of the DAG: the model reads logmel only, and one job writes that
    # kind's shard of every actor
    k = cfg["protocol"]["k"]
    assert rules_of(jobs) == sorted(["metadata", "corpus", "folds", "features",
                                     *["train"] * k, "aggregate", "report"]), jobs
    # the profile asks for no GPU (gpu: 0), so training ran on the node's CPU
    assert all(gres in ("", "N/A", "(null)") for _, _, gres in jobs.values()), jobs
    fold1 = json.loads((workdir / "results/models/resnet18/fold_1/metrics.json").read_text())
    assert fold1["device"] == "cpu" and fold1["epochs_run"] == 1


def test_failing_job_fails_the_run(cluster, cluster_run, tmp_path, ravdess16k: Path):
    """A model whose weights file was never placed: its SLURM job fails, the run fails, and
    keep-going still builds the other target."""
    finished = cluster_run[0]
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir, symlinks=True)
    missing = tmp_path / "weights" / "resnet18.pth"
    cfg = yaml.safe_load(CLUSTER_CONFIG.read_text())
    broken = {**cfg["models"]["resnet18"], "pretrained": str(missing)}
    extra = {"run_models": ["resnet18", "unplaced_weights"],
             "models": {"unplaced_weights": broken}}
    other = "results/features/mfcc/actor_01.h5"
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
