"""Shared fixtures: the real RAVDESS corpus and reference material beside the checkout."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# librosa compiles its numba kernels on first use and caches them beside its sources; two xdist
# workers writing one cache file at once crashed a worker in librosa.yin (a clean clone,
# 2026-12-04). One cache directory per worker, inherited by the jobs a test starts.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / (
    "ser-numba-" + os.environ.get("PYTEST_XDIST_WORKER", "main"))))
SHARED = Path(os.environ.get("SER_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests need ../shared beside the checkout (or SER_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def ravdess16k(shared_dir: Path) -> Path:
    """The real RAVDESS speech corpus at 16 kHz (1,440 FLAC files in Actor_XX folders)."""
    return shared_dir / "data" / "ravdess-16k"


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference"


def layered_config(*files) -> dict:
    """config.yaml with each file layered over it, as `--configfile config.yaml A B` does,
    validated against the schema."""
    import yaml
    from snakemake.utils import update_config, validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in files:
        update_config(config, yaml.safe_load(path.read_text()))
    validate(config, schema=str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


# --- the pipeline itself, run once per session on a few real actors --------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir: Path, *args: str, configfiles: tuple[str | Path, ...] = (),
                  timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's workflow in `workdir` with the repository config plus `configfiles`."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config.yaml"), *map(str, configfiles), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory, ravdess16k: Path) -> Path:
    """tests/configs/tiny.yaml pointed at the real corpus."""
    import yaml

    cfg = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["ravdess"]["source"] = str(ravdess16k)
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A workflow run that every pytest-xdist worker shares: the first worker that needs it
    runs `build(workdir)` under a file lock, the others wait and use the same folder."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    workdir, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            build(workdir)
            done.touch()
    return workdir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_config: Path) -> Path:
    """A finished run of the whole pipeline on six real actors (2 models x 3 folds).

    Run as users run it, `--cores 8 --resources gpu=1` (tests/test_gpu.py checks from its
    benchmark files that no two training jobs overlapped); built once for all workers.
    """
    return built_once(tmp_path_factory, "tiny_run", lambda workdir: run_snakemake(
        workdir, "--cores", "8", "--resources", "gpu=1", configfiles=(tiny_config,)))


# --- parallel runs (pytest-xdist: `make test` runs -n 2 --dist loadfile) ---------------------
# Session and module fixtures are built once per worker, so each test module runs whole on one
# worker (loadfile). The modules are sent out longest first (--no-loadscope-reorder keeps this
# order): the first module using each shared run (`tiny_run`, `use_run`: the two workers build
# them side by side), then modules of slow tests, then the rest, and the other users of the
# shared runs last, when they are built.
SHARED_RUNS = ("tiny_run", "use_run")
# fixtures that run the whole pipeline: their tests are slow (`make test-slow`)
PIPELINE_RUNS = (*SHARED_RUNS, "reference_run")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:  # a test that needs a whole pipeline run is slow (`make test-slow`)
        if set(PIPELINE_RUNS) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    users = {run: [item.module.__name__ for item in items
                   if run in getattr(item, "fixturenames", ())] for run in SHARED_RUNS}
    builders = {modules[0] for modules in users.values() if modules}
    later = {m for modules in users.values() for m in modules} - builders
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}

    def rank(item) -> int:
        module = item.module.__name__
        if module in builders:
            return 0
        if module in later:
            return 3
        return 1 if module in slow else 2

    items.sort(key=rank)  # stable: the order within each rank stays


@pytest.fixture(scope="session")
def use_run(tmp_path_factory, ravdess16k: Path) -> Path:
    """`snakemake final` on six real actors: kaggle_cnn1d cross-validated on 2 folds, and its
    final model with its model card (tests/configs/use.yaml)."""
    import yaml

    cfg = yaml.safe_load((REPO / "tests" / "configs" / "use.yaml").read_text())
    cfg["ravdess"]["source"] = str(ravdess16k)
    config = tmp_path_factory.mktemp("config") / "use.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return built_once(tmp_path_factory, "use_run", lambda workdir: run_snakemake(
        workdir, "--cores", "2", "final", "--resources", "gpu=1", configfiles=(config,)))


def actor_fold_corpus(root: Path, ravdess16k: Path, actors: list[int], kind: str,
                      params: dict | None = None, k: int = 3, workers: int = 1,
                      duration: float = 4.0) -> dict:
    """Metadata of `actors`, k actor folds (one validation actor each) and one `kind` shard per
    actor (a `duration` s window), under `root`: the small real fold the model-family tests fit
    on."""
    from ser.data.folds import make_folds
    from ser.data.ravdess import scan_corpus
    from ser.features.shards import build_kind_shards

    meta = scan_corpus(ravdess16k, actors)
    meta.to_csv(root / "metadata.csv", index=False)
    folds = make_folds(meta, "actor_kfold", k=k, seed=0, n_val_actors=1)
    folds.to_csv(root / "folds.csv", index=False)
    shards = [root / kind / f"actor_{a:02d}.h5" for a in actors]
    build_kind_shards(root / "metadata.csv", actors, kind, params or {},
                      {"sample_rate": 16000, "offset": 0.0, "duration": duration}, shards,
                      workers=workers)
    return {"root": root, "meta": meta, "folds": folds, "shards": shards}


def spy_inner_cv(monkeypatch) -> list[tuple[int, np.ndarray]]:
    """Record (columns, each row's actor) of every inner cross-validation a linear model runs."""
    from ser.models import classical

    seen, original = [], classical.inner_cv

    def spy(model, x, y, groups, *args, **kwargs):
        seen.append((x.shape[1], np.asarray(groups).copy()))
        return original(model, x, y, groups, *args, **kwargs)

    monkeypatch.setattr(classical, "inner_cv", spy)
    return seen


from ser.report.browser import CHROMIUM  # noqa: E402


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed here when missing and we may (root); else the test skips."""
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                       env=env, check=False, timeout=600)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed (needs root and apt-get)")
    return CHROMIUM
