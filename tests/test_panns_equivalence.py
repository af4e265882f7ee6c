"""Our Cnn14 against the original PANNs code: key layout of both released checkpoints, and the
reference outputs of panns_cnn14_16k/ (produced with qiuqiangkong/audioset_tagging_cnn) under the
deterministic weights its README describes, loaded through the Zenodo checkpoint loader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ser.models import build_model
from ser.models.panns import Cnn14, load_panns_checkpoint


def read_tsv(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return [(key, () if shape == "scalar" else tuple(int(s) for s in shape.split("x")))
            for key, shape in rows]


def reference_state_dict(model: Cnn14, layout: list[tuple[str, tuple[int, ...]]]) -> dict:
    """The README's deterministic weights, built from the TSV alone (plus the fixed front-end)."""
    own = model.state_dict()
    sd = {}
    for i, (key, shape) in enumerate(layout):
        n = int(np.prod(shape)) if shape else 1
        b = np.sin(np.arange(n, dtype=np.float64) * 0.37 + i)
        if key.startswith(("spectrogram_extractor", "logmel_extractor")):
            sd[key] = own[key].clone()
            continue
        if key.endswith("num_batches_tracked"):
            value = np.zeros(n)
        elif key.endswith("running_var"):
            value = 1 + 0.1 * np.abs(b)
        elif key.endswith("running_mean"):
            value = 0.1 * b
        elif key.endswith(".weight") and len(shape) == 1:
            value = 1 + 0.1 * b
        elif key.endswith(".bias"):
            value = 0.01 * b
        else:
            value = b * np.sqrt(3 / (n / shape[0]))
        dtype = torch.int64 if key.endswith("num_batches_tracked") else torch.float32
        sd[key] = torch.tensor(value.reshape(shape), dtype=dtype)
    return sd


@pytest.mark.parametrize("sample_rate,tsv", [
    (16000, "panns_cnn14_16k/state_dict_shapes.tsv"),
    (32000, "panns_cnn14_32k_state_dict_shapes.tsv")])
def test_key_layout_matches_released_checkpoints(reference_dir, sample_rate, tsv):
    model = build_model("cnn14", 527, sample_rate=sample_rate)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == read_tsv(reference_dir / tsv)


def test_outputs_match_original_panns(reference_dir, tmp_path):
    ref = reference_dir / "panns_cnn14_16k"
    model = Cnn14(527, 16000, 512, 160, 64, 50.0, 8000.0)
    sd = reference_state_dict(model, read_tsv(ref / "state_dict_shapes.tsv"))
    path = tmp_path / "Cnn14_16k_mAP=0.438.pth"
    # the released files also hold the training sampler's numpy state; it must not stop loading
    sampler = {"random_state": np.random.RandomState(0).get_state(), "pointer": np.int64(3)}
    torch.save({"iteration": 0, "model": sd, "sampler": sampler}, path)

    fresh = Cnn14(527, 16000, 512, 160, 64, 50.0, 8000.0).eval()
    load_panns_checkpoint(fresh, path)
    with torch.no_grad():
        out = fresh.audioset_outputs(torch.from_numpy(np.load(ref / "input_waveform.npy")))
    for name, tol in (("logmel", None), ("embedding", 1e-3), ("clipwise_output", 1e-3)):
        expected = np.load(ref / f"{name}.npy")
        got = out[name].numpy()
        assert got.shape == expected.shape, name
        atol = 1e-3 if tol is None else tol * np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol, err_msg=name)


def test_checkpoint_with_wrong_keys_is_rejected(tmp_path):
    model = Cnn14()
    sd = model.state_dict()
    del sd["conv_block3.bn1.running_mean"]
    path = tmp_path / "broken.pth"
    torch.save({"iteration": 0, "model": sd, "sampler": None}, path)
    with pytest.raises(ValueError, match="broken.pth.*conv_block3.bn1.running_mean"):
        load_panns_checkpoint(Cnn14(), path)
