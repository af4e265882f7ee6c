"""One prepared GPU run: the registry's models on real RAVDESS under emobox_6fold, timed.

Made for a bare machine with one CUDA GPU (benchmarks/device/README.md says how the checkout,
the corpus and the wheels get there). It calls the functions the pipeline's rules call, with
config.yaml's recipes: `scan_corpus` (rule metadata), `make_folds` (rule folds),
`build_actor_shard` (rule features, built when a model first needs the kind) and `run_training`
(rule train). After every job it rewrites device.csv and device.md in --out, each by an atomic
rename, so the table is never half-written.

Order within --budget-s: CNN-14 + attention and CNN-14 on every fold, fold by fold, then the
first fold of every other model, then their other folds. A job starts only when the budget left
covers its expected cost (the mean of the model's finished folds; a model's first fold needs
MIN_START_S); a running job stops after the epoch that would overrun it (status `stopped`).
Models whose pretrained weights are not in --weights-dir train from random init, and their
`weights` cell says so.

    python benchmarks/device/run.py --out OUT [--budget-s 480] [--models cnn14 cnnx]
    python benchmarks/device/run.py --out OUT --smoke      # CPU check: 6 actors, 2 models, 1 epoch
"""
from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ser.data.folds import fold_ids, make_folds, write_folds  # noqa: E402
from ser.data.ravdess import scan_corpus, write_metadata  # noqa: E402
from ser.features.shards import build_actor_shard  # noqa: E402
from ser.gpu import claim_gpu  # noqa: E402
from ser.io import atomic_file  # noqa: E402
from ser.logs import job_log  # noqa: E402
from ser.models import get_spec  # noqa: E402
from ser.models.weights import WeightsUnavailableError  # noqa: E402

FIRST = ("cnn14_attn", "cnn14")  # the seed's strongest scratch rows: every fold, before the rest
MIN_START_S = 30.0  # a job of unknown cost starts only with this much budget left
SMOKE = {"actors": [1, 11, 20, 4, 10, 12], "models": ["kaggle_cnn1d", "cnnx"], "epochs": 1}
COLUMNS = ["model", "fold", "status", "weights", "epochs_run", "best_epoch", "s_per_epoch",
           "train_s", "job_s", "peak_memory_mb", "wa", "ua", "f1_macro", "device"]


class OutOfBudget(Exception):
    """Raised after an epoch when the next one would end past the deadline; keeps the cost."""

    def __init__(self, epoch: int, per_epoch: float) -> None:
        super().__init__(f"epoch {epoch}: one more ({per_epoch:.1f} s) passes the budget")
        self.epoch, self.per_epoch = epoch, per_epoch


def job_order(models: list[str], folds: list[int]) -> list[tuple[str, int]]:
    """FIRST on every fold (fold by fold), then fold 1 of the others, then their other folds."""
    first = [m for m in FIRST if m in models]
    rest = [m for m in models if m not in first]
    jobs = [(m, f) for f in folds for m in first]
    jobs += [(m, folds[0]) for m in rest]
    return jobs + [(m, f) for f in folds[1:] for m in rest]


def torch_models(config: dict, log: logging.Logger) -> list[str]:
    """The config's models that the train rule fits (the GPU's work); linear models and fusions
    are fitted on the CPU by train_classical and fuse, in seconds."""
    trainer = {m: get_spec(entry["arch"]).trainer for m, entry in config["models"].items()}
    others = [m for m, t in trainer.items() if t != "torch"]
    if others:
        log.info("not on the GPU (fitted on the CPU): %s", ", ".join(others))
    return [m for m, t in trainer.items() if t == "torch"]


def expected_cost(rows: list[dict], model: str) -> float | None:
    """Mean wall time of the model's finished folds; None before the first one."""
    done = [r["job_s"] for r in rows if r["model"] == model and r["status"] == "done"]
    return sum(done) / len(done) if done else None


def budget_guard(deadline: float, started: float, max_epochs: int):
    """An `after_epoch` callback: stop when one more epoch would end past `deadline`."""
    def check(epoch: int) -> None:
        per_epoch = (time.time() - started) / epoch
        if epoch < max_epochs and time.time() + per_epoch > deadline:
            raise OutOfBudget(epoch, per_epoch)
    return check


def overlay(base: dict, layer: dict) -> dict:
    """`layer` merged into `base` key by key, as Snakemake's --configfile merges a preset."""
    merged = dict(base)
    for key, value in layer.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = overlay(merged[key], value) if both else value
    return merged


def prepare_data(corpus: Path, actors: list[int], protocol: dict, work: Path) -> list[int]:
    """results/metadata.csv and results/folds.csv, as the rules metadata and folds write them."""
    meta = scan_corpus(corpus, actors=actors)
    write_metadata(meta, work / "metadata.csv")
    folds = make_folds(meta, protocol["scheme"], k=protocol["k"], seed=protocol["seed"],
                       n_val_actors=protocol["n_val_actors"])
    write_folds(folds, work / "folds.csv")
    return fold_ids(protocol["scheme"], actors, protocol["k"])


