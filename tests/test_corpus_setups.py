"""Corpora as research groups keep them (issue 32), made from the real files of ../shared: folders
of symbolic links, the whole release with song and video beside the speech, a copy shaped like
the original 48 kHz release, a damaged shard; and how their errors reach the console."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml

from conftest import run_snakemake
from ser.data.download import RELEASE_STEREO, format_differences
from ser.data.folds import make_folds
from ser.data.labels import encode
from ser.data.provenance import corpus_record
from ser.data.ravdess import CorpusError, scan_corpus, write_metadata
from ser.features.shards import ShardError, build_kind_shards, read_shards

ACTORS = (1, 5, 20)  # the actors holding the release's five two-channel files
MD5 = "bc696df654c87fed845eb13823edef8a"


def record_of(root: Path, table, tmp_path: Path, vocal_channel: str = "speech") -> dict:
    write_metadata(table, tmp_path / "metadata.csv")
    return corpus_record(str(root), MD5, tmp_path / "metadata.csv", root, vocal_channel)


def test_a_corpus_of_linked_actor_folders_runs_through_metadata_and_folds(ravdess16k, tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    for actor in ACTORS:
        (root / f"Actor_{actor:02d}").symlink_to(ravdess16k / f"Actor_{actor:02d}")
    table = scan_corpus(root)
    assert len(table) == 180 and sorted(table["actor"].unique()) == list(ACTORS)
    assert all(Path(p).is_relative_to(root) for p in table["path"])  # the names the user gave
    folds = make_folds(table, "actor_kfold", k=3, seed=0, n_val_actors=1)
    assert sorted(folds.loc[folds["split"] == "test", "actor"].unique()) == list(ACTORS)
    record = record_of(root, table, tmp_path)
    assert record["resolved_locations"] == [str(ravdess16k / f"Actor_{a:02d}") for a in ACTORS]
    assert record["files"] == 180 and record["skipped"] == {}


def test_a_corpus_of_linked_files_runs_through_metadata_and_folds(ravdess16k, tmp_path):
    root = tmp_path / "corpus"
    for actor in ACTORS:
        (root / f"Actor_{actor:02d}").mkdir(parents=True)
        for f in sorted((ravdess16k / f"Actor_{actor:02d}").glob("*.flac")):
            (root / f"Actor_{actor:02d}" / f.name).symlink_to(f)
    table = scan_corpus(root)
    assert len(table) == 180 and table["sample_rate"].eq(16000).all()
    folds = make_folds(table, "actor_kfold", k=3, seed=0, n_val_actors=1)
    assert folds["file"].nunique() == 180
    assert record_of(root, table, tmp_path)["resolved_locations"] == \
        [str(ravdess16k / f"Actor_{a:02d}") for a in ACTORS]


def test_a_link_loop_and_a_dangling_link_are_named(ravdess16k, tmp_path):
    root = tmp_path / "corpus"
    (root / "Actor_01").mkdir(parents=True)
    good = sorted((ravdess16k / "Actor_01").glob("*.flac"))[0]
    (root / "Actor_01" / good.name).symlink_to(good)
    (root / "Actor_01" / "again").symlink_to(root)
    (root / "Actor_01" / "03-01-05-01-01-01-01.flac").symlink_to(tmp_path / "gone.flac")
    with pytest.raises(CorpusError) as err:
        scan_corpus(root, actors=[1])
    text = str(err.value)
    assert "again: symbolic link to" in text and "link loop" in text
    assert "03-01-05-01-01-01-01.flac: symbolic link to" in text and "does not exist" in text


def release_folder(ravdess16k: Path, root: Path) -> Path:
    """Speech (links to the real files) beside song and video files named as the release names
    them: song made for the test from speech audio, the video files empty stand-ins."""
    for actor in (1, 2, 3):
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for f in sorted((ravdess16k / f"Actor_{actor:02d}").glob("*.flac")):
            (folder / f.name).symlink_to(f)
            if f.name.split("-")[2] in ("07", "08"):
                continue  # song has no disgust and no surprise
            (folder / f.name.replace("03-01-", "03-02-", 1)).symlink_to(f)
            (folder / ("01-01-" + f.name[6:]).replace(".flac", ".mp4")).write_bytes(b"")
            (folder / ("02-02-" + f.name[6:]).replace(".flac", ".mp4")).write_bytes(b"")
    return root


def test_song_and_video_files_are_skipped_in_one_counted_line(ravdess16k, tmp_path, caplog):
    root = release_folder(ravdess16k, tmp_path / "release")
    log = logging.getLogger("metadata")
    with caplog.at_level(logging.INFO, logger="metadata"):
        table = scan_corpus(root, log=log)
    assert len(table) == 180 and table["vocal_channel"].eq(1).all()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["skipped 396 RAVDESS files that are not audio-only speech: 132 audio-video, "
                     "132 song, 132 video-only"]
    record = record_of(root, table, tmp_path)
    assert record["skipped"] == {"audio-video": 132, "song": 132, "video-only": 132}
    assert record["vocal_channel"] == "speech"


def test_song_is_selected_by_a_setting_with_its_six_emotions(ravdess16k, tmp_path):
    root = release_folder(ravdess16k, tmp_path / "release")
    table = scan_corpus(root, vocal_channel="song")
    assert len(table) == 132 and table["vocal_channel"].eq(2).all()
    assert table["file"].str.startswith("03-02-").all()
    y, classes = encode(table, "emotion")
    assert classes == ["neutral", "calm", "happy", "sad", "angry", "fearful"]
    assert np.bincount(y).tolist() == [12, 24, 24, 24, 24, 24]  # 3 actors x (4 + 5 x 8)
    _, seven = encode(table, "emotion7")
    assert seven == ["neutral", "happy", "sad", "angry", "fearful"]
    assert record_of(root, table, tmp_path, "song")["skipped"] == \
        {"audio-video": 132, "speech": 180, "video-only": 132}
    # speech asked of a folder of song only: one line says what there is and what to set
    only_song = tmp_path / "song"
    (only_song / "Actor_01").mkdir(parents=True)
    for f in (root / "Actor_01").glob("03-02-*"):
        (only_song / "Actor_01" / f.name).symlink_to(f.resolve())
    with pytest.raises(CorpusError, match=r"44 song, and no file of audio-only speech is left "
                                          r"\(ravdess.vocal_channel selects speech or song\)"):
        scan_corpus(only_song, actors=[1])


def wav_copy(ravdess16k: Path, root: Path, rate: int) -> Path:
    """ACTORS' files as 16-bit WAV at `rate`, channels kept (the release's five stereo files)."""
    for actor in ACTORS:
        (root / f"Actor_{actor:02d}").mkdir(parents=True)
        for f in sorted((ravdess16k / f"Actor_{actor:02d}").glob("*.flac")):
            audio, sr = sf.read(f, dtype="float32")
            if rate != sr:
                audio = soxr.resample(audio, sr, rate)
            sf.write(root / f"Actor_{actor:02d}" / f"{f.stem}.wav", audio, rate, subtype="PCM_16")
    return root


def test_a_release_shaped_copy_differs_in_nothing_and_a_resampled_one_in_one_line(
        ravdess16k, tmp_path):
    release = scan_corpus(wav_copy(ravdess16k, tmp_path / "release48k", 48000))
    assert set(release.loc[release["channels"] == 2, "file"]) == set(RELEASE_STEREO)
    assert format_differences(release) == []
    assert record_of(tmp_path / "release48k", release, tmp_path)["differences"] == []
    resampled = scan_corpus(wav_copy(ravdess16k, tmp_path / "wav16k", 16000))
    assert format_differences(resampled) == ["sample rate 16000 Hz; the release's is 48000 Hz"]
    downmixed = release.assign(channels=1)
    assert format_differences(downmixed) == [
        "0 files with more than one channel; the release has 5 among these files "
        f"({', '.join(sorted(RELEASE_STEREO))}), the rest mono"]


def test_a_truncated_shard_names_the_rebuild_and_nothing_else_is_lost(ravdess16k, tmp_path):
    table = scan_corpus(ravdess16k, actors=[1, 2])
    write_metadata(table, tmp_path / "metadata.csv")
    shards = [tmp_path / "features" / "mfcc" / f"actor_{a:02d}.h5" for a in (1, 2)]
    params = {"n_mfcc": 13, "n_fft": 512, "hop_length": 256, "n_mels": 40, "fmin": 0.0,
              "fmax": 8000.0}
    audio = {"sample_rate": 16000, "offset": 0.0, "duration": 1.0}
    build_kind_shards(tmp_path / "metadata.csv", [1, 2], "mfcc", params, audio, shards)
    kept = shards[0].read_bytes()
    with open(shards[1], "r+b") as f:
        f.truncate(shards[1].stat().st_size // 2)
    with pytest.raises(ShardError) as err:
        read_shards(shards, "mfcc", params)
    message = str(err.value)
    assert message.startswith(f"{shards[1]}: truncated or corrupt shard (")
    assert f"rebuild it: `rm {shards[1]}`, then rerun the same snakemake command" in message
    assert "\n" not in message and shards[0].read_bytes() == kept
    shards[1].unlink()  # as the message says; the job rewrites its shards
    build_kind_shards(tmp_path / "metadata.csv", [1, 2], "mfcc", params, audio, shards)
    features, files = read_shards(shards, "mfcc", params)
    assert len(files) == 120 and np.isfinite(features).all()


def test_a_truncated_checkpoint_or_table_names_the_rebuild_too(tmp_path):
    import torch

    from ser.io import read_table
    from ser.train.outputs import CheckpointError, load_checkpoint

    ckpt = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "format": 1}, ckpt)
    with open(ckpt, "r+b") as f:
        f.truncate(ckpt.stat().st_size // 2)
    with pytest.raises(CheckpointError, match=f"rebuild it: `rm {ckpt}`"):
        load_checkpoint(ckpt)
    table = tmp_path / "predictions.csv"
    table.write_bytes(b"")
    with pytest.raises(ValueError, match=f"rebuild it: `rm {table}`"):
        read_table(table, "predictions")


@pytest.mark.slow
def test_a_corpus_error_reaches_the_console_once_without_a_traceback(ravdess16k, tmp_path):
    """The metadata job of a broken corpus (a file in the wrong folder, a missing actor, more
    problems than are shown): its message once, short, no traceback; the log has everything."""
    root = tmp_path / "corpus"
    root.mkdir()
    for actor in (1, 2):
        (root / f"Actor_{actor:02d}").symlink_to(ravdess16k / f"Actor_{actor:02d}")
    wrong = root / "Actor_03"
    wrong.mkdir()
    for f in sorted((ravdess16k / "Actor_04").glob("*.flac"))[:12]:
        (wrong / f.name).symlink_to(f)
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump({"ravdess": {"source": str(root), "actors": [1, 2, 3, 5]},
                                      "run_models": ["egemaps_lr"]}))
    proc = run_snakemake(tmp_path / "run", "--cores", "1", "results/metadata.csv",
                         configfiles=(config,), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("problem(s) in the RAVDESS corpus") == 1
    assert "Traceback" not in out and not re.search(r'^\s*File "', out, re.M)
    start = out.index("CorpusError: ")
    message = out[start:].split("\nRuleException")[0].rstrip("\n").splitlines()
    assert len(message) <= 15, message
    assert message[1] == "  by kind: 12 in the wrong Actor_XX folder, 2 requested actor missing"
    assert message[-1].startswith("  ... and 6 more (all of them: the job's log)")
    log = (tmp_path / "run" / "logs" / "metadata.log").read_text()
    assert "Traceback" in log and log.count("in the name, but the file is in Actor_03") >= 12
