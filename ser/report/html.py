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

from ser.data.folds import is_speaker_independent
from ser.digest import config_hash
from ser.io import atomic_file
from ser.report import tables
from ser.report.answer import (answer_sentence, comparison_sentence, protocol_description,
                               random_weight_models)
from ser.report.figures import ReportFigure, make_figures, write_figures
from ser.report.inputs import RunData, load_run, package_versions
from ser.report.published import comparability
from ser.stats import compare_families

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


def comparison_html(run: RunData) -> tuple[str, str]:
    """(answer sentence, section (2)) from the paired comparison of the two families."""
    n_folds = run.metrics["fold"].nunique()
    text = protocol_description(run.protocol, n_folds, run.config)
    cmp, reason = compare_families(run.metrics)
    answer = answer_sentence(run.protocol, text, cmp, reason, run.metrics)
    if cmp is None:
        return answer, _section("comparison", "CNNs from scratch against transfer learning",
                                _p(reason[0].upper() + reason[1:] + ".", "comparison-missing"))
    notes = "".join(_p(n, cls="note") for n in cmp.notes)
    sentence = (f"Best scratch model {cmp.scratch} (by mean accuracy) against best transfer "
                f"model {cmp.transfer}, paired by fold: {comparison_sentence(cmp)}.")
    return answer, _section("comparison", "CNNs from scratch against transfer learning",
                            tables.paired_table(run, cmp), _p(sentence, "comparison-test"), notes)


def published_html(run: RunData) -> str:
    first = next(iter(run.folds.values()))
    marked = comparability(run.published, run.protocol, len(first.classes),
                           sorted(run.metrics["fold"].unique()))
    ours = run.metrics.groupby("model", as_index=False).agg(
        protocol=("protocol", "first"), weights=("weights", "first"),
        accuracy=("accuracy", "mean"), unweighted_accuracy=("unweighted_accuracy", "mean"),
        f1_macro=("f1_macro", "mean"))
    return _section("published", "Published results beside ours",
                    _p("A published number is comparable only when it was measured on the same "
                       "fold list with the same classes; all others are listed apart with the "
                       "reason."), tables.published_tables(marked, ours))


def models_html(figures: list[ReportFigure]) -> str:
    parts = []
    for model in sorted({f.model for f in figures if f.model is not None}):
        figs = "".join(figure_html(f) for f in figures if f.model == model)
        parts.append(f"<div class='model' id='model-{escape(model)}'><h3>{escape(model)}</h3>"
                     f"{figs}</div>")
    return _section("models", "Per model: errors, groups and learning curves", *parts)


def provenance_html(run: RunData, generated: datetime) -> str:
    m = run.metrics
    finished = [r.finished for r in run.folds.values()]
    items = {"protocol": f"{run.protocol}: "
                         f"{protocol_description(run.protocol, m['fold'].nunique(), run.config)}",
             "label set": ", ".join(sorted(m["label_set"].astype(str).unique()))
             if "label_set" in m else "n/a",
             "corpus": f"{len(run.metadata)} files from {run.metadata['actor'].nunique()} actors",
             "config sha256": config_hash(run.config),
             "device": ", ".join(sorted(m["device"].astype(str).unique())) if "device" in m
             else "n/a",
             "seeds": ", ".join(sorted(m["seed"].astype(str).unique())) if "seed" in m else "n/a",
             "folds trained": f"{min(finished):%Y-%m-%d %H:%M} to {max(finished):%Y-%m-%d %H:%M}"
                              " UTC",
             "report generated": f"{generated:%Y-%m-%d %H:%M} UTC"}
    items.update({f"version of {k}": v for k, v in package_versions().items()})
    return _section("provenance", "How the numbers were made",
                    tables.key_value_table("provenance-table", items),
                    "<h3>Fold lists</h3>", tables.folds_table(run),
                    "<h3>Runtime and memory of every rule</h3>", tables.benchmarks_table(run))


def page_html(run: RunData, figures: list[ReportFigure], generated: datetime) -> str:
    css = resources.files("ser.report").joinpath("style.css").read_text()
    answer, comparison = comparison_html(run)
    overview = "".join(figure_html(f) for f in figures if f.model is None)
    body = "".join([
        "<h1>Speech emotion recognition on RAVDESS: CNNs from scratch against transfer "
        "learning</h1>", _p(answer, "answer"), warnings_html(run), overview,
        _section("headline", "Scores per model", tables.headline_table(run)),
        comparison, published_html(run), models_html(figures),
        provenance_html(run, generated)])
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<title>SER report: {escape(run.protocol)}</title><style>{css}</style></head>"
            f"<body>{body}</body></html>\n")


def render_report(metrics_csv: str | Path, models_dir: str | Path, folds_csv: str | Path,
                  metadata_csv: str | Path, benchmark_paths: Iterable[str | Path], config: dict,
                  out_html: str | Path, published_csv: str | Path | None = None,
                  figures_dir: str | Path | None = None) -> Path:
    """Write the report to `out_html` atomically (and every figure as PNG to `figures_dir`)."""
    run = load_run(metrics_csv, models_dir, folds_csv, metadata_csv, benchmark_paths, config,
                   published_csv)
    figures = make_figures(run)
    page = page_html(run, figures, datetime.now(timezone.utc))
    if figures_dir is not None:
        write_figures(figures, figures_dir)
    with atomic_file(out_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out_html)


def build_report(metrics_csv: str | Path, folds_csv: str | Path, metadata_csv: str | Path,
                 benchmarks_dir: str | Path, config: dict, out_html: str | Path,
                 figures_dir: str | Path | None = None, models_dir: str | Path | None = None,
                 published_csv: str | Path | None = None) -> Path:
    """The rule's body: fold outputs under results/models beside metrics.csv, benchmarks under
    `benchmarks_dir` ({rule}/{job}.tsv; the report's own is not written yet and so left out)."""
    models_dir = Path(metrics_csv).parent / "models" if models_dir is None else models_dir
    bench = sorted(Path(benchmarks_dir).rglob("*.tsv")) if Path(benchmarks_dir).is_dir() else []
    return render_report(metrics_csv, models_dir, folds_csv, metadata_csv, bench, config,
                         out_html, published_csv, figures_dir)