def feature_shards(kind: str, config: dict, actors: list[int], work: Path,
                   log: logging.Logger) -> list[str]:
    """Every actor's shard of `kind`, built by the features rule's function when missing."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # pretrained encoders run there
    paths = []
    for actor in actors:
        path = work / "features" / kind / f"actor_{actor:02d}.h5"
        if not path.is_file():
            build_actor_shard(work / "metadata.csv", actor, kind, config["features"][kind],
                              config["audio"], path, device=device,
                              weights_dir=config["weights"]["cache_dir"], log=log)
        paths.append(str(path))
    return paths


def weights_choice(model_cfg: dict, weights_dir: Path) -> tuple[dict, str]:
    """The config entry to train here, and what the `weights` cell adds about it."""
    wanted = str(model_cfg.get("pretrained", "none"))
    at_hand = weights_dir.is_dir() and any(weights_dir.iterdir())
    if wanted in ("none", "packaged") or at_hand:  # packaged weights travel in their wheel
        return dict(model_cfg), ""
    return {**model_cfg, "pretrained": "none"}, f"{wanted} weights not at hand"


def model_entry(config: dict, model: str, epochs: int | None) -> dict:
    """The model's config entry; `epochs` caps its schedule (a warm-up kept shorter than it)."""
    entry = dict(config["models"][model])
    if epochs is not None:
        entry["epochs"] = epochs
        warmup = entry.get("warmup_epochs", config["training"].get("warmup_epochs", 0))
        entry["warmup_epochs"] = min(int(warmup), epochs - 1)
    return entry


def train_job(model: str, fold: int, config: dict, args: argparse.Namespace,
              shards: dict[str, list[str]], deadline: float, log: logging.Logger) -> dict:
    """One (model, fold) through run_training, as the train rule runs it; returns its row."""
    from ser.train.run import TrainJob, run_training

    entry, note = weights_choice(model_entry(config, model, args.epochs), args.weights_dir)
    started = time.time()
    max_epochs = int(entry.get("epochs", config["training"]["epochs"]))

    def run(cfg: dict) -> dict:
        job = TrainJob(
            model_name=model, model_cfg=cfg, training_defaults=config["training"],
            protocol=config["protocol"], label_set=config["labels"], feature_shards=shards,
            feature_params={k: config["features"][k] for k in shards},
            metadata_csv=args.workdir / "metadata.csv", folds_csv=args.workdir / "folds.csv",
            fold=fold, out_dir=args.workdir / "models" / model / f"fold_{fold}",
            weights_cache_dir=args.weights_dir)
        return run_training(job, log, after_epoch=budget_guard(deadline, started, max_epochs))

    try:
        metrics = run(entry)
    except WeightsUnavailableError as err:  # a file missing from --weights-dir: say so, go on
        log.warning("%s: %s; random init instead", model, err)
        note = f"{entry['pretrained']} weights not at hand"
        metrics = run({**entry, "pretrained": "none"})
    return finished_row(model, fold, metrics, time.time() - started, note)


def finished_row(model: str, fold: int, m: dict, job_s: float, note: str) -> dict:
    weights = m["weights"] + (f"; {note}" if note else "")
    return {"model": model, "fold": fold, "status": "done", "weights": weights,
            "epochs_run": m["epochs_run"], "best_epoch": m["best_epoch"],
            "s_per_epoch": m["train_seconds"] / max(1, m["epochs_run"]),
            "train_s": m["train_seconds"], "job_s": job_s, "peak_memory_mb": m["peak_memory_mb"],
            "wa": m["accuracy"], "ua": m["unweighted_accuracy"], "f1_macro": m["f1_macro"],
            "device": m["device"]}


def unfinished_row(model: str, fold: int, status: str, job_s: float,
                   stop: OutOfBudget | None = None) -> dict:
    """A job that stopped on the budget or failed: its cost is known, its scores are not.
    A stopped one keeps its epochs and seconds per epoch (validation included), for projections."""
    row = {c: None for c in COLUMNS}
    if stop is not None:
        row.update(epochs_run=stop.epoch, s_per_epoch=stop.per_epoch)
    return {**row, "model": model, "fold": fold, "status": status, "job_s": job_s}


def run_info(args: argparse.Namespace) -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "gpu": gpu,
            "torch": torch.__version__, "python": sys.version.split()[0],
            "budget_s": args.budget_s, "wall_s": round(time.time() - args.started_at, 1),
            "seed": args.seed}  # None: the config's training seed


def write_table(out: Path, rows: list[dict], info: dict, not_started: list[str]) -> None:
    """device.csv, device.md and run.json, each replaced whole."""
    table = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_file(out / "device.csv") as tmp:
        table.to_csv(tmp, index=False)
    head = (f"{info['date']}, {info['gpu']}, torch {info['torch']}, Python {info['python']}: "
            f"wall time {info['wall_s']:.0f} s of a {info['budget_s']:.0f} s budget, "
            f"{info['features_s']:.0f} s of it feature extraction (counted from --started-at).")
    rest = f"\n\nNot started (budget): {', '.join(not_started)}." if not_started else ""
    with atomic_file(out / "device.md") as tmp:
        tmp.write_text(f"{head}\n\n{table.to_markdown(index=False, floatfmt='.4g')}{rest}\n")
    with atomic_file(out / "run.json") as tmp:
        tmp.write_text(json.dumps({**info, "not_started": not_started}, indent=2) + "\n")


