"""The classical family: openSMILE functionals of real RAVDESS files and linear models fitted with
C chosen inside the training actors (ser.features.functionals, ser.models.classical,
ser.train.classical)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser.audio import AudioError, load_audio
from ser.features.extract import check_params
from ser.features.functionals import (MIN_SECONDS, N_FUNCTIONALS, clip_window,
                                      functional_features)
from ser.features.shards import build_kind_shards, read_shards
from ser.models import classical
from ser.train.classical import run_classical
from ser.train.run import TrainJob

from conftest import actor_fold_corpus, spy_inner_cv

ACTORS = [1, 2, 3, 4, 5, 6]
AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 4.0}
LOG = logging.getLogger("test_classical")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ravdess16k: Path) -> dict:
    """Metadata, 3 actor folds (one validation actor each) and egemaps shards of six actors."""
    return actor_fold_corpus(tmp_path_factory.mktemp("classical"), ravdess16k, ACTORS, "egemaps")


def fit_fold(corpus: dict, model: str, fold: int, out: Path, **training) -> dict:
    job = TrainJob(model, {"arch": model}, {"seed": 0, **training}, {"scheme": "actor_kfold"},
                   "emotion", {"egemaps": corpus["shards"]}, corpus["root"] / "metadata.csv",
                   corpus["root"] / "folds.csv", fold, out, feature_params={"egemaps": {}},
                   threads=1)
    return run_classical(job, LOG)


def test_actors_extracted_in_parallel_give_the_same_shards(corpus: dict, tmp_path: Path) -> None:
    """The features rule's job for a functional kind forks one process per actor at a time:
    its shards hold exactly what extracting the actors one after another gave."""
    paths = [tmp_path / f"actor_{a:02d}.h5" for a in ACTORS[:3]]
    n = build_kind_shards(corpus["root"] / "metadata.csv", ACTORS[:3], "egemaps", {}, AUDIO,
                          paths, workers=2)
    assert n == int(corpus["meta"]["actor"].isin(ACTORS[:3]).sum())
    parallel = read_shards(paths, expect_kind="egemaps", expect_params={})
    serial = read_shards(corpus["shards"][:3], expect_kind="egemaps", expect_params={})
    assert parallel[1] == serial[1]
    np.testing.assert_array_equal(parallel[0], serial[0])


def test_shards_hold_one_finite_vector_per_file(corpus: dict) -> None:
    features, files = read_shards(corpus["shards"], expect_kind="egemaps", expect_params={})
    assert features.shape == (len(corpus["meta"]), N_FUNCTIONALS["egemaps"])
    assert sorted(files) == sorted(corpus["meta"]["file"])
    assert np.isfinite(features).all()
    # different emotions of one speaker give different functionals
    assert len(np.unique(features[:, 0])) > len(files) // 2


def test_functionals_see_the_window_without_padding(ravdess16k: Path) -> None:
    path = sorted((ravdess16k / "Actor_01").glob("*.flac"))[0]
    wave = load_audio(path, 16000)
    assert len(wave) < 4 * 16000  # a clip shorter than the window: the padding case
    got = functional_features([path], "egemaps", AUDIO)[0]
    padded = np.zeros(4 * 16000, np.float32)
    padded[:len(wave)] = wave
    assert len(clip_window(wave, 16000, 0.0, 4.0)) == len(wave)
    from ser.features.functionals import functionals_of
    assert np.array_equal(got, functionals_of(wave, 16000, "egemaps"))
    assert not np.allclose(got, functionals_of(padded, 16000, "egemaps"))
    cut = functional_features([path], "egemaps", {**AUDIO, "offset": 0.5, "duration": 1.0})[0]
    assert np.array_equal(cut, functionals_of(wave[8000:24000], 16000, "egemaps"))


def test_functional_kinds_take_no_parameters() -> None:
    check_params("compare", {})
    with pytest.raises(ValueError, match="'compare' does not take"):
        check_params("compare", {"n_fft": 512})


@pytest.mark.parametrize("ms", [3, 50])
def test_too_short_file_is_an_error_naming_it(tmp_path: Path, ravdess16k: Path, ms: int) -> None:
    src = sorted((ravdess16k / "Actor_02").glob("*.flac"))[5]
    wave = load_audio(src, 16000)
    path = tmp_path / f"short_{ms}ms.flac"
    sf.write(path, wave[16000:16000 + ms * 16], 16000)  # a few ms of real speech
    assert ms / 1000 < MIN_SECONDS
    for kind in ("egemaps", "compare"):
        with pytest.raises(AudioError, match="too short for openSMILE") as err:
            functional_features([path], kind, AUDIO)
        assert str(path) in str(err.value)


def test_offset_past_the_end_is_a_too_short_error(ravdess16k: Path) -> None:
    path = sorted((ravdess16k / "Actor_03").glob("*.flac"))[0]
    with pytest.raises(AudioError, match=f"{path.name}.*too short"):
        functional_features([path], "egemaps", {**AUDIO, "offset": 10.0})


def test_silent_file_is_kept_with_finite_functionals(tmp_path: Path, ravdess16k: Path) -> None:
    src = sorted((ravdess16k / "Actor_04").glob("*.flac"))[7]
    wave = load_audio(src, 16000)
    path = tmp_path / "silent.flac"
    sf.write(path, np.zeros_like(wave), 16000)
    for kind in ("egemaps", "compare"):
        silent, real = functional_features([path, src], kind, AUDIO)
        assert silent.shape == (N_FUNCTIONALS[kind],) and np.isfinite(silent).all()
        assert not np.allclose(silent, real)


def test_inner_selection_never_sees_a_validation_or_test_actor(corpus: dict, tmp_path: Path,
                                                 monkeypatch) -> None:
    seen = spy_inner_cv(monkeypatch)
    folds = corpus["folds"]
    for fold in sorted(folds["fold"].unique()):
        rows = folds[folds["fold"] == fold]
        unseen = set(rows.loc[rows["split"] != "train", "actor"])  # validation and test
        training = set(rows.loc[rows["split"] == "train", "actor"])
        metrics = fit_fold(corpus, "egemaps_lr", int(fold), tmp_path / f"f{fold}")
        groups = seen[-1][1]
        assert set(groups.tolist()) == training and not set(groups.tolist()) & unseen
        assert len(groups) == int((rows["split"] == "train").sum())
        assert set(metrics["inner_actors"]) == training
    assert len(seen) == folds["fold"].nunique()


@pytest.mark.parametrize("model,training", [("egemaps_lr", {}),
                                            ("egemaps_svm", {"class_weights": True})])
def test_saved_model_reproduces_predictions(corpus: dict, tmp_path: Path, model: str,
                                            training: dict) -> None:
    metrics = fit_fold(corpus, model, 2, tmp_path, **training)
    pred = pd.read_csv(tmp_path / "predictions.csv")
    loaded, classes = classical.load_npz(tmp_path / "model.npz")
    assert classes == metrics["classes"] and loaded.C == metrics["C"]
    features, files = read_shards(corpus["shards"], expect_kind="egemaps")
    row = {f: i for i, f in enumerate(files)}
    probs = loaded.probabilities(features[[row[f] for f in pred["file"]]])
    assert np.array_equal(probs, pred[[f"p_{c}" for c in classes]].to_numpy())
    assert np.array_equal(probs.argmax(1), pred["y_pred"].to_numpy())
    assert np.allclose(probs.sum(1), 1.0)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert npz["coef"].shape == (len(classes), N_FUNCTIONALS["egemaps"])


def test_outputs_have_the_torch_trainers_form(corpus: dict, tmp_path: Path) -> None:
    from ser.report.aggregate import read_metrics_json
    from ser.report.inputs import read_fold

    fit_fold(corpus, "egemaps_lr", 1, tmp_path)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    history = pd.read_csv(tmp_path / "history.csv")
    best = history.iloc[raw["best_epoch"] - 1]
    # the inner cross-validation chose C (best inner UA); its means are kept beside the
    # validation actors' score
    assert raw["inner_unweighted_accuracy"] == best["val_ua"] == history["val_ua"].max()
    assert raw["inner_accuracy"] == best["val_acc"] and raw["C"] == best["C"]
    assert raw["family"] == "classical" and raw["n_val"] == 60
    row = read_metrics_json(tmp_path / "metrics.json")
    assert row["family"] == "classical"
    run = read_fold(tmp_path, "egemaps_lr", 1)
    assert len(run.predictions) == raw["n_test"]


def test_validation_ua_is_a_fit_on_the_training_actors_alone(corpus: dict,
                                                             tmp_path: Path) -> None:
    """Issue 42's yardstick: the model is fitted on the fold's training actors alone (C chosen by
    an inner CV inside them), and its validation UA is measured on the validation actors, which
    it never saw, exactly as a torch model's is; the test files are scored by the same model."""
    from ser.data.labels import encode
    from ser.metrics import classification_metrics

    metrics = fit_fold(corpus, "egemaps_lr", 1, tmp_path)
    rows = corpus["folds"][corpus["folds"]["fold"] == 1]
    val_actors = set(rows.loc[rows["split"] == "val", "actor"])
    train_actors = set(rows.loc[rows["split"] == "train", "actor"])
    assert val_actors and set(metrics["inner_actors"]) == train_actors
    assert not val_actors & set(metrics["inner_actors"])
    val = pd.read_csv(tmp_path / "val_predictions.csv")
    assert sorted(val["file"]) == sorted(rows.loc[rows["split"] == "val", "file"])
    features, files = read_shards(corpus["shards"], expect_kind="egemaps")
    y, classes = encode(corpus["meta"].set_index("file").loc[files].reset_index(), "emotion")
    index = {f: i for i, f in enumerate(files)}
    # an independent fit of the chosen C on the training files alone gives the same scores
    train = [index[f] for f in rows.loc[rows["split"] == "train", "file"]]
    refit = classical.LinearModel()._fit_path(features[train].astype(np.float64), y[train],
                                              (metrics["C"],), False, 0, len(classes))[0]
    x_val = features[[index[f] for f in val["file"]]]
    probs = val[[f"p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(probs, classical.softmax(classical.decision(x_val, *refit)))
    y_val = y[[index[f] for f in val["file"]]]
    assert (val["y_true"].to_numpy() == y_val).all()
    held_out = classification_metrics(y_val, probs.argmax(1), len(classes))
    assert metrics["val_unweighted_accuracy"] == held_out["unweighted_accuracy"]
    assert metrics["val_unweighted_accuracy"] != metrics["inner_unweighted_accuracy"]
    loaded, _ = classical.load_npz(tmp_path / "model.npz")
    np.testing.assert_allclose(loaded.probabilities(x_val), probs)  # one model for all


@pytest.mark.slow
def test_pipeline_fits_the_family_per_fold(tmp_path_factory, ravdess16k: Path) -> None:
    """rule features (openSMILE kind) -> rule train_classical -> aggregate -> report."""
    import yaml

    from conftest import run_snakemake

    workdir = tmp_path_factory.mktemp("classical_run")
    config = workdir / "classical.yaml"
    config.write_text(yaml.safe_dump({
        "ravdess": {"source": str(ravdess16k), "actors": [1, 2, 3, 4]},
        "protocol": {"scheme": "actor_kfold", "k": 2, "seed": 0, "n_val_actors": 1},
        "run_models": ["egemaps_lr"]}))
    run_snakemake(workdir, "--cores", "2", configfiles=(config,))
    metrics = pd.read_csv(workdir / "results" / "metrics.csv")
    assert metrics["family"].tolist() == ["classical", "classical"]
    assert metrics["val_unweighted_accuracy"].between(0, 1).all()
    for fold in (1, 2):
        out = workdir / "results" / "models" / "egemaps_lr" / f"fold_{fold}"
        assert (out / "model.npz").is_file() and not (out / "model.pt").exists()
    html = (workdir / "reports" / "report.html").read_text()
    assert "egemaps_lr" in html and "classical" in html


def test_row_space_fit_reaches_the_direct_optimum(corpus: dict) -> None:
    """Fewer files than functionals (the ComParE case): the fit in the training rows' span
    equals scikit-learn's fit on all standardised columns."""
    from sklearn.linear_model import LogisticRegression

    features, files = read_shards(corpus["shards"][:1], expect_kind="egemaps")
    x, y = features[:40].astype(float), np.array([int(f.split("-")[2]) - 1 for f in files[:40]])
    assert x.shape[0] < x.shape[1]
    model = classical.LinearModel(max_iter=20000)
    coef, intercept, mean, scale = model._fit_path(x, y, (0.01,), False, 0, 8)[0]
    direct = LogisticRegression(C=0.01, max_iter=20000, tol=1e-10).fit((x - mean) / scale, y)
    present = direct.classes_
    assert np.abs(coef[present] - direct.coef_).max() < 1e-3 * np.abs(direct.coef_).max()
    assert np.allclose(intercept[present], direct.intercept_, atol=1e-2)


def test_one_training_actor_chooses_C_on_its_own_files(corpus: dict) -> None:
    """A tiny corpus can leave one training actor in a fold: C is chosen by a cross-validation
    over that actor's files (stratified by class), with no other actor's file in it."""
    features, files = read_shards(corpus["shards"], expect_kind="egemaps")
    meta = corpus["meta"].set_index("file").loc[files]
    one = (meta["actor"] == ACTORS[0]).to_numpy()
    from ser.data.labels import encode
    y, classes = encode(meta.reset_index(), "emotion")
    model = classical.LinearModel().fit(features[one], y[one], meta["actor"].to_numpy()[one],
                                        len(classes))
    assert model.inner_actors == [ACTORS[0]] and len(model.inner) == len(classical.C_GRID)
    assert model.C in classical.C_GRID and model.probabilities(features[~one][:3]).shape == (3, 8)
