"""Issue 33: a linear model (the classical family; an encoder's `_lr` head) used outside the run:
`ser predict` on a fold's model.npz gives that fold's predictions.csv on its real test files, and
its ONNX export gives `ser predict`'s probabilities under onnxruntime."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import actor_fold_corpus
from ser.features.shards import read_shards
from ser.train.classical import run_classical
from ser.train.run import TrainJob

ACTORS = [1, 2, 3]
LOG = logging.getLogger("test_use_linear")


@pytest.fixture(scope="module")
def fold(tmp_path_factory, ravdess16k: Path) -> dict:
    """compare_lr fitted on fold 1 of three real actors, as rule train_classical fits it. The
    5.5 s window covers every clip of these actors, so each test file is one window, as in
    training (longer recordings are scored in windows: tests/test_predict.py)."""
    root = tmp_path_factory.mktemp("use_linear")
    corpus = actor_fold_corpus(root, ravdess16k, ACTORS, "compare", workers=2, duration=5.5)
    out = root / "fold_1"
    job = TrainJob("compare_lr", {"arch": "compare_lr", "class_weights": True}, {"seed": 0},
                   {"scheme": "actor_kfold"}, "emotion", {"compare": corpus["shards"]},
                   root / "metadata.csv", root / "folds.csv", 1, out,
                   feature_params={"compare": {}}, threads=1)
    metrics = run_classical(job, LOG)
    return {**corpus, "out": out, "metrics": metrics}


def test_ser_predict_gives_the_folds_predictions(fold, tmp_path, capsys):
    from ser.use.cli import main

    pred = pd.read_csv(fold["out"] / "predictions.csv")
    meta = fold["meta"].set_index("file")
    files = [meta.loc[f, "path"] for f in pred["file"]]
    assert main(["predict", str(fold["out"] / "model.npz"), *files,
                 "--out", str(tmp_path / "p.csv")]) == 0
    ours = pd.read_csv(tmp_path / "p.csv")
    assert [Path(f).stem for f in ours["file"]] == pred["file"].tolist()
    classes = fold["metrics"]["classes"]
    cols = [f"p_{c}" for c in classes]
    np.testing.assert_allclose(ours[cols].to_numpy(), pred[cols].to_numpy(), atol=1e-5)
    assert (ours["top_class"] == [classes[i] for i in pred["y_pred"]]).all()


def test_the_onnx_export_agrees_with_ser_predict(fold, tmp_path):
    import onnxruntime as ort

    from ser.use.export import export_model
    from ser.use.load import load_trained

    written = export_model(fold["out"] / "model.npz", tmp_path)
    assert [p.name for p in written] == ["model.onnx", "preprocessing.json"]
    pred = pd.read_csv(fold["out"] / "predictions.csv")
    features, files = read_shards(fold["shards"], "compare")
    x = features[[files.index(f) for f in pred["file"]]]
    session = ort.InferenceSession(str(written[0]), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {"features": x.astype(np.float32)})[0]
    trained = load_trained(fold["out"] / "model.npz", "cpu")
    np.testing.assert_allclose(onnx_probs, trained.model.probabilities(x), atol=1e-4)
    classes = fold["metrics"]["classes"]
    np.testing.assert_allclose(onnx_probs, pred[[f"p_{c}" for c in classes]], atol=1e-4)


def test_a_speaker_normalised_linear_model_is_refused(fold, tmp_path, capsys):
    """End to end: fitted with training.speaker_norm as rule train_classical fits it, the
    model.npz records it and `ser predict` refuses it in one line."""
    import json

    from ser.use.cli import main

    assert json.loads(str(np.load(fold["out"] / "model.npz")["info"]))["preprocessing"][
        "features"] == {"compare": {"params": {}, "stretch_frames": 0}}
    out = tmp_path / "fold_1"
    job = TrainJob("compare_lr", {"arch": "compare_lr", "class_weights": True},
                   {"seed": 0, "speaker_norm": True}, {"scheme": "actor_kfold"}, "emotion",
                   {"compare": fold["shards"]}, fold["root"] / "metadata.csv",
                   fold["root"] / "folds.csv", 1, out, feature_params={"compare": {}}, threads=1)
    run_classical(job, LOG)
    assert json.loads(str(np.load(out / "model.npz")["info"]))["speaker_norm"] is True
    file = str(fold["meta"]["path"].iloc[0])
    assert main(["predict", str(out / "model.npz"), file]) == 2
    assert "model.npz: trained with speaker normalisation" in capsys.readouterr().err
