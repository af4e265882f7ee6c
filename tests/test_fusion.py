"""Late fusion (ser.models.fusion, ser.train.fusion, rule fuse): weights chosen on the validation
actors of each training fold, never on test files, applied to the members' test probabilities."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ser.data import labels
from ser.data.folds import make_folds
from ser.data.ravdess import scan_corpus
from ser.models import get_spec
from ser.models.fusion import LateFusion, run_members, simplex_grid
from ser.train.fusion import FusionJob, run_fusion

ACTORS = [1, 2, 3, 4, 5, 6]
LOG = logging.getLogger("test_fusion")
FUSION = {"arch": "fusion", "hparams": {"members": ["good", "poor"], "step": 0.1}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ravdess16k: Path) -> dict:
    """The real files of six actors and their 3 actor folds (one validation actor each)."""
    root = tmp_path_factory.mktemp("fusion")
    meta = scan_corpus(ravdess16k, ACTORS)
    y, classes = labels.encode(meta, "emotion")
    meta = meta.assign(y_true=y)
    folds = make_folds(meta, "actor_kfold", k=3, seed=0, n_val_actors=1)
    folds.to_csv(root / "folds.csv", index=False)
    return {"root": root, "meta": meta, "classes": classes, "folds": folds}


def split_files(corpus: dict, fold: int, split: str) -> list[str]:
    rows = corpus["folds"][corpus["folds"]["fold"] == fold]
    return sorted(rows.loc[rows["split"] == split, "file"])


def member_table(corpus: dict, files: list[str], probs: np.ndarray) -> pd.DataFrame:
    rows = corpus["meta"].set_index("file").loc[files].reset_index()
    table = rows[["file", "actor", "gender", "intensity", "y_true"]].copy()
    table["y_pred"] = probs.argmax(1)
    for i, name in enumerate(corpus["classes"]):
        table[f"p_{name}"] = probs[:, i]
    return table


def noisy(y: np.ndarray, n_classes: int, rng, right: float) -> np.ndarray:
    """Probabilities whose argmax is the true class for a fraction `right` of the files."""
    probs = rng.dirichlet(np.ones(n_classes), len(y))
    hit = rng.random(len(y)) < right
    probs[hit, y[hit]] += 2.0
    return probs / probs.sum(1, keepdims=True)


def write_member(corpus: dict, out: Path, fold: int, skill: dict[str, float], seed: int) -> None:
    """A member's fold outputs on the fold's real files, right on a share `skill[split]`."""
    rng, n = np.random.default_rng(seed), len(corpus["classes"])
    out.mkdir(parents=True, exist_ok=True)
    meta = corpus["meta"].set_index("file")
    for split, name in (("val", "val_predictions.csv"), ("test", "predictions.csv")):
        files = split_files(corpus, fold, split)
        probs = noisy(meta.loc[files, "y_true"].to_numpy(), n, rng, skill[split])
        member_table(corpus, files, probs).to_csv(out / name, index=False)
    (out / "metrics.json").write_text(json.dumps({
        "classes": corpus["classes"], "label_set": "emotion", "fold": fold, "n_train": 180,
        "n_val": 60}))


def fusion_job(corpus: dict, members: dict[str, Path], fold: int, out: Path,
               cfg: dict = FUSION, scheme: str = "actor_kfold") -> FusionJob:
    return FusionJob("fused", cfg, {"scheme": scheme},
                     [members[m] / "val_predictions.csv" for m in cfg["hparams"]["members"]],
                     [members[m] / "predictions.csv" for m in cfg["hparams"]["members"]],
                     [members[m] / "metrics.json" for m in cfg["hparams"]["members"]],
                     corpus["root"] / "folds.csv", fold, out)


@pytest.fixture
def two_members(corpus: dict, tmp_path: Path) -> dict[str, Path]:
    """Fold 1: `good` is right on 90 % of the validation files, `poor` on 20 %; on the test files
    it is the other way round, which a choice made on validation cannot know."""
    members = {"good": tmp_path / "good", "poor": tmp_path / "poor"}
    write_member(corpus, members["good"], 1, {"val": 0.9, "test": 0.2}, seed=1)
    write_member(corpus, members["poor"], 1, {"val": 0.2, "test": 0.9}, seed=2)
    return members


def test_weights_are_chosen_on_validation_and_applied_to_test(corpus, two_members, tmp_path):
    out = tmp_path / "fused"
    metrics = run_fusion(fusion_job(corpus, two_members, 1, out), LOG)
    w = metrics["fusion_weights"]
    assert set(w) == {"good", "poor"} and w["good"] + w["poor"] == pytest.approx(1.0)
    assert w["good"] > 0.5  # validation favours good, although test would favour poor
    good, poor = (pd.read_csv(two_members[m] / "predictions.csv") for m in ("good", "poor"))
    fused = pd.read_csv(out / "predictions.csv")
    assert fused["file"].tolist() == good["file"].tolist() == split_files(corpus, 1, "test")
    p = [f"p_{c}" for c in corpus["classes"]]
    expected = w["good"] * good[p].to_numpy() + w["poor"] * poor[p].to_numpy()
    np.testing.assert_allclose(fused[p].to_numpy(), expected, rtol=1e-12)
    assert (fused["y_pred"] == expected.argmax(1)).all()
    assert metrics["unweighted_accuracy"] == pytest.approx(
        np.mean([(expected.argmax(1)[fused["y_true"] == c] == c).mean()
                 for c in sorted(fused["y_true"].unique())]))
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 11
    assert metrics["in_sample_val_unweighted_accuracy"] == history["val_ua"].max()
    assert history.loc[metrics["best_epoch"] - 1, "w_good"] == pytest.approx(w["good"])


def test_weights_never_see_a_test_file(corpus, two_members, tmp_path):
    """The files the weights were fitted on are the fold's validation files, none of its test
    files; and rewriting the members' test predictions leaves the weights as they were."""
    first = run_fusion(fusion_job(corpus, two_members, 1, tmp_path / "a"), LOG)
    model = json.loads((tmp_path / "a" / "model.json").read_text())
    seen = set(model["fitted_on_files"])
    assert seen == set(split_files(corpus, 1, "val"))
    assert not seen & set(split_files(corpus, 1, "test"))
    assert first["n_fitted_on_files"] == len(seen) and first["n_val"] == len(seen)
    val_actors = set(corpus["folds"].query("fold == 1 and split == 'val'")["actor"])
    assert set(first["fitted_on_actors"]) == val_actors
    for member, seed in (("good", 7), ("poor", 8)):  # other test probabilities, same files
        write_member(corpus, tmp_path / f"{member}2", 1, {"val": 0.0, "test": 0.5}, seed)
        shutil.copy(two_members[member] / "val_predictions.csv", tmp_path / f"{member}2")
    second = run_fusion(fusion_job(corpus, {m: tmp_path / f"{m}2" for m in ("good", "poor")}, 1,
                                   tmp_path / "b"), LOG)
    assert second["fusion_weights"] == first["fusion_weights"]
    assert second["unweighted_accuracy"] != first["unweighted_accuracy"]


