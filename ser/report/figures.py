"""The report's figures, drawn once as PNG bytes: inlined in the HTML and written for Snakemake.

matplotlib's object API (`Figure`, no pyplot) draws on the Agg canvas without any global state, so
rendering needs no display and leaves no figure open.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ser.io import atomic_dir
from ser.metrics import confusion_matrix
from ser.report.inputs import FoldRun, RunData
from ser.report.yardstick import three_ways, three_ways_figure

DPI = 90
FAMILY_COLOURS = {"scratch": "#1f77b4", "transfer": "#d62728", "classical": "#2ca02c",
                  "fusion": "#9467bd"}
COLOUR_NAMES = {"#1f77b4": "blue", "#d62728": "red", "#2ca02c": "green", "#9467bd": "purple"}
INTENSITY = {1: "normal", 2: "strong"}


@dataclass(frozen=True)
class ReportFigure:
    fig_id: str
    model: str | None
    kind: str
    title: str
    alt: str
    png: bytes


def figure_id(model: str, kind: str) -> str:
    """An HTML id and file name: model names come from the config and may hold any character."""
    return "fig-" + re.sub(r"[^A-Za-z0-9_.-]", "_", model) + "-" + kind


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def pooled(runs: list[FoldRun]) -> pd.DataFrame:
    """Every fold's test predictions of one model in one table (each file is tested once)."""
    return pd.concat([r.predictions.assign(fold=r.fold) for r in runs], ignore_index=True)


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    hits = np.diag(cm).astype(float)
    pred, true = cm.sum(0).astype(float), cm.sum(1).astype(float)
    return np.divide(2 * hits, pred + true, out=np.zeros(len(hits)), where=(pred + true) > 0)


def accuracy_by(pred: pd.DataFrame, column: str) -> pd.DataFrame:
    """UA (mean per-class recall) and WA of the pooled predictions per value of `column`."""
    right = (pred["y_true"] == pred["y_pred"])
    recall = right.groupby([pred[column], pred["y_true"]]).mean()
    return pd.DataFrame({"ua": recall.groupby(level=0).mean(),
                         "wa": right.groupby(pred[column]).mean()})


