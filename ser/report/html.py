"""The one-page report: a single self-contained HTML file that opens with the answer.

Self-contained means the page makes no request at all: figures are inline base64 PNG, the CSS is
inline, there is no script, and a Content-Security-Policy forbids any other source, so the page
reads the same offline, in an archive, or years later.
"""
from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path

import pandas as pd

from ser.data.folds import is_speaker_independent
from ser.data.provenance import describe, is_synthetic
from ser.digest import config_hash
from ser.io import atomic_file
from ser.report import tables, yardstick
from ser.report.answer import (answer_sentence, comparison_sentence, protocol_description,
                               random_weight_models)
from ser.report.calibration import calibration_html
from ser.report.figures import ReportFigure, make_figures, write_figures
from ser.report.inputs import RunData, load_run, package_versions
from ser.report.published import comparability
from ser.report.registry import git_commit, hardware
from ser.stats import FamilyComparison, compare_families, what_folds_can_show

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def figure_html(fig: ReportFigure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f"<figure><img id='{escape(fig.fig_id)}' class='report-figure' "
            f"alt='{escape(fig.alt)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{escape(fig.alt)}</figcaption></figure>")


def _section(sid: str, title: str, *parts: str) -> str:
    return f"<section id='{sid}'><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def _p(text: str, pid: str = "", cls: str = "") -> str:
    attrs = (f" id='{pid}'" if pid else "") + (f" class='{cls}'" if cls else "")
    return f"<p{attrs}>{escape(text)}</p>"


def warnings_html(run: RunData) -> str:
    parts = []
    if not is_speaker_independent(run.protocol):
        parts.append(_p("Warning: this run used random_kfold, which splits files, not speakers. "
                        "Every test actor was also heard in training, so these scores are "
                        "optimistic and not comparable with speaker-independent results.",
                        "protocol-warning", "warning"))
    random = random_weight_models(run.metrics)
    if random:
        parts.append(_p(f"Transfer models trained from random weights (weights 'none'): "
                        f"{', '.join(random)}. Their rows are NOT real transfer learning; they "
                        "only test the architecture.", "random-weights", "warning"))
    return "".join(parts)


SELECTION = ("Each family is represented by one model, chosen without the test folds: by its "
             "mean validation UA over folds (the validation actors held out of each training "
             "fold; ties by name), or pinned in config under report.compare. Choosing the "
             "test-best model and then testing it on the same folds would overstate its lead.")


FUSION_NOTE = ("The fusion family averages the class probabilities of other models of this run "
               "with weights chosen on each training fold's validation actors, never on test "
               "actors; its validation UA scores each validation actor under weights chosen on "
               "the others (a torch member's checkpoint was still chosen on all of them).")

OPTIMISM_NOTE = ("Representatives and the final model are chosen by mean validation UA, "
                 "measured for every model on the same validation actors of each fold by a fit "
                 "that never trained on them: a torch model at its kept epoch, a linear model "
                 "fitted on the training actors with C chosen inside them, a fusion under "
                 "weights chosen on the other validation actors. Each kind keeps a bias of its "
                 "own (a torch model's epoch is the best of many on those files), measured here "
                 "as validation minus test UA.")


def comparison_html(run: RunData, cmp: FamilyComparison) -> tuple[str, str]:
    """(answer sentence, section (2)) from the paired comparisons of the families."""
    n_folds = run.metrics["fold"].nunique()
    text = protocol_description(run.protocol, n_folds, run.config)
    answer = answer_sentence(run.protocol, text, cmp, run.metrics, run.corpus,
                             run.config.get("report", {}).get("cost_settings"))
    title = "CNNs from scratch against transfer learning"
    parts = [_p(SELECTION, "selection-rule"), tables.representatives_table(cmp, run)]
    if "fusion" in set(run.metrics["family"]):
        parts.append(_p(FUSION_NOTE, "fusion-note", "note"))
    headline = cmp.headline
    if headline is None:
        reason = cmp.reason()
        parts.append(_p(reason[0].upper() + reason[1:] + ".", "comparison-missing"))
    else:
        parts += [tables.paired_table(run, headline),
                  _p(f"Transfer representative {headline.b} against scratch representative "
                     f"{headline.a}, paired by fold: "
                     f"{comparison_sentence(headline, len(cmp.pairs))}.", "comparison-test")]
    if cmp.pairs:
        parts += [tables.pairs_table(cmp), _p(what_folds_can_show(n_folds), "what-folds-show")]
    parts += [_p(n, cls="note") for pair in cmp.pairs for n in pair.notes]
    return answer, _section("comparison", title, *parts)


