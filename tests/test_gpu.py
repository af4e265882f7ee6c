"""ser.gpu: one card per process, chosen with lock files, counted without initialising CUDA."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ser.gpu import ENV, claim_gpu, count_gpus

# Claims a card, reports it and the resulting CUDA_VISIBLE_DEVICES, then holds it until stdin
# closes.
CLAIMER = textwrap.dedent("""\
    import os, sys
    from ser.gpu import claim_gpu
    index = claim_gpu(sys.argv[1], n_gpus=int(sys.argv[2]), wait=sys.argv[3] == "wait",
                      poll_s=0.05, jobs_per_device=int(sys.argv[4]),
                      min_free_mb=int(sys.argv[5]))
    print(index, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
    sys.stdin.read()
    """)


def claimer(lock_dir: Path, n_gpus: int, wait: bool, jobs_per_device: int = 1,
            min_free_mb: int = 0, path: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in (ENV, "SLURM_JOB_ID")}
    if path is not None:
        env["PATH"] = path
    return subprocess.Popen([sys.executable, "-c", CLAIMER, str(lock_dir), str(n_gpus),
                             "wait" if wait else "nowait", str(jobs_per_device),
                             str(min_free_mb)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def claimed(proc: subprocess.Popen) -> tuple[str, str]:
    index, visible = proc.stdout.readline().split()
    return index, visible


def release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def test_two_processes_get_different_cards_and_a_third_gets_none(tmp_path):
    first, second = claimer(tmp_path, 2, wait=False), claimer(tmp_path, 2, wait=False)
    try:
        a, b = claimed(first), claimed(second)
        assert {a[0], b[0]} == {"0", "1"}
        assert a[0] == a[1] and b[0] == b[1], "CUDA_VISIBLE_DEVICES is the claimed card"
        third = claimer(tmp_path, 2, wait=False)
        assert claimed(third) == ("None", "None")
        release(third)
    finally:
        release(first)
        release(second)


def test_waiting_process_gets_the_card_released_on_exit(tmp_path):
    holder = claimer(tmp_path, 1, wait=False)
    assert claimed(holder) == ("0", "0")
    waiter = claimer(tmp_path, 1, wait=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(timeout=1.0)  # still waiting: the card is taken
        release(holder)  # the process ends, the kernel drops its lock
        assert claimed(waiter) == ("0", "0")
    finally:
        release(waiter)


def test_preset_devices_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "3")
    assert claim_gpu(tmp_path, n_gpus=4) is None
    assert os.environ[ENV] == "3"
    assert list(tmp_path.iterdir()) == []


def test_slurm_job_without_gpu_sees_none(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert claim_gpu(tmp_path, n_gpus=4) is None
    assert os.environ[ENV] == ""


def test_no_gpu_claims_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert claim_gpu(tmp_path / "locks", n_gpus=0) is None
    assert ENV not in os.environ


def fake_nvidia_smi(folder: Path, body: str) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


@pytest.mark.parametrize("body, expected", [
    ('printf "0\\n1\\n2\\n"', 3),
    ('echo "NVIDIA-SMI has failed" >&2; exit 9', 0),
])
def test_count_gpus_reads_nvidia_smi(tmp_path, monkeypatch, body, expected):
    fake_nvidia_smi(tmp_path, body)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert count_gpus() == expected


def test_count_gpus_without_nvidia_smi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert count_gpus() == 0


# --- the scheduler side: `--resources gpu=1` keeps GPU jobs apart ----------------------------

def job_intervals(benchmarks: list[Path]) -> list[tuple[float, float, Path]]:
    """(start, end, file) of each job: a benchmark is written when its job ends, and its `s`
    column is the job's run time."""
    import pandas as pd

    intervals = []
    for path in benchmarks:
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[0])
        end = path.stat().st_mtime
        intervals.append((end - seconds, end, path))
    return sorted(intervals)


def overlaps(intervals: list[tuple[float, float, Path]]) -> list[tuple[Path, Path]]:
    """Pairs of jobs that ran at the same time (sorted by start, so neighbours suffice)."""
    return [(a[2], b[2]) for a, b in zip(intervals, intervals[1:]) if b[0] < a[1]]


