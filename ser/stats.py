"""Statistics over cross-validation folds: summaries, representatives, and the family comparisons.

Folds are the unit of replication: every number is a mean over folds with the sample standard
deviation (ddof=1) and a Student-t 95 % interval, because with 4-6 folds a normal interval would
be too narrow.

Each family is represented by one model, chosen on validation actors (mean validation UA over
folds, ties by name) or pinned by the user, never by test scores: picking the test-best model and
then testing it on the same folds is a winner's curse.

Families are compared on the *same* folds (same test speakers), so the comparison is paired. The
training sets of k-fold cross-validation overlap heavily (under emobox_6fold any two share 16 of
their 18 actors), so per-fold differences are not independent and the plain paired t-test is too
confident. Nadeau & Bengio's corrected resampled t-test (Machine Learning 52, 2003) inflates the
variance of the mean difference from s²/k to (1/k + n_test/n_train)·s²; the interval of the
difference uses the same variance. The Wilcoxon signed-rank test needs no normality (with fewer
than 6 folds it cannot reach p < 0.05). Every p-value is Holm-adjusted over the pairs shown.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

METRIC = "unweighted_accuracy"              # the headline: UA, as EmoBox reports
VALIDATION_METRIC = "val_unweighted_accuracy"
# The order in which families are paired: a pair's difference is the later minus the earlier, so
# the question's comparison reads "transfer minus scratch". Families not listed follow by name.
FAMILY_ORDER = ("classical", "scratch", "transfer", "fusion")
QUESTION = ("scratch", "transfer")
# Below this a spread of per-fold scores (fractions) is floating-point noise, not a spread.
TINY = 1e-9


@dataclass(frozen=True)
class Summary:
    """Mean, sample std and 95 % t-interval of one score over `n` folds (NaN where undefined)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


def summarize(values, confidence: float = 0.95, inflation: float | None = None) -> Summary:
    """Summary of per-fold values; std and interval are NaN with fewer than 2 folds.

    `inflation` replaces 1/n in the variance of the mean (Nadeau & Bengio's 1/n + n_test/n_train).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    factor = 1 / n if inflation is None else inflation
    half = float(sps.t.ppf(0.5 + confidence / 2, df=n - 1)) * std * math.sqrt(factor)
    return Summary(n, mean, std, mean - half, mean + half)


def summarize_models(metrics: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, Summary]]:
    """model -> column -> Summary over that model's folds (NaN for a column the table lacks)."""
    return {model: {c: summarize(rows[c] if c in rows else [math.nan]) for c in columns}
            for model, rows in metrics.groupby("model", sort=True)}


def family_order(families) -> list[str]:
    known = [f for f in FAMILY_ORDER if f in set(families)]
    return known + sorted(set(families) - set(FAMILY_ORDER))


# --- the representative of each family ---------------------------------------------------------

@dataclass(frozen=True)
class Representative:
    family: str
    model: str
    rule: str               # why this model, in words for the report
    val_score: float        # its mean validation UA (NaN when it has none)


def _validation_means(rows: pd.DataFrame) -> pd.Series:
    values = pd.to_numeric(rows[VALIDATION_METRIC], errors="coerce") if VALIDATION_METRIC in rows \
        else pd.Series(math.nan, index=rows.index)
    return values.groupby(rows["model"]).mean()


def _pinned(family: str, model: str, rows: pd.DataFrame, val: pd.Series) -> Representative:
    if model not in set(rows["model"]):
        raise ValueError(f"report.compare pins {model!r} for the {family} family, but this run "
                         f"has no {family} model of that name (its {family} models: "
                         f"{sorted(rows['model'].unique())})")
    return Representative(family, model, "pinned in config (report.compare)",
                          float(val.get(model, math.nan)))


