"""Does training wait for data? One epoch on real RAVDESS features, data time against compute time.

Data time is everything between two training steps: indexing the in-memory split, moving the
batch to the device, building the model input (resize, 3-channel image) and normalising it.
Compute time is the step itself: augmentation, forward, backward, optimiser update. The device
is synchronised after each part so that asynchronous CUDA work is charged to the part that
launched it. Goal: data time under 5 % of the epoch.

    .venv/bin/python benchmarks/loading.py --corpus ../shared/data/ravdess-16k --actors 1-6
    .venv/bin/python benchmarks/loading.py --model cnnx --device cuda      # a registry model
    .venv/bin/python benchmarks/loading.py --quick   # actors 1-3, one epoch, no warm-up (a test)

Features are extracted once into --workdir (default: a temporary folder) with the pipeline's own
`build_actor_shard` and the parameters of config.yaml.

Measured (actors 1-6, fold 1 of actor_kfold k=3: 180 training files, log-mel 128 x 401 resized to
128 x 256, batch 32, CPU, 2 shared cores): tiny CNN 0.09 s waiting / 10.2 s computing (0.85 %);
cnnx 0.28 s / 14.3 s (1.9 %). Not yet measured on a GPU, where computing shrinks the most.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import yaml

from ser.data.folds import make_folds
from ser.data.ravdess import scan_corpus, write_metadata
from ser.features.shards import build_actor_shard
from ser.train.config import TrainConfig, resolve_device
from ser.train.data import FoldData, InputSpec
from ser.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("benchmark.loading")


def tiny_cnn(n_classes: int) -> nn.Module:
    """A small CNN on a 1 x 128 x 256 log-mel image, for when no registry model is asked for."""
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), *block(64, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, n_classes))


def model_and_spec(name: str, n_classes: int) -> tuple[nn.Module, InputSpec]:
    if name == "tiny":
        return tiny_cnn(n_classes), InputSpec(("logmel",), (128, 256))
    from ser import models

    spec = models.get_spec(name)
    size = None if spec.input.size is None else tuple(spec.input.size)
    return models.build_model(name, n_classes, "none"), InputSpec(tuple(spec.input.features), size)


def prepare(corpus: Path, actors: list[int], kinds: tuple[str, ...], workdir: Path,
            device: str) -> tuple[dict[str, list[Path]], Path, Path]:
    """metadata.csv, folds.csv and one shard per actor and kind (reused when already there)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    metadata_csv, folds_csv = workdir / "metadata.csv", workdir / "folds.csv"
    meta = scan_corpus(corpus, actors)
    write_metadata(meta, metadata_csv)
    make_folds(meta, "actor_kfold", k=3, seed=0, n_val_actors=1).to_csv(folds_csv, index=False)
    shards: dict[str, list[Path]] = {}
    for kind in kinds:
        for actor in actors:
            path = workdir / kind / f"actor_{actor:02d}.h5"
            if not path.exists():
                build_actor_shard(metadata_csv, actor, kind, config["features"][kind],
                                  config["audio"], path, device=device)
            shards.setdefault(kind, []).append(path)
    return shards, metadata_csv, folds_csv


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_epoch(trainer: Trainer, device: torch.device) -> tuple[float, float, int]:
    """(seconds waiting for batches, seconds computing, batches) over one training epoch."""
    waiting = computing = 0.0
    batches = trainer.data.batches("train", trainer.cfg.batch_size, trainer.generator,
                                   drop_singleton=True)
    trainer.model.train()
    n = 0
    while True:
        start = time.perf_counter()
        batch = next(batches, None)
        sync(device)
        ready = time.perf_counter()
        if batch is None:
            return waiting + ready - start, computing, n
        trainer.step(batch[0], batch[1])
        sync(device)
        waiting += ready - start
        computing += time.perf_counter() - ready
        n += 1


def parse_actors(text: str) -> list[int]:
    if "-" in text:
        first, last = map(int, text.split("-"))
        return list(range(first, last + 1))
    return [int(a) for a in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--actors", default="1-24", help="e.g. 1-6 or 1,2,5")
    parser.add_argument("--model", default="tiny", help="'tiny' or a ser.models name")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument("--workdir", type=Path, default=None, help="feature cache folder")
    parser.add_argument("--quick", action="store_true",
                        help="actors 1-3 and one timed epoch without a warm-up: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.actors = "1-3"
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ser-loading-"))
    actors = parse_actors(args.actors)
    torch.manual_seed(0)
    model, spec = model_and_spec(args.model, 8)
    shards, metadata_csv, folds_csv = prepare(args.corpus, actors, spec.features, workdir,
                                              str(device))
    data = FoldData.from_files(shards, metadata_csv, folds_csv, 1, "emotion", spec).to(device)
    cfg = TrainConfig(batch_size=args.batch_size, device=str(device))
    trainer = Trainer(model, data, cfg, device)
    if not args.quick:  # warm-up: kernel selection, allocator, lazy initialisation
        timed_epoch(trainer, device)
    waiting, computing, n = timed_epoch(trainer, device)
    total = waiting + computing
    print(f"model {args.model} on {device}, {len(data.splits['train'])} training files, "
          f"{n} batches of {args.batch_size}, input {tuple(spec.features)} {spec.size}")
    print(f"data waiting {waiting:.3f} s, computing {computing:.3f} s, "
          f"waiting share {100 * waiting / total:.2f} % (goal < 5 %)")


if __name__ == "__main__":
    main()
