"""Heads on a frozen pretrained encoder's layers (ser.models.encoder_heads), on real GE2E features
of six RAVDESS actors: the layer and C of `_lr` are chosen on training actors only, the chosen
model reads its layer alone, and `_ws` trains from the shards' layers with the torch trainer."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ser.encoders import get_encoder
from ser.features.shards import read_shards
from ser.models import build_model, classical, get_spec
from ser.train.classical import run_classical
from ser.train.run import TrainJob, run_training

from conftest import actor_fold_corpus, spy_inner_cv

ACTORS = [1, 2, 3, 4, 5, 6]
LOG = logging.getLogger("test_encoder_heads")
LAYERS = [name for name, _ in get_encoder("ge2e").layer_widths()]
pytestmark = pytest.mark.slow  # GE2E features of 360 files, then fits


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ravdess16k: Path) -> dict:
    """Metadata, 3 actor folds (one validation actor each) and ge2e shards of six actors."""
    return actor_fold_corpus(tmp_path_factory.mktemp("encoder_heads"), ravdess16k, ACTORS, "ge2e",
                             workers=2)


def job(corpus: dict, model: str, fold: int, out: Path, **cfg) -> TrainJob:
    return TrainJob(model, {"arch": model, "pretrained": "packaged", **cfg}, {"seed": 0},
                    {"scheme": "actor_kfold", "select": "best_val"}, "emotion",
                    {"ge2e": corpus["shards"]}, corpus["root"] / "metadata.csv",
                    corpus["root"] / "folds.csv", fold, out, feature_params={"ge2e": {}},
                    threads=1)


def test_heads_are_transfer_models_fitted_by_their_rules() -> None:
    assert get_spec("ge2e_lr").family == get_spec("crepe_full_ws").family == "transfer"
    assert get_spec("ge2e_lr").trainer == "linear" and get_spec("ge2e_ws").trainer == "torch"
    with pytest.raises(ValueError, match="neither one of \\['none', 'packaged'\\]"):
        build_model("crepe_tiny_ws", 8, "imagenet")
    with pytest.raises(ValueError, match="pretrained must be 'packaged'"):
        build_model("ge2e_lr", 8, "/data/head.npz")


def test_layer_and_C_are_chosen_on_training_actors_only(corpus: dict, tmp_path: Path,
                                                        monkeypatch) -> None:
    seen = spy_inner_cv(monkeypatch)
    folds = corpus["folds"]
    for fold in sorted(folds["fold"].unique()):
        rows = folds[folds["fold"] == fold]
        unseen = set(rows.loc[rows["split"] != "train", "actor"])  # validation and test
        training = set(rows.loc[rows["split"] == "train", "actor"])
        seen.clear()
        metrics = run_classical(job(corpus, "ge2e_lr", int(fold), tmp_path / f"f{fold}"), LOG)
        # one inner cross-validation per layer, each on that layer's columns, on the training
        # actors alone (issue 42: the validation actors score the fit, as a torch model's do)
        assert [w for w, _ in seen] == [w for _, w in get_encoder("ge2e").layer_widths()]
        assert all(set(g.tolist()) == training and not set(g.tolist()) & unseen for _, g in seen)
        history = pd.read_csv(tmp_path / f"f{fold}" / "history.csv")
        assert list(dict.fromkeys(history["layer"])) == LAYERS
        best = history.iloc[metrics["best_epoch"] - 1]
        assert best["val_ua"] == history["val_ua"].max() == metrics["inner_unweighted_accuracy"]
        assert (best["layer"], best["C"]) == (metrics["layer"], metrics["C"])


def test_the_chosen_model_reads_its_layer_alone(corpus: dict, tmp_path: Path) -> None:
    """Its predictions are those of the chosen C fitted on the chosen layer's columns only, and
    the other layers' columns cannot change them."""
    metrics = run_classical(job(corpus, "ge2e_lr", 2, tmp_path), LOG)
    loaded, classes = classical.load_npz(tmp_path / "model.npz")
    assert loaded.layer == metrics["layer"] and loaded.layers == tuple(
        tuple(p) for p in get_encoder("ge2e").layer_widths())
    features, files = read_shards(corpus["shards"], expect_kind="ge2e")
    index = {f: i for i, f in enumerate(files)}
    pred = pd.read_csv(tmp_path / "predictions.csv")
    x_test = features[[index[f] for f in pred["file"]]]
    probs = pred[[f"p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(loaded.probabilities(x_test), probs, atol=1e-12)
    cols = loaded.columns(loaded.layer)
    noisy = np.random.default_rng(0).normal(size=x_test.shape) * 100
    noisy[:, cols] = x_test[:, cols]
    np.testing.assert_allclose(loaded.probabilities(noisy), probs, atol=1e-12)
    # the same C on the layer's columns alone, fitted independently of the layer bookkeeping
    rows = corpus["folds"][corpus["folds"]["fold"] == 2]
    fit_files = rows.loc[rows["split"] == "train", "file"]
    from ser.data.labels import encode
    y, _ = encode(corpus["meta"].set_index("file").loc[fit_files].reset_index(), "emotion")
    alone = classical.LinearModel(C_grid=(loaded.C,))
    alone.C = loaded.C
    arrays = alone.fit_chosen(features[[index[f] for f in fit_files]][:, cols], y, len(classes),
                              class_weights=False)
    np.testing.assert_allclose(
        classical.softmax(classical.decision(x_test[:, cols], *arrays)), probs, atol=1e-6)


def test_weighted_sum_head_trains_on_the_shards_layers(corpus: dict, tmp_path: Path) -> None:
    metrics = run_training(job(corpus, "ge2e_ws", 1, tmp_path, epochs=15, lr=0.001), LOG)
    assert metrics["family"] == "transfer" and get_encoder("ge2e").sha256[:12] in \
        metrics["weights"]
    assert [tuple(p) for p in metrics["build_hparams"]["layers"]] == \
        get_encoder("ge2e").layer_widths()
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    logits = state["state_dict"]["layer_logits"]
    assert logits.shape == (len(LAYERS),) and not torch.allclose(logits, torch.zeros(5))
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    # chance is 1/8: the frozen speaker encoder's layers carry emotion
    assert metrics["val_unweighted_accuracy"] > 0.3
    assert json.loads((tmp_path / "metrics.json").read_text())["n_test"] == metrics["n_test"]


def test_weighted_sum_splits_the_input_by_layer() -> None:
    model = build_model("ge2e_ws", 8, "packaged", dropout=0.0).eval()
    widths = model.widths
    x = torch.randn(4, sum(widths))
    with torch.no_grad():
        model.layer_logits.copy_(torch.tensor([0.0, 0.0, 50.0, 0.0, 0.0]))  # all weight on lstm3
        out = model(x)
        moved = x.clone()
        moved[:, :widths[0] + widths[1]] = 7.0  # other layers' columns
        assert torch.allclose(model(moved), out, atol=1e-5)
        moved[:, widths[0] + widths[1]] += 1.0  # lstm3's first column
        assert not torch.allclose(model(moved), out)
    assert torch.isclose(model.layer_weights().sum(), torch.tensor(1.0))


def test_report_shows_validation_ua_per_layer(corpus: dict, tmp_path: Path) -> None:
    from ser.report.figures import layers_figure, model_figure_kinds
    from ser.report.inputs import read_fold

    runs = []
    for fold in (1, 2):
        run_classical(job(corpus, "ge2e_lr", fold, tmp_path / f"f{fold}"), LOG)
        runs.append(read_fold(tmp_path / f"f{fold}", "ge2e_lr", fold))
    kinds = model_figure_kinds(runs)
    assert "layers" in kinds and "curves" not in kinds
    fig = layers_figure("ge2e_lr", runs)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS
    mean = ax.get_lines()[-1].get_ydata()  # the mean over folds of each layer's best C
    best = [pd.concat([r.history[r.history["layer"] == name]["val_ua"] for r in runs[:1]]).max()
            for name in LAYERS]
    first = ax.get_lines()[0].get_ydata()
    np.testing.assert_allclose(first, np.array(best) * 100)
    assert len(mean) == len(LAYERS)
