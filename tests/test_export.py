"""`ser export`: onnxruntime gives torch's probabilities on real recordings, for the trained
model and for every registry model; the JSON beside it states the preprocessing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from conftest import REPO
from ser.audio import fix_length, load_audio
from ser.encoders import is_encoder
from ser.use.export import export_model
from ser.use.export_torch import build_raw_input, fresh_model, try_onnx
from ser.models import get_spec, list_models
from ser.use.load import load_trained

MODEL = "kaggle_cnn1d"


def real_windows(folder: Path, trained, n: int = 3) -> list[np.ndarray]:
    pre = trained.preprocessing
    return [fix_length(load_audio(p, trained.sample_rate), trained.sample_rate, pre["offset"],
                       pre["duration"]) for p in sorted(folder.glob("*.flac"))[:n]]


def onnx_probs(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


def test_export_of_a_trained_model_agrees_with_torch_on_real_files(use_run, ravdess16k,
                                                                   tmp_path):
    model_pt = use_run / "results/models" / MODEL / "fold_1/model.pt"
    written = export_model(model_pt, tmp_path / "export")
    assert [p.name for p in written] == ["model.onnx", "preprocessing.json"]
    trained = load_trained(model_pt, "cpu")
    waves = real_windows(ravdess16k / "Actor_01", trained, 5)
    got = onnx_probs(written[0], build_raw_input(trained, waves))
    assert np.abs(got - trained.probabilities(waves)).max() < 1e-4
    meta = json.loads(written[1].read_text())
    config = yaml.safe_load((REPO / "tests/configs/use.yaml").read_text())
    assert meta["classes"] == trained.classes and len(meta["classes"]) == 8
    assert meta["audio"]["sample_rate"] == 16000
    assert meta["audio"]["duration"] == config["audio"]["duration"]
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())["features"]["mfcc"]
    assert meta["features"]["mfcc"]["params"] == defaults
    ckpt = torch.load(model_pt, weights_only=True)
    assert np.allclose(meta["normaliser"]["mean"], ckpt["normaliser"]["mean"].numpy())
    assert meta["dynamic_axes"]["0"] == "batch"


@pytest.mark.slow
@pytest.mark.parametrize(  # torch models on spectral input; heads on an encoder's pooled layers
    # are trained and served in tests/test_use_encoders.py, and crepe_tiny_ft stands for
    # crepe_full_ft (the same class, 60 times the compute)
    "arch", [m for m in list_models() if get_spec(m).trainer == "torch"
             and not is_encoder(get_spec(m).input.features[0]) and m != "crepe_full_ft"])
def test_every_registry_model_exports_to_onnx_and_agrees_on_real_files(arch, ravdess16k,
                                                                        tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    torch.manual_seed(0)
    trained = fresh_model(arch, config["features"], config["audio"])
    done = try_onnx(trained, tmp_path / "m.onnx")
    assert done is not None and done["format"] == "onnx"
    waves = real_windows(ravdess16k / "Actor_05", trained, 2)
    x = build_raw_input(trained, waves)
    with torch.no_grad():
        expected = trained.model(trained.normaliser(x)).softmax(1).numpy()
    assert np.abs(onnx_probs(tmp_path / "m.onnx", x) - expected).max() < 1e-4


def test_a_model_onnx_cannot_hold_is_exported_as_torchscript(use_run, ravdess16k, tmp_path,
                                                             monkeypatch):
    import ser.use.export_torch

    def fails(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(ser.use.export_torch.torch.onnx, "export", fails)
    model_pt = use_run / "results/models" / MODEL / "fold_2/model.pt"
    written = export_model(model_pt, tmp_path / "export")
    assert [p.name for p in written] == ["model.ts.pt", "preprocessing.json"]
    assert not list((tmp_path / "export").glob("*onnx*"))
    assert json.loads(written[1].read_text())["format"] == "torchscript"
    trained = load_trained(model_pt, "cpu")
    waves = real_windows(ravdess16k / "Actor_03", trained, 4)
    with torch.no_grad():
        got = torch.jit.load(str(written[0]))(build_raw_input(trained, waves)).numpy()
    assert np.abs(got - trained.probabilities(waves)).max() < 1e-5
