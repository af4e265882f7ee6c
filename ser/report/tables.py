"""HTML tables of the report. Every value is escaped; scores are printed as percentages."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import pandas as pd

from ser.report.inputs import RunData
from ser.stats import (VALIDATION_METRIC, FamilyComparison, PairedComparison, Summary, summarize,
                       summarize_models)

# UA first: the headline metric (EmoBox's); WA beside it.
SCORES = {"unweighted_accuracy": "Unweighted accuracy (UA)", "accuracy": "Accuracy (WA)",
          "precision_macro": "Macro precision", "recall_macro": "Macro recall",
          "f1_macro": "Macro F1"}
VALIDATION = "Validation UA (kept checkpoint)"
DECIMALS = 1


class Raw(str):
    """Markup that a table cell takes as it is (everything else is escaped)."""


def pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.{DECIMALS}f}"


def pct_summary(s: Summary) -> Raw:
    """'61.2 ± 3.4' and the 95 % interval below it; n/a where one fold cannot give them."""
    ci = f"[{pct(s.ci_low)}, {pct(s.ci_high)}]" if s.n >= 2 else "[n/a]"
    return Raw(f"{pct(s.mean)} ± {pct(s.std)}<br><small class='ci'>{ci}</small>")


def _cell(value, tag: str, attrs: str = "") -> str:
    text = value if isinstance(value, Raw) else escape(str(value))
    return f"<{tag}{attrs}>{text}</{tag}>"


def html_table(table_id: str, header: Sequence[str], rows: Iterable[Sequence],
               row_attrs: Sequence[str] | None = None, caption: str = "") -> str:
    head = "".join(_cell(h, "th") for h in header)
    rows = list(rows)
    attrs = row_attrs or [""] * len(rows)
    body = "".join(f"<tr{a}>" + "".join(_cell(v, "td") for v in row) + "</tr>"
                   for row, a in zip(rows, attrs))
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (f"<table id='{escape(table_id)}'>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _distinct(values: pd.Series) -> str:
    return "; ".join(sorted(values.astype(str).unique()))


def headline_table(run: RunData, representatives: set[str] = frozenset()) -> str:
    """One row per model: family, weights, input, every test score as mean ± std [95 % CI],
    and the validation UA its family's representative is chosen by."""
    summaries = summarize_models(run.metrics, [*SCORES, VALIDATION_METRIC])
    header = ["Model", "Family", "Represents", "Weights used", "Input", "Folds",
              *SCORES.values(), VALIDATION, "Training time per fold (s)"]
    rows = []
    for model, rows_m in run.metrics.groupby("model", sort=True):
        scores = [pct_summary(summaries[model][c]) for c in [*SCORES, VALIDATION_METRIC]]
        seconds = summarize(rows_m["train_seconds"]) if "train_seconds" in rows_m else None
        time = "n/a" if seconds is None else f"{seconds.mean:.0f}"
        family = _distinct(rows_m["family"])
        rows.append([model, family, family if model in representatives else "",
                     _distinct(rows_m["weights"]),
                     _distinct(rows_m.get("features", pd.Series(["?"]))), len(rows_m),
                     *scores, time])
    attrs = [f" data-model='{escape(m)}'" for m in sorted(run.metrics["model"].unique())]
    return html_table("headline", header, rows, attrs,
                      "Test scores: mean ± standard deviation over folds (%), 95 % t-interval "
                      "below; UA is the headline metric")


def representatives_table(cmp: FamilyComparison, run: RunData) -> str:
    test = run.metrics.groupby("model")["unweighted_accuracy"].mean()
    rows = [[family, rep.model, pct(rep.val_score), pct(test[rep.model]), rep.rule]
            for family, rep in sorted(cmp.representatives.items())]
    rows += [[family, "none", "n/a", "n/a", why] for family, why in sorted(cmp.missing.items())]
    return html_table("representatives", ["Family", "Representative", "Mean validation UA",
                                          "Mean test UA", "Chosen by"], rows,
                      caption="Each family's representative, chosen without the test folds")


def _test_actors(run: RunData) -> dict[int, str]:
    test = run.fold_lists[run.fold_lists["split"] == "test"]
    return {int(f): ", ".join(str(a) for a in sorted(rows["actor"].unique()))
            for f, rows in test.groupby("fold")}


def paired_table(run: RunData, cmp: PairedComparison) -> str:
    actors = _test_actors(run)
    header = ["Fold", "Test actors", f"{cmp.a} ({cmp.family_a})", f"{cmp.b} ({cmp.family_b})",
              "Difference (points)"]
    rows = [[f, actors.get(f, "?"), pct(a), pct(b), pct(b - a)]
            for f, a, b in zip(cmp.folds, cmp.a_values, cmp.b_values)]
    d = cmp.differences
    rows.append(["mean", "", pct(summarize(cmp.a_values).mean),
                 pct(summarize(cmp.b_values).mean), pct_summary(d)])
    return html_table("paired", header, rows, caption=f"Test score per fold: {SCORES[cmp.metric]}, "
                      f"difference = {cmp.label} (interval: corrected variance)")


