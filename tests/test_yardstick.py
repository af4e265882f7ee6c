"""Issue 42's yardstick: one kind of validation number for every model, the choices made on it,
the optimism of each kind in the report, and one network three ways."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from report_fixtures import ReportParser, build_run
from ser.metrics import classification_metrics
from ser.report.aggregate import write_metrics_table
from ser.report.final_choice import best_representative
from ser.report.html import render_report
from ser.report.yardstick import optimism, three_ways
from ser.stats import choose_representatives


def metrics_table(rows: list[tuple]) -> pd.DataFrame:
    """(model, family, arch, weights, val UA, test UA per fold...) -> one row per fold."""
    out = []
    for model, family, arch, weights, val, tests in rows:
        for fold, test in enumerate(tests, 1):
            out.append({"model": model, "family": family, "arch": arch, "weights": weights,
                        "fold": fold, "val_unweighted_accuracy": val + 0.01 * (fold % 2),
                        "unweighted_accuracy": test, "accuracy": test, "n_train": 1080,
                        "n_test": 240})
    return pd.DataFrame(out)


PRE = "speaker identity (GE2E on VoxCeleb 1-2 and LibriSpeech): GE2E ..."
HAND = metrics_table([
    ("cnn6", "scratch", "cnn6", "none (random init)", 0.55, [0.50, 0.52, 0.48, 0.51]),
    ("compare_lr", "classical", "compare_lr", "none", 0.60, [0.58, 0.57, 0.59, 0.60]),
    ("ge2e_lr", "transfer", "ge2e_lr", PRE, 0.70, [0.69, 0.68, 0.70, 0.71]),
    ("ge2e_ws", "transfer", "ge2e_ws", PRE, 0.73, [0.65, 0.66, 0.64, 0.65]),
    ("ge2e_ft", "transfer", "ge2e_ft", PRE, 0.78, [0.72, 0.70, 0.73, 0.71]),
    ("ge2e_scratch", "transfer", "ge2e_ft", "none (random init)", 0.62, [0.55, 0.57, 0.56, 0.54]),
    ("fusion", "fusion", "fusion", "none", 0.74, [0.73, 0.72, 0.74, 0.75]),
])


def test_representatives_and_final_model_are_the_highest_validation_ua():
    """On a hand-built table: each family's representative is its model of highest mean
    validation UA (a random-init transfer architecture is no candidate), and the final model is
    the representative of highest mean validation UA, whatever the test scores say."""
    chosen, missing = choose_representatives(HAND)
    assert not missing
    assert {f: r.model for f, r in chosen.items()} == {
        "scratch": "cnn6", "classical": "compare_lr", "transfer": "ge2e_ft", "fusion": "fusion"}
    best, _ = best_representative(HAND)
    assert best.model == "ge2e_ft" and best.val_score == pytest.approx(0.785)
    # lower ge2e_ft's validation below the fusion's: the fusion becomes the final model even
    # though ge2e_ft's test UA would not change
    lowered = HAND.assign(val_unweighted_accuracy=np.where(
        HAND["model"] == "ge2e_ft", 0.70, HAND["val_unweighted_accuracy"]))
    assert best_representative(lowered)[0].model == "fusion"
    assert choose_representatives(lowered)[0]["transfer"].model == "ge2e_ws"


def test_optimism_is_validation_minus_test_per_model():
    table = optimism(HAND).set_index("model")
    ws = HAND[HAND["model"] == "ge2e_ws"]
    assert table.loc["ge2e_ws", "optimism"] == pytest.approx(
        100 * (ws["val_unweighted_accuracy"].mean() - ws["unweighted_accuracy"].mean()))
    assert table.loc["ge2e_ws", "optimism"] > table.loc["ge2e_lr", "optimism"] > 0


def test_three_ways_pair_one_network_with_and_without_its_weights():
    (net,) = three_ways(HAND)
    assert net.name == "ge2e"
    # the frozen way is the frozen head of higher validation UA (ge2e_ws), not of higher test UA
    assert net.models == {"random init": "ge2e_scratch", "frozen": "ge2e_ws",
                          "fine-tuned": "ge2e_ft"}
    diffs = {(c.a, c.b): c.differences.mean for c in net.comparisons}
    assert diffs[("ge2e_scratch", "ge2e_ft")] == pytest.approx(
        np.mean([0.72, 0.70, 0.73, 0.71]) - np.mean([0.55, 0.57, 0.56, 0.54]))
    assert len(diffs) == 3 and all(c.n == 4 for c in net.comparisons)
    assert three_ways(HAND[HAND["model"].isin(["cnn6", "ge2e_lr"])]) == []


def test_report_shows_the_optimism_and_three_ways_of_the_run(tmp_path, ravdess16k):
    """The report's optimism table is generated from the run's metrics, and a run with one
    network three ways gets their table and figure."""
    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    paths = list(run.metrics_paths)
    for model, weights in (("ge2e_ft", PRE), ("ge2e_scratch", "none (random init)")):
        for src in run.models_dir.glob("resnet18/fold_*"):
            dst = run.models_dir / model / src.name
            shutil.copytree(src, dst)
            meta = json.loads((dst / "metrics.json").read_text())
            meta.update(model=model, arch="ge2e_ft", weights=weights)
            (dst / "metrics.json").write_text(json.dumps(meta))
            paths.append(dst / "metrics.json")
    for src in run.models_dir.glob("resnet18/fold_*"):  # resnet18 plays the frozen GE2E head
        meta = json.loads((src / "metrics.json").read_text())
        (src / "metrics.json").write_text(json.dumps({**meta, "arch": "ge2e_ws"}))
    metrics_csv = run.root / "results" / "metrics.csv"
    write_metrics_table(paths, metrics_csv)
    out = render_report(metrics_csv, run.models_dir, run.folds_csv, run.metadata_csv,
                        run.benchmark_paths, run.config, run.root / "report.html",
                        corpus_json=run.corpus_json)
    parsed = ReportParser(out.read_text())
    metrics = pd.read_csv(metrics_csv)
    header, *rows = parsed.tables["optimism"]
    assert sorted(r[0] for r in rows) == sorted(metrics["model"].unique())
    for row in rows:
        m = metrics[metrics["model"] == row[0]]
        val, test = m["val_unweighted_accuracy"].mean(), m["unweighted_accuracy"].mean()
        assert row[header.index("Mean validation UA")] == f"{100 * val:.1f}"
        assert row[header.index("Mean test UA")] == f"{100 * test:.1f}"
        assert row[header.index("Optimism (points)")] == f"{100 * (val - test):+.1f}"
    header, *rows = parsed.tables["three-ways"]
    ways = {r[1]: r[2] for r in rows if r[2]}
    assert ways == {"random init": "ge2e_scratch", "frozen": "resnet18",
                    "fine-tuned": "ge2e_ft"}
    assert any("fig-three-ways" in str(attrs) for attrs in parsed.images)


@pytest.mark.slow
def test_every_models_validation_ua_is_measured_on_the_folds_validation_actors(use_run):
    """A torch model, a linear model and a fusion of one run: each fold's validation UA is the
    UA of its validation predictions, whose files are exactly that fold's validation actors'
    (never trained on: the linear model's inner CV saw the training actors only)."""
    folds = pd.read_csv(use_run / "results" / "folds.csv")
    for model in ("kaggle_cnn1d", "egemaps_lr", "fusion"):
        for fold in (1, 2):
            out = use_run / "results" / "models" / model / f"fold_{fold}"
            metrics = json.loads((out / "metrics.json").read_text())
            val = pd.read_csv(out / "val_predictions.csv")
            rows = folds[folds["fold"] == fold]
            assert sorted(val["file"]) == sorted(rows.loc[rows["split"] == "val", "file"])
            recomputed = classification_metrics(val["y_true"].to_numpy(),
                                                val["y_pred"].to_numpy(),
                                                len(metrics["classes"]))
            if model == "egemaps_lr":  # its C and fit saw the two training actors alone
                train = set(rows.loc[rows["split"] == "train", "actor"])
                assert set(metrics["inner_actors"]) == train and len(train) == 2
                assert metrics["val_source"].startswith("the validation actors, never seen")
            assert metrics["val_unweighted_accuracy"] == pytest.approx(
                recomputed["unweighted_accuracy"])


def test_the_first_sentence_names_a_recipe_cut_for_cost(tmp_path, ravdess16k):
    """The laptop preset cuts cnn6 to 40 epochs (report.cost_settings): the report's answer in
    short says so when that model answers, in under 60 words."""
    from ser.report.answer import first_sentence

    run = build_run(tmp_path, ravdess16k, "emobox_6fold")
    run.config["report"] = {"cost_settings": {"kaggle_cnn1d": "40 epochs instead of 100"}}
    metrics_csv = run.root / "results" / "metrics.csv"
    write_metrics_table(run.metrics_paths, metrics_csv)
    out = render_report(metrics_csv, run.models_dir, run.folds_csv, run.metadata_csv,
                        run.benchmark_paths, run.config, run.root / "report.html",
                        corpus_json=run.corpus_json)
    first = first_sentence(ReportParser(out.read_text()).texts["answer"])
    assert "(kaggle_cnn1d: 40 epochs instead of 100, for cost)" in first
    assert len(first.split()) <= 60
