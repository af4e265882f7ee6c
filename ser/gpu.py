"""A GPU slot per training job when Snakemake runs several on one machine.

Snakemake's `--resources gpu=N` only limits how many GPU jobs run at once; it does not say which
card a job gets, so every job would pick cuda:0. `claim_gpu` gives each job a slot of a card: it
holds an exclusive lock file per slot for the life of the process (the kernel drops the lock when
the process ends, also on a crash) and sets CUDA_VISIBLE_DEVICES before CUDA is initialised.
A card has `jobs_per_device` slots (config `gpu.jobs_per_device`, run with `--resources
gpu=<slots x cards>`): small models use a fraction of a large card, and several side by side do
more work per second. Slots are filled card by card in turn (every card's first slot before any
second one), and a further slot is taken only while the card has `min_free_mb` of memory free.
Under SLURM the scheduler already chose the card, so nothing is claimed.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

ENV = "CUDA_VISIBLE_DEVICES"
# Open lock files, kept referenced so that the locks live as long as the process.
_held: list[IO[bytes]] = []


def count_gpus() -> int:
    """Visible NVIDIA GPUs, counted with nvidia-smi so that CUDA stays uninitialised.

    torch.cuda.device_count() could initialise CUDA, after which a CUDA_VISIBLE_DEVICES set
    later is ignored.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        proc = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if proc.returncode != 0:  # driver missing or broken: no usable GPU
        return 0
    return sum(1 for line in proc.stdout.splitlines() if line.strip())


def default_lock_dir() -> Path:
    """Shared by every user of the machine, so that two workflows do not share a card."""
    return Path(tempfile.gettempdir()) / "ser-gpu-locks"


def _try_lock(path: Path) -> IO[bytes] | None:
    # 0o666: the next job may belong to another user of the machine
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666), "wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def free_memory_mb(index: int) -> int | None:
    """The card's free memory by nvidia-smi (CUDA stays uninitialised); None when unknown."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        proc = subprocess.run([smi, f"--id={index}", "--query-gpu=memory.free",
                               "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=60)
        return int(proc.stdout.split()[0]) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def _slot_files(folder: Path, n: int, jobs_per_device: int) -> list[tuple[int, int, Path]]:
    """(card, slot, lock file), every card's slot 0 first, then every card's slot 1, ..."""
    return [(index, slot, folder / (f"gpu{index}.lock" if slot == 0 else
                                     f"gpu{index}.slot{slot}.lock"))
            for slot in range(jobs_per_device) for index in range(n)]


def claim_gpu(lock_dir: str | Path | None = None, n_gpus: int | None = None,
              wait: bool = True, poll_s: float = 0.5, jobs_per_device: int = 1,
              min_free_mb: int = 0) -> int | None:
    """Claim a free slot of a GPU for this process and make that card the only visible one.

    Returns the card's index, or None when there is nothing to claim: CUDA_VISIBLE_DEVICES is
    already set (SLURM, or the user chose), or the machine has no GPU. Inside a SLURM job that
    got no GPU, every card is hidden, since the cards belong to other jobs. When all slots are
    taken it waits for one (`wait=True`) or returns None. `n_gpus` overrides the count. A slot
    beyond a card's first is taken only while the card has `min_free_mb` free (unknown: taken).
    """
    if jobs_per_device < 1:
        raise ValueError(f"gpu.jobs_per_device must be at least 1, got {jobs_per_device}")
    if os.environ.get(ENV) is not None:
        return None
    if os.environ.get("SLURM_JOB_ID"):
        os.environ[ENV] = ""
        return None
    n = count_gpus() if n_gpus is None else n_gpus
    if n <= 0:
        return None
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o1777)  # like /tmp: everyone creates locks, nobody deletes others'
    while True:
        for index, slot, path in _slot_files(folder, n, jobs_per_device):
            if slot and min_free_mb and (free_memory_mb(index) or min_free_mb) < min_free_mb:
                continue  # the jobs already on this card leave too little memory
            handle = _try_lock(path)
            if handle is not None:
                _held.append(handle)
                os.environ[ENV] = str(index)
                return index
        if not wait:
            return None
        time.sleep(poll_s)
