"""HTML tables of the report. Every value is escaped; scores are printed as percentages."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import pandas as pd

from ser.report.inputs import RunData
from ser.stats import PairedComparison, Summary, summarize, summarize_models

SCORES = {"accuracy": "Accuracy (WA)", "unweighted_accuracy": "Unweighted accuracy (UA)",
          "precision_macro": "Macro precision", "recall_macro": "Macro recall",
          "f1_macro": "Macro F1"}
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


def headline_table(run: RunData) -> str:
    """One row per model: family, weights, input, every score as mean ± std [95 % CI]."""
    summaries = summarize_models(run.metrics, list(SCORES))
    header = ["Model", "Family", "Weights used", "Input", "Folds", *SCORES.values(),
              "Training time per fold (s)"]
    rows = []
    for model, rows_m in run.metrics.groupby("model", sort=True):
        scores = [pct_summary(summaries[model][c]) for c in SCORES]
        seconds = summarize(rows_m["train_seconds"]) if "train_seconds" in rows_m else None
        time = "n/a" if seconds is None else f"{seconds.mean:.0f}"
        rows.append([model, _distinct(rows_m["family"]), _distinct(rows_m["weights"]),
                     _distinct(rows_m.get("features", pd.Series(["?"]))), len(rows_m),
                     *scores, time])
    attrs = [f" data-model='{escape(r[0])}'" for r in rows]
    return html_table("headline", header, rows, attrs,
                      "Mean ± standard deviation over folds (%), 95 % t-interval below")


def _test_actors(run: RunData) -> dict[int, str]:
    test = run.fold_lists[run.fold_lists["split"] == "test"]
    return {int(f): ", ".join(str(a) for a in sorted(rows["actor"].unique()))
            for f, rows in test.groupby("fold")}


def paired_table(run: RunData, cmp: PairedComparison) -> str:
    actors = _test_actors(run)
    header = ["Fold", "Test actors", f"{cmp.scratch} (scratch)", f"{cmp.transfer} (transfer)",
              "Difference (points)"]
    rows = [[f, actors.get(f, "?"), pct(a), pct(b), pct(b - a)]
            for f, a, b in zip(cmp.folds, cmp.scratch_values, cmp.transfer_values)]
    d = cmp.differences
    rows.append(["mean", "", pct(summarize(cmp.scratch_values).mean),
                 pct(summarize(cmp.transfer_values).mean), pct_summary(d)])
    return html_table("paired", header, rows, caption=f"Test score per fold: {SCORES[cmp.metric]}, "
                      "difference = transfer minus scratch")


def published_tables(marked: pd.DataFrame, ours: pd.DataFrame) -> str:
    """Comparable published rows beside ours in one table; the others apart, each with why."""
    score = ["Accuracy (WA)", "UA (macro recall)", "Macro F1"]
    ours_rows = [["this run", p, m, w, pct(a), pct(ua), pct(f1)] for m, p, w, a, ua, f1 in
                 ours[["model", "protocol", "weights", "accuracy", "unweighted_accuracy",
                       "f1_macro"]].itertuples(index=False)]
    comparable = marked[marked["comparable"]]
    pub_rows = [[r.source, r.protocol, r.model, r.weights, pct(r.accuracy),
                 pct(getattr(r, "recall_macro", math.nan)), pct(getattr(r, "f1_macro", math.nan))]
                for r in comparable.itertuples(index=False)]
    header = ["Source", "Protocol", "Model", "Weights", *score]
    attrs = [" class='ours'"] * len(ours_rows) + [" class='published comparable'"] * len(pub_rows)
    first = html_table("published-comparable", header, ours_rows + pub_rows, attrs,
                       "Same fold list and classes: comparable (our rows: mean over folds)")
    other = marked[~marked["comparable"]]
    rows = [[r.source, r.protocol, r.model, r.weights, pct(r.accuracy), "not comparable",
             r.reason] for r in other.itertuples(index=False)]
    second = html_table("published-not-comparable",
                        ["Source", "Protocol", "Model", "Weights", "Accuracy", "Status", "Reason"],
                        rows, [" class='published not-comparable'"] * len(rows),
                        "Not comparable with this run: shown for reference only")
    return first + second


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
