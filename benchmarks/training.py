"""Training step time: the trainer's settings against PyTorch's defaults, side by side.

One optimisation step (forward, backward, update) on a batch of the model's input size, timed for
  - baseline: Adam with PyTorch's default (for-each) implementation, contiguous (NCHW) tensors;
  - ours: the trainer's fused Adam and channels-last tensors (ser.train.config.make_optimizer,
    ser.train.loop.Trainer),
alternating the two so that both see the same machine load, and prints the ratio per model.
With `--batches A B` it times the trainer's settings at two batch sizes instead and prints the
time per example of each: how much an epoch of the larger or smaller batch costs.

    python benchmarks/training.py                       # CNN-X, 1D-CNN-LSTM, Kaggle 1-D CNN
    python benchmarks/training.py --models cnnx --threads 2 --steps 10
    python benchmarks/training.py --quick              # one step, one round (a test runs it)
    python benchmarks/training.py --models cnn6 --frames 160 --batches 32 16 --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser import models  # noqa: E402
from ser.train.config import TrainConfig, make_optimizer  # noqa: E402


def example_input(arch: str, model: torch.nn.Module, batch: int,
                  frames: int | None = None) -> torch.Tensor:
    """A random batch of the input the model declares (ser.models' InputSpec), its time axis
    cut to `frames` when given (the recipe's training crops, training.crop_frames)."""
    size = models.get_spec(arch).input.size
    if size is not None:
        size = (*size[:-1], frames or size[-1])
        return torch.randn(batch, 1, *size)  # an image the trainer resized
    if hasattr(model, "n_frames"):
        return torch.randn(batch, 40, model.n_frames)  # MFCC frames (kaggle_cnn1d)
    return torch.randn(batch, 64000)  # 4 s of 16 kHz waveform (cnn14)


def setup(arch: str, batch: int, ours: bool, frames: int | None = None) -> Callable[[], None]:
    """One training step with the baseline or the trainer's settings."""
    torch.manual_seed(0)
    model = models.build_model(arch, 8, "none", cache_dir=None)
    x = example_input(arch, model, batch, frames)
    y = torch.randint(0, 8, (batch,))
    if ours:
        model = model.to(memory_format=torch.channels_last)
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer = make_optimizer(TrainConfig(lr=1e-4), model.parameters())
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def timed(step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def side_by_side(steps: dict[str, Callable[[], None]], n: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each, the steps alternated round by round."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for step in steps.values():
        step()  # warm-up: oneDNN picks its kernels on the first call
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(timed(step, n))
    return {k: statistics.median(v) for k, v in times.items()}


def compare_batches(args: argparse.Namespace) -> None:
    """The trainer's step at two batch sizes: seconds per example, and their ratio."""
    a, b = args.batches
    print(f"| model | batch {a} ms/example | batch {b} ms/example | batch {b} / batch {a} |\n"
          "|---|---|---|---|")
    for arch in args.models:
        med = side_by_side({n: setup(arch, n, True, args.frames) for n in (a, b)}, args.steps,
                           args.rounds)
        per_a, per_b = med[a] / a * 1e3, med[b] / b * 1e3
        print(f"| {arch} | {per_a:.2f} | {per_b:.2f} | {per_b / per_a:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnnx", "cnn1d_lstm", "kaggle_cnn1d"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--frames", type=int,
                        help="time frames of a resized input (training crops); others ignore it")
    parser.add_argument("--batches", type=int, nargs=2, metavar=("A", "B"),
                        help="time the trainer's step per example at two batch sizes instead")
    parser.add_argument("--quick", action="store_true",
                        help="CNN-X, one step, one round: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.models, args.steps, args.rounds = ["cnnx"], 1, 1
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, "
          f"batch {' and '.join(map(str, args.batches or [args.batch]))}"
          + (f", {args.frames} frames" if args.frames else ""))
    if args.batches:
        compare_batches(args)
        return
    print("| model | baseline s/step | ours s/step | speed-up |\n|---|---|---|---|")
    for arch in args.models:
        med = side_by_side({"baseline": setup(arch, args.batch, False, args.frames),
                            "ours": setup(arch, args.batch, True, args.frames)},
                           args.steps, args.rounds)
        base, ours = med["baseline"], med["ours"]
        print(f"| {arch} | {base:.3f} | {ours:.3f} | {base / ours:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
