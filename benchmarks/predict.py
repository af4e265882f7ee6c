"""`ser predict` before and after issue 45, side by side in one run: files per second on the
corpus, and peak memory for one long recording.

    .venv/bin/python benchmarks/predict.py [--files 1440] [--minutes 60] [--model FOLDER]
    .venv/bin/python benchmarks/predict.py --quick   # 48 files, a 2-minute recording (a test)

Before: each file decoded whole and scored alone, every window of it (the path before the issue,
kept here as the baseline). After: `ser.use.predict.predict_files`, which finds the speech first
and batches the windows of 16 files through the model; a recording over 2 minutes is read in
blocks and scored stretch by stretch of speech. The long recording is the corpus's utterances one
after another with 2 s of silence between them, at 48 kHz (FLAC), like an interview; each path
scores it in a fresh process whose peak resident memory (ru_maxrss) is the number shown.

The model is a randomly initialised registry model with config.yaml's features (`--arch`, the
cost of a trained one of the same architecture), or a trained model's folder (`--model`).
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ser.audio import load_audio  # noqa: E402
from ser.use.score import probabilities, windows  # noqa: E402

RATE = 48000


def load_model(args: argparse.Namespace):
    if args.model:
        from ser.use.load import load_trained

        return load_trained(args.model, "cpu")
    from ser.use.export_torch import fresh_model

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    torch.manual_seed(0)
    return fresh_model(args.arch, config["features"], config["audio"])


def before_file(path: Path, trained) -> np.ndarray:
    """The path before issue 45: decode whole, every window scored, their mean."""
    wave = load_audio(path, trained.sample_rate)
    return probabilities(trained, [w for _, w in windows(wave, trained)]).mean(0)


def files_per_second(files: list[Path], trained) -> tuple[float, float]:
    from ser.use.predict import predict_files

    start = time.perf_counter()
    for path in files:
        before_file(path, trained)
    before = len(files) / (time.perf_counter() - start)
    start = time.perf_counter()
    scores, failed = predict_files(files, trained, progress=False)
    after = len(files) / (time.perf_counter() - start)
    assert len(scores) == len(files) and not failed
    return before, after


def long_recording(corpus: Path, minutes: float, out: Path) -> Path:
    """Utterances of the corpus, 2 s of silence after each, at 48 kHz, written block by block."""
    import soxr

    files = sorted(corpus.glob("Actor_*/*.flac"))
    gap = np.zeros(2 * RATE, np.float32)
    written, i = 0, 0
    with sf.SoundFile(out, "w", RATE, 1, format="FLAC") as f:
        while written < minutes * 60 * RATE:
            wave = soxr.resample(load_audio(files[i % len(files)], 16000), 16000, RATE)
            f.write(np.concatenate([wave, gap]).astype(np.float32))
            written, i = written + len(wave) + len(gap), i + 1
    return out


def peak_memory(path: Path, how: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """(peak MB, peak MB above the loaded model, seconds) of scoring `path` the `how` way in a
    fresh process."""
    cmd = [sys.executable, __file__, "--score", str(path), "--how", how, "--arch", args.arch,
           *(["--model", str(args.model)] if args.model else [])]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    loaded, peak = map(float, done.stdout.split()[-2:])
    return peak, peak - loaded, time.perf_counter() - start


def score_one(path: Path, how: str, args: argparse.Namespace) -> None:
    """The child of `peak_memory`: score, then print the peak resident MB with the model loaded
    (torch and the model zoo take most of it) and after scoring."""
    torch.set_num_threads(1)
    trained = load_model(args)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if how == "before":
        before_file(path, trained)
    else:
        from ser.use.score import score_timeline

        score_timeline(path, trained)
    print(loaded, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--files", type=int, default=1440)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--arch", default="kaggle_cnn1d")
    parser.add_argument("--model", type=Path, help="a trained model's folder instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="48 files and a 2-minute recording: a smoke run")
    parser.add_argument("--score", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--how", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score:
        return score_one(args.score, args.how, args)
    if args.quick:
        args.files, args.minutes = 48, 2.0
    torch.set_num_threads(args.threads)
    trained = load_model(args)
    files = sorted(args.corpus.glob("Actor_*/*.flac"))
    files = files[::max(1, len(files) // args.files)][:args.files]
    before, after = files_per_second(files, trained)
    print(f"model {args.model or args.arch + ' (random init)'}, {args.threads} threads")
    print(f"{'':34s}{'before':>10s}{'after':>10s}{'after/before':>14s}")
    print(f"{f'files per second ({len(files)} files)':34s}{before:10.1f}{after:10.1f}"
          f"{after / before:13.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        path = long_recording(args.corpus, args.minutes, Path(tmp) / "long.flac")
        before, after = (peak_memory(path, how, args) for how in ("before", "after"))
    minutes = f"{args.minutes:g} min at 48 kHz"
    for i, what in enumerate((f"peak MB, {minutes}", "  of which for scoring (MB)",
                              f"seconds, {minutes}")):
        print(f"{what:34s}{before[i]:10.1f}{after[i]:10.1f}{after[i] / before[i]:13.2f}x")


if __name__ == "__main__":
    main()
