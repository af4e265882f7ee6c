"""Feature extraction speed: our batched torch extractor against the per-file librosa + pywt way.

    .venv/bin/python benchmarks/features.py [--corpus ../shared/data/ravdess-16k] [--ref-files 40]
    .venv/bin/python benchmarks/features.py --storage   # shard codecs / dtypes on one actor
    .venv/bin/python benchmarks/features.py --functionals-only   # the openSMILE kinds alone
    .venv/bin/python benchmarks/features.py --quick   # 8 files, 2 reference files (a test runs it)

The openSMILE functional kinds (egemaps, compare) run as the pipeline runs them: one
`build_actor_shard` job per (kind, actor), `--threads` processes at once, against the 5-minute
budget of issue 17 for both kinds on the whole corpus; the load average is printed beside it,
since the machine is shared.

Ours streams the corpus one actor at a time (decode, `extract_batches` of every kind of
config.yaml's spectral and image kinds (the ones the reference computes; the pretrained
encoders are benchmarks/encoders.py's) in batches of 8 on `--threads` single-threaded workers, write the shards to a
temporary folder), so its memory is one actor's features whatever the corpus size.
The reference decodes the same way and then calls, per file, what the earlier projects called:
librosa melspectrogram + power_to_db, librosa mfcc, amplitude_to_db(|stft|, ref=np.max) and
pywt.cwt(x, range(1, 128), 'morl'); it runs on a subset because it takes ~1.5 s per file.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import h5py
import librosa
import numpy as np
import pywt
import torch
import yaml

from ser.encoders import runs_encoder
from ser.features import FEATURES, build_actor_shard, extract_batches, write_shard
from ser.features.functionals import is_functional
from ser.features.shards import load_waves

REPO = Path(__file__).resolve().parents[1]


def corpus_csv(corpus: Path, out: Path, limit: int | None = None) -> Path:
    """metadata.csv of the corpus's files (the first `limit` of them when given)."""
    import pandas as pd

    files = sorted(corpus.glob("Actor_*/*.flac"))[:limit]
    rows = [{"path": str(p), "file": p.stem, "actor": int(p.parent.name[6:])} for p in files]
    pd.DataFrame(rows).to_csv(out / "metadata.csv", index=False)
    return out / "metadata.csv"


def run_ours(csv: Path, cfg: dict, out: Path, batch_size: int) -> tuple[float, int, dict]:
    """Per actor: decode once, extract every kind, write one shard per kind."""
    import pandas as pd

    meta = pd.read_csv(csv)
    sr = cfg["audio"]["sample_rate"]
    steps = dict.fromkeys(["decode", "extract", "write"], 0.0)
    t0 = time.perf_counter()
    for actor, rows in meta.groupby("actor"):
        t = [time.perf_counter()]
        waves = load_waves(rows["path"].tolist(), cfg["audio"])
        t.append(time.perf_counter())
        feats = extract_batches(waves, sr, cfg["features"], batch_size=batch_size)
        t.append(time.perf_counter())
        for kind, params in cfg["features"].items():
            write_shard(out / kind / f"actor_{actor:02d}.h5", feats[kind].numpy(),
                        rows["file"].tolist(), {"kind": kind, "params": params})
        t.append(time.perf_counter())
        for step, (a, b) in zip(steps, zip(t, t[1:])):
            steps[step] += b - a
    return time.perf_counter() - t0, len(meta), steps