def run_jobs(jobs: list[tuple[str, int]], args: argparse.Namespace, config: dict,
             actors: list[int], log: logging.Logger) -> None:
    """Each job in order while the budget lasts; the table is rewritten after each one."""
    deadline = args.started_at + args.budget_s
    rows: list[dict] = []
    skipped: list[str] = []
    info = {"features_s": 0.0}
    for i, (model, fold) in enumerate(jobs):
        left, cost = deadline - time.time(), expected_cost(rows, model)
        if left < (MIN_START_S if cost is None else cost):
            log.info("%s fold %d not started: %.0f s left, expected %s s", model, fold, left,
                     "unknown" if cost is None else f"{cost:.0f}")
            skipped.append(f"{model} fold {fold}")
            continue
        rows.append(one_job(model, fold, args, config, actors, deadline, info, log))
        write_table(args.out, rows, {**run_info(args), **info},
                    skipped + [f"{m} fold {f}" for m, f in jobs[i + 1:]])
    write_table(args.out, rows, {**run_info(args), **info}, skipped)


def one_job(model: str, fold: int, args: argparse.Namespace, config: dict, actors: list[int],
            deadline: float, info: dict, log: logging.Logger) -> dict:
    """The job's row: finished, stopped on the budget, or failed (the run goes on)."""
    started = time.time()
    try:
        kinds = get_spec(config["models"][model]["arch"]).input.features
        shards = {k: feature_shards(k, config, actors, args.workdir, log) for k in kinds}
        info["features_s"] = round(info["features_s"] + time.time() - started, 1)
        started = time.time()
        return train_job(model, fold, config, args, shards, deadline, log)
    except OutOfBudget as err:
        log.info("%s fold %d stopped: %s", model, fold, err)
        return unfinished_row(model, fold, "stopped", time.time() - started, err)
    except Exception as err:  # noqa: BLE001 - one broken model must not cost the others
        log.exception("%s fold %d failed", model, fold)
        status = f"failed: {type(err).__name__}: {err}"[:200]
        return unfinished_row(model, fold, status, time.time() - started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for device.csv/.md, run.json")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="seconds from --started-at after which no epoch starts (default 480)")
    p.add_argument("--started-at", type=float, default=None,
                   help="Unix time the budget counts from (run.sh passes the install's start)")
    p.add_argument("--corpus", type=Path, default=REPO / ".data" / "ravdess-16k")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ser-device"),
                   help="metadata, folds, shards and checkpoints (not sent back)")
    p.add_argument("--config", type=Path, default=REPO / "config.yaml")
    p.add_argument("--preset", type=Path, nargs="*", default=[],
                   help="workflow/presets files merged over --config, as --configfile does")
    p.add_argument("--weights-dir", type=Path, default=None,
                   help="pretrained weights at hand (default: the config's weights.cache_dir)")
    p.add_argument("--models", nargs="+", default=None, help="default: every config model")
    p.add_argument("--actors", nargs="+", type=int, default=None)
    p.add_argument("--folds", nargs="+", type=int, default=None,
                   help="only these folds (default: every fold of the protocol)")
    p.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: the config's)")
    p.add_argument("--smoke", action="store_true",
                   help=f"CPU check of the command: {SMOKE}")
    args = p.parse_args(argv)
    for key, value in SMOKE.items() if args.smoke else ():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.started_at = args.started_at or time.time()
    return args


def load_config(args: argparse.Namespace) -> dict:
    """--config with each --preset merged over it, and --seed in place of its training seed."""
    config = yaml.safe_load(args.config.read_text())
    for preset in args.preset:
        config = overlay(config, yaml.safe_load(preset.read_text()))
    if args.seed is not None:  # a rerun on another seed
        config["training"] = {**config["training"], "seed": args.seed}
    return config


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = load_config(args)
    # before CUDA starts, as scripts/train.py does, with the config's slots per card
    claim_gpu(**config.get("gpu", {}))
    socket.setdefaulttimeout(20)  # a weights download on a machine without network fails fast
    args.out.mkdir(parents=True, exist_ok=True)
    with job_log(args.out / "run.log", "device") as log:
        log.info("protocol %s, presets %s, seed %s", config["protocol"],
                 [str(p) for p in args.preset], config["training"]["seed"])
        args.weights_dir = args.weights_dir or Path(config["weights"]["cache_dir"])
        actors = sorted(args.actors or config["ravdess"]["actors"])
        folds = prepare_data(args.corpus, actors, config["protocol"], args.workdir)
        jobs = job_order(args.models or torch_models(config, log), args.folds or folds)
        log.info("%d jobs in order: %s", len(jobs), jobs)
        run_jobs(jobs, args, config, actors, log)
        log.info("done in %.0f s", time.time() - args.started_at)


if __name__ == "__main__":
    main()
