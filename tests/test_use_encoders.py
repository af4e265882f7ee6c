"""`ser predict` and `ser export` on heads of a pretrained encoder (issue 44): GE2E's layers under
a logistic regression (ge2e_lr) and a weighted sum (ge2e_ws), GE2E fine-tuned end to end on crops
(ge2e_ft) and a fusion with encoder members, each trained one epoch on real actors. On the
release's 48 kHz stereo WAV and a 16 kHz FLAC, the command's probabilities are those of the
exported ONNX graph fed the features preprocessing.json names."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import soundfile as sf
import yaml

from conftest import REPO, built_once, run_snakemake
from ser.audio import load_audio
from ser.use.export_fusion import fuse_exported
from ser.use.export_torch import build_raw_input
from ser.use.load import load_trained
from ser.use.score import windows
from ser.use.trained import LinearTrained

MODELS = ["ge2e_lr", "ge2e_ws", "ge2e_ft", "fusion"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory, ravdess16k: Path) -> Path:
    cfg = yaml.safe_load((REPO / "tests/configs/use_encoders.yaml").read_text())
    cfg["ravdess"]["source"] = str(ravdess16k)
    config = tmp_path_factory.mktemp("config") / "use_encoders.yaml"
    config.write_text(yaml.safe_dump(cfg))
    targets = [f"results/models/{m}/fold_1/metrics.json" for m in MODELS]
    # the config file ends the --configfile list, and "--cores 2" ends --resources' list, so
    # that the targets are read as targets
    return built_once(tmp_path_factory, "encoder_run", lambda workdir: run_snakemake(
        workdir, str(config), "--resources", "gpu=1", "--cores", "2", *targets))


@pytest.fixture(scope="module")
def recordings(ravdess16k: Path, tmp_path_factory) -> list[Path]:
    """One of the release's stereo files as a 48 kHz stereo WAV, and a 16 kHz mono FLAC."""
    import soxr

    stereo = next(p for p in sorted((ravdess16k / "Actor_01").glob("*.flac"))
                  if sf.info(str(p)).channels == 2)
    both, rate = sf.read(str(stereo), dtype="float32")
    folder = tmp_path_factory.mktemp("recordings")
    wav = folder / f"{stereo.stem}.wav"
    sf.write(wav, soxr.resample(both, rate, 48000), 48000, subtype="PCM_16")
    assert sf.info(str(wav)).channels == 2 and sf.info(str(wav)).samplerate == 48000
    return [wav, ravdess16k / "Actor_02" / "03-01-05-02-01-01-02.flac"]


def ser(*args: str | Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "ser", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def onnx_member(export_dir: Path, trained, path: Path) -> np.ndarray:
    """(classes,) probabilities of one recording from the exported graph: the recording cut as
    preprocessing.json says, its features made outside the graph (an encoder's pooled layers for
    a head, the model input for a torch model), the windows' probabilities averaged."""
    meta = json.loads((export_dir / "preprocessing.json").read_text())
    assert meta["format"] == "onnx" and meta["audio"]["sample_rate"] == trained.sample_rate
    cut = [w for _, w in windows(load_audio(path, trained.sample_rate), trained)]
    if isinstance(trained, LinearTrained):
        x = trained.features(cut).astype(np.float32)
    else:
        x = build_raw_input(trained, cut).numpy()
    session = ort.InferenceSession(str(export_dir / meta["model_file"]),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {meta["input"]["name"]: x})[0].mean(0)


@pytest.mark.parametrize("model", MODELS)
def test_predict_and_the_exported_graph_agree_on_encoder_heads(model, encoder_run, recordings,
                                                               tmp_path):
    folder = encoder_run / "results/models" / model / "fold_1"
    proc = ser("predict", folder, *recordings, "--out", tmp_path / "scores.csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "scores.csv")
    assert [Path(f).name for f in table["file"]] == [p.name for p in recordings]
    p_cols = [c for c in table.columns if c.startswith("p_")]
    proc = ser("export", folder, tmp_path / "export")
    assert proc.returncode == 0, proc.stderr
    trained = load_trained(folder, "cpu")
    for path, row in zip(recordings, table[p_cols].to_numpy()):
        if model == "fusion":
            got = fuse_exported(tmp_path / "export", {
                name: onnx_member(tmp_path / "export" / name, member, path)
                for name, _, member in trained.members})
        else:
            got = onnx_member(tmp_path / "export", trained, path)
        assert np.abs(got - row).max() < 1e-4, (model, path.name)
    # the fine-tuned encoder is scored on its test crops, in the graph as in `ser predict`
    if model == "ge2e_ft":
        meta = json.loads((tmp_path / "export/preprocessing.json").read_text())
        assert meta["input"]["test_crops"] == {"frames": 160, "n": 3}
