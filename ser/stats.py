"""Statistics over cross-validation folds: summaries, and the scratch-versus-transfer comparison.

Folds are the unit of replication: every number is a mean over folds with the sample standard
deviation (ddof=1) and a Student-t 95 % interval, because with 4-6 folds a normal interval would
be too narrow. The two families are compared on the *same* folds (same test speakers), so the
comparison is paired: per-fold differences, a paired t-test, the Wilcoxon signed-rank test (no
normality assumption; with fewer than 6 folds it cannot reach p < 0.05, which the report states)
and Cohen's d_z (mean difference / standard deviation of the differences).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

FAMILIES = ("scratch", "transfer")


@dataclass(frozen=True)
class Summary:
    """Mean, sample std and 95 % t-interval of one score over `n` folds (NaN where undefined)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


def summarize(values, confidence: float = 0.95) -> Summary:
    """Summary of per-fold values; std and interval are NaN with fewer than 2 folds."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, df=n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def summarize_models(metrics: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, Summary]]:
    """model -> column -> Summary over that model's folds."""
    return {model: {c: summarize(rows[c]) for c in columns}
            for model, rows in metrics.groupby("model", sort=True)}


def best_by_family(metrics: pd.DataFrame, metric: str = "accuracy") -> dict[str, str]:
    """family -> the model with the highest mean `metric` over folds (ties: first by name)."""
    means = metrics.groupby(["family", "model"], sort=True)[metric].mean().reset_index()
    best = {}
    for family, rows in means.groupby("family", sort=True):
        best[str(family)] = str(rows.sort_values([metric, "model"], ascending=[False, True])
                                .iloc[0]["model"])
    return best


@dataclass
class PairedComparison:
    """`transfer` minus `scratch` on the folds both models were tested on."""

    scratch: str
    transfer: str
    metric: str
    folds: list[int]
    scratch_values: list[float]
    transfer_values: list[float]
    differences: Summary
    t_statistic: float = math.nan
    t_pvalue: float = math.nan
    wilcoxon_statistic: float = math.nan
    wilcoxon_pvalue: float = math.nan
    cohen_dz: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.folds)


def _wilcoxon(diff: np.ndarray, notes: list[str]) -> tuple[float, float]:
    if np.all(diff == 0):
        notes.append("every fold gave the same score to both models, so the Wilcoxon test is "
                     "undefined")
        return math.nan, math.nan
    result = sps.wilcoxon(diff)
    if len(diff) < 6:
        notes.append(f"with {len(diff)} folds the exact Wilcoxon test cannot reach p < 0.05 "
                     f"(smallest possible two-sided p = {2 / 2 ** len(diff):.3g})")
    return float(result.statistic), float(result.pvalue)


def paired_comparison(metrics: pd.DataFrame, scratch: str, transfer: str,
                      metric: str = "accuracy") -> PairedComparison:
    """Per-fold differences transfer - scratch in `metric`, with paired tests where defined."""
    pick = metrics.set_index(["model", "fold"])[metric]
    a, b = pick.loc[scratch], pick.loc[transfer]
    folds = sorted(set(a.index) & set(b.index))
    a, b = a.loc[folds].to_numpy(float), b.loc[folds].to_numpy(float)
    diff = b - a
    result = PairedComparison(scratch, transfer, metric, [int(f) for f in folds], a.tolist(),
                              b.tolist(), summarize(diff))
    unpaired = sorted(set(pick.loc[scratch].index) ^ set(pick.loc[transfer].index))
    if unpaired:
        result.notes.append(f"folds {unpaired} were run by only one of the two models and are "
                            "left out of the comparison")
    if len(folds) < 2:
        result.notes.append(f"{len(folds)} paired fold(s): no interval or test can be computed")
        return result
    sd = diff.std(ddof=1)
    if sd > 0:
        t = sps.ttest_rel(b, a)
        result.t_statistic, result.t_pvalue = float(t.statistic), float(t.pvalue)
        result.cohen_dz = float(diff.mean() / sd)
    else:
        result.notes.append("the difference is the same on every fold, so the t-test is undefined")
    result.wilcoxon_statistic, result.wilcoxon_pvalue = _wilcoxon(diff, result.notes)
    return result


def compare_families(metrics: pd.DataFrame,
                     metric: str = "accuracy") -> tuple[PairedComparison | None, str]:
    """The best transfer model against the best scratch model, or None and the reason why not."""
    best = best_by_family(metrics, metric)
    missing = [f for f in FAMILIES if f not in best]
    if missing:
        present = ", ".join(sorted(best)) or "no"
        return None, (f"this run has {present} models only (no {' and no '.join(missing)} "
                      "model), so the two families cannot be compared")
    return paired_comparison(metrics, best["scratch"], best["transfer"], metric), ""
