"""A real single-node SLURM cluster (Debian slurmctld/slurmd/munge) for the duration of a test.

`slurm_cluster(tmp_path)` installs the packages when missing (root only), writes a minimal config
into `tmp_path`, points /etc/slurm/slurm.conf at it (the plugin's job step drops SLURM_CONF
before its inner srun, so the default path must work), starts munge, slurmctld and slurmd, waits
for the node to be idle and yields. Everything it started is stopped by pid in `finally`, and the
previous /etc/slurm/slurm.conf is put back.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil
import pytest

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
PROGRAMS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "sinfo", "scontrol")
DAEMONS = ("slurmctld", "slurmd", "slurmstepd")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_PID = Path("/run/munge/munged.pid")
PARTITION = "debug"


@dataclass(frozen=True)
class Cluster:
    conf: Path
    partition: str
    cpus: int
    mem_mb: int


def _missing_programs() -> list[str]:
    return [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]


def ensure_installed() -> None:
    """Install the Debian packages when missing; skip the test when that is impossible."""
    if not _missing_programs():
        return
    if os.geteuid() != 0:
        pytest.skip(f"SLURM is not installed ({', '.join(_missing_programs())} missing) and "
                    f"installing it needs root: apt-get install {' '.join(PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0 or _missing_programs():
        pytest.skip(f"apt-get could not install SLURM ({proc.returncode}): {proc.stderr[-2000:]}")


# The memory the node claims. Nothing enforces it here (no cgroups), and with config_overrides
# slurmd keeps a node that claims more than it has; so it is what profiles/slurm asks of its
# largest job (train: 16000), not what happens to be free while other tests run.
NODE_MEM_MB = 32000


def write_config(root: Path, cpus: int, mem_mb: int) -> Path:
    """slurm.conf for one node, with every state, spool, log and pid path under `root`."""
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=sertest
SlurmctldHost=localhost
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
MinJobAge=600
SchedulerParameters=sched_min_interval=0
ReturnToService=2
SlurmUser=root
SlurmdParameters=config_overrides
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
    return conf


def _wait_for(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"SLURM test cluster: {what} not reached within {timeout:.0f} s")


def _ok(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0


def _node_state() -> str:
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return proc.stdout.strip()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    # A zombie has exited; only its parent's wait is missing.
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL when the process is still there after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _system_conf_pointing_at(conf: Path, backup_dir: Path) -> Iterator[None]:
    """/etc/slurm/slurm.conf -> conf, with whatever was there before restored afterwards."""
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    backup = backup_dir / "slurm.conf.before"
    had_one = SYSTEM_CONF.is_symlink() or SYSTEM_CONF.exists()
    if had_one:
        os.replace(SYSTEM_CONF, backup)
    try:
        SYSTEM_CONF.symlink_to(conf)
        yield
    finally:
        SYSTEM_CONF.unlink(missing_ok=True)
        if had_one:
            os.replace(backup, SYSTEM_CONF)


def _start_munge() -> int | None:
    """Start munged unless one already runs; the pid to stop afterwards, or None."""
    if _ok("munge", "-n"):
        return None
    run_dir = MUNGE_PID.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True, timeout=30)
    _wait_for("munge credentials", lambda: _ok("munge", "-n"))
    return _read_pid(MUNGE_PID)


def _cancel_all_jobs() -> None:
    ids = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                         timeout=20).stdout.split()
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=20)


def _job_steps(root: Path) -> list[int]:
    """The slurmstepd processes of the cluster under `root` (they work in a folder of it)."""
    pids = []
    for line in leftover_daemons(("slurmstepd",)):
        pid = int(line.split()[0])
        with contextlib.suppress(OSError):
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(root):
                pids.append(pid)
    return pids


def _end_job_steps(root: Path) -> None:
    """Cancelled jobs end while slurmd runs; a slurmstepd outlives slurmd by design, so one still
    there after the wait is killed by pid together with everything it started."""
    with contextlib.suppress(TimeoutError):
        _wait_for("cancelled job steps ending", lambda: not _job_steps(root), timeout=30)
    for pid in _job_steps(root):
        with contextlib.suppress(psutil.Error):
            step = psutil.Process(pid)
            for proc in [*step.children(recursive=True), step]:
                proc.kill()


def leftover_daemons(names: tuple[str, ...] = DAEMONS) -> list[str]:
    """Live (not zombie) processes named `names`, as `pgrep -a` lines; empty when none."""
    out = subprocess.run(["pgrep", "-a", "-x", "|".join(names)], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if _alive(int(line.split()[0]))]


@contextlib.contextmanager
def slurm_cluster(tmp_path: Path, cpus: int | None = None) -> Iterator[Cluster]:
    """A running one-node cluster with partition `debug`; torn down by pid however it ends."""
    ensure_installed()
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld/slurmd/munged needs root")
    if leftover_daemons():
        pytest.skip(f"a SLURM daemon already runs here: {leftover_daemons()}")
    root = tmp_path / "slurm"
    cpus, mem_mb = cpus or os.cpu_count() or 1, NODE_MEM_MB
    cluster = Cluster(write_config(root, cpus, mem_mb), PARTITION, cpus, mem_mb)
    pid_files = [root / "slurmd.pid", root / "slurmctld.pid"]
    munge_pid = None
    with _system_conf_pointing_at(cluster.conf, root):
        try:
            munge_pid = _start_munge()
            # daemons and job steps work in `root`, so nothing lands in the caller's folder
            subprocess.run(["/usr/sbin/slurmctld", "-f", str(cluster.conf)], check=True, timeout=30,
                           cwd=root)
            _wait_for("scontrol ping", lambda: _ok("scontrol", "ping"))
            subprocess.run(["/usr/sbin/slurmd", "-f", str(cluster.conf), "-N", "localhost"],
                           check=True, timeout=30, cwd=root)
            _wait_for("node idle", lambda: _node_state() == "idle")
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                _cancel_all_jobs()
            _end_job_steps(root)
            for pid in filter(None, map(_read_pid, pid_files)):
                stop_pid(pid)
            if munge_pid:
                stop_pid(munge_pid)
