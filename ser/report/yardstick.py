"""What a validation number is worth, and what pretrained weights give: two tables of the report.

- Optimism: every model's mean validation UA (the number representatives and the final model
  are chosen by) beside its mean test UA. Every kind is measured on the same validation actors
  by a fit that never trained on them (issue 42), yet a torch model's is the best of its epochs
  and a fusion's members' checkpoints were chosen on those files, so each kind keeps a bias of
  its own; the table shows how large it was in this run, per model.
- Three ways: one network trained from random init on RAVDESS, pretrained and frozen, and
  pretrained and fine-tuned, side by side with the corrected resampled t-test between the ways
  (the cleanest measure of transfer: the same architecture, only the weights differ). A network
  is an encoder kind: its frozen heads are `<kind>_lr` and `<kind>_ws`, its end-to-end model
  `<kind>_ft` (random init when its weights are 'none ...'). The frozen way is represented by
  the frozen head of highest mean validation UA.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from ser.report.answer import p_text
from ser.report.tables import html_table, pct
from ser.stats import VALIDATION_METRIC, PairedComparison, paired_comparison, random_weights

WAYS = ("random init", "frozen", "fine-tuned")


def validation_kind(rows: pd.DataFrame) -> str:
    """How a model's validation UA was measured, in words, from its metrics' keys."""
    family = str(rows["family"].iloc[0])
    if family == "fusion":
        return "fusion: weights chosen on the other validation actors (members' checkpoints " \
               "chosen on all)"
    if "C" in rows:  # rows without all-NaN columns: only a linear model has a C
        return "linear: fitted on the training actors, scored once"
    return "torch: the best epoch's score"


def optimism(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model: mean validation UA, mean test UA and their difference (points)."""
    rows = []
    for model, m in metrics.groupby("model", sort=True):
        val = pd.to_numeric(m[VALIDATION_METRIC], errors="coerce").mean() \
            if VALIDATION_METRIC in m else math.nan
        test = m["unweighted_accuracy"].mean()
        rows.append({"model": model, "family": str(m["family"].iloc[0]),
                     "validation": validation_kind(m.dropna(axis=1, how="all")),
                     "folds": len(m), "val_ua": 100 * val, "test_ua": 100 * test,
                     "optimism": 100 * (val - test)})
    return pd.DataFrame(rows)


def network_of(arch: str) -> tuple[str, str] | None:
    """(encoder kind, 'frozen' or 'end to end') of a transfer architecture, None for others."""
    for suffix, how in (("_lr", "frozen"), ("_ws", "frozen"), ("_ft", "end to end")):
        if arch.endswith(suffix):
            return arch[: -len(suffix)], how
    return None


@dataclass
class Network:
    """One network's three ways: way -> the model representing it (absent ways left out)."""

    name: str
    models: dict[str, str]
    comparisons: list[PairedComparison]


def three_ways(metrics: pd.DataFrame) -> list[Network]:
    """Every network with at least two of the three ways in this run, and its paired tests."""
    if "arch" not in metrics:
        return []
    val = pd.to_numeric(metrics.get(VALIDATION_METRIC), errors="coerce")
    means = val.groupby(metrics["model"]).mean()
    candidates: dict[str, dict[str, list[str]]] = {}
    random = random_weights(metrics)
    transfer = metrics[metrics["family"] == "transfer"]  # eGeMAPS' `_lr` is no network's head
    for (model, arch), rows in transfer.groupby(["model", "arch"], sort=True):
        found = network_of(str(arch))
        if found is None:
            continue
        kind, how = found
        way = "frozen" if how == "frozen" else \
            "random init" if random[rows.index].all() else "fine-tuned"
        candidates.setdefault(kind, {}).setdefault(way, []).append(str(model))
    networks = []
    for kind, ways in sorted(candidates.items()):
        chosen = {way: sorted(models, key=lambda m: (-means.get(m, -1.0), m))[0]
                  for way, models in ways.items()}
        if len(chosen) < 2:
            continue
        order = [w for w in WAYS if w in chosen]
        pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
        networks.append(Network(kind, {w: chosen[w] for w in order},
                                [paired_comparison(metrics, chosen[a], chosen[b])
                                 for a, b in pairs]))
    return networks


def three_ways_figure(metrics: pd.DataFrame, networks: list[Network]) -> Figure:
    """Per network, each way's test UA per fold (dots) and mean (bar)."""
    fig = Figure(figsize=(3.2 * len(networks) + 0.6, 3.0), layout="constrained")
    for i, net in enumerate(networks):
        ax = fig.add_subplot(1, len(networks), i + 1)
        for x, (way, model) in enumerate(net.models.items()):
            ua = 100 * metrics.loc[metrics["model"] == model, "unweighted_accuracy"]
            ax.bar([x], [ua.mean()], color="#c8d7ea", width=0.6)
            ax.scatter([x] * len(ua), ua, color="#1f4e79", s=12, zorder=3)
        ax.set_xticks(range(len(net.models)),
                      [f"{w}\n{m}" for w, m in net.models.items()], fontsize=7)
        ax.set_title(net.name, fontsize=9)
        ax.set_ylabel("test UA (%)" if i == 0 else "")
    return fig


def optimism_table(metrics: pd.DataFrame) -> str:
    rows = [[r.model, r.family, r.validation, r.folds, f"{r.val_ua:.1f}", f"{r.test_ua:.1f}",
             f"{r.optimism:+.1f}"] for r in optimism(metrics).itertuples()]
    return html_table("optimism", ["Model", "Family", "Validation UA measured as", "Folds",
                                   "Mean validation UA", "Mean test UA",
                                   "Optimism (points)"], rows,
                      caption="Validation minus test UA per model: what choosing on validation "
                              "numbers of each kind overstated in this run")


def three_ways_table(metrics: pd.DataFrame, networks: list[Network]) -> str:
    rows = []
    for net in networks:
        ua = {w: metrics.loc[metrics["model"] == m, "unweighted_accuracy"].mean()
              for w, m in net.models.items()}
        rows += [[net.name, way, model, pct(ua[way]), ""] for way, model in net.models.items()]
        rows += [[net.name, f"{c.b} - {c.a}", "", pct(c.differences.mean),
                  f"t p {p_text(c.t_pvalue)}, {c.n} folds"] for c in net.comparisons]
    return html_table("three-ways", ["Network", "Way", "Model", "Mean test UA",
                                     "Corrected resampled t-test"], rows,
                      caption="One network from random init, frozen and fine-tuned: the "
                              "difference is what the pretrained weights give")