def _num(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "n/a"
    return "< 0.001" if digits == 3 and 0 <= value < 0.001 else f"{value:.{digits}f}"


def pairs_table(cmp: FamilyComparison) -> str:
    """Every pair of families: difference, corrected t-test, Wilcoxon, Holm-adjusted p."""
    header = ["Pair", "Models", "Folds", "Mean difference (UA points)",
              "95 % CI (corrected)", "Corrected t", "p", "p (Holm)", "Wilcoxon W", "p",
              "p (Holm)", "Cohen's d_z"]
    rows = [[p.label, f"{p.b} - {p.a}", p.n, pct(p.differences.mean),
             f"[{pct(p.differences.ci_low)}, {pct(p.differences.ci_high)}]",
             _num(p.t_statistic, 2), _num(p.t_pvalue), _num(p.t_pvalue_holm),
             _num(p.wilcoxon_statistic, 1), _num(p.wilcoxon_pvalue),
             _num(p.wilcoxon_pvalue_holm), _num(p.cohen_dz, 2)] for p in cmp.pairs]
    return html_table("pairs", header, rows, caption=f"Every pair of families, test UA; p-values "
                      f"Holm-adjusted over the {len(cmp.pairs)} pair(s) shown")


def published_tables(marked: pd.DataFrame, ours: pd.DataFrame) -> str:
    """Published rows on our fold list beside ours in one table, with their status; the others
    apart, each with why."""
    score = ["UA (macro recall)", "Accuracy (WA)", "Macro F1"]
    ours_rows = [["this run", p, m, w, pct(ua), pct(a), pct(f1), "", ""] for m, p, w, a, ua, f1 in
                 ours[["model", "protocol", "weights", "accuracy", "unweighted_accuracy",
                       "f1_macro"]].itertuples(index=False)]
    comparable = marked[marked["comparable"]]
    pub_rows = [[r.source, r.protocol, r.model, r.weights,
                 pct(getattr(r, "recall_macro", math.nan)), pct(r.accuracy),
                 pct(getattr(r, "f1_macro", math.nan)), r.status, r.reason]
                for r in comparable.itertuples(index=False)]
    header = ["Source", "Protocol", "Model", "Weights", *score, "Status", "Note"]
    attrs = [" class='ours'"] * len(ours_rows) + [" class='published comparable'"] * len(pub_rows)
    first = html_table("published-comparable", header, ours_rows + pub_rows, attrs,
                       "Same fold list and classes (our rows: mean over folds)")
    other = marked[~marked["comparable"]]
    rows = [[r.source, r.protocol, r.model, r.weights,
             pct(getattr(r, "recall_macro", math.nan)), pct(r.accuracy), r.status, r.reason]
            for r in other.itertuples(index=False)]
    second = html_table("published-not-comparable",
                        ["Source", "Protocol", "Model", "Weights", "UA", "WA", "Status",
                         "Reason"],
                        rows, [" class='published not-comparable'"] * len(rows),
                        "Not comparable with this run: shown for reference only")
    return first + second


def misclassified(runs) -> pd.DataFrame:
    """The test files a model got wrong, every fold pooled: file, actor, true and predicted
    class, and the confidence (probability of the predicted class), most confident first."""
    rows = []
    for run in runs:
        pred = run.predictions
        wrong = pred[pred["y_true"] != pred["y_pred"]]
        probs = wrong[[f"p_{c}" for c in run.classes]].to_numpy()
        rows.append(pd.DataFrame({
            "file": wrong["file"].to_numpy(), "actor": wrong["actor"].to_numpy(), "fold": run.fold,
            "true": [run.classes[i] for i in wrong["y_true"]],
            "predicted": [run.classes[i] for i in wrong["y_pred"]],
            "confidence": probs[range(len(wrong)), wrong["y_pred"].to_numpy()]}))
    table = pd.concat(rows, ignore_index=True)
    return table.sort_values(["confidence", "file"], ascending=[False, True], ignore_index=True)


def misclassified_html(model: str, runs) -> str:
    """Collapsed by default: a long list would bury the page."""
    wrong = misclassified(runs)
    total = sum(len(r.predictions) for r in runs)
    rows = [[r.file, r.actor, r.fold, r.true, r.predicted, f"{r.confidence:.3f}"]
            for r in wrong.itertuples(index=False)]
    table = html_table(f"misclassified-{model}", ["File", "Actor", "Fold", "True", "Predicted",
                                                  "Confidence"], rows)
    return (f"<details class='misclassified'><summary>{len(wrong)} of {total} test files "
            f"misclassified by {escape(model)}, most confident first</summary>{table}</details>")


def folds_table(run: RunData) -> str:
    rows = []
    for fold, rows_f in run.fold_lists.groupby("fold", sort=True):
        by_split = {s: rows_f[rows_f["split"] == s] for s in ("train", "val", "test")}
        actors = {s: ", ".join(map(str, sorted(t["actor"].unique()))) or "none"
                  for s, t in by_split.items()}
        rows.append([int(fold), actors["test"], actors["val"], actors["train"],
                     *(len(by_split[s]) for s in ("train", "val", "test"))])
    return html_table("folds", ["Fold", "Test actors", "Validation actors", "Training actors",
                                "Train files", "Val files", "Test files"], rows)


def benchmarks_table(run: RunData) -> str:
    """Runtime and peak memory of every rule, summed and maximised over its jobs."""
    b = run.benchmarks
    if b.empty:
        return "<p id='no-benchmarks'>No Snakemake benchmark files were found.</p>"
    rows = [[rule, len(g), f"{g['s'].sum():.1f}", f"{g['s'].max():.1f}",
             "n/a" if g["max_rss"].isna().all() else f"{g['max_rss'].max():.0f}"]
            for rule, g in b.groupby("rule", sort=True)]
    return html_table("benchmarks", ["Rule", "Jobs", "Total wall time (s)",
                                     "Longest job (s)", "Peak RSS (MB)"], rows)


def key_value_table(table_id: str, items: dict[str, str]) -> str:
    return html_table(table_id, ["Item", "Value"], [[k, v] for k, v in items.items()])
