"""What a feature job costs besides its work: a fresh Python importing torch and `ser`, as every
Snakemake `script:` job does, against the extraction of one actor's shard of each kind.

    .venv/bin/python benchmarks/startup.py [--corpus ../shared/data/ravdess-16k] [--repeat 3]
    .venv/bin/python benchmarks/startup.py --quick   # log-mel only, one interpreter (a test)

Both are measured side by side on the same machine state: the start-up as the median wall time
of `--repeat` fresh interpreters importing what scripts/features.py imports, the work as
`build_actor_shard` of real actor 1 for each kind of config.yaml that no pretrained encoder
computes (those cost seconds per file: benchmarks/encoders.py), in this process, warm. The last
lines project both DAG shapes on the full corpus (24 actors): one job per (actor, kind) against
one job per kind.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
IMPORTS = "import snakemake.script; from ser.features.shards import build_actor_shard"


def startup_seconds(repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of a fresh interpreter doing the feature job's imports."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", IMPORTS], check=True, cwd=REPO)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def work_seconds(corpus: Path, config: dict, out: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of one actor's shard of each kind, warm, in this process."""
    from ser.data.ravdess import scan_corpus, write_metadata
    from ser.features.shards import build_actor_shard

    write_metadata(scan_corpus(corpus, actors=[1]), out / "metadata.csv")
    times = {}
    for kind, params in config["features"].items():
        build_actor_shard(out / "metadata.csv", 1, kind, params, config["audio"],
                          out / f"warm_{kind}.h5")  # first call: lazy imports, caches
        start, cpu = time.perf_counter(), time.process_time()
        build_actor_shard(out / "metadata.csv", 1, kind, params, config["audio"],
                          out / f"{kind}.h5")
        times[kind] = (time.perf_counter() - start, time.process_time() - cpu)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", help="default: config.yaml's kinds no encoder runs")
    parser.add_argument("--quick", action="store_true",
                        help="log-mel only and one fresh interpreter: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.kinds, args.repeat = ["logmel"], 1
    import torch

    from ser.encoders import runs_encoder

    torch.set_num_threads(1)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["features"] = {k: v for k, v in config["features"].items()
                          if k in (args.kinds or []) or not (args.kinds or runs_encoder(k))}
    with tempfile.TemporaryDirectory() as tmp:
        work = work_seconds(args.corpus, config, Path(tmp))
    start = startup_seconds(args.repeat)
    print(f"start-up (fresh Python: {IMPORTS}): {start[0]:.2f} s wall, {start[1]:.2f} s CPU, "
          f"median of {args.repeat}")
    for kind, (wall, cpu) in work.items():
        print(f"{kind:>10}: one actor's shard {wall:.2f} s wall, {cpu:.2f} s CPU; start-up / work "
              f"= {start[0] / wall:.1f} (wall), {start[1] / cpu:.1f} (CPU)")
    n_actors, kinds = 24, len(work)
    for i, what in enumerate(("wall", "CPU")):
        work_total = n_actors * sum(w[i] for w in work.values())
        per_job = n_actors * kinds * start[i] + work_total
        per_kind = kinds * start[i] + work_total
        print(f"{what}: 24 actors x {kinds} kinds, one job per (actor, kind) {per_job:.0f} s of "
              f"start-up and work, one job per kind {per_kind:.0f} s ({per_job / per_kind:.1f}x)")


if __name__ == "__main__":
    main()
