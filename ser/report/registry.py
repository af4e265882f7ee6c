"""The results registry: one row per measured run of a model (protocol x set-up x seed), written
by the script that measured it (benchmarks/accuracy.py, benchmarks/device/summarise.py), never by
hand. The README's table and docs/results.md are generated from it (benchmarks/results_table.py).

A row keeps every fold's UA / WA / macro F1 (space-separated, in fold order) beside their means,
the mean validation UA (the number families' representatives are chosen by; empty where a run had
no validation scores), where the initial weights came from, how the recipe was chosen, and the
commit, date, hardware, command and wall time of the run.
"""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ser.io import atomic_file

COLUMNS = ["model", "family", "protocol", "setup", "seed", "folds", "ua", "wa", "f1_macro",
           "val_ua", "ua_folds", "wa_folds", "f1_folds", "weights", "chosen_by", "commit", "date",
           "hardware", "command", "wall_min"]
KEY = ["model", "protocol", "setup", "seed"]  # a rerun of the same replaces its row
METRICS = {"ua": "unweighted_accuracy", "wa": "accuracy", "f1_macro": "f1_macro"}
REPO = Path(__file__).resolve().parents[2]


def git_commit(repo: Path = REPO) -> str:
    """The checkout's commit, with `+dirty` when it has uncommitted changes to tracked files."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    try:
        commit = git("rev-parse", "--short=10", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def hardware() -> str:
    """'<CPU model>, <N> cores' and the GPU when torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                 .splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores"
    try:
        import torch
        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return text


def _folds_text(values: pd.Series) -> str:
    return " ".join(f"{100 * v:.2f}" for v in values)


def rows_from_metrics(metrics: pd.DataFrame, *, setup: str, command: str, wall_min: float,
                      chosen_by: dict[str, str] | None = None, hw: str | None = None,
                      commit: str | None = None, date: str | None = None) -> pd.DataFrame:
    """One registry row per model and seed of a run's per-fold metrics (results/metrics.csv rows,
    with a `seed` column), means in percent over the folds."""
    rows = []
    seeds = metrics["seed"] if "seed" in metrics else pd.Series(0, index=metrics.index)
    for (model, seed), runs in metrics.assign(seed=seeds).groupby(["model", "seed"], sort=True):
        runs = runs.sort_values("fold")
        val = runs.get("val_unweighted_accuracy", pd.Series(dtype=float)).astype(float)
        row = {"model": model, "family": runs["family"].iloc[0],
               "protocol": runs["protocol"].iloc[0], "setup": setup, "seed": int(seed),
               "folds": " ".join(str(int(f)) for f in runs["fold"]),
               "val_ua": round(100 * val.mean(), 2) if val.notna().any() else None,
               "weights": str(runs["weights"].iloc[0])[:200],
               "chosen_by": (chosen_by or {}).get(model, ""),
               "commit": commit or git_commit(), "hardware": hw or hardware(),
               "date": date or datetime.now(timezone.utc).strftime("%Y-%m-%d"),
               "command": command, "wall_min": round(wall_min, 1)}
        for short, column in METRICS.items():
            row[short] = round(100 * runs[column].mean(), 2)
            row[f"{short.split('_')[0]}_folds"] = _folds_text(runs[column])
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def read_registry(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    table = pd.read_csv(path, dtype={"folds": str, "ua_folds": str, "wa_folds": str,
                                     "f1_folds": str, "commit": str})
    missing = [c for c in COLUMNS if c not in table]
    if missing:
        raise ValueError(f"{path}: not a results registry, columns {missing} are missing")
    return table[COLUMNS]


def add_rows(path: str | Path, rows: pd.DataFrame) -> pd.DataFrame:
    """The registry with `rows` in it (a row of the same model, protocol, set-up and seed is
    replaced), written whole by an atomic rename."""
    old = read_registry(path)
    keys = set(map(tuple, rows[KEY].astype(str).to_numpy()))
    kept = old[[tuple(k) not in keys for k in old[KEY].astype(str).to_numpy()]]
    table = pd.concat([kept, rows], ignore_index=True) if len(kept) else rows.copy()
    table = table.sort_values(["protocol", "setup", "family", "model", "seed"],
                              ignore_index=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)
    return table


def rerun_check(registry: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """A rerun's rows against the registry's rows of the same model, protocol and set-up: the
    same seed should give the same folds, another seed a mean inside the seeds' spread."""
    out = []
    for _, new in rows.iterrows():
        old = registry[(registry["model"] == new["model"]) & (registry["protocol"] ==
                       new["protocol"]) & (registry["setup"] == new["setup"])]
        same = old[old["seed"] == new["seed"]]
        folds = [float(v) for v in str(new["ua_folds"]).split()]
        check = {"model": new["model"], "seed": new["seed"], "rerun ua": new["ua"],
                 "registry ua by seed": " / ".join(f"{s}: {u:.2f}" for s, u in
                                                   zip(old["seed"], old["ua"])) or "none"}
        if len(same):
            before = [float(v) for v in str(same["ua_folds"].iloc[0]).split()]
            diff = max(abs(a - b) for a, b in zip(folds, before)) if len(before) == len(folds) \
                else float("nan")
            check["verdict"] = ("identical on every fold" if diff == 0 and
                                all(same[c].iloc[0] == new[c] for c in ("wa_folds", "f1_folds"))
                                else f"differs: up to {diff:.2f} UA points on a fold")
        elif len(old):
            low, high = old["ua"].min(), old["ua"].max()
            fold_sd = pd.Series(folds).std() / len(folds) ** 0.5
            check["verdict"] = (f"{new['ua'] - old['ua'].mean():+.2f} points from the registry's "
                                f"seeds (range {low:.2f}-{high:.2f}; this run's standard error "
                                f"over folds {fold_sd:.2f})")
        else:
            check["verdict"] = "no registry row of this model, protocol and set-up"
        out.append(check)
    return pd.DataFrame(out)
