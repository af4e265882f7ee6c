"""Training throughput of the chosen CNN on this machine's CPU: today's path against candidates,
side by side in one run (issue 34).

Every candidate trains the same network with config.yaml's recipe (`models.cnn6`: AdamW, crops,
EMA, batch 32) through the pipeline's own `Trainer` on inputs of the real shape (64 mel bands x
200 frames, 1,080 training examples: one emobox_6fold training split). The features are random:
a training step's cost does not depend on the values. Epochs alternate between candidates (round
robin, after one warm-up epoch each, which also pays torch.compile's compilation), so drift in the
machine's load falls on all of them alike. Prints seconds per epoch and `speed-up: Nx` of the best
candidate over today's path.

    .venv/bin/python benchmarks/train_speed.py --threads 1 --rounds 3
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser.models import build_model, get_spec  # noqa: E402
from ser.train.config import TrainConfig  # noqa: E402
from ser.train.data import FoldData, InputSpec  # noqa: E402
from ser.train.loop import Trainer  # noqa: E402


def fold_data(n_train: int = 1080, n_mels: int = 64, frames: int = 200) -> FoldData:
    rng = np.random.default_rng(0)
    n = n_train + 2
    files = [f"f{i}" for i in range(n)]
    meta = pd.DataFrame({"file": files, "actor": [1 + i % 20 for i in range(n)],
                         "gender": "male", "intensity": 1,
                         "emotion": [1 + i % 8 for i in range(n)]})
    split = ["train"] * n_train + ["val", "test"]
    folds = pd.DataFrame({"fold": 1, "file": files, "actor": meta["actor"], "split": split})
    feats = rng.standard_normal((n, n_mels, frames)).astype(np.float32)
    return FoldData.build({"logmel": (feats, files)}, meta, folds, 1, "emotion",
                          InputSpec(("logmel",), (n_mels, frames)))


def recipe(config: dict) -> TrainConfig:
    entry = config["models"]["cnn6"]
    keys = set(TrainConfig.__dataclass_fields__)
    settings = {**config["training"], **{k: v for k, v in entry.items() if k in keys}}
    return TrainConfig(**{k: v for k, v in settings.items() if k in keys})


def make_trainer(name: str, cfg: TrainConfig, data: FoldData) -> Trainer:
    torch.manual_seed(0)
    model = build_model("cnn6", data.n_classes, "none")
    if name == "channels first":
        return Trainer(model, data, replace(cfg, channels_last=False), torch.device("cpu"))
    if name == "torch.compile":
        model = torch.compile(model)
    trainer = Trainer(model, data, cfg, torch.device("cpu"))
    if name == "bf16 autocast":
        trainer.amp, trainer.amp_dtype = True, torch.bfloat16
    return trainer


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a job's)")
    parser.add_argument("--rounds", type=int, default=2, help="timed epochs per candidate")
    parser.add_argument("--candidates", nargs="+",
                        default=["today", "channels first", "bf16 autocast", "torch.compile"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    cfg, data = recipe(config), fold_data()
    print(f"cnn6 ({get_spec('cnn6').input}), recipe {cfg.optimizer} lr {cfg.lr} batch "
          f"{cfg.batch_size} crop {cfg.crop_frames} ema {cfg.ema}; {args.threads} thread(s), "
          f"torch {torch.__version__}")
    trainers = {name: make_trainer(name, cfg, data) for name in args.candidates}
    seconds = {name: [] for name in trainers}
    for round_ in range(args.rounds + 1):  # round 0: warm-up, not counted
        for name, trainer in trainers.items():
            start = time.perf_counter()
            trainer.train_epoch()
            if round_:
                seconds[name].append(time.perf_counter() - start)
    base = np.median(seconds["today"]) if "today" in seconds else None
    print(f"{'candidate':<16}{'s/epoch (median)':>18}{'vs today':>10}")
    for name, values in seconds.items():
        ratio = f"{base / np.median(values):.2f}x" if base else "-"
        print(f"{name:<16}{np.median(values):>18.2f}{ratio:>10}")
    if base:
        best = min((n for n in seconds if n != "today"), key=lambda n: np.median(seconds[n]))
        print(f"speed-up: {base / np.median(seconds[best]):.2f}x ({best})")


if __name__ == "__main__":
    main()