def yardstick_html(run: RunData, figures: list[ReportFigure]) -> str:
    """How optimistic each kind of validation number was, and one network three ways."""
    parts = [_p(OPTIMISM_NOTE, "optimism-note"), yardstick.optimism_table(run.metrics)]
    networks = yardstick.three_ways(run.metrics)
    if networks:
        parts += ["<h3>One network three ways: what pretrained weights give</h3>",
                  yardstick.three_ways_table(run.metrics, networks),
                  *(figure_html(f) for f in figures if f.kind == "three_ways")]
    return _section("yardstick", "Validation numbers and pretrained weights", *parts)


def published_html(run: RunData) -> str:
    first = next(iter(run.folds.values()))
    marked = comparability(run.published, run.protocol, len(first.classes),
                           sorted(run.metrics["fold"].unique()), run.n_val_actors,
                           is_synthetic(run.corpus))
    ours = run.metrics.groupby("model", as_index=False).agg(
        protocol=("protocol", "first"), weights=("weights", "first"),
        accuracy=("accuracy", "mean"), unweighted_accuracy=("unweighted_accuracy", "mean"),
        f1_macro=("f1_macro", "mean"))
    return _section("published", "Published results beside ours",
                    _p("A published number is comparable only when it was measured on the same "
                       "fold list with the same classes; rows on our fold list whose models "
                       "trained on other actors say so; all others are listed apart with the "
                       "reason."), tables.published_tables(marked, ours))


def models_html(run: RunData, figures: list[ReportFigure]) -> str:
    parts = []
    for model in run.models:
        figs = "".join(figure_html(f) for f in figures if f.model == model)
        parts.append(f"<div class='model' id='model-{escape(model)}'><h3>{escape(model)}</h3>"
                     f"{figs}{tables.misclassified_html(model, run.model_folds(model))}</div>")
    return _section("models", "Per model: errors, groups and learning curves", *parts)


def provenance_html(run: RunData, generated: datetime) -> str:
    m = run.metrics
    finished = [r.finished for r in run.folds.values()]
    items = {"protocol": f"{run.protocol}: "
                         f"{protocol_description(run.protocol, m['fold'].nunique(), run.config)}",
             "label set": ", ".join(sorted(m["label_set"].astype(str).unique()))
             if "label_set" in m else "n/a",
             "corpus": f"{describe(run.corpus)}: {len(run.metadata)} files from "
                       f"{run.metadata['actor'].nunique()} actors",
             "corpus checksum": "not recorded" if run.corpus is None else
             f"{run.corpus['checksum']}: {run.corpus.get('checksum_detail', '')}",
             "config sha256": config_hash(run.config),
             "device": ", ".join(sorted(m["device"].astype(str).unique())) if "device" in m
             else "n/a",
             "seeds": ", ".join(sorted(m["seed"].dropna().astype(str).unique()))
             if "seed" in m else "n/a",
             "folds trained": f"{min(finished):%Y-%m-%d %H:%M} to {max(finished):%Y-%m-%d %H:%M}"
                              " UTC",
             "report generated": f"{generated:%Y-%m-%d %H:%M} UTC",
             "code commit": git_commit(), "machine (of the report)": hardware()}
    items.update({f"version of {k}": v for k, v in package_versions().items()})
    return _section("provenance", "How the numbers were made",
                    tables.key_value_table("provenance-table", items),
                    "<h3>Fold lists</h3>", tables.folds_table(run),
                    "<h3>Runtime and memory of every rule</h3>", tables.benchmarks_table(run))


