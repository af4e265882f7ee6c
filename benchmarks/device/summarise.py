"""The tables of a GPU session (session.sh), from what came back: one card's slots, one against
four, and every torch model's cost with the whole comparison's GPU time projected from it.

    python benchmarks/device/summarise.py session.tar.gz [--write benchmarks/device/results]
    python benchmarks/device/summarise.py runs.tar.gz --folds   # every fold of full recipes
    python benchmarks/device/summarise.py runs.tar.gz --registry benchmarks/results/registry.csv \
        --setup "..." --command "..." [--seed 1]                # those folds into the registry
    python benchmarks/device/summarise.py runs.tar.gz --registry ... --setup "..." --rerun-check

Slots: cnn6 alone (gpu.jobs_per_device 1) against four cnn6 jobs started together (4 slots on
the card); the work per second is the sum over the jobs of epochs per second.
Projection: each model's seconds per epoch on fold 1 (measured with four jobs sharing the card),
times its recipe's epochs (config.yaml; early stopping ends most runs sooner, so an upper bound),
times the protocol's six folds, plus its job's fixed cost (loading, testing) per fold; the
comparison's wall time with four jobs at a time on one card is the sum over four.
"""
from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
FOLDS, SLOTS = 6, 4


def unpack(source: Path) -> Path:
    """The run folders' parent: `source` itself, or the one folder its archive holds."""
    if source.is_dir():
        return source
    folder = Path(tempfile.mkdtemp(prefix="session-"))
    with tarfile.open(source) as tar:
        tar.extractall(folder, filter="data")
    tops = [p for p in folder.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else folder


def folds(folder: Path) -> pd.DataFrame:
    """Mean ± std over the folds of each model whose runs finished (`--folds`)."""
    runs = table(folder, "")
    runs = runs[runs["status"] == "done"]
    rows = []
    for model, r in runs.groupby("model", sort=False):
        rows.append({"model": model, "folds": " ".join(str(f) for f in sorted(r["fold"])),
                     "epochs_run": f"{r['epochs_run'].min():.0f}-{r['epochs_run'].max():.0f}",
                     "s_per_epoch": f"{r['s_per_epoch'].min():.2f}-{r['s_per_epoch'].max():.2f}",
                     "peak_memory_mb": r["peak_memory_mb"].max(),
                     **{m: f"{100 * r[m].mean():.2f} ± {100 * r[m].std(ddof=1):.2f}"
                        for m in ("ua", "wa", "f1_macro")}})
    return pd.DataFrame(rows)


def table(folder: Path, prefix: str) -> pd.DataFrame:
    frames = [pd.read_csv(f).assign(run=f.parent.name)
              for f in sorted(folder.glob(f"{prefix}*/device.csv"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def slots(folder: Path) -> pd.DataFrame:
    """One row per set-up: jobs on the card, seconds per epoch of each, epochs per second."""
    one, four = table(folder, "one"), table(folder, "four_")
    rows = []
    for name, runs in (("1 job (jobs_per_device 1)", one), ("4 jobs (jobs_per_device 4)", four)):
        runs = runs[runs["s_per_epoch"].notna()]
        if runs.empty:
            continue
        rows.append({"set-up": name, "jobs": len(runs),
                     "s_per_epoch_each": " / ".join(f"{s:.2f}" for s in runs["s_per_epoch"]),
                     "peak_memory_mb_each": " / ".join(f"{m:.0f}" for m in
                                                       runs["peak_memory_mb"].fillna(0)),
                     "epochs_per_s": float((1 / runs["s_per_epoch"]).sum())})
    out = pd.DataFrame(rows)
    if len(out) == 2:
        out["work_per_s_vs_1_job"] = out["epochs_per_s"] / out["epochs_per_s"].iloc[0]
    return out


def recipe_epochs(model: str, config: dict) -> int:
    return int(config["models"][model].get("epochs", config["training"]["epochs"]))


def projection(folder: Path, config: dict) -> pd.DataFrame:
    """Every model's measured cost and its six folds at the recipe's epochs."""
    runs = table(folder, "all_")
    rows = []
    for _, r in runs.iterrows():
        row = {"model": r["model"], "status": str(r["status"])[:90], "weights": r["weights"],
               "epochs_measured": r["epochs_run"], "s_per_epoch_4_sharing": r["s_per_epoch"],
               "peak_memory_mb": r["peak_memory_mb"]}
        if pd.notna(r["s_per_epoch"]):
            epochs = recipe_epochs(r["model"], config)
            fixed = max(0.0, float(r["job_s"]) - float(r["s_per_epoch"]) * float(r["epochs_run"]))
            row.update(recipe_epochs=epochs,
                       six_folds_gpu_min=FOLDS * (epochs * r["s_per_epoch"] + fixed) / 60)
        rows.append(row)
    return pd.DataFrame(rows)


def register(folder: Path, registry: Path, setup: str, command: str, seed: int | None = None,
             check: bool = False) -> pd.DataFrame:
    """Each model's finished folds as registry rows (no validation scores come back from the
    machine, so the rows carry none); the run's date, GPU, seed and wall time from its run.json
    (`seed` for archives whose run.json predates its seed). `check`: compare them with the
    registry's rows of the same set-up instead of adding them (a rerun)."""
    sys.path.insert(0, str(REPO))
    from ser.models import get_spec
    from ser.report.registry import add_rows, read_registry, rerun_check, rows_from_metrics

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    runs = table(folder, "")
    runs = runs[runs["status"] == "done"]
    infos = [json.loads(f.read_text()) for f in sorted(folder.glob("*/run.json"))]
    seeds = {i.get("seed") for i in infos} - {None}
    if seed is None:
        seed = seeds.pop() if len(seeds) == 1 else int(config["training"]["seed"])
    elif seeds and seeds != {seed}:
        raise SystemExit(f"{folder}: run.json says seed {sorted(seeds)}, --seed says {seed}")
    metrics = pd.DataFrame({
        "model": runs["model"], "fold": runs["fold"], "weights": runs["weights"], "seed": seed,
        "family": [get_spec(config["models"][m]["arch"]).family for m in runs["model"]],
        "protocol": config["protocol"]["scheme"], "unweighted_accuracy": runs["ua"],
        "accuracy": runs["wa"], "f1_macro": runs["f1_macro"]})
    rows = rows_from_metrics(metrics, setup=setup, command=command,
                             wall_min=max(i["wall_s"] for i in infos) / 60,
                             hw=f"{infos[0]['gpu']} (device machine, torch {infos[0]['torch']})",
                             date=min(i["date"] for i in infos)[:10])
    if check:
        return rerun_check(read_registry(registry), rows)
    add_rows(registry, rows)
    return rows[["model", "family", "seed", "ua", "wa", "f1_macro", "date", "wall_min"]]


def features_seconds(folder: Path) -> dict[str, float]:
    return {f.parent.name: json.loads(f.read_text()).get("features_s", 0.0)
            for f in sorted(folder.glob("*/run.json"))}


def report(folder: Path, proj: pd.DataFrame, slot_table: pd.DataFrame) -> str:
    gpu = (folder / "gpu.txt").read_text().strip() if (folder / "gpu.txt").is_file() else "?"
    total = proj.get("six_folds_gpu_min", pd.Series(dtype=float)).sum()
    parts = [f"GPU: {gpu}", "", "## One card, 1 job against 4", "",
             slot_table.to_markdown(index=False, floatfmt=".3g"), "",
             "## Every torch model of config.yaml, fold 1, four jobs sharing the card", "",
             proj.to_markdown(index=False, floatfmt=".3g"), "",
             f"Projected: {total:.0f} GPU-minutes for the six folds of every model that ran "
             f"(at the recipes' epochs), {total / SLOTS:.0f} minutes of wall time four at a time.",
             f"Feature extraction per run (s, CPU kinds on the CPU, encoders on the GPU): "
             f"{features_seconds(folder)}"]
    for name in ("encoders_packaged.csv", "encoders_hub.csv"):
        if (folder / name).is_file():
            parts += ["", f"## {name[:-4]}", "",
                      pd.read_csv(folder / name).to_markdown(index=False, floatfmt=".3g")]
    return "\n".join(parts) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("session", type=Path, help="session.tar.gz or its unpacked folder")
    p.add_argument("--write", type=Path, help="folder for session_<date>.md and its CSVs")
    p.add_argument("--registry", type=Path,
                   help="add each model's finished folds to this results registry")
    p.add_argument("--setup", default="H200 GPU, bf16 AMP; config.yaml; weights: config",
                   help="the registry's set-up cell")
    p.add_argument("--command", default="bash benchmarks/device/run.sh (device tool)",
                   help="the device command that measured the runs, for the registry")
    p.add_argument("--seed", type=int,
                   help="the runs' training seed, for archives whose run.json does not say it")
    p.add_argument("--rerun-check", action="store_true",
                   help="with --registry: compare the runs with the registry's rows of --setup "
                        "(same seed: identical folds?) instead of adding them")
    p.add_argument("--folds", action="store_true",
                   help="only mean ± std over folds of each model (runs of full recipes)")
    args = p.parse_args()
    folder = unpack(args.session)
    if args.folds:
        print(folds(folder).to_markdown(index=False, floatfmt=".0f"))
        return
    if args.registry:
        print(register(folder, args.registry, args.setup, args.command, args.seed,
                       args.rerun_check).to_markdown(index=False))
        return
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    proj, slot_table = projection(folder, config), slots(folder)
    text = report(folder, proj, slot_table)
    print(text)
    if args.write:
        date = json.loads(next(folder.glob("*/run.json")).read_text())["date"][:10]
        args.write.mkdir(parents=True, exist_ok=True)
        (args.write / f"session_{date}.md").write_text(text)
        proj.to_csv(args.write / f"session_{date}_models.csv", index=False)
        slot_table.to_csv(args.write / f"session_{date}_slots.csv", index=False)


if __name__ == "__main__":
    sys.exit(main())
