"""The results registry (ser.report.registry) and the README table generated from it
(benchmarks/results_table.py): rows from real per-fold metrics, reruns replacing their row,
representatives chosen on validation UA, and the README and docs/results.md as generated."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ser.report.registry import COLUMNS, add_rows, read_registry, rows_from_metrics

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "results_table.py"


def load_table_module():
    spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fold_metrics(model: str, family: str, ua: list[float], val: list[float] | None,
                 seed: int = 0) -> pd.DataFrame:
    n = len(ua)
    return pd.DataFrame({"model": model, "family": family, "protocol": "emobox_6fold",
                         "fold": range(1, n + 1), "seed": seed, "weights": "none",
                         "unweighted_accuracy": ua, "accuracy": [u + 0.01 for u in ua],
                         "f1_macro": [u - 0.01 for u in ua],
                         "val_unweighted_accuracy": val if val else [float("nan")] * n})


def rows(*frames: pd.DataFrame) -> pd.DataFrame:
    return rows_from_metrics(pd.concat(frames), setup="test", command="pytest", wall_min=1.0,
                             hw="test machine", commit="abc", date="2026-12-04")


def test_rows_hold_means_and_folds_in_percent():
    r = rows(fold_metrics("cnn6", "scratch", [0.5, 0.6, 0.7], [0.6, 0.62, 0.64]))
    assert list(r.columns) == COLUMNS and len(r) == 1
    row = r.iloc[0]
    assert row["ua"] == 60.0 and row["wa"] == 61.0 and row["f1_macro"] == 59.0
    assert row["ua_folds"] == "50.00 60.00 70.00" and row["folds"] == "1 2 3"
    assert row["val_ua"] == 62.0
    assert pd.isna(rows(fold_metrics("x", "scratch", [0.5], None)).iloc[0]["val_ua"])


def test_a_rerun_replaces_its_row_and_keeps_the_others(tmp_path):
    path = tmp_path / "registry.csv"
    add_rows(path, rows(fold_metrics("cnn6", "scratch", [0.5, 0.6], [0.6, 0.6]),
                        fold_metrics("cnn6", "scratch", [0.4, 0.6], [0.6, 0.6], seed=1)))
    add_rows(path, rows(fold_metrics("cnn6", "scratch", [0.7, 0.7], [0.6, 0.6])))
    table = read_registry(path).set_index("seed")
    assert table.loc[0, "ua"] == 70.0 and table.loc[1, "ua"] == 50.0
    (tmp_path / "bad.csv").write_text("model,ua\nx,1\n")
    with pytest.raises(ValueError, match="bad.csv: not a results registry"):
        read_registry(tmp_path / "bad.csv")


def test_representatives_are_chosen_on_validation_not_test():
    t = load_table_module()
    reg = rows(fold_metrics("cnn6", "scratch", [0.5, 0.5], [0.7, 0.7]),      # best validation
               fold_metrics("cnnx", "scratch", [0.6, 0.6], [0.5, 0.5]),      # best test
               fold_metrics("ge2e_ws", "transfer", [0.65, 0.67], [0.6, 0.6]).assign(
                   weights="packaged: GE2E (resemblyzer)"),
               fold_metrics("compare_lr", "classical", [0.58, 0.58], [0.55, 0.55]))
    head = t.headline_rows(t.summary(reg))
    assert head["model"].tolist() == ["ge2e_ws", "compare_lr", "cnn6"]
    text = t.answer(t.summary(reg))
    assert "`cnn6` 50.00 against transfer with real pretrained weights `ge2e_ws` 66.00" in text
    assert "+16.00 points for transfer" in text and "Best family: transfer" in text


def test_seeds_are_averaged_and_listed():
    t = load_table_module()
    reg = rows(fold_metrics("cnn6", "scratch", [0.5, 0.7], [0.6, 0.6]),
               fold_metrics("cnn6", "scratch", [0.6, 0.8], [0.6, 0.6], seed=1))
    row = t.summary(reg).iloc[0]
    assert row["ua"] == pytest.approx(65.0) and row["ua_seeds"] == "60.00 / 70.00"
    assert row["ua_std"] == pytest.approx(pd.Series([55.0, 75.0]).std())  # folds over seeds


def test_readme_and_results_md_are_what_the_registry_gives():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_number_edited_by_hand_fails_the_check(tmp_path):
    t = load_table_module()
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(t.BEGIN):readme.index(t.END)]
    table_line = next(line for line in block.splitlines() if line.startswith("| ") and " ± " in line)
    number = table_line.split(" | ")[4].split(" ")[0]
    edited = readme.replace(table_line, table_line.replace(number, f"{float(number) + 1:.2f}", 1))
    (tmp_path / "README.md").write_text(edited)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check", "--readme",
                           str(tmp_path / "README.md")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "README.md" in proc.stderr


def test_readme_table_is_short():
    t = load_table_module()
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(t.BEGIN):readme.index(t.END)]
    table = [line for line in block.splitlines() if line.startswith("| ")][1:]
    assert 0 < len(table) <= 12
    assert all(len(cell.strip()) <= 100 for line in table for cell in line.split("|"))


def test_the_table_keeps_representatives_and_real_transfer_rows_first():
    """The validation-best of each family, then the transfer rows with real weights, then a
    set-up without validation scores, cut at twelve; a scratch model that is not its family's
    representative, and an unscored transfer architecture from random init, are left to
    docs/results.md."""
    t = load_table_module()
    frames = [fold_metrics("cnn6", "scratch", [0.5, 0.5], [0.7, 0.7]),
              fold_metrics("cnnx", "scratch", [0.6, 0.6], [0.5, 0.5]),
              fold_metrics("resnet18", "transfer", [0.9, 0.9], [0.9, 0.9]).assign(
                  weights="none (random init)")]
    for i in range(8):  # real-weight transfer rows, validation UA below resnet18's
        frames.append(fold_metrics(f"enc{i}_lr", "transfer", [0.3 + i / 100] * 2,
                                   [0.4 + i / 100] * 2).assign(weights="packaged"))
    scored = rows(*frames)
    unscored = rows_from_metrics(pd.concat([fold_metrics(m, "scratch", [0.8, 0.8], None)
                                            for m in ("gpu_a", "gpu_b")] +
                                           [fold_metrics("gpu_cnn14", "transfer", [0.85, 0.85],
                                                         None)]), setup="gpu",
                                 command="x", wall_min=1.0, hw="h", commit="c", date="d")
    head = t.headline_rows(t.summary(pd.concat([scored, unscored])))
    assert len(head) == 12
    # representatives: resnet18 (validation-best transfer, even from random weights) and cnn6
    assert head["model"].tolist()[:2] == ["resnet18", "cnn6"]
    assert set(head["model"].tolist()[2:10]) == {f"enc{i}_lr" for i in range(8)}
    assert head["model"].tolist()[10:] == ["gpu_a", "gpu_b"]
    assert not {"cnnx", "gpu_cnn14"} & set(head["model"])
    # the answer's transfer side has real weights: enc7_lr, not resnet18
    assert "real pretrained weights `enc7_lr` 37.00" in t.answer(t.summary(scored))


def test_a_rerun_is_checked_against_its_registry_row():
    from ser.report.registry import rerun_check

    registry = rows(fold_metrics("egemaps_lr", "classical", [0.5, 0.6], [0.5, 0.5]),
                    fold_metrics("cnn6", "scratch", [0.5, 0.7], [0.6, 0.6]))
    same = rows(fold_metrics("egemaps_lr", "classical", [0.5, 0.6], [0.5, 0.5]))
    moved = rows(fold_metrics("egemaps_lr", "classical", [0.5, 0.61], [0.5, 0.5]))
    seed1 = rows(fold_metrics("cnn6", "scratch", [0.52, 0.72], [0.6, 0.6], seed=1))
    assert rerun_check(registry, same)["verdict"].tolist() == ["identical on every fold"]
    assert rerun_check(registry, moved)["verdict"].tolist() == \
        ["differs: up to 1.00 UA points on a fold"]
    verdict = rerun_check(registry, seed1).iloc[0]
    assert verdict["registry ua by seed"] == "0: 60.00"
    assert verdict["verdict"].startswith("+2.00 points from the registry's seeds (range 60.00-60.00")


def test_transfer_rows_say_what_their_weights_learnt_and_whether_frozen():
    t = load_table_module()
    reg = read_registry(REPO / "benchmarks" / "results" / "registry.csv")
    cells = {r["model"]: t.family_cell(r) for _, r in t.summary(reg).iterrows()}
    assert cells["ge2e_ws"] == "transfer: speaker identity, frozen"
    assert cells["crepe_tiny_ft"] == "transfer: pitch of music and singing, fine-tuned"
    assert cells["cnn14"] == "transfer (random init)"  # PANNs' Cnn14 without AudioSet weights
    assert cells["cnn6"] == "scratch"


def test_a_superseded_set_up_leaves_the_readme_only_once_its_replacement_has_rows():
    t = load_table_module()
    old = rows(fold_metrics("cnn6", "scratch", [0.5, 0.5], [0.6, 0.6]))
    new = old.assign(setup="test, bf16", ua=55.0)
    superseded = pd.DataFrame({"setup": ["test"], "by": ["test, bf16"], "why": ["faster path"]})
    assert t.current(old, superseded)["setup"].tolist() == ["test"]  # nothing replaces it yet
    both = pd.concat([old, new], ignore_index=True)
    assert t.current(both, superseded)["setup"].tolist() == ["test, bf16"]
    assert "| test, bf16 |" in t.readme_block(t.current(both, superseded))
    md = t.results_md(both, superseded)
    assert "| test " in md and "| test, bf16 " in md and "faster path" in md


def test_the_answer_comes_from_the_full_strength_preset_and_names_a_cost_cut():
    """Issue 42: the full-strength preset's set-up answers when it has rows, although another
    set-up spans more families; a set-up whose scratch CNN was cut for cost says so."""
    t = load_table_module()
    laptop = rows_from_metrics(pd.concat([
        fold_metrics("cnn6", "scratch", [0.45, 0.47], [0.5, 0.5]),
        fold_metrics("ge2e_ws", "transfer", [0.65, 0.66], [0.7, 0.7]).assign(weights="packaged"),
        fold_metrics("compare_lr", "classical", [0.58, 0.58], [0.55, 0.55])]),
        setup="cpu.yaml (laptop preset)", command="x", wall_min=1.0, hw="h", commit="c",
        date="d", chosen_by={"cnn6": "screens on validation actors; 40 epochs: cost"})
    text = t.answer(t.summary(laptop))
    assert "+19.50 points for transfer (`cnn6` trains 40 epochs for cost, not its full " \
           "recipe)." in text
    full = rows_from_metrics(pd.concat([
        fold_metrics("cnn6", "scratch", [0.57, 0.57], [0.6, 0.6]),
        fold_metrics("ge2e_ft", "transfer", [0.70, 0.72], [0.75, 0.75]).assign(
            weights="packaged")]), setup="full_cpu.yaml (full strength)", command="x",
        wall_min=1.0, hw="h", commit="c", date="d")
    partial = full[full["model"] == "ge2e_ft"]  # no scratch row yet: the laptop still answers
    assert t.answer(t.summary(pd.concat([laptop, partial]))) == text
    text = t.answer(t.summary(pd.concat([laptop, full])))
    assert text.startswith("On emobox_6fold (full_cpu.yaml (full strength);")
    assert "`cnn6` 57.00 against transfer with real pretrained weights `ge2e_ft` 71.00: " \
           "+14.00 points for transfer." in text and "for cost" not in text
