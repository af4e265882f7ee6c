"""A realistic finished tiny run for the report's tests, and a parser for the HTML it renders.

`build_run` lays out what the pipeline leaves behind: results/metadata.csv from the real corpus,
results/folds.csv from ser.data.folds, and per model x fold the trainer's history.csv,
predictions.csv and metrics.json (scores computed by ser.metrics from the predictions), plus
Snakemake benchmark TSVs, and results/corpus.json. Predictions come from a fixed RNG: each model
gets every test file right with its own probability, so models differ and folds vary as in a real
run; the validation scores of metrics.json come the same way from the validation actors' files
with another probability, so that the scratch model best on validation (kaggle_cnn1d) is not the
one best on test (cnnx), as happens in real runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ser.data.folds import make_folds
from ser.data.provenance import write_corpus_record
from ser.data.labels import encode
from ser.data.ravdess import scan_corpus
from ser.metrics import classification_metrics

REPO = Path(__file__).resolve().parents[1]
# One test actor per fold of each published list (emobox: 6 folds; dchung: 3 of its 4 folds).
ACTORS = {"emobox_6fold": (1, 2, 3, 4, 6, 8), "dchung_4fold": (1, 4, 20),
          "actor_kfold": (1, 2, 3, 4, 5, 6), "random_kfold": (1, 2, 3, 4, 5, 6)}
# model -> family, arch, features, probability of a right answer on test, and on validation
MODELS = {"kaggle_cnn1d": ("scratch", "kaggle_cnn1d", ["mfcc"], 0.40, 0.60),
          "cnnx": ("scratch", "cnnx", ["logmel"], 0.50, 0.40),
          "resnet18": ("transfer", "resnet18", ["stft", "scalogram", "mfcc"], 0.62, 0.55)}
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"


@dataclass
class TinyRun:
    root: Path
    metrics_paths: list[Path]
    models_dir: Path
    folds_csv: Path
    metadata_csv: Path
    benchmark_paths: list[Path]
    config: dict
    corpus_json: Path


@lru_cache(maxsize=None)
def corpus_metadata(corpus: Path, actors: tuple[int, ...]) -> pd.DataFrame:
    return scan_corpus(corpus, actors=list(actors))


def _predictions(test: pd.DataFrame, skill: float, rng: np.random.Generator):
    y_true, classes = encode(test, "emotion")
    n, c = len(y_true), len(classes)
    right = rng.random(n) < skill
    y_pred = np.where(right, y_true, (y_true + rng.integers(1, c, n)) % c)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y_pred] = logits.max(1) + rng.uniform(0.1, 2.0, n)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    table = test[["file", "actor", "gender", "intensity"]].reset_index(drop=True)
    table = table.assign(y_true=y_true, y_pred=probs.argmax(1))
    for i, name in enumerate(classes):
        table[f"p_{name}"] = probs[:, i]
    return table, classes


def _history(epochs: int, rng: np.random.Generator) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    train_loss = 2.1 * np.exp(-e / 4) + rng.uniform(0, 0.05, epochs)
    val_loss = train_loss + 0.2 + rng.uniform(0, 0.1, epochs)
    return pd.DataFrame({"epoch": e, "train_loss": train_loss, "train_acc": 1 - train_loss / 2.5,
                         "val_loss": val_loss, "val_acc": 1 - val_loss / 2.5,
                         "lr": 1e-3, "seconds": rng.uniform(5, 9, epochs)})


def _write_fold(out: Path, model: str, fold: int, folds: pd.DataFrame, meta: pd.DataFrame,
                scheme: str, weights: str, rng: np.random.Generator) -> Path:
    family, arch, features, skill, val_skill = MODELS[model]
    split = folds[folds["fold"] == fold].merge(meta, on=["file", "actor"])
    test = split[split["split"] == "test"]
    pred, classes = _predictions(test, skill, rng)
    val_pred, _ = _predictions(split[split["split"] == "val"], val_skill, rng)
    val = classification_metrics(val_pred["y_true"].to_numpy(), val_pred["y_pred"].to_numpy(),
                                 len(classes))
    history = _history(6, rng)
    scores = classification_metrics(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(),
                                     len(classes))
    scores.pop("confusion_matrix")
    out.mkdir(parents=True)
    pred.to_csv(out / "predictions.csv", index=False)
    history.to_csv(out / "history.csv", index=False)
    count = split["split"].value_counts()
    metrics = {"model": model, "arch": arch, "family": family,
               "weights": weights if family == "transfer" else "none (random init)",
               "features": features, "protocol": scheme, "label_set": "emotion", "fold": fold,
               "n_train": int(count.get("train", 0)), "n_val": int(count.get("val", 0)),
               "n_test": int(count.get("test", 0)), **scores,
               "val_accuracy": val["accuracy"], "val_unweighted_accuracy": val["unweighted_accuracy"],
               "best_epoch": int(history["val_loss"].idxmin()) + 1, "epochs_run": len(history),
               "train_seconds": float(history["seconds"].sum()), "device": "cpu", "seed": 0,
               "classes": classes}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return out / "metrics.json"


def _write_benchmarks(root: Path, jobs: dict[str, list[str]], rng: np.random.Generator):
    paths = []
    for rule, names in jobs.items():
        for name in names:
            path = root / "logs" / "benchmarks" / rule / f"{name}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            s = rng.uniform(1, 300)
            rss = "-" if rule == "folds" else f"{rng.uniform(100, 4000):.2f}"
            path.write_text(f"{BENCH_HEADER}\n{s:.4f}\t0:00:{int(s) % 60:02d}\t{rss}\t5000.1\t"
                            f"900.2\t950.3\t1.0\t2.0\t95.5\t{s * 0.9:.2f}\n")
            paths.append(path)
    return paths


def build_run(root: Path, corpus: Path, scheme: str = "emobox_6fold",
              transfer_weights: str = "imagenet:IMAGENET1K_V1", seed: int = 0) -> TinyRun:
    """A finished run of MODELS on the real corpus's file names under `root`."""
    actors = ACTORS[scheme]
    meta = corpus_metadata(corpus, actors)
    k = 3 if scheme in ("actor_kfold", "random_kfold") else None
    folds = make_folds(meta, scheme, k=k, seed=0, n_val_actors=1)
    results = root / "results"
    results.mkdir(parents=True)
    meta.to_csv(results / "metadata.csv", index=False)
    folds.to_csv(results / "folds.csv", index=False)
    rng = np.random.default_rng(seed)
    fold_ids = sorted(folds["fold"].unique())
    paths = [_write_fold(results / "models" / m / f"fold_{f}", m, int(f), folds, meta, scheme,
                         transfer_weights, rng) for m in MODELS for f in fold_ids]
    bench = _write_benchmarks(root, {
        "metadata": ["metadata"], "folds": ["folds"],
        "features": ["mfcc"],
        "train": [f"{m}_fold_{f}" for m in MODELS for f in fold_ids]}, rng)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["protocol"].update(scheme=scheme, n_val_actors=1)
    config["ravdess"].update(actors=list(actors), source=str(corpus))
    write_corpus_record(str(corpus), config["ravdess"]["md5"], results / "metadata.csv",
                        results / "corpus.json")
    return TinyRun(root, paths, results / "models", results / "folds.csv",
                   results / "metadata.csv", bench, config, results / "corpus.json")


class ReportParser(HTMLParser):
    """Tables (id -> rows of cell texts, header first), ids of images and the answer's text."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[dict[str, str]] = []
        self.links: list[tuple[str, str]] = []
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._id_stack: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.links += [(k, v) for k, v in attrs if k in ("src", "href") and v]
        if tag == "img":
            self.images.append(a)
        if tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        if tag == "p":
            self._id_stack.append(a.get("id"))
            self.texts.setdefault(a.get("id") or "", "")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._id_stack:
            self._id_stack.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data + " ")
        if self._id_stack and self._id_stack[-1]:
            self.texts[self._id_stack[-1]] += data
