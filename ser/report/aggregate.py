"""Every fold's metrics.json in one table: results/metrics.csv, one row per model x fold."""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

import pandas as pd

from ser.io import atomic_file, read_json_object
from ser.models.registry import Family

REQUIRED = ("model", "family", "weights", "protocol", "fold", "accuracy", "unweighted_accuracy",
            "precision_macro", "recall_macro", "f1_macro")
FAMILIES = get_args(Family)  # the registry's families: scratch, transfer, classical
LEADING = ["model", "fold", "family", "arch", "weights", "features", "protocol", "label_set"]


def read_metrics_json(path: str | Path) -> dict:
    """One fold's metrics as a flat row: scalars kept, `features` joined with '+', lists dropped."""
    path = Path(path)
    raw = read_json_object(path, "fold metrics", REQUIRED)
    if raw["family"] not in FAMILIES:
        raise ValueError(f"{path}: family must be one of {FAMILIES}, got {raw['family']!r}")
    row = {k: v for k, v in raw.items() if v is None or isinstance(v, (str, int, float, bool))}
    features = raw.get("features", [])
    row["features"] = "+".join(features) if isinstance(features, list) else str(features)
    row["fold"] = int(raw["fold"])
    for key in REQUIRED[5:]:
        if not isinstance(raw[key], (int, float)) or math.isnan(raw[key]):
            raise ValueError(f"{path}: {key} must be a number, got {raw[key]!r}")
    return row


def aggregate(metrics_paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per model x fold, sorted by model then fold; duplicates are an error."""
    rows = [read_metrics_json(p) for p in metrics_paths]
    if not rows:
        raise ValueError("no metrics.json given: nothing to aggregate")
    table = pd.DataFrame(rows)
    dup = table.duplicated(["model", "fold"], keep=False)
    if dup.any():
        pairs = sorted(set(zip(table.loc[dup, "model"], table.loc[dup, "fold"])))
        raise ValueError(f"the same model and fold appear in several metrics.json: {pairs}")
    protocols = sorted(table["protocol"].astype(str).unique())
    if len(protocols) > 1:
        # Scores of different fold lists are not comparable, so one table holds one protocol.
        raise ValueError(f"metrics.json files come from several protocols {protocols}")
    columns = [c for c in LEADING if c in table] + [c for c in table if c not in LEADING]
    return table[columns].sort_values(["model", "fold"], ignore_index=True)


def write_metrics_table(metrics_paths: Iterable[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """aggregate() written atomically to `out_csv` (results/metrics.csv)."""
    table = aggregate(metrics_paths)
    with atomic_file(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table


def read_metrics_csv(path: str | Path) -> pd.DataFrame:
    """results/metrics.csv, checked for the columns the report needs."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: cannot read the metrics table: {exc}") from exc
    missing = [k for k in REQUIRED if k not in table]
    if missing:
        raise ValueError(f"{path}: metrics table lacks columns {missing}")
    if table.empty:
        raise ValueError(f"{path}: the metrics table has no rows")
    return table.sort_values(["model", "fold"], ignore_index=True)
