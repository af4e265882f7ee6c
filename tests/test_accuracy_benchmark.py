"""benchmarks/accuracy.py's table: published rows matched by model and weights, seeds summarised."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py"


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fold_rows(model: str, pretrained: str, seed: int, accuracies: list[float]) -> pd.DataFrame:
    return pd.DataFrame({
        "model": model, "fold": range(1, len(accuracies) + 1), "family": "scratch",
        "weights": pretrained, "pretrained": pretrained, "seed": seed, "label_set": "emotion",
        "accuracy": accuracies, "unweighted_accuracy": [a - 0.02 for a in accuracies],
        "f1_macro": [a - 0.01 for a in accuracies], "epochs_run": 60, "train_seconds": 60.0})


def test_seeds_are_summarised_by_their_fold_means(accuracy) -> None:
    metrics = pd.concat([fold_rows("cnn1d_lstm", "none", 0, [0.40, 0.50, 0.60, 0.50]),
                         fold_rows("cnn1d_lstm", "none", 1, [0.50, 0.60, 0.70, 0.60])])
    row = accuracy.comparison(metrics, "dchung_4fold").iloc[0]
    assert (row["folds"], row["seeds"]) == (4, 2)
    assert row["accuracy_per_seed"] == "50.00 / 60.00"
    # the std of the two seed means, 50 and 60, not of the eight folds
    assert row["across_seeds"] == "55.00 ± 7.07"
    assert row["accuracy"].startswith("55.00 ± ") and row["ua"].startswith("53.00 ± ")
    assert row["published_accuracy"] == "56.81"  # dchung's 1DCNNLSTM, trained from scratch
    assert row["ua"].startswith("53.00 ± ") and row["published_ua"] == "55.73"
    assert row["train_minutes"] == 8.0


def test_published_row_needs_the_same_weights(accuracy) -> None:
    scratch = fold_rows("alexnet_attn", "none", 0, [0.4, 0.5, 0.4, 0.5])
    imagenet = fold_rows("alexnet_attn", "imagenet", 0, [0.4, 0.5, 0.4, 0.5])
    assert accuracy.comparison(scratch, "dchung_4fold").iloc[0]["published_accuracy"] == "-"
    assert accuracy.comparison(imagenet, "dchung_4fold").iloc[0]["published_accuracy"] == "55.62"
    # one seed: no spread across seeds to report
    assert accuracy.comparison(imagenet, "dchung_4fold").iloc[0]["across_seeds"] == "45.00 ± -"
    # as in the report, a mean over 3 of the 4 folds is not set beside the published mean
    assert accuracy.comparison(imagenet[:3], "dchung_4fold").iloc[0]["published_accuracy"] == "-"


def test_seed_zero_keeps_the_single_seed_directory(accuracy, tmp_path: Path) -> None:
    assert accuracy.seed_workdir(tmp_path, "emobox_6fold", 0) == tmp_path / "emobox_6fold"
    assert accuracy.seed_workdir(tmp_path, "emobox_6fold", 2) == tmp_path / "emobox_6fold_seed2"


def test_variant_configs_sit_between_the_preset_and_the_runs_overrides(accuracy,
                                                                      tmp_path: Path) -> None:
    variant = Path("workflow/presets/whole_clip.yaml")
    workdir = accuracy.seed_workdir(tmp_path, "emobox_6fold", 0)
    cmd = accuracy.snakemake_command("emobox_6fold", workdir, 2, [variant], ["--dry-run"])
    configs = cmd[cmd.index("--configfile") + 1:cmd.index("--dry-run")]
    assert [Path(c).name for c in configs] == ["config.yaml", "emobox_6fold.yaml",
                                               "whole_clip.yaml", "benchmark.yaml"]
    # absolute, since snakemake runs in the workdir
    assert all(Path(c).is_absolute() for c in configs)


def screen_rows(variant: str, model: str, test: list[float], val: list[float]) -> pd.DataFrame:
    rows = fold_rows(model, "none", 0, test)
    return rows.assign(variant=variant, val_unweighted_accuracy=val,
                       val_accuracy=[v + 0.01 for v in val], device="cpu")


def test_validation_screen_chooses_by_validation_and_shows_only_its_test_scores(accuracy):
    """The test-best candidate (whole_clip, 61.25 % on test) is not the validation-best
    (preset, 47.5 % on validation): the screen picks the latter and never prints the
    former's test numbers."""
    metrics = pd.concat([
        screen_rows("preset", "cnnx", [0.41, 0.43, 0.45, 0.47], [0.46, 0.47, 0.48, 0.49]),
        screen_rows("whole_clip", "cnnx", [0.59, 0.60, 0.62, 0.64], [0.40, 0.42, 0.44, 0.46]),
        screen_rows("whole_clip", "cnn1d_lstm", [0.52, 0.53, 0.54, 0.55],
                    [0.40, 0.41, 0.42, 0.43])])
    ranking = accuracy.rank_by_validation(metrics)
    assert list(zip(ranking["variant"], ranking["model"])) == [
        ("preset", "cnnx"), ("whole_clip", "cnnx"), ("whole_clip", "cnn1d_lstm")]
    assert ranking["val_ua"].iloc[0] == pytest.approx(0.475) and ranking["chosen"].tolist() == [
        True, False, False]
    assert not {"accuracy", "unweighted_accuracy", "f1_macro"} & set(ranking)
    text = accuracy.selection_report(metrics, "emobox_6fold")
    assert "chosen: cnnx with variant preset" in text
    assert "44.00 ± " in text  # the chosen one's mean test accuracy
    assert "61.25" not in text and "53.50" not in text  # the others' test means are not shown


def test_validation_screen_refuses_folds_without_validation(accuracy):
    metrics = screen_rows("preset", "cnnx", [0.4, 0.5], [0.4, float("nan")])
    with pytest.raises(ValueError, match="without validation actors"):
        accuracy.rank_by_validation(metrics)