def test_identical_members_tie_at_equal_weights(corpus, two_members, tmp_path):
    shutil.copytree(two_members["good"], tmp_path / "twin")
    cfg = {"arch": "fusion", "hparams": {"members": ["good", "twin"], "step": 0.25}}
    members = {"good": two_members["good"], "twin": tmp_path / "twin"}
    metrics = run_fusion(fusion_job(corpus, members, 1, tmp_path / "f", cfg), LOG)
    assert metrics["fusion_weights"] == {"good": 0.5, "twin": 0.5}


@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_fusion_without_its_members_models_is_named_in_one_line(corpus, two_members, tmp_path,
                                                                   capsys, ravdess16k, command):
    """These members are predictions tables only: the fusion names the member model it lacks."""
    from ser.use.cli import main

    run_fusion(fusion_job(corpus, two_members, 1, tmp_path / "f"), LOG)
    model = tmp_path / "f" / "model.json"
    target = str(next((ravdess16k / "Actor_01").glob("*.flac"))) if command == "predict" \
        else str(tmp_path / "exported")
    assert main([command, str(model), target]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    missing = (two_members["good"] / "model.pt").resolve()
    assert err == [f"error: {model}: its member good's model {missing} is missing; keep the "
                   "run's results folder together"]


def test_simplex_grid_holds_every_weighting_of_the_step():
    three = {tuple(w) for w in simplex_grid(3, 0.5)}
    assert three == {(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)}
    two = simplex_grid(2, 0.1)
    assert len(two) == 11 and np.allclose(two.sum(1), 1) and (two >= 0).all()
    with pytest.raises(ValueError, match="step must divide 1"):
        simplex_grid(2, 0.3)
    with pytest.raises(ValueError, match="at least 2 distinct members"):
        LateFusion(members=("cnnx", "cnnx"))


def test_member_with_other_files_is_an_error_naming_it(corpus, two_members, tmp_path):
    path = two_members["poor"] / "val_predictions.csv"
    pd.read_csv(path).iloc[1:].to_csv(path, index=False)
    with pytest.raises(ValueError, match="not fold 1's val files") as err:
        run_fusion(fusion_job(corpus, two_members, 1, tmp_path / "f"), LOG)
    assert str(path) in str(err.value)
    assert not (tmp_path / "f").exists()  # nothing half-written


def test_member_of_other_classes_is_an_error_naming_it(corpus, two_members, tmp_path):
    path = two_members["poor"] / "metrics.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "label_set": "emotion7"}))
    with pytest.raises(ValueError, match="label_set 'emotion7', not 'emotion'") as err:
        run_fusion(fusion_job(corpus, two_members, 1, tmp_path / "f"), LOG)
    assert str(path) in str(err.value)


def test_no_validation_actors_is_one_clear_error(corpus, tmp_path):
    """dchung_4fold holds out no validation actors: fusion refuses rather than use test files."""
    folds = make_folds(corpus["meta"], "actor_kfold", k=3, seed=0, n_val_actors=0)
    folds.to_csv(corpus["root"] / "folds_noval.csv", index=False)
    members = {}
    for name in ("good", "poor"):
        members[name] = tmp_path / name
        write_member({**corpus, "folds": folds}, members[name], 1, {"val": 0.9, "test": 0.5}, 1)
    job = fusion_job(corpus, members, 1, tmp_path / "f")
    job = FusionJob(**{**job.__dict__, "folds_csv": corpus["root"] / "folds_noval.csv"})
    with pytest.raises(ValueError, match="fusion weights need validation actors"):
        run_fusion(job, LOG)
    with pytest.raises(ValueError, match="fusion weights need validation actors"):
        run_members("fused", FUSION["hparams"], ["good", "poor", "fused"], n_val_actors=0)
    with pytest.raises(ValueError, match=r"names \['poor'\], which this run does not train"):
        run_members("fused", FUSION["hparams"], ["good", "fused"], n_val_actors=1)


# --- the workflow: rule fuse on the members' outputs of a real run ---------------------------

def test_val_predictions_of_a_torch_fold_are_its_validation_files(tiny_run: Path):
    folds = pd.read_csv(tiny_run / "results" / "folds.csv")
    for fold, rows in folds.groupby("fold"):
        out = tiny_run / "results" / "models" / "kaggle_cnn1d" / f"fold_{fold}"
        val = pd.read_csv(out / "val_predictions.csv")
        assert sorted(val["file"]) == sorted(rows.loc[rows["split"] == "val", "file"])
        probs = val.filter(like="p_").to_numpy()
        assert np.allclose(probs.sum(1), 1, atol=1e-5) and (val["y_pred"] == probs.argmax(1)).all()


@pytest.mark.slow
def test_pipeline_fuses_the_members_of_each_fold(tmp_path: Path, tiny_run: Path,
                                                 tiny_config: Path):
    """rule fuse over a finished run: only the fusion's jobs (and the report) run; every fold's
    weights saw exactly its validation files; the report has the fusion family's rows."""
    from conftest import run_snakemake

    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    members = yaml.safe_load(tiny_config.read_text())["run_models"]
    extra = tmp_path / "fusion.yaml"
    extra.write_text(yaml.safe_dump({
        "run_models": [*members, "fused"],
        "models": {"fused": {"arch": "fusion", "hparams": {"members": members, "step": 0.1}}}}))
    proc = run_snakemake(workdir, "--cores", "2", "--resources", "gpu=1",
                         configfiles=(tiny_config, extra))
    assert "rule train:" not in proc.stdout + proc.stderr
    folds = pd.read_csv(workdir / "results" / "folds.csv")
    for fold, rows in folds.groupby("fold"):
        out = workdir / "results" / "models" / "fused" / f"fold_{fold}"
        seen = set(json.loads((out / "model.json").read_text())["fitted_on_files"])
        assert seen == set(rows.loc[rows["split"] == "val", "file"])
        assert not seen & set(rows.loc[rows["split"] == "test", "file"])
    metrics = pd.read_csv(workdir / "results" / "metrics.csv")
    assert (metrics.loc[metrics["model"] == "fused", "family"] == "fusion").all()
    html = (workdir / "reports" / "report.html").read_text()
    assert "fused" in html and "fusion-note" in html


def test_preset_fuses_every_fold_and_its_final_model_is_chosen_or_named(tmp_path: Path):
    """workflow/presets/fusion.yaml over the default config: one fuse job per fold after its
    members; `final` first chooses the validation-best representative (known only after the
    run), and a fusion named in final.models brings its members' final models."""
    from conftest import REPO, run_snakemake
    from test_pipeline import job_counts

    preset = REPO / "workflow" / "presets" / "fusion.yaml"
    proc = run_snakemake(tmp_path, "-n", "all", "final", "--quiet", "rules",
                         configfiles=(preset,))
    counts = job_counts(proc.stdout)
    models = yaml.safe_load((REPO / "config.yaml").read_text())["models"].values()
    torch_models = [m for m in models if get_spec(m["arch"]).trainer == "torch"]
    assert counts["fuse"] == 6 and counts["train"] == len(torch_models) * 6
    assert counts["final_choice"] == 1 and "final_train" not in counts
    named = run_snakemake(tmp_path, "-n", "final", "--quiet", "rules", "--config",
                          "final={models: [fusion]}", configfiles=(preset,))
    counts = job_counts(named.stdout)
    assert (counts["final_fuse"], counts["final_train"], counts["final_train_classical"],
            counts["model_card"]) == (1, 1, 1, 1) and "final_choice" not in counts
    nocv = run_snakemake(tmp_path / "dchung", "-n", check=False, configfiles=(
        REPO / "workflow" / "presets" / "dchung_4fold.yaml", preset))
    assert nocv.returncode != 0
    assert "fusion weights need validation actors" in nocv.stderr + nocv.stdout


def test_cross_fitted_validation_scores_each_actor_with_weights_chosen_on_the_others():
    """Issue 42: a fusion's validation UA is of the same kind as every model's: no file scores a
    weighting chosen on it. Member a is right on actor 1's files only, b on actor 2's: the
    in-sample weighting looks good, each actor under the other's weighting does not."""
    from ser.models.fusion import LateFusion

    rng, n, k = np.random.default_rng(0), 60, 4
    y = np.tile(np.arange(k), 2 * n // k)
    groups = np.repeat([1, 2], n)
    right, wrong = np.eye(k)[y], np.eye(k)[(y + 1) % k]
    a = np.where((groups == 1)[:, None], right, wrong) + rng.random((2 * n, k)) * 0.01
    b = np.where((groups == 2)[:, None], right, wrong) + rng.random((2 * n, k)) * 0.01
    fusion = LateFusion(("a", "b"), 0.1).fit([a, b], y, k)
    crossed = fusion.cross_fitted([a, b], y, groups, k)
    for g in (1, 2):
        held = groups == g
        alone = LateFusion(("a", "b"), 0.1).fit([a[~held], b[~held]], y[~held], k)
        np.testing.assert_allclose(crossed[held], alone.probabilities([a[held], b[held]]))
    crossed_ua = (crossed.argmax(1) == y).mean()
    assert crossed_ua == 0.0 and fusion.chosen.val_unweighted_accuracy >= 0.5
    assert fusion.cross_fitted([a, b], y, np.ones(2 * n), k) is None  # one actor: nothing


def test_members_all_names_every_model_of_the_run_but_the_fusions():
    from ser.models.fusion import run_members

    run = ["egemaps_lr", "cnn6", "ge2e_ft", "fusion", "fusion_b"]
    for spelt in ("all", ["all"]):
        assert run_members("fusion", {"members": spelt}, run, 2, ("fusion", "fusion_b")) == \
            ["egemaps_lr", "cnn6", "ge2e_ft"]
    with pytest.raises(ValueError, match="validation actors"):
        run_members("fusion", {"members": "all"}, run, 0, ("fusion", "fusion_b"))
