"""RAVDESS names and the corpus scan, on the real 16 kHz corpus."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser.data.labels import class_names, encode
from ser.data.ravdess import (
    COLUMNS,
    CorpusError,
    RavdessNameError,
    parse_name,
    read_metadata,
    scan_corpus,
    write_metadata,
)


@pytest.fixture(scope="module")
def real_metadata(ravdess16k: Path) -> pd.DataFrame:
    return scan_corpus(ravdess16k)


def test_every_real_name_parses(ravdess16k: Path):
    files = sorted(ravdess16k.rglob("*.flac"))
    assert len(files) == 1440
    parsed = [parse_name(f.name) for f in files]
    assert all(p.modality == 3 and p.vocal_channel == 1 for p in parsed)
    assert [p.stem for p in parsed] == [f.stem for f in files]
    for f, p in zip(files, parsed):
        assert f.parent.name == f"Actor_{p.actor:02d}"


def test_real_corpus_counts(real_metadata: pd.DataFrame):
    df = real_metadata
    assert list(df.columns) == COLUMNS
    assert len(df) == 1440 and df["file"].is_unique
    counts = df["emotion_name"].value_counts().to_dict()
    assert counts.pop("neutral") == 96
    assert set(counts.values()) == {192} and len(counts) == 7
    assert (df.groupby("actor").size() == 60).all()
    assert not ((df["emotion"] == 1) & (df["intensity"] == 2)).any()


def test_real_corpus_header_facts(real_metadata: pd.DataFrame):
    df = real_metadata
    assert (df["sample_rate"] == 16000).all()
    assert (df["channels"] == 2).sum() == 5
    assert df["duration"].between(2.5, 6.0).all()
    assert (df["duration"] == df["n_frames"] / df["sample_rate"]).all()


def test_gender_by_actor_parity(real_metadata: pd.DataFrame):
    genders = real_metadata.groupby("actor")["gender"].unique()
    for actor, g in genders.items():
        assert list(g) == ["male" if actor % 2 else "female"]


def test_sorted_by_actor_then_file(real_metadata: pd.DataFrame):
    keys = list(zip(real_metadata["actor"], real_metadata["file"]))
    assert keys == sorted(keys)


def test_actor_subset(ravdess16k: Path):
    df = scan_corpus(ravdess16k, actors=[3, 8])
    assert sorted(df["actor"].unique()) == [3, 8] and len(df) == 120


def test_parse_fields():
    name = parse_name("some/dir/03-01-06-02-01-02-13.wav")
    assert (name.emotion_name, name.intensity, name.statement, name.repetition) == ("fearful", 2, 1, 2)
    assert (name.actor, name.gender, name.stem) == (13, "male", "03-01-06-02-01-02-13")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("03-01-01-02-01-01-01.wav", "neutral (01) has no strong intensity"),
        ("03-02-05-01-01-01-01.wav", "song"),
        ("01-01-05-01-01-01-01.mp4", "audio-video"),
        ("02-01-05-01-01-01-01.wav", "video-only"),
        ("03-01-09-01-01-01-01.wav", "emotion code 09"),
        ("03-01-05-01-01-01-25.wav", "actor code 25"),
        ("03-01-05-03-01-01-01.wav", "intensity code 03"),
        ("03-01-05-01-01-01.wav", "not a RAVDESS name"),
        ("README.wav", "not a RAVDESS name"),
        ("3-1-5-1-1-1-1.wav", "not a RAVDESS name"),
    ],
)
def test_bad_names_rejected(name: str, reason: str):
    with pytest.raises(RavdessNameError) as err:
        parse_name(name)
    assert name in str(err.value) and reason in str(err.value)
    assert isinstance(err.value, ValueError)


def test_metadata_round_trip(real_metadata: pd.DataFrame, tmp_path: Path):
    out = tmp_path / "results" / "metadata.csv"
    write_metadata(real_metadata, out)
    assert [p.name for p in out.parent.iterdir()] == ["metadata.csv"]
    back = read_metadata(out)
    pd.testing.assert_frame_equal(back, real_metadata, check_dtype=False)


def test_read_metadata_rejects_other_csv(tmp_path: Path):
    other = tmp_path / "x.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="x.csv: not a metadata file"):
        read_metadata(other)


def test_missing_root(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scan_corpus(tmp_path / "nowhere")


def test_empty_folder_is_an_error(tmp_path: Path):
    (tmp_path / "README.txt").write_text("not audio")
    with pytest.raises(CorpusError, match="no .wav or .flac files"):
        scan_corpus(tmp_path)


def test_problems_are_collected_together(ravdess16k: Path, tmp_path: Path):
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    good = next((ravdess16k / "Actor_01").glob("*.flac"))
    (actor / good.name).write_bytes(good.read_bytes())
    (actor / "03-02-01-01-01-01-01.flac").write_bytes(good.read_bytes())
    (actor / "03-01-05-01-01-01-02.flac").write_bytes(good.read_bytes())
    (actor / "03-01-05-01-01-01-01.flac").write_bytes(b"")
    with pytest.raises(CorpusError) as err:
        scan_corpus(tmp_path)
    text = str(err.value)
    # the song file is a RAVDESS file of another kind: skipped (tests/test_corpus_setups.py)
    assert len(err.value.problems) == 2 and text.startswith("2 problem(s)")
    assert "03-02-01-01-01-01-01.flac" not in text
    assert "03-01-05-01-01-01-02.flac: actor 02 in the name, but the file is in Actor_01" in text
    assert "03-01-05-01-01-01-01.flac: empty file (0 bytes)" in text


def test_label_sets_on_real_metadata(real_metadata: pd.DataFrame):
    y, names = encode(real_metadata, "emotion")
    assert y.dtype == np.int64 and names[:2] == ["neutral", "calm"] and len(names) == 8
    assert np.bincount(y).tolist() == [96] + [192] * 7
    assert (np.array(names)[y] == real_metadata["emotion_name"]).all()

    y7, names7 = encode(real_metadata, "emotion7")
    assert "calm" not in names7 and len(names7) == 7
    assert np.bincount(y7).tolist() == [96 + 192] + [192] * 6

    y14, names14 = encode(real_metadata, "gender_emotion")
    assert len(names14) == 14 and np.bincount(y14, minlength=14).min() == 96
    decoded = np.array(names14)[y14]
    for label, gender, emotion in zip(decoded, real_metadata["gender"], real_metadata["emotion_name"]):
        assert label == f"{gender}_{'neutral' if emotion == 'calm' else emotion}"


def test_unknown_label_set_lists_valid(real_metadata: pd.DataFrame):
    with pytest.raises(ValueError) as err:
        encode(real_metadata, "valence")
    assert "valence" in str(err.value)
    assert all(name in str(err.value) for name in ("emotion", "emotion7", "gender_emotion"))
    assert class_names("emotion7")[0] == "neutral"


def test_labels_reject_codes_outside_ravdess(real_metadata: pd.DataFrame):
    broken = real_metadata.head(3).assign(emotion=[1, 9, 2])
    with pytest.raises(ValueError, match="outside the RAVDESS codes"):
        encode(broken, "emotion")