def confusion_figure(model: str, runs: list[FoldRun]) -> Figure:
    classes = runs[0].classes
    pred = pooled(runs)
    cm = confusion_matrix(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(), len(classes))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(5.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for (i, j), value in np.ndenumerate(norm):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if value > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{model}: confusion matrix (rows sum to 1, {len(runs)} folds pooled)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def class_f1_figure(model: str, runs: list[FoldRun]) -> Figure:
    classes = runs[0].classes
    pred = pooled(runs)
    cm = confusion_matrix(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(), len(classes))
    fig = Figure(figsize=(5.2, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(classes, per_class_f1(cm), color="#4c72b0")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.tick_params(axis="x", rotation=45)
    ax.set_title(f"{model}: F1 per class (folds pooled)")
    return fig


def groups_figure(model: str, runs: list[FoldRun]) -> Figure:
    pred = pooled(runs)
    pred = pred.assign(intensity=pred["intensity"].map(lambda v: INTENSITY.get(v, str(v))))
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    for i, column in enumerate(("gender", "intensity")):
        ax = fig.add_subplot(1, 2, i + 1)
        acc, counts = accuracy_by(pred, column), pred[column].value_counts()
        x = np.arange(len(acc))
        ax.bar(x - 0.2, acc["ua"].to_numpy(), 0.4, color="#55a868", label="UA")
        ax.bar(x + 0.2, acc["wa"].to_numpy(), 0.4, color="#c6e2cf", label="WA")
        ax.set_xticks(x, [f"{k} (n={counts[k]})" for k in acc.index])
        ax.set_ylim(0, 1)
        ax.set_title(f"UA and WA by {column}")
        ax.legend(fontsize=7)
    fig.suptitle(f"{model}: test UA (WA beside) by speaker gender and emotional intensity")
    return fig


def curves_figure(model: str, runs: list[FoldRun]) -> Figure:
    fig = Figure(figsize=(8.4, 3.2), layout="constrained")
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    # a classical model's history has one row per candidate C of its inner cross-validation, a
    # fusion's one per candidate weighting (x: the first member's weight when there are two)
    by_c = all("C" in run.history for run in runs) and bool(runs)
    by_w = [c for c in runs[0].history if c.startswith("w_")] if runs else []
    by_w = by_w if len(by_w) == 2 else []
    for run, colour in zip(runs, [f"C{i}" for i in range(len(runs))]):
        h = run.history
        x = h["C"] if by_c else h[by_w[0]] if by_w else h["epoch"]
        for ax, what in zip(axes, ("loss", "acc")):
            if pd.to_numeric(h[f"train_{what}"], errors="coerce").notna().any():  # not a fusion
                ax.plot(x, h[f"train_{what}"], color=colour, label=f"fold {run.fold} train")
            val = pd.to_numeric(h[f"val_{what}"], errors="coerce")
            if val.notna().any():
                ax.plot(x, val, color=colour, ls="--", label=f"fold {run.fold} val")
    for ax, what in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("C (inner cross-validation means)" if by_c else
                      f"weight of {by_w[0][2:]} (candidate weightings)" if by_w else "epoch")
        if by_c:
            ax.set_xscale("log")
        ax.set_ylabel(what)
    axes[1].legend(fontsize=6, ncols=2)
    fig.suptitle(f"{model}: learning curves per fold (dashed: validation)")
    return fig


def layers_figure(model: str, runs: list[FoldRun]) -> Figure:
    """A head on a pretrained encoder's layers: the inner cross-validation's UA of every layer
    (its best C), per fold and averaged: which depth of the encoder carries emotion."""
    fig = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    per_fold = []
    for run, colour in zip(runs, [f"C{i}" for i in range(len(runs))]):
        h = run.history
        best = h.groupby("layer", sort=False)["val_ua"].max() * 100
        per_fold.append(best)
        ax.plot(best.index, best.values, color=colour, alpha=0.5, marker=".",
                label=f"fold {run.fold}")
    mean = pd.concat(per_fold, axis=1).mean(axis=1)
    ax.plot(mean.index, mean.values, color="black", lw=2, marker="o", label="mean")
    ax.set_xlabel("layer (input to output)")
    ax.set_ylabel("validation UA (%)")
    ax.legend(fontsize=6, ncols=4)
    ax.set_title(f"{model}: validation UA of each layer (inner cross-validation over the "
                 f"training actors, best C)")
    return fig


def model_figure_kinds(runs: list[FoldRun]) -> dict:
    """MODEL_FIGURES, with the layer figure in place of the learning curves for a head that
    chose one of a pretrained encoder's layers."""
    kinds = dict(MODEL_FIGURES)
    if runs and all("layer" in run.history for run in runs):
        del kinds["curves"]
        kinds["layers"] = (layers_figure, "validation UA of each layer of {m}'s encoder "
                                          "(inner cross-validation, best C), per fold")
    return kinds


def overview_figure(run: RunData) -> Figure:
    """Per-fold test UA (dots) and its mean (bar) of every model, WA beside it (hollow)."""
    fig = Figure(figsize=(7.0, 1.2 + 0.45 * len(run.models)), layout="constrained")
    ax = fig.add_subplot()
    for i, model in enumerate(run.models):
        rows = run.metrics[run.metrics["model"] == model]
        colour = FAMILY_COLOURS.get(rows["family"].iloc[0], "grey")
        ax.scatter(rows["unweighted_accuracy"] * 100, [i] * len(rows), color=colour, alpha=0.6)
        ax.scatter([rows["unweighted_accuracy"].mean() * 100], [i], color=colour, marker="|",
                   s=400)
        ax.scatter(rows["accuracy"] * 100, [i - 0.25] * len(rows), facecolors="none",
                   edgecolors=colour, s=14)
    ax.set_yticks(range(len(run.models)), run.models)
    ax.set_xlabel("test UA per fold (%), bar: mean; hollow, below: WA per fold")
    present = [f for f in FAMILY_COLOURS if f in set(run.metrics["family"])]
    key = ", ".join(f"{COLOUR_NAMES[FAMILY_COLOURS[f]]}: {f}" for f in present)
    ax.set_title(f"unweighted accuracy of every fold ({key})")
    return fig


MODEL_FIGURES = {
    "confusion": (confusion_figure, "normalised confusion matrix of {m}, every fold pooled"),
    "class_f1": (class_f1_figure, "F1 of every class for {m}, every fold pooled"),
    "groups": (groups_figure, "UA and WA of {m} by speaker gender and by emotional intensity"),
    "curves": (curves_figure, "training and validation loss and accuracy of {m}, per fold"),
}


def make_figures(run: RunData) -> list[ReportFigure]:
    """The overview figure, then four figures per model (see MODEL_FIGURES)."""
    figures = [ReportFigure("fig-overview-accuracy", None, "overview", "UA per fold",
                            "per-fold test UA (and WA) of every model", _png(overview_figure(run)))]
    networks = three_ways(run.metrics)
    if networks:
        figures.append(ReportFigure("fig-three-ways", None, "three_ways", "three ways",
                                    "test UA of each network from random init, frozen and "
                                    "fine-tuned", _png(three_ways_figure(run.metrics, networks))))
    for model in run.models:
        runs = run.model_folds(model)
        for kind, (draw, alt) in model_figure_kinds(runs).items():
            figures.append(ReportFigure(figure_id(model, kind), model, kind, kind,
                                        alt.format(m=model), _png(draw(model, runs))))
    return figures


def write_figures(figures: list[ReportFigure], folder: str | Path) -> list[Path]:
    """Every figure as {fig_id}.png in `folder`, which appears complete or not at all."""
    with atomic_dir(folder) as tmp:
        for fig in figures:
            (tmp / f"{fig.fig_id}.png").write_bytes(fig.png)
    return [Path(folder) / f"{fig.fig_id}.png" for fig in figures]
