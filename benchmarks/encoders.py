"""Extraction cost of each pretrained encoder (ser.encoders): seconds per file, on this machine.

    .venv/bin/python benchmarks/encoders.py [--files 4] [--threads 1] [--device cpu]
    .venv/bin/python benchmarks/encoders.py --run benchmarks/out/encoders/emobox_6fold

Times the encoders as the features rule runs them (`encoder_features` on each file's window,
after one warm-up file that loads the weights), on `--files` real RAVDESS files, and projects the
whole corpus (1,440 files) on one worker and on `--workers` processes. `--run` reads instead what
a finished pipeline run measured: each encoder's feature job (logs/benchmarks/features/<kind>.tsv,
Snakemake's own `benchmark:` record: wall and CPU seconds) over the files it extracted.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# what the pipeline extracts: config.yaml's settings, and CREPE full's CPU preset (crepe_cpu.yaml)
CASES = [("ge2e", {}), ("crepe_tiny", {"hop_length": 160}), ("crepe_full", {"hop_length": 1600}),
         ("crepe_full", {"hop_length": 160}), ("crepe_tiny_frames", {"hop_length": 1280})]
CORPUS_FILES = 1440
AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 4.0}


def time_case(kind: str, params: dict, files: list[Path], device: str) -> float:
    """Seconds per file after a warm-up file."""
    import torch

    from ser.encoders import encoder_features, is_encoder
    from ser.features.extract import extract
    from ser.features.shards import load_waves

    def run(paths: list[Path]) -> None:
        if is_encoder(kind):
            encoder_features([str(p) for p in paths], kind, params, AUDIO, device)
        else:  # the frames of CREPE's frozen blocks: a batch kind of the padded window
            extract(kind, load_waves([str(p) for p in paths], AUDIO).to(device), 16000, params)
        if device == "cuda":
            torch.cuda.synchronize()

    run(files[:1])
    start = time.perf_counter()
    run(files)
    return (time.perf_counter() - start) / len(files)


def from_run(workdir: Path) -> pd.DataFrame:
    """Seconds per file of each encoder's feature job of a finished run."""
    import h5py

    from ser.encoders import runs_encoder

    rows = []
    for tsv in sorted((workdir / "logs" / "benchmarks" / "features").glob("*.tsv")):
        kind = tsv.stem
        if not runs_encoder(kind):
            continue
        bench = pd.read_csv(tsv, sep="\t").iloc[-1]
        shards = sorted((workdir / "results" / "features" / kind).glob("actor_*.h5"))
        n = 0
        for shard in shards:
            with h5py.File(shard) as h5:
                n += int(h5.attrs["n_files"])
                params = h5.attrs["params"]
        rows.append({"kind": kind, "params": params, "files": n, "wall_min": bench["s"] / 60,
                     "wall_s_per_file": bench["s"] / n, "cpu_s_per_file": bench["cpu_time"] / n})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes, for the projection")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--run", type=Path, help="read a finished run's feature jobs instead")
    args = parser.parse_args()
    if args.run:
        print(from_run(args.run).to_markdown(index=False, floatfmt=".3f"))
        return
    import torch

    torch.set_num_threads(args.threads)
    files = sorted(args.corpus.glob("Actor_*/*.*"))[::97][:args.files]
    print(f"{len(files)} files, {args.threads} thread(s), device {args.device}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for kind, params in CASES:
        per_file = time_case(kind, params, files, args.device)
        rows.append({"kind": kind, "params": str(params), "s_per_file": per_file,
                     "corpus_min_1_worker": per_file * CORPUS_FILES / 60,
                     f"corpus_min_{args.workers}_workers":
                         per_file * CORPUS_FILES / 60 / args.workers})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
