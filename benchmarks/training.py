"""Training step time: the trainer's settings against PyTorch's defaults, side by side.

One optimisation step (forward, backward, update) on a batch of the model's input size, timed for
  - baseline: Adam with PyTorch's default (for-each) implementation, contiguous (NCHW) tensors;
  - ours: the trainer's fused Adam and channels-last tensors (ser.train.config.make_optimizer,
    ser.train.loop.Trainer),
alternating the two so that both see the same machine load, and prints the ratio per model.

    python benchmarks/training.py                       # CNN-X, 1D-CNN-LSTM, Kaggle 1-D CNN
    python benchmarks/training.py --models cnnx --threads 2 --steps 10
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


def example_input(arch: str, model: torch.nn.Module, batch: int) -> torch.Tensor:
    """A random batch of the input the model declares (ser.models' InputSpec)."""
    size = models.get_spec(arch).input.size
    if size is not None:
        return torch.randn(batch, 1, *size)  # an image the trainer resized
    if hasattr(model, "n_frames"):
        return torch.randn(batch, 40, model.n_frames)  # MFCC frames (kaggle_cnn1d)
    return torch.randn(batch, 64000)  # 4 s of 16 kHz waveform (cnn14)


def setup(arch: str, batch: int, ours: bool) -> Callable[[], None]:
    """One training step with the baseline or the trainer's settings."""
    torch.manual_seed(0)
    model = models.build_model(arch, 8, "none", cache_dir=None)
    x = example_input(arch, model, batch)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnnx", "cnn1d_lstm", "kaggle_cnn1d"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, batch {args.batch}")
    print("| model | baseline s/step | ours s/step | speed-up |\n|---|---|---|---|")
    for arch in args.models:
        steps = {"baseline": setup(arch, args.batch, False), "ours": setup(arch, args.batch, True)}
        times: dict[str, list[float]] = {k: [] for k in steps}
        for step in steps.values():
            step()  # warm-up: oneDNN picks its kernels on the first call
        for _ in range(args.rounds):
            for name, step in steps.items():
                times[name].append(timed(step, args.steps))
        base, ours = (statistics.median(times[k]) for k in ("baseline", "ours"))
        print(f"| {arch} | {base:.3f} | {ours:.3f} | {base / ours:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