def _by_validation(family: str, rows: pd.DataFrame, val: pd.Series) -> Representative | str:
    """The highest mean validation UA (ties by name), or the reason no model can be chosen."""
    models = sorted(rows["model"].unique())
    if len(models) == 1:
        return Representative(family, models[0], f"the only {family} model of this run",
                              float(val.get(models[0], math.nan)))
    scored = val.dropna()
    if scored.empty:
        return (f"its {len(models)} models ({', '.join(models)}) have no validation scores "
                f"(no validation actors), and choosing by test scores would be a winner's "
                f"curse: pin one in config (report.compare: {{{family}: <model>}})")
    best = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    unscored = sorted(set(models) - set(scored.index))
    rule = (f"highest mean validation UA ({100 * best[1]:.1f} %) among {len(scored)} "
            f"{family} models, chosen on validation actors, never on test folds")
    if unscored:
        rule += f"; {', '.join(unscored)} had no validation scores and were not candidates"
    return Representative(family, best[0], rule, float(best[1]))


def random_weights(rows: pd.DataFrame) -> pd.Series:
    """Rows of transfer models whose initial weights were random ('none ...'): no transfer."""
    if "weights" not in rows:
        return pd.Series(False, index=rows.index)
    return (rows["family"] == "transfer") & \
        rows["weights"].astype(str).str.lower().str.startswith("none")


