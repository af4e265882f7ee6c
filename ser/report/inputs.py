"""Everything the report reads, loaded and checked once: one `RunData` per report."""
from __future__ import annotations

import io
import json
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from importlib import resources
from pathlib import Path

import pandas as pd

from ser.data.provenance import read_corpus_record
from ser.io import read_table, require_columns
from ser.report.aggregate import read_metrics_csv

PACKAGES = ("torch", "torchaudio", "torchvision", "timm", "snakemake", "numpy", "scipy",
            "scikit-learn", "pandas", "matplotlib")
BENCHMARK_COLUMNS = ("s", "max_rss", "max_vms", "io_in", "io_out", "mean_load", "cpu_time")


@dataclass
class FoldRun:
    """What one trained fold left behind beside metrics.json."""

    model: str
    fold: int
    classes: list[str]
    predictions: pd.DataFrame
    history: pd.DataFrame
    finished: datetime
    val_predictions: pd.DataFrame | None = None  # the validation files', when the fold has some


def read_fold(fold_dir: str | Path, model: str, fold: int) -> FoldRun:
    fold_dir = Path(fold_dir)
    meta_path = fold_dir / "metrics.json"
    try:
        classes = list(json.loads(meta_path.read_text())["classes"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{meta_path}: cannot read the class names: {exc!r}") from exc
    probs = [f"p_{c}" for c in classes]
    pred = read_table(fold_dir / "predictions.csv", "predictions",
                      ["file", "actor", "gender", "intensity", "y_true", "y_pred", *probs])
    for col in ("y_true", "y_pred"):
        bad = ~pred[col].between(0, len(classes) - 1)
        if bad.any():
            raise ValueError(f"{fold_dir / 'predictions.csv'}: {col} has labels outside "
                             f"0..{len(classes) - 1} ({int(bad.sum())} rows)")
    hist = read_table(fold_dir / "history.csv", "training history",
                      ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"])
    finished = datetime.fromtimestamp(meta_path.stat().st_mtime, tz=timezone.utc)
    val_path = fold_dir / "val_predictions.csv"
    val = read_table(val_path, "validation predictions", ["y_true", *probs]) \
        if val_path.is_file() else None
    return FoldRun(model, fold, classes, pred, hist, finished, val)


def read_benchmarks(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per Snakemake benchmark file: rule (its folder), job (its name), seconds, memory.

    Our rules write logs/benchmarks/{rule}/{wildcards}.tsv; repeated measurements are averaged,
    memory takes the maximum. Snakemake writes '-' where it could not measure: that becomes NaN.
    """
    rows = []
    for path in sorted(Path(p) for p in paths):
        table = read_table(path, "Snakemake benchmark", ["s", "max_rss"])
        values = {c: pd.to_numeric(table[c], errors="coerce") for c in BENCHMARK_COLUMNS
                  if c in table}
        rows.append({"rule": path.parent.name, "job": path.stem,
                     **{c: (v.max() if c.startswith("max") else v.mean())
                        for c, v in values.items()}})
    return pd.DataFrame(rows, columns=["rule", "job", *BENCHMARK_COLUMNS])


def published_results(path: str | Path | None = None) -> pd.DataFrame:
    """Published RAVDESS results (the copy shipped in ser/reference unless `path` is given)."""
    columns = ["source", "protocol", "model", "weights", "n_classes", "accuracy"]
    if path is not None:
        return read_table(path, "published results", columns)
    text = resources.files("ser").joinpath("reference", "published_results.csv").read_text()
    return require_columns(pd.read_csv(io.StringIO(text)), columns,
                           "ser/reference/published_results.csv", "published results")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class RunData:
    metrics: pd.DataFrame
    folds: dict[tuple[str, int], FoldRun]
    fold_lists: pd.DataFrame
    metadata: pd.DataFrame
    benchmarks: pd.DataFrame
    published: pd.DataFrame
    config: dict
    corpus: dict | None = None      # results/corpus.json; None: not recorded

    @property
    def n_val_actors(self) -> int:
        """Validation actors held out of each training fold (the most of any fold)."""
        val = self.fold_lists[self.fold_lists["split"] == "val"]
        return int(val.groupby("fold")["actor"].nunique().max()) if len(val) else 0

    @property
    def pinned(self) -> dict[str, str]:
        """report.compare of the config: family -> the model the user pinned."""
        return dict((self.config.get("report") or {}).get("compare") or {})

    @property
    def models(self) -> list[str]:
        return sorted(self.metrics["model"].unique())

    @property
    def protocol(self) -> str:
        return str(self.metrics["protocol"].iloc[0])

    def model_folds(self, model: str) -> list[FoldRun]:
        return [run for (m, _), run in sorted(self.folds.items()) if m == model]


def load_run(metrics_csv: str | Path, models_dir: str | Path, folds_csv: str | Path,
             metadata_csv: str | Path, benchmark_paths: Iterable[str | Path], config: dict,
             published_csv: str | Path | None = None,
             corpus_json: str | Path | None = None) -> RunData:
    """Read every input of the report; `models_dir` holds {model}/fold_{k}/."""
    metrics = read_metrics_csv(metrics_csv)
    folds = {(m, int(k)): read_fold(Path(models_dir) / m / f"fold_{int(k)}", m, int(k))
             for m, k in zip(metrics["model"], metrics["fold"])}
    fold_lists = read_table(folds_csv, "fold lists", ["fold", "file", "actor", "split"])
    metadata = read_table(metadata_csv, "corpus metadata", ["file", "actor", "emotion"])
    corpus = None if corpus_json is None else read_corpus_record(corpus_json)
    return RunData(metrics, folds, fold_lists, metadata, read_benchmarks(benchmark_paths),
                   published_results(published_csv), dict(config), corpus)