def page_html(run: RunData, figures: list[ReportFigure], generated: datetime) -> str:
    css = resources.files("ser.report").joinpath("style.css").read_text()
    cmp = compare_families(run.metrics, run.pinned)
    answer, comparison = comparison_html(run, cmp)
    overview = "".join(figure_html(f) for f in figures if f.kind == "overview")
    reps = {r.model for r in cmp.representatives.values()}
    title = ("Pipeline demo on synthetic audio" if is_synthetic(run.corpus)
             else "Speech emotion recognition on RAVDESS")
    body = "".join([
        f"<h1>{title}: CNNs from scratch against transfer learning</h1>", _p(answer, "answer"),
        warnings_html(run), overview,
        _section("headline", "Scores per model", tables.headline_table(run, reps)),
        comparison, yardstick_html(run, figures), calibration_html(run), published_html(run),
        models_html(run, figures),
        provenance_html(run, generated)])
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<title>SER report: {escape(run.protocol)}</title><style>{css}</style></head>"
            f"<body>{body}</body></html>\n")


def render_report(metrics_csv: str | Path, models_dir: str | Path, folds_csv: str | Path,
                  metadata_csv: str | Path, benchmark_paths: Iterable[str | Path], config: dict,
                  out_html: str | Path, published_csv: str | Path | None = None,
                  figures_dir: str | Path | None = None,
                  corpus_json: str | Path | None = None) -> Path:
    """Write the report to `out_html` atomically (and every figure as PNG to `figures_dir`)."""
    run = load_run(metrics_csv, models_dir, folds_csv, metadata_csv, benchmark_paths, config,
                   published_csv, corpus_json)
    figures = make_figures(run)
    page = page_html(run, figures, datetime.now(timezone.utc))
    if figures_dir is not None:
        write_figures(figures, figures_dir)
    with atomic_file(out_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out_html)


def _check_declared(metrics_csv: str | Path, predictions: Iterable[str | Path]) -> Path:
    """The fold folders metrics.csv names must be exactly those of the declared predictions:
    the report then reads no fold output it was not given."""
    declared = {Path(p).parent for p in predictions}
    models_dir = {d.parent.parent for d in declared}
    if len(models_dir) != 1:
        raise ValueError(f"declared predictions lie under several model folders {models_dir}")
    root = models_dir.pop()
    table = pd.read_csv(metrics_csv)
    named = {root / m / f"fold_{int(k)}" for m, k in zip(table["model"], table["fold"])}
    if named != declared:
        extra = sorted(map(str, named ^ declared))[:5]
        raise ValueError(f"{metrics_csv}: its folds differ from the report's declared inputs "
                         f"(first differences: {extra})")
    return root


def build_report(metrics_csv: str | Path, folds_csv: str | Path, metadata_csv: str | Path,
                 benchmark_paths: Iterable[str | Path], config: dict, out_html: str | Path,
                 predictions: Iterable[str | Path], corpus_json: str | Path | None,
                 figures_dir: str | Path | None = None,
                 published_csv: str | Path | None = None) -> Path:
    """The rule's body: only the declared inputs are read. `benchmark_paths` names the benchmark
    file of every job of this run (those not written, e.g. by a job Snakemake did not need to
    run in this working directory, are skipped); nothing is found by globbing."""
    models_dir = _check_declared(metrics_csv, list(predictions))
    bench = [Path(p) for p in benchmark_paths if Path(p).is_file()]
    return render_report(metrics_csv, models_dir, folds_csv, metadata_csv, bench, config,
                         out_html, published_csv, figures_dir, corpus_json)