def _transfer_candidates(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The transfer models with real pretrained weights when the run has any (a random-init
    'transfer' model answers nothing about transfer), and the note saying who was left out."""
    random = random_weights(rows)
    if random.all() or not random.any():
        return rows, ""
    left = sorted(rows.loc[random, "model"].unique())
    return rows[~random], f"; {', '.join(left)} (random initial weights) not candidates"


def choose_representatives(metrics: pd.DataFrame, pinned: Mapping[str, str] | None = None
                           ) -> tuple[dict[str, Representative], dict[str, str]]:
    """family -> its representative, and family -> why it has none."""
    chosen, missing = {}, {}
    for family, rows in metrics.groupby("family", sort=True):
        family, note = str(family), ""
        model = (pinned or {}).get(family)
        if not model:
            rows, note = _transfer_candidates(rows)
        val = _validation_means(rows)
        pick = _pinned(family, model, rows, val) if model else _by_validation(family, rows, val)
        if note and not isinstance(pick, str):
            pick = Representative(pick.family, pick.model, pick.rule + note, pick.val_score)
        if isinstance(pick, str):
            missing[family] = pick
        else:
            chosen[family] = pick
    return chosen, missing


# --- paired comparisons ------------------------------------------------------------------------

@dataclass
class PairedComparison:
    """Model `b` minus model `a` on the folds both were tested on."""

    a: str
    b: str
    family_a: str
    family_b: str
    metric: str
    folds: list[int]
    a_values: list[float]
    b_values: list[float]
    differences: Summary               # interval from the corrected variance
    train_test_ratio: float = math.nan  # mean n_test / n_train of the folds
    t_statistic: float = math.nan       # corrected resampled t (Nadeau & Bengio)
    t_pvalue: float = math.nan
    wilcoxon_statistic: float = math.nan
    wilcoxon_pvalue: float = math.nan
    t_pvalue_holm: float = math.nan
    wilcoxon_pvalue_holm: float = math.nan
    cohen_dz: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.folds)

    @property
    def label(self) -> str:
        return f"{self.family_b} minus {self.family_a}"


def corrected_t(diff: Sequence[float], ratio: float) -> tuple[float, float]:
    """Nadeau & Bengio's corrected resampled t-test: (t, two-sided p), df = k - 1.

    t = mean(d) / sqrt((1/k + n_test/n_train) · s²), s² the sample variance of the k differences.
    """
    d = np.asarray(diff, dtype=np.float64)
    k = len(d)
    if k < 2 or d.std(ddof=1) <= TINY:
        return math.nan, math.nan
    t = float(d.mean()) / math.sqrt((1 / k + ratio) * float(d.var(ddof=1)))
    return t, float(2 * sps.t.sf(abs(t), df=k - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (NaN p-values are left out and stay NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(len(p), math.nan)
    idx = [i for i in np.argsort(p, kind="stable") if not math.isnan(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


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


def _ratio(metrics: pd.DataFrame, models: Sequence[str], folds: list[int]) -> float:
    """Mean n_test / n_train over the paired folds (NaN when the sizes are not recorded)."""
    if not {"n_train", "n_test"} <= set(metrics):
        return math.nan
    rows = metrics[metrics["model"].isin(models) & metrics["fold"].isin(folds)]
    return float((rows["n_test"] / rows["n_train"]).mean())


def paired_comparison(metrics: pd.DataFrame, a: str, b: str,
                      metric: str = METRIC) -> PairedComparison:
    """Per-fold differences b - a in `metric`, with the corrected t-test and Wilcoxon."""
    pick = metrics.set_index(["model", "fold"])[metric]
    family = metrics.groupby("model")["family"].first()
    folds = sorted(set(pick.loc[a].index) & set(pick.loc[b].index))
    va, vb = pick.loc[a].loc[folds].to_numpy(float), pick.loc[b].loc[folds].to_numpy(float)
    diff, ratio = vb - va, _ratio(metrics, [a, b], folds)
    result = PairedComparison(a, b, str(family[a]), str(family[b]), metric,
                              [int(f) for f in folds], va.tolist(), vb.tolist(),
                              summarize(diff, inflation=1 / len(folds) + ratio if folds else None),
                              ratio)
    unpaired = sorted(set(pick.loc[a].index) ^ set(pick.loc[b].index))
    if unpaired:
        result.notes.append(f"folds {unpaired} were run by only one of the two models and are "
                            "left out of the comparison")
    if len(folds) < 2:
        result.notes.append(f"{len(folds)} paired fold(s): no interval or test can be computed")
        return result
    sd = diff.std(ddof=1)
    if sd > TINY:
        result.t_statistic, result.t_pvalue = corrected_t(diff, ratio)
        result.cohen_dz = float(diff.mean() / sd)
    else:
        result.notes.append("the difference is the same on every fold, so the t-test is undefined")
    result.wilcoxon_statistic, result.wilcoxon_pvalue = _wilcoxon(diff, result.notes)
    return result


@dataclass
class FamilyComparison:
    """Every pair of represented families, Holm-adjusted together; `headline` answers the
    question (transfer minus scratch) when both are present."""

    representatives: dict[str, Representative]
    pairs: list[PairedComparison]
    missing: dict[str, str]           # family -> why it has no representative

    @property
    def headline(self) -> PairedComparison | None:
        return next((p for p in self.pairs if (p.family_a, p.family_b) == QUESTION), None)

    def reason(self) -> str:
        """Why there is no headline comparison ('' when there is one)."""
        if self.headline is not None:
            return ""
        why = [f"the {f} family has no representative: {r}" for f, r in self.missing.items()
               if f in QUESTION]
        absent = [f for f in QUESTION if f not in self.representatives and f not in self.missing]
        if absent:
            present = ", ".join(family_order(self.representatives)) or "no"
            why.insert(0, f"this run has {present} models only (no {' and no '.join(absent)} "
                          "model)")
        return "; ".join(why) + ", so scratch and transfer cannot be compared"


def compare_families(metrics: pd.DataFrame, pinned: Mapping[str, str] | None = None,
                     metric: str = METRIC) -> FamilyComparison:
    """Representatives by validation (or pinned), then every pair of families, Holm-adjusted."""
    chosen, missing = choose_representatives(metrics, pinned)
    order = family_order(chosen)
    pairs = [paired_comparison(metrics, chosen[fa].model, chosen[fb].model, metric)
             for fa, fb in itertools.combinations(order, 2)]
    for adjusted, name in ((holm([p.t_pvalue for p in pairs]), "t_pvalue_holm"),
                           (holm([p.wilcoxon_pvalue for p in pairs]), "wilcoxon_pvalue_holm")):
        for pair, value in zip(pairs, adjusted):
            setattr(pair, name, value)
    return FamilyComparison(chosen, pairs, missing)


def what_folds_can_show(n: int) -> str:
    """One sentence on what n folds can and cannot show."""
    floor = f"{2 / 2 ** n:.3g}" if n >= 1 else "n/a"
    return (f"With {n} folds, i.e. {n} disjoint groups of test speakers whose training sets "
            f"overlap, these tests can show whether a difference is consistent across those "
            f"speaker groups, but not that it holds for other speakers, recordings or corpora, "
            f"and a non-significant result is weak evidence of no difference (the smallest "
            f"two-sided Wilcoxon p with {n} folds is {floor}).")
