"""`ser predict` on real recordings: the fold's own probabilities back, windows of long
recordings, bad files named without stopping the others, incompatible checkpoints refused."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from conftest import REPO

MODEL = "kaggle_cnn1d"


def ser(*args: str | Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "ser", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def fold_model(run: Path, fold: int = 1) -> Path:
    return run / "results" / "models" / MODEL / f"fold_{fold}" / "model.pt"


def test_predict_gives_the_fold_predictions(use_run, ravdess16k, tmp_path):
    expected = pd.read_csv(use_run / "results/models" / MODEL / "fold_1/predictions.csv")
    actors = sorted(expected["actor"].unique())
    folders = [ravdess16k / f"Actor_{a:02d}" for a in actors]
    proc = ser("predict", fold_model(use_run), *folders, "--out", tmp_path / "scores.csv")
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(tmp_path / "scores.csv")
    got["file"] = [Path(p).stem for p in got["file"]]
    both = expected.merge(got, on="file", suffixes=("", "_new"))
    assert len(both) == len(expected) == len(got) == 60 * len(actors)
    p_cols = [c for c in expected.columns if c.startswith("p_")]
    diff = np.abs(both[p_cols].to_numpy() - both[[c + "_new" for c in p_cols]].to_numpy())
    assert diff.max() < 1e-5
    classes = [c[2:] for c in p_cols]
    assert (both["top_class"] == [classes[i] for i in both["y_pred"]]).all()
    # the table goes to --out, the console gets its summary (issue 45)
    assert f"{len(expected)} of {len(expected)} files scored" in proc.stdout


def test_bad_files_are_named_and_the_rest_still_run(use_run, ravdess16k, tmp_path):
    good = sorted((ravdess16k / "Actor_01").glob("*.flac"))[:2]
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in good:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 20)
    (folder / "empty.flac").write_bytes(b"")
    sf.write(folder / "short.wav", np.zeros(1600, dtype=np.float32) + 0.01, 16000)  # 0.1 s
    (folder / "notes.txt").write_text("not audio, not looked at")
    proc = ser("predict", fold_model(use_run), folder, "--out", tmp_path / "s.json")
    assert proc.returncode == 1
    scored = [row["file"] for row in json.loads((tmp_path / "s.json").read_text())]
    assert sorted(Path(f).name for f in scored) == sorted(p.name for p in good)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, proc.stderr
    reasons = {name: next(e for e in errors if name in e) for name in
               ("corrupt.wav", "empty.flac", "short.wav")}
    assert "not a readable audio file" in reasons["corrupt.wav"]
    assert "empty" in reasons["empty.flac"]
    assert "too short: 0.10 s" in reasons["short.wav"]


def test_long_stereo_recording_at_another_rate_is_scored_in_windows(use_run, ravdess16k,
                                                                     tmp_path):
    import torchaudio.functional as AF

    clips = sorted((ravdess16k / "Actor_02").glob("*.flac"))[:4]
    wave = np.concatenate([sf.read(p, dtype="float32")[0] for p in clips])  # ~15 s at 16 kHz
    loud = AF.resample(torch.from_numpy(wave), 16000, 44100).numpy()
    sf.write(tmp_path / "long.wav", np.stack([loud, loud], axis=1), 44100)  # stereo, 44.1 kHz
    proc = ser("predict", fold_model(use_run), tmp_path / "long.wav", "--windows",
               "--out", tmp_path / "w.csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "w.csv", dtype={"window": str})
    mean, windows = table[table["window"] == "mean"], table[table["window"] != "mean"]
    seconds, window, hop = len(wave) / 16000, 5.5, 2.75
    assert len(windows) == int(np.ceil((seconds - window) / hop)) + 1
    assert windows["start_s"].iloc[0] == 0 and abs(windows["end_s"].iloc[-1] - seconds) < 1e-3
    p_cols = [c for c in table.columns if c.startswith("p_")]
    assert np.allclose(mean[p_cols].to_numpy()[0], windows[p_cols].mean().to_numpy(), atol=1e-6)
    assert np.allclose(table[p_cols].sum(axis=1), 1, atol=1e-5)


def test_incompatible_checkpoints_say_which_version(use_run, ravdess16k, tmp_path):
    ckpt = torch.load(fold_model(use_run), weights_only=True)
    assert ckpt["format"] == 2
    old = {k: v for k, v in ckpt.items() if k not in ("format", "ser_version")}
    torch.save(old, tmp_path / "old.pt")
    torch.save({**ckpt, "format": 3, "ser_version": "9.0.0"}, tmp_path / "new.pt")
    clip = next((ravdess16k / "Actor_01").glob("*.flac"))
    for name, words in (("old.pt", "an older version of ser (checkpoint format 1)"),
                        ("new.pt", "a newer version of ser (checkpoint format 3, ser 9.0.0)")):
        proc = ser("predict", tmp_path / name, clip)
        assert proc.returncode == 2
        assert words in proc.stderr and name in proc.stderr, proc.stderr