TOY_GPU_SNAKEFILE = textwrap.dedent("""\
    rule all:
        input: expand("out/{i}.txt", i=range(3))
    rule train:
        output: "out/{i}.txt"
        resources: gpu=1
        benchmark: "logs/benchmarks/train/{i}.tsv"
        shell: "sleep 1.5; touch {output}"
    """)


@pytest.mark.parametrize("gpus", [1, 3])
def test_gpu_resource_serialises_gpu_jobs(tmp_path, repo_root, gpus):
    (tmp_path / "Snakefile").write_text(TOY_GPU_SNAKEFILE)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                           str(tmp_path / "Snakefile"), "--directory", str(tmp_path),
                           "--cores", "8", "--resources", f"gpu={gpus}"],
                          cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    clashes = overlaps(job_intervals(sorted((tmp_path / "logs/benchmarks/train").glob("*.tsv"))))
    # gpu=3 lets all three run together, which shows the check can see an overlap
    assert (clashes == []) == (gpus == 1), clashes


@pytest.mark.slow
def test_tiny_pipeline_never_trains_two_models_at_once(tiny_run):
    # tiny_run ran with --cores 8, room for two 4-thread train jobs: only gpu=1 keeps them apart
    benchmarks = sorted((tiny_run / "logs" / "benchmarks" / "train").glob("*.tsv"))
    assert len(benchmarks) >= 2, f"expected several train jobs, found {benchmarks}"
    assert overlaps(job_intervals(benchmarks)) == []


def test_n_jobs_share_one_card_and_none_goes_beyond_n(tmp_path):
    """gpu.jobs_per_device 3 on one card: three jobs get card 0, a fourth gets none."""
    jobs = [claimer(tmp_path, 1, wait=False, jobs_per_device=3) for _ in range(3)]
    try:
        assert [claimed(j) for j in jobs] == [("0", "0")] * 3
        fourth = claimer(tmp_path, 1, wait=False, jobs_per_device=3)
        assert claimed(fourth) == ("None", "None")
        release(fourth)
    finally:
        for job in jobs:
            release(job)


def test_slots_fill_every_card_before_a_second_job_on_any(tmp_path):
    jobs, cards = [], []
    try:
        for _ in range(4):  # one after another, so the order of claims is known
            jobs.append(claimer(tmp_path, 2, wait=False, jobs_per_device=2))
            cards.append(claimed(jobs[-1])[0])
        assert sorted(cards[:2]) == ["0", "1"] and sorted(cards) == ["0", "0", "1", "1"]
    finally:
        for job in jobs:
            release(job)


def test_a_killed_job_frees_its_slot(tmp_path):
    first, second = (claimer(tmp_path, 1, wait=False, jobs_per_device=2) for _ in range(2))
    assert claimed(first) == ("0", "0") and claimed(second) == ("0", "0")
    waiter = claimer(tmp_path, 1, wait=True, jobs_per_device=2)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(timeout=1.0)  # both slots taken
        first.kill()  # no clean exit: the kernel drops the dead process's lock
        first.wait(timeout=30)
        assert claimed(waiter) == ("0", "0")
    finally:
        release(second)
        release(waiter)


def test_a_further_slot_needs_the_cards_free_memory(tmp_path):
    """nvidia-smi says 1 card with 3000 MiB free: the first job takes it (its first slot asks
    nothing), a second one with min_free_mb 4000 does not, with 2000 it does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_nvidia_smi(bin_dir, 'case "$*" in *memory.free*) echo 3000;; *) echo 0;; esac')
    path = f"{bin_dir}:{os.environ['PATH']}"
    locks = tmp_path / "locks"
    first = claimer(locks, 1, wait=False, jobs_per_device=2, min_free_mb=4000, path=path)
    try:
        assert claimed(first) == ("0", "0")
        refused = claimer(locks, 1, wait=False, jobs_per_device=2, min_free_mb=4000, path=path)
        assert claimed(refused) == ("None", "None")
        release(refused)
        taken = claimer(locks, 1, wait=False, jobs_per_device=2, min_free_mb=2000, path=path)
        assert claimed(taken) == ("0", "0")
        release(taken)
    finally:
        release(first)


def test_jobs_per_device_below_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ValueError, match="jobs_per_device must be at least 1"):
        claim_gpu(tmp_path, n_gpus=1, jobs_per_device=0)
