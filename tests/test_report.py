"""The report on a realistic finished tiny run: its numbers, its answer, its honesty, its file."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from conftest import REPO
from report_fixtures import MODELS, ReportParser, TinyRun, build_run
from ser.metrics import classification_metrics
from ser.report.aggregate import aggregate, write_metrics_table
from ser.report.html import render_report
from ser.report.tables import SCORES
from ser.stats import compare_families, paired_comparison, summarize

PUBLISHED = Path(__file__).resolve().parents[1] / "ser" / "reference" / "published_results.csv"
CELL = re.compile(r"^(-?\d+\.\d) ± (\d+\.\d|n/a) \[(-?\d+\.\d), (-?\d+\.\d)\]$")


def render(run: TinyRun, metrics_paths=None, **kwargs) -> tuple[Path, ReportParser]:
    metrics_csv = run.root / "results" / "metrics.csv"
    write_metrics_table(metrics_paths or run.metrics_paths, metrics_csv)
    kwargs.setdefault("corpus_json", run.corpus_json)
    out = render_report(metrics_csv, run.models_dir, run.folds_csv, run.metadata_csv,
                        run.benchmark_paths, run.config, run.root / "reports" / "report.html",
                        **kwargs)
    return out, ReportParser(out.read_text())


@pytest.fixture(scope="module")
def emobox(tmp_path_factory, ravdess16k) -> tuple[TinyRun, Path, ReportParser]:
    run = build_run(tmp_path_factory.mktemp("emobox"), ravdess16k, "emobox_6fold")
    out, parsed = render(run, figures_dir=run.root / "results" / "figures")
    return run, out, parsed


def metrics_of(run: TinyRun) -> pd.DataFrame:
    return pd.read_csv(run.root / "results" / "metrics.csv")


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def test_headline_numbers_equal_those_recomputed_from_metrics_csv(emobox) -> None:
    run, _, parsed = emobox
    metrics = metrics_of(run)
    header, *rows = parsed.tables["headline"]
    assert sorted(r[0] for r in rows) == sorted(MODELS)
    for row in rows:
        folds = metrics[metrics["model"] == row[0]]
        assert row[header.index("Folds")] == str(len(folds)) == "6"
        for column, title in SCORES.items():
            mean, std, low, high = CELL.match(row[header.index(title)]).groups()
            x = folds[column]
            half = sps.t.ppf(0.975, len(x) - 1) * x.std() / np.sqrt(len(x))
            assert (mean, std) == (pct(x.mean()), pct(x.std())), (row[0], column)
            assert (low, high) == (pct(x.mean() - half), pct(x.mean() + half)), (row[0], column)
        assert row[header.index("Weights used")] == folds["weights"].iloc[0]


def test_answer_names_the_validation_best_model_not_the_test_best(emobox) -> None:
    """The acceptance test of issue 18: the scratch model best on the test folds (cnnx) is not
    the one best on validation (kaggle_cnn1d); the report must name the latter and say why."""
    run, _, parsed = emobox
    metrics = metrics_of(run)
    scratch = metrics[metrics["family"] == "scratch"].groupby("model")
    test_best = scratch["unweighted_accuracy"].mean().idxmax()
    val_best = scratch["val_unweighted_accuracy"].mean().idxmax()
    assert (test_best, val_best) == ("cnnx", "kaggle_cnn1d")  # the fixture's premise holds
    answer = parsed.texts["answer"]
    first, rest = answer.split(". ", 1)
    assert len(first.split()) <= 60  # issue 35: the answer in short comes first
    assert first.startswith(f"Transfer learning (resnet18, UA ") and f"scratch ({val_best}, " in first
    assert "best family overall: " in first
    assert rest.startswith("On RAVDESS speech from a local folder (")
    assert "under emobox_6fold (speaker-independent, 6 folds by actor" in answer
    assert "the transfer representative resnet18 reached UA " in answer
    assert f"for the scratch representative {val_best}:" in answer
    assert f"representative {test_best}" not in answer
    mean_val = scratch["val_unweighted_accuracy"].mean()[val_best]
    assert (f"{val_best} (highest mean validation UA ({100 * mean_val:.1f} %) among 2 scratch "
            "models, chosen on validation actors, never on test folds)") in answer
    reps = {r[0]: r for r in parsed.tables["representatives"][1:]}
    assert reps["scratch"][1] == val_best and reps["transfer"][1] == "resnet18"
    assert "validation" in parsed.texts["selection-rule"] and "never" not in reps["transfer"][4]
    # the difference in UA, WA beside each model's UA, and the corrected t-test by hand
    ua = metrics.set_index(["model", "fold"])["unweighted_accuracy"]
    d = (ua["resnet18"] - ua[val_best]).to_numpy()
    assert f"a difference of {100 * d.mean():+.1f} UA points for transfer" in answer
    wa = metrics[metrics["model"] == val_best]["accuracy"]
    assert f"(WA {100 * wa.mean():.1f} ± {100 * wa.std():.1f} %)" in answer
    rows = metrics[metrics["model"].isin(["resnet18", val_best])]
    ratio = (rows["n_test"] / rows["n_train"]).mean()
    t = d.mean() / np.sqrt((1 / 6 + ratio) * d.var(ddof=1))
    p = 2 * sps.t.sf(abs(t), 5)
    assert f"corrected resampled t-test p {'< 0.001' if p < 0.001 else f'= {p:.3f}'}" in answer
    assert "n = 6 folds" in answer and "NOT real transfer" not in answer
    assert "random-weights" not in parsed.texts and "protocol-warning" not in parsed.texts
    assert parsed.texts["what-folds-show"].startswith("With 6 folds")


def test_published_rows_are_comparable_only_on_the_same_fold_list(emobox) -> None:
    _, _, parsed = emobox
    published = pd.read_csv(PUBLISHED)
    emobox_rows = published[published["protocol"].str.contains("emobox_6fold.csv")]
    header, *rows = parsed.tables["published-comparable"]
    comparable = [r for r in rows if r[0] != "this run"]
    assert sorted(r[2] for r in comparable) == sorted(emobox_rows["model"])
    assert len(emobox_rows) > 0
    # EmoBox trains on all 20 other actors, this run held validation actors out: it says so
    assert all(r[header.index("Status")] == "same folds, different training set-up"
               for r in comparable)
    assert all("holds 1 of them out for validation" in r[header.index("Note")]
               for r in comparable)
    ua = dict(zip(emobox_rows["model"], emobox_rows["recall_macro"]))
    assert all(r[header.index("UA (macro recall)")] == pct(ua[r[2]]) for r in comparable)
    others = parsed.tables["published-not-comparable"][1:]
    assert len(others) == len(published) - len(emobox_rows)
    assert all(r[6] == "not comparable" and r[7] for r in others)
    assert {r[2] for r in others} >= set(published[published["protocol"].str.contains(
        "dchung_4fold.csv")]["model"])


def test_partial_fold_list_and_random_folds_are_never_comparable(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path / "dchung", ravdess16k, "dchung_4fold")
    _, parsed = render(run)
    assert [r for r in parsed.tables["published-comparable"][1:] if r[0] != "this run"] == []
    dchung = [r for r in parsed.tables["published-not-comparable"][1:]
              if "dchung_4fold.csv" in r[1]]
    # Actors 1, 4 and 20 sit in dchung folds 3, 1 and 2: fold 4 is missing.
    assert dchung and all("lacks folds [4]" in r[7] for r in dchung)
    assert "protocol-warning" not in parsed.texts

    run = build_run(tmp_path / "random", ravdess16k, "random_kfold")
    _, parsed = render(run)
    assert "NOT speaker-independent" in parsed.texts["answer"]
    assert "splits files, not speakers" in parsed.texts["protocol-warning"]
    assert [r for r in parsed.tables["published-comparable"][1:] if r[0] != "this run"] == []


def test_random_weight_transfer_is_flagged(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold", transfer_weights="none (random init)")
    _, parsed = render(run)
    assert "resnet18 was trained from random weights" in parsed.texts["answer"]
    assert "NOT real transfer learning" in parsed.texts["answer"]
    assert "resnet18" in parsed.texts["random-weights"]
    header, *rows = parsed.tables["headline"]
    headline = {r[0]: r for r in rows}
    assert headline["resnet18"][header.index("Weights used")] == "none (random init)"


def test_the_answer_compares_scratch_with_the_transfer_model_that_has_real_weights(
        tmp_path, ravdess16k) -> None:
    """Issue 31: beside a random-init resnet18 that is best on validation, a frozen encoder head
    with real pretrained weights is the transfer model the first sentence names, with its own
    difference to the scratch representative and the corrected test."""
    run = build_run(tmp_path, ravdess16k, "emobox_6fold", transfer_weights="none (random init)")
    rng = np.random.default_rng(5)
    for path in list(run.metrics_paths):
        if "/resnet18/" not in str(path):
            continue
        head = Path(str(path.parent).replace("/resnet18/", "/ge2e_lr/"))
        head.mkdir(parents=True)
        pred = pd.read_csv(path.parent / "predictions.csv")
        flip = rng.random(len(pred)) < 0.3  # its own predictions: some answers moved
        pred.loc[flip, "y_pred"] = (pred.loc[flip, "y_pred"] + 1) % 8
        pred.to_csv(head / "predictions.csv", index=False)
        (head / "history.csv").write_bytes((path.parent / "history.csv").read_bytes())
        m = json.loads(path.read_text())
        scores = classification_metrics(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(), 8)
        scores.pop("confusion_matrix")
        m.update(scores, model="ge2e_lr", arch="ge2e_lr", features=["ge2e"],
                 weights="speaker identity: ge2e (sha256 39373b86598f), frozen",
                 val_unweighted_accuracy=m["val_unweighted_accuracy"] - 0.2)
        (head / "metrics.json").write_text(json.dumps(m))
        run.metrics_paths.append(head / "metrics.json")
    _, parsed = render(run)
    answer = parsed.texts["answer"]
    metrics = metrics_of(run)
    scratch = metrics[metrics["family"] == "scratch"].groupby("model")
    rep = scratch["val_unweighted_accuracy"].mean().idxmax()
    assert "the transfer representative ge2e_lr reached UA " in answer
    assert f"for the scratch representative {rep}:" in answer
    assert "resnet18 (random initial weights) not candidates" in answer
    ua = metrics.set_index(["model", "fold"])["unweighted_accuracy"]
    d = (ua["ge2e_lr"] - ua[rep]).to_numpy()
    assert f"a difference of {100 * d.mean():+.1f} UA points for transfer" in answer
    assert "corrected resampled t-test p" in answer and "NOT real transfer" not in answer


def test_one_family_only_says_so(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    scratch_only = [p for p in run.metrics_paths if "resnet18" not in str(p)]
    _, parsed = render(run, metrics_paths=scratch_only)
    assert "this run has scratch models only (no transfer model)" in parsed.texts["answer"]
    assert "cannot be compared" in parsed.texts["comparison-missing"]
    assert "paired" not in parsed.tables


def test_figures_inline_ids_and_files(emobox) -> None:
    run, out, parsed = emobox
    ids = [img["id"] for img in parsed.images]
    expected = {"fig-overview-accuracy"} | {f"fig-{m}-{k}" for m in MODELS
                                            for k in ("confusion", "class_f1", "groups", "curves")}
    assert sorted(ids) == sorted(expected)
    assert all(img["alt"] and img["src"].startswith("data:image/png;base64,")
               for img in parsed.images)
    written = sorted(p.stem for p in (run.root / "results" / "figures").glob("*.png"))
    assert written == sorted(expected)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
               for p in (run.root / "results" / "figures").glob("*.png"))


def test_no_external_resource(emobox) -> None:
    _, out, parsed = emobox
    html = out.read_text()
    assert all(v.startswith(("data:", "#")) for _, v in parsed.links), parsed.links
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
    assert "Content-Security-Policy" in html


def test_provenance_config_hash_folds_and_benchmarks(emobox) -> None:
    run, _, parsed = emobox
    items = dict(parsed.tables["provenance-table"][1:])
    canonical = json.dumps(run.config, sort_keys=True, separators=(",", ":"))
    assert items["config sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert items["device"] == "cpu" and items["version of torch"].startswith("2.")
    # issue 35: the commit of the code that wrote the page, and the machine, by their own sources
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{10}(\+dirty)?", items["code commit"])
    assert head.startswith(items["code commit"].removesuffix("+dirty"))
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
               if line.startswith("model name"))
    assert items["machine (of the report)"] == f"{cpu}, {os.cpu_count()} cores"
    folds = pd.read_csv(run.folds_csv)
    for fold, test, val, *_ in parsed.tables["folds"][1:]:
        rows = folds[folds["fold"] == int(fold)]
        assert test == ", ".join(map(str, sorted(rows[rows["split"] == "test"]["actor"].unique())))
        assert val == ", ".join(map(str, sorted(rows[rows["split"] == "val"]["actor"].unique())))
    table = {r[0]: r for r in parsed.tables["benchmarks"][1:]}
    for rule in ("metadata", "folds", "features", "train"):
        files = [p for p in run.benchmark_paths if p.parent.name == rule]
        seconds = [pd.read_csv(p, sep="\t")["s"].iloc[0] for p in files]
        assert table[rule][1:4] == [str(len(files)), f"{sum(seconds):.1f}", f"{max(seconds):.1f}"]
    assert table["folds"][4] == "n/a"  # Snakemake's '-' for an unmeasured RSS


def test_write_is_atomic_and_bad_input_names_the_file(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    out, _ = render(run)
    before = out.read_bytes()
    broken = run.models_dir / "cnnx" / "fold_2" / "predictions.csv"
    pd.read_csv(broken).drop(columns="y_pred").to_csv(broken, index=False)
    with pytest.raises(ValueError, match=re.escape(str(broken)) + ".*y_pred"):
        render(run)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_aggregate_rows_columns_and_errors(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    table = aggregate(reversed(run.metrics_paths))
    assert list(zip(table["model"], table["fold"])) == sorted(
        (m, f) for m in MODELS for f in (1, 2, 3, 4, 5, 6))
    raw = json.loads(run.metrics_paths[-1].read_text())
    last = table[(table["model"] == raw["model"]) & (table["fold"] == raw["fold"])].iloc[0]
    assert last["features"] == "+".join(raw["features"]) == "stft+scalogram+mfcc"
    assert last["accuracy"] == raw["accuracy"] and "classes" not in table
    with pytest.raises(ValueError, match="same model and fold"):
        aggregate(run.metrics_paths + run.metrics_paths[:1])
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({k: v for k, v in raw.items() if k != "accuracy"}))
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ".*accuracy"):
        aggregate([bad])
    bad.write_text(json.dumps({**raw, "protocol": "dchung_4fold", "fold": 99}))
    with pytest.raises(ValueError, match="several protocols"):
        aggregate([*run.metrics_paths, bad])


def test_stats_summary_and_degenerate_comparisons() -> None:
    s = summarize([0.5, 0.6, 0.7])
    assert s.mean == pytest.approx(0.6) and s.std == pytest.approx(0.1)
    half = sps.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert (s.ci_low, s.ci_high) == pytest.approx((0.6 - half, 0.6 + half))
    one = summarize([0.4])
    assert one.n == 1 and one.mean == 0.4 and np.isnan(one.std) and np.isnan(one.ci_low)
    m = pd.DataFrame({"model": ["a", "b"], "family": ["scratch", "transfer"], "fold": [1, 1],
                      "unweighted_accuracy": [0.5, 0.6]})
    cmp = paired_comparison(m, "a", "b")
    assert cmp.n == 1 and np.isnan(cmp.t_pvalue) and "no interval or test" in cmp.notes[0]
    assert compare_families(m[m["family"] == "scratch"]).headline is None


def test_one_fold_gives_no_interval_and_no_test(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    first_fold = [p for p in run.metrics_paths if p.parent.name == "fold_1"]
    _, parsed = render(run, metrics_paths=first_fold)
    assert "1 fold, so no interval or test" in parsed.texts["answer"]
    header, *rows = parsed.tables["headline"]
    cell = rows[0][header.index("Accuracy (WA)")]
    assert re.fullmatch(r"\d+\.\d ± n/a \[n/a\]", cell), cell
    assert len(parsed.tables["paired"]) == 3  # header, fold 1, mean


def test_pipeline_report_numbers_equal_its_metrics_csv(tiny_run) -> None:
    """The same check on the page the real pipeline wrote from six real actors."""
    metrics = pd.read_csv(tiny_run / "results" / "metrics.csv")
    parsed = ReportParser((tiny_run / "reports" / "report.html").read_text())
    header, *rows = parsed.tables["headline"]
    assert sorted(r[0] for r in rows) == sorted(metrics["model"].unique())
    for row in rows:
        folds = metrics[metrics["model"] == row[0]]
        for column, title in SCORES.items():
            mean, std, _, _ = CELL.match(row[header.index(title)]).groups()
            assert (mean, std) == (pct(folds[column].mean()), pct(folds[column].std())), row[0]


def test_misclassified_files_match_predictions_csv(emobox) -> None:
    """Per model, collapsed by default: every wrong test file of predictions.csv, once, most
    confident error first."""
    run, out, parsed = emobox
    html = out.read_text()
    for model in MODELS:
        preds = []
        for fold_dir in sorted((run.models_dir / model).glob("fold_*")):
            classes = json.loads((fold_dir / "metrics.json").read_text())["classes"]
            p = pd.read_csv(fold_dir / "predictions.csv")
            wrong = p[p["y_true"] != p["y_pred"]]
            for row in wrong.itertuples(index=False):
                conf = getattr(row, f"p_{classes[row.y_pred]}")
                preds.append((row.file, str(row.actor), classes[row.y_true],
                              classes[row.y_pred], conf))
        header, *rows = parsed.tables[f"misclassified-{model}"]
        assert header == ["File", "Actor", "Fold", "True", "Predicted", "Confidence"]
        got = [(r[0], r[1], r[3], r[4], r[5]) for r in rows]
        assert sorted(got) == sorted((f, a, t, p, f"{c:.3f}") for f, a, t, p, c in preds)
        confidences = [float(r[5]) for r in rows]
        assert confidences == sorted(confidences, reverse=True) and len(rows) > 10
        total = sum(len(pd.read_csv(d / "predictions.csv"))
                    for d in (run.models_dir / model).glob("fold_*"))
        assert f"<summary>{len(rows)} of {total} test files misclassified by {model}" in html
    assert "<details open" not in html  # collapsed by default


def test_synthetic_corpus_says_so_first_and_compares_no_published_row(tmp_path,
                                                                      ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    record = json.loads(run.corpus_json.read_text())
    record.update(source_kind="synthetic", source="synthetic", path=None,
                  checksum="not applicable")
    run.corpus_json.write_text(json.dumps(record))
    out, parsed = render(run)
    first = parsed.texts["answer"].split(". ")[0]
    assert "synthetic" in first and "about the pipeline, not about emotion" in first
    assert [r for r in parsed.tables["published-comparable"][1:] if r[0] != "this run"] == []
    assert all("synthetic" in r[7] for r in parsed.tables["published-not-comparable"][1:])
    assert "<h1>Pipeline demo on synthetic audio" in out.read_text()


def test_pinned_representative_is_used_and_named(tmp_path, ravdess16k) -> None:
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    run.config["report"] = {"compare": {"scratch": "cnnx"}}
    _, parsed = render(run)
    assert "for the scratch representative cnnx:" in parsed.texts["answer"]
    assert "cnnx (pinned in config (report.compare))" in parsed.texts["answer"]


def test_three_families_every_pair_in_the_report(tmp_path, ravdess16k) -> None:
    """A classical family (issue 17) joins: three pairs, Holm-adjusted over three."""
    import shutil

    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    write_metrics_table(run.metrics_paths, run.root / "results" / "metrics.csv")
    metrics = metrics_of(run)
    svm = metrics[metrics["model"] == "kaggle_cnn1d"].assign(model="svm", family="classical")
    svm["unweighted_accuracy"] -= 0.05
    pd.concat([metrics, svm]).to_csv(run.root / "results" / "metrics.csv", index=False)
    shutil.copytree(run.models_dir / "kaggle_cnn1d", run.models_dir / "svm")
    out = render_report(run.root / "results" / "metrics.csv", run.models_dir, run.folds_csv,
                        run.metadata_csv, run.benchmark_paths, run.config,
                        run.root / "reports" / "report.html", corpus_json=run.corpus_json)
    parsed = ReportParser(out.read_text())
    header, *rows = parsed.tables["pairs"]
    assert [r[0] for r in rows] == ["scratch minus classical", "transfer minus classical",
                                    "transfer minus scratch"]
    assert [r[1] for r in rows] == ["kaggle_cnn1d - svm", "resnet18 - svm",
                                    "resnet18 - kaggle_cnn1d"]
    # kaggle_cnn1d - svm is 5 UA points on every fold: the t-test is undefined, Wilcoxon not
    assert rows[0][3] == "5.0" and rows[0][header.index("Corrected t")] == "n/a"
    assert "Holm-adjusted over 3 pairs" in parsed.texts["answer"]


def test_build_report_reads_only_declared_inputs(tmp_path, ravdess16k) -> None:
    """Fold outputs and benchmark files of a model no longer run are not read."""
    from ser.report.html import build_report

    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    metrics_csv = run.root / "results" / "metrics.csv"
    kept = [p for p in run.metrics_paths if "resnet18" not in str(p)]
    write_metrics_table(kept, metrics_csv)
    stale = [p for p in run.benchmark_paths if "resnet18" in p.name]
    declared = [p for p in run.benchmark_paths if p not in stale]
    out = build_report(metrics_csv, run.folds_csv, run.metadata_csv, declared, run.config,
                       run.root / "reports" / "report.html",
                       predictions=[p.parent / "predictions.csv" for p in kept],
                       corpus_json=run.corpus_json)
    parsed = ReportParser(out.read_text())
    assert "resnet18" not in {r[0] for r in parsed.tables["headline"][1:]}
    train = {r[0]: r for r in parsed.tables["benchmarks"][1:]}["train"]
    assert train[1] == str(len([p for p in declared if p.parent.name == "train"])) == "12"
    with pytest.raises(ValueError, match="differ from the report's declared inputs"):
        build_report(metrics_csv, run.folds_csv, run.metadata_csv, declared, run.config,
                     run.root / "reports" / "other.html",
                     predictions=[p.parent / "predictions.csv" for p in kept[1:]],
                     corpus_json=run.corpus_json)


def test_pipeline_report_names_its_corpus_and_lists_its_errors(tiny_run, ravdess16k) -> None:
    """The real pipeline's corpus.json (a local folder, not checkable against the release zip)
    follows the answer in short; every misclassified file of predictions.csv is listed once."""
    record = json.loads((tiny_run / "results" / "corpus.json").read_text())
    assert record["source_kind"] == "folder" and record["checksum"] == "not checked"
    assert Path(record["path"]) == ravdess16k.resolve()
    # the shared corpus is the release resampled to 16 kHz FLAC (../shared/README.md)
    assert record["differences"][:2] == ["FLAC files; the release's are WAV",
                                         "sample rate 16000 Hz; the release's is 48000 Hz"]
    assert (record["files"], record["actors"]) == (360, 6)
    parsed = ReportParser((tiny_run / "reports" / "report.html").read_text())
    first, rest = parsed.texts["answer"].split("). ", 1)  # the short answer comes first
    assert first.startswith("Transfer learning (resnet18, UA ")
    assert rest.startswith(
        f"On RAVDESS speech from a local folder ({ravdess16k.name}) (files not checked")
    # issue 42: the page names no folder of the machine that made it
    assert str(ravdess16k.resolve()) not in (tiny_run / "reports" / "report.html").read_text()
    for model in ("kaggle_cnn1d", "resnet18"):
        wrong = pd.concat(pd.read_csv(p) for p in (tiny_run / "results" / "models" / model)
                          .glob("fold_*/predictions.csv"))
        wrong = wrong[wrong["y_true"] != wrong["y_pred"]]
        listed = parsed.tables[f"misclassified-{model}"][1:]
        assert sorted(r[0] for r in listed) == sorted(wrong["file"])


def test_group_scores_are_ua_with_wa_beside() -> None:
    """The groups figure's numbers against sklearn's balanced accuracy (UA) per group."""
    from sklearn.metrics import balanced_accuracy_score

    from ser.report.figures import accuracy_by

    rng = np.random.default_rng(0)
    pred = pd.DataFrame({"gender": rng.choice(["male", "female"], 200),
                         "y_true": rng.integers(0, 4, 200), "y_pred": rng.integers(0, 4, 200)})
    scores = accuracy_by(pred, "gender")
    for group, rows in pred.groupby("gender"):
        assert scores.loc[group, "ua"] == pytest.approx(
            balanced_accuracy_score(rows["y_true"], rows["y_pred"]))
        assert scores.loc[group, "wa"] == pytest.approx((rows["y_true"] == rows["y_pred"]).mean())
