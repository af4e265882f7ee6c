"""Training throughput of the chosen CNN on this machine's CPU: the path before issue 34 against
its candidates and the pipeline's path now, side by side in one run (issue 34).

Every candidate trains the same network with config.yaml's recipe (`models.cnn6`: AdamW, crops,
EMA, batch 32) through the pipeline's own `Trainer` on inputs of the real shape (64 mel bands x
200 frames, 1,080 training examples: one emobox_6fold training split). The features are random:
a training step's cost does not depend on the values. A candidate is the path before the issue
(float32, channels-last, torch's dropout, BatchNorm, ReLU and pooling) with the parts its name
lists:

- `bf16 autocast`: config.yaml's `amp_cpu` (on a CPU without bf16 instructions it is emulated);
- `16-bit masks`: ser.models.dropout's masks instead of torch's `bernoulli_`;
- `BN of patches`: the first block's BatchNorm folded into its conv
  (ser.models.cnn6.batch_norm_of_patches);
- `one-pass pool backward`: ser.models.cnn6.ReluAvgPool instead of torch's ReLU and pooling;
- `channels first`, `torch.compile`: measured and not kept.

Epochs alternate between candidates (round robin, after one warm-up epoch each, which also pays
torch.compile's compilation), so drift in the machine's load falls on all of them alike. Prints
seconds per epoch, and `speed-up: Nx` of the path config.yaml now takes on this machine over the
path before.

    .venv/bin/python benchmarks/train_speed.py --threads 1 --rounds 3
    .venv/bin/python benchmarks/train_speed.py --quick   # before and now, 64 examples, 1 round
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ser.models.cnn6  # noqa: E402
from ser.models import build_model, get_spec  # noqa: E402
from ser.train.config import TrainConfig, autocast_dtype, cpu_has_bf16  # noqa: E402
from ser.train.data import FoldData, InputSpec  # noqa: E402
from ser.train.loop import Trainer  # noqa: E402

BEFORE = "before (float32)"
FP32_NOW = "16-bit masks + BN of patches + one-pass pool backward"
NOW = f"bf16 autocast + {FP32_NOW}"
CANDIDATES = [BEFORE, "bf16 autocast", "16-bit masks", "BN of patches", "one-pass pool backward",
              NOW, "channels first", "torch.compile"]
NATIVE = {"16-bit masks": ("dropout", F.dropout),
          "BN of patches": ("batch_norm_of_patches", lambda x, conv, bn: bn(conv(x))),
          "one-pass pool backward": ("ReluAvgPool", SimpleNamespace(
              apply=lambda y: F.avg_pool2d(F.relu(y), 2)))}


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
    """A candidate's trainer; cnn6's parts are switched per epoch (`parts_of`)."""
    parts = set(name.split(" + "))
    torch.manual_seed(0)
    model = build_model("cnn6", data.n_classes, "none")
    if "torch.compile" in parts:
        model = torch.compile(model)
    cfg = replace(cfg, channels_last="channels first" not in parts, amp_cpu=False)
    trainer = Trainer(model, data, cfg, torch.device("cpu"))
    if "bf16 autocast" in parts:  # forced on: emulated on a CPU without bf16 instructions
        trainer.amp_dtype = torch.bfloat16
    return trainer


@contextlib.contextmanager
def parts_of(name: str) -> Iterator[None]:
    """cnn6 with torch's own operations in place of each faster part the candidate leaves out."""
    parts = set(name.split(" + "))
    kept = {attr: getattr(ser.models.cnn6, attr) for attr, _ in NATIVE.values()}
    for part, (attr, native) in NATIVE.items():
        if part not in parts:
            setattr(ser.models.cnn6, attr, native)
    try:
        yield
    finally:
        for attr, value in kept.items():
            setattr(ser.models.cnn6, attr, value)


def time_epochs(trainers: dict[str, Trainer], rounds: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in trainers}
    for round_ in range(rounds + 1):  # round 0: warm-up, not counted
        for name, trainer in trainers.items():
            with parts_of(name):
                start = time.perf_counter()
                trainer.train_epoch()
            if round_:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a job's)")
    parser.add_argument("--rounds", type=int, default=2, help="timed epochs per candidate")
    parser.add_argument("--candidates", nargs="+", default=CANDIDATES, help=f"of {CANDIDATES}")
    parser.add_argument("--quick", action="store_true",
                        help="the path before and config.yaml's, 64 examples, one round: a smoke "
                             "run")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.candidates = 1, []
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    cfg, data = recipe(config), fold_data(64 if args.quick else 1080)
    config_path = NOW if autocast_dtype(cfg, torch.device("cpu")) else FP32_NOW
    print(f"cnn6 ({get_spec('cnn6').input}), recipe {cfg.optimizer} lr {cfg.lr} batch "
          f"{cfg.batch_size} crop {cfg.crop_frames} ema {cfg.ema}; {args.threads} thread(s), "
          f"torch {torch.__version__}, bf16 instructions: {cpu_has_bf16()}; "
          f"config.yaml's path here: {config_path}")
    candidates = list(dict.fromkeys([BEFORE, *args.candidates, config_path]))
    seconds = time_epochs({name: make_trainer(name, cfg, data) for name in candidates},
                          args.rounds)
    base = np.median(seconds[BEFORE])
    print(f"{'candidate':<32}{'s/epoch (median)':>18}{'vs before':>11}")
    for name, values in seconds.items():
        print(f"{name:<32}{np.median(values):>18.2f}{base / np.median(values):>10.2f}x")
    print(f"speed-up: {base / np.median(seconds[config_path]):.2f}x ({config_path}, "
          f"config.yaml's path on this machine)")


if __name__ == "__main__":
    main()
