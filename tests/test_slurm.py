"""The workflow through `--profile profiles/slurm` on a real one-node SLURM cluster.

Needs root (or SLURM already installed and running rights); run with `make test-cluster`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from slurm_cluster import SYSTEM_CONF, leftover_daemons, slurm_cluster

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 600

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# A stand-in with the pipeline's rule names (so the profile's per-rule settings apply): three
# jobs, the GPU one like `train`, and a rule that fails on purpose. Each job records the SLURM
# job it ran in, which a job run on the submit host would not have.
TOY_SNAKEFILE = textwrap.dedent("""\
    rule all:
        input: "reports/report.txt"
    rule features:
        output: "results/features.txt"
        shell: "echo job=$SLURM_JOB_ID > {output}"
    rule train:
        input: "results/features.txt"
        output: "results/model.txt"
        resources: gpu=1
        shell: "cat {input} > {output}; echo job=$SLURM_JOB_ID gpus=${{SLURM_GPUS:-none}} >> {output}"
    rule report:
        input: "results/model.txt"
        output: "reports/report.txt"
        shell: "cat {input} > {output}; echo job=$SLURM_JOB_ID >> {output}"
    rule broken:
        output: "results/broken.txt"
        shell: "echo failing on purpose >&2; exit 3"
    """)


@dataclass(frozen=True)
class Workflow:
    args: list[str]                          # snakefile, directory, config, targets
    outputs: list[Path]                      # files a successful run must leave
    check: Callable[[], None] = lambda: None  # anything more a successful run must show


def toy_workflow(workdir: Path) -> Workflow:
    snakefile = workdir / "Snakefile"
    snakefile.write_text(TOY_SNAKEFILE)

    def ran_in_slurm_without_gpu() -> None:
        words = (workdir / "reports" / "report.txt").read_text().split()
        jobs = [w for w in words if w.startswith("job=")]
        assert len(set(jobs)) == 3 and "job=" not in jobs, f"not 3 SLURM jobs: {words}"
        # the GPU rule got no GPU on a cluster that has none, as the profile says
        assert "gpus=none" in words, words

    return Workflow(["--snakefile", str(snakefile), "--directory", str(workdir)],
                    [workdir / p for p in ("results/features.txt", "results/model.txt",
                                           "reports/report.txt")],
                    ran_in_slurm_without_gpu)


def tiny_pipeline(workdir: Path) -> Workflow:
    """The real pipeline on tests/configs/tiny.yaml, pointed at the real corpus."""
    shared = Path(os.environ.get("SER_SHARED", REPO.parent / "shared"))
    cfg = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["ravdess"]["source"] = str(shared / "data" / "ravdess-16k")
    config = workdir / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return Workflow(["--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
                     "--configfile", str(REPO / "config.yaml"), str(config)],
                    [workdir / "results" / "metrics.csv", workdir / "reports" / "report.html"])


WORKFLOW = toy_workflow     # the workflow the cluster runs: toy_workflow or tiny_pipeline


def run_on_cluster(partition: str, *args: str) -> subprocess.CompletedProcess:
    """snakemake --profile profiles/slurm, with what differs on the one-node test cluster."""
    cmd = ["timeout", "-k", "10", str(RUN_TIMEOUT_S), sys.executable, "-m", "snakemake",
           "--profile", "profiles/slurm", *args,
           # 2 CPUs, no GPU, no account; plus a quick first status check
           "--default-resources", f"slurm_partition={partition}", "mem_mb=1000", "runtime=30",
           "--max-threads", "2", "--retries", "0", "--latency-wait", "5",
           "--slurm-init-seconds-before-status-checks", "1"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S + 30)


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


# First in the file: it runs before the module's shared cluster starts.
def test_teardown_leaves_no_daemon_and_restores_conf(tmp_path):
    munge_before = leftover_daemons(("munged",))
    before = os.readlink(SYSTEM_CONF) if SYSTEM_CONF.is_symlink() else SYSTEM_CONF.exists()
    with slurm_cluster(tmp_path) as running:
        # a job still running at teardown: its slurmstepd must go too
        subprocess.run(["sbatch", "-p", running.partition, "--wrap", "sleep 300"], check=True,
                       capture_output=True)
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


def test_workflow_runs_as_slurm_jobs(cluster, tmp_path):
    workflow = WORKFLOW(tmp_path)
    proc = run_on_cluster(cluster.partition, *workflow.args)
    assert proc.returncode == 0, explain(proc)
    for out in workflow.outputs:
        assert out.is_file() and out.stat().st_size > 0, f"{out} missing\n{explain(proc)}"
    workflow.check()
    submitted = set(re.findall(r"SLURM jobid (\d+)", proc.stderr + proc.stdout))
    states = dict(line.split() for line in subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"], capture_output=True, text=True,
        check=True).stdout.splitlines())
    assert submitted and all(states.get(j) == "COMPLETED" for j in submitted), (submitted, states)


def test_failing_job_fails_the_run(cluster, tmp_path):
    workflow = toy_workflow(tmp_path)
    proc = run_on_cluster(cluster.partition, *workflow.args, "results/features.txt",
                          "results/broken.txt")
    assert proc.returncode != 0, explain(proc)
    assert "broken" in proc.stderr + proc.stdout
    assert (tmp_path / "results" / "features.txt").is_file(), "keep-going ran the other job"
    assert not (tmp_path / "results" / "broken.txt").exists()
