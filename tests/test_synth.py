"""The synthetic demo corpus: RAVDESS form, determinism, and emotions a model can learn."""
from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser.data.ravdess import scan_corpus
from ser.data.synth import synthesize_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "audio"
    files = synthesize_corpus(out, actors=range(1, 13), seed=0)
    assert len(files) == 360 and all(f.is_file() and f.parent.parent == out for f in files)
    return out


@pytest.fixture(scope="module")
def metadata(corpus: Path) -> pd.DataFrame:
    return scan_corpus(corpus)


def _contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


def test_ravdess_form(corpus: Path, metadata: pd.DataFrame):
    # 7 emotions x 2 intensities + neutral, x 2 statements, x 1 repetition
    assert len(metadata) == 12 * 15 * 2
    assert sorted(p.name for p in corpus.iterdir()) == [f"Actor_{a:02d}" for a in range(1, 13)]
    assert (metadata["sample_rate"] == 48000).all() and (metadata["channels"] == 1).all()
    assert {sf.info(p).subtype for p in metadata["path"]} == {"PCM_16"}
    assert not ((metadata["emotion"] == 1) & (metadata["intensity"] == 2)).any()
    assert (metadata.groupby("emotion").size().drop(1) == 48).all()
    assert metadata["duration"].between(1.0, 3.5).all()
    assert metadata["duration"].median() == pytest.approx(2.0, abs=0.5)
    assert [p.name for p in corpus.parent.iterdir()] == ["audio"], "temporary folder left behind"


def test_byte_identical_for_a_seed(tmp_path: Path):
    kwargs = dict(actors=[1, 2], statements=(1,))
    contents = {}
    for label, seed in (("a", 7), ("b", 7), ("c", 8)):
        synthesize_corpus(tmp_path / label, seed=seed, **kwargs)
        contents[label] = _contents(tmp_path / label)
    a, b, c = contents["a"], contents["b"], contents["c"]
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_rerun_replaces_whole_folder(tmp_path: Path):
    out = tmp_path / "audio"
    synthesize_corpus(out, actors=[1, 2, 3], statements=(1,))
    synthesize_corpus(out, actors=[4], statements=(2,), repetitions=(1, 2))
    assert sorted(p.name for p in out.iterdir()) == ["Actor_04"]
    assert [p.name for p in tmp_path.iterdir()] == ["audio"]


def test_six_actors_make_180_files(tmp_path: Path):
    # its speed (the full 720-file corpus in a few seconds) is benchmarks/synth.py's, not a test's
    files = synthesize_corpus(tmp_path / "audio", actors=range(1, 7))
    assert len(files) == 180 and all(f.is_file() for f in files)


def _rms(path: str) -> float:
    return float(np.sqrt(np.mean(sf.read(path)[0] ** 2)))


def test_emotion_cues_relative_to_each_actor(metadata: pd.DataFrame):
    strong = metadata[metadata["intensity"] == 2].copy()
    strong["rms"] = [_rms(p) for p in strong["path"]]
    level = strong.groupby(["actor", "emotion_name"])["rms"].mean().unstack()
    assert (level["angry"] > level["sad"]).all()
    rate = strong.groupby(["actor", "emotion_name"])["duration"].mean().unstack()
    assert (rate["sad"] > rate["fearful"]).all()  # sad is spoken slower


def test_male_actors_lower_pitch(metadata: pd.DataFrame):
    neutral = metadata[metadata["emotion"] == 1]
    pitch = {}
    for actor, rows in neutral.groupby("actor"):
        wave, sr = sf.read(rows["path"].iloc[0])
        f0 = librosa.yin(wave[::3], fmin=60, fmax=500, sr=sr // 3)
        pitch[actor] = np.median(f0)
    male = [pitch[a] for a in pitch if a % 2]
    female = [pitch[a] for a in pitch if a % 2 == 0]
    assert max(male) < min(female)


def test_learnable_but_not_trivial(metadata: pd.DataFrame):
    """MFCC statistics + logistic regression on unseen actors: well above chance, not perfect."""
    feats = []
    for path in metadata["path"]:
        wave, sr = sf.read(path)
        mfcc = librosa.feature.mfcc(y=wave[::3], sr=sr // 3, n_mfcc=20)
        feats.append(np.r_[mfcc.mean(axis=1), mfcc.std(axis=1)])
    x, y = np.array(feats), metadata["emotion"].to_numpy()
    train = metadata["actor"].to_numpy() <= 8
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x[train], y[train])
    accuracy = model.score(x[~train], y[~train])
    assert 0.35 < accuracy < 0.97