def run_functionals(csv: Path, cfg: dict, out: Path, processes: int) -> tuple[float, int, list]:
    """Every functional kind of the config for every actor, one job per (kind, actor) as the
    `features` rule runs them; (seconds, files per kind, kinds)."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd

    kinds = [k for k in cfg["features"] if is_functional(k)]
    actors = sorted(pd.read_csv(csv)["actor"].unique())
    jobs = [(csv, int(a), k, cfg["features"][k], cfg["audio"], out / k / f"actor_{a:02d}.h5")
            for k in kinds for a in actors]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        n = sum(pool.map(_shard_job, jobs)) // max(1, len(kinds))
    seconds = time.perf_counter() - t0
    print(f"functionals ({'+'.join(kinds)}): {n} files each, {processes} processes, "
          f"{seconds:.1f} s = {seconds / 60:.2f} min (budget 5 min: {seconds / 300:.2f} of it); "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, on "
          f"{os.cpu_count()} cores")
    return seconds, n, kinds


def _shard_job(job: tuple) -> int:
    return build_actor_shard(*job)


def per_kind_seconds(csv: Path, cfg: dict, batch_size: int, actor: int = 1) -> dict[str, float]:
    """Extraction seconds of each kind alone on one actor, times the number of actors."""
    import pandas as pd

    meta = pd.read_csv(csv)
    waves = load_waves(meta[meta["actor"] == actor]["path"].tolist(), cfg["audio"])
    sr, times = cfg["audio"]["sample_rate"], {}
    for kind, params in cfg["features"].items():
        t = time.perf_counter()
        extract_batches(waves, sr, {kind: params}, batch_size=batch_size)
        times[kind] = (time.perf_counter() - t) * meta["actor"].nunique()
    return times


def reference_one(x: np.ndarray, sr: int, f: dict) -> None:
    lm, mf, st = f["logmel"], f["mfcc"], f["stft"]
    librosa.power_to_db(librosa.feature.melspectrogram(
        y=x, sr=sr, n_fft=lm["n_fft"], win_length=lm["win_length"], hop_length=lm["hop_length"],
        n_mels=lm["n_mels"], fmin=lm["fmin"], fmax=lm["fmax"]), ref=1.0, top_db=None)
    librosa.feature.mfcc(y=x, sr=sr, n_mfcc=mf["n_mfcc"], n_fft=mf["n_fft"],
                         hop_length=mf["hop_length"], n_mels=mf["n_mels"], fmin=mf["fmin"],
                         fmax=mf["fmax"])
    librosa.amplitude_to_db(np.abs(librosa.stft(x, n_fft=st["n_fft"], hop_length=st["hop_length"])),
                            ref=np.max)
    pywt.cwt(x, np.arange(1, f["scalogram"]["n_scales"] + 1), "morl")


def run_reference(csv: Path, cfg: dict, n_files: int) -> tuple[float, int]:
    import pandas as pd

    paths = pd.read_csv(csv)["path"].tolist()
    paths = paths[:: max(1, len(paths) // n_files)][:n_files]
    t0 = time.perf_counter()
    for p in paths:
        x = load_waves([p], cfg["audio"])[0].numpy()
        reference_one(x, cfg["audio"]["sample_rate"], cfg["features"])
    return time.perf_counter() - t0, len(paths)


def storage(csv: Path, cfg: dict, out: Path) -> None:
    """Size and read time of one actor's features per codec and dtype (chunks of one item)."""
    import pandas as pd

    meta = pd.read_csv(csv)
    waves = load_waves(meta[meta["actor"] == 1]["path"].tolist(), cfg["audio"])
    feats = extract_batches(waves, cfg["audio"]["sample_rate"], cfg["features"])
    print(f"{'kind':10s} {'dtype':8s} {'codec':6s} {'MB':>7s} {'read ms':>8s}")
    for kind, data in feats.items():
        for dtype in ("float32", "float16"):
            for codec, opts in ((None, None), ("lzf", None), ("gzip", 1)):
                path = out / f"{kind}_{dtype}_{codec}.h5"
                with h5py.File(path, "w") as h5:
                    h5.create_dataset("features", data=data.numpy().astype(dtype),
                                      chunks=(1, *data.shape[1:]), compression=codec,
                                      compression_opts=opts)
                reads = []
                for _ in range(3):
                    t = time.perf_counter()
                    with h5py.File(path) as h5:
                        h5["features"][()]
                    reads.append(time.perf_counter() - t)
                label = f"{codec}-{opts}" if opts else codec or "none"
                print(f"{kind:10s} {dtype:8s} {label:6s} "
                      f"{path.stat().st_size / 1e6:7.2f} {1e3 * min(reads):8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    ap.add_argument("--ref-files", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--storage", action="store_true")
    ap.add_argument("--functionals-only", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="the first 8 files of the corpus and 2 reference files: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.ref_files = 2
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    functional = {k: v for k, v in cfg["features"].items() if is_functional(k)}
    cfg["features"] = {k: v for k, v in cfg["features"].items()
                       if k in FEATURES and not runs_encoder(k)}
    with tempfile.TemporaryDirectory() as tmp:
        csv = corpus_csv(args.corpus, Path(tmp), 8 if args.quick else None)
        if args.storage:
            return storage(csv, cfg, Path(tmp))
        run_functionals(csv, {**cfg, "features": functional}, Path(tmp), args.threads)
        if args.functionals_only:
            return None
        ours_s, n, steps = run_ours(csv, cfg, Path(tmp), args.batch_size)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        per_kind = per_kind_seconds(csv, cfg, args.batch_size)
        ref_s, n_ref = run_reference(csv, cfg, args.ref_files)
    ours_fps, ref_fps = n / ours_s, n_ref / ref_s
    print(f"threads={args.threads} batch={args.batch_size} kinds={','.join(cfg['features'])}")
    print(f"{'path':34s} {'files':>6s} {'seconds':>8s} {'files/s':>8s}")
    print(f"{'ours (torch, batched, all kinds)':34s} {n:6d} {ours_s:8.1f} {ours_fps:8.1f}")
    print(f"{'reference (librosa + pywt per file)':34s} {n_ref:6d} {ref_s:8.1f} {ref_fps:8.2f}")
    print(f"speed-up: {ours_fps / ref_fps:.1f}x   reference on {n} files (extrapolated): "
          f"{n / ref_fps:.0f} s   our peak RSS: {peak_mb:.0f} MB")
    print("ours per step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    print("ours per kind alone (actor 1 x 24, s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in per_kind.items()))


if __name__ == "__main__":
    main()
