"""Per-actor shards on real features: round trip, and rejection of incomplete or stale shards."""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ser.audio import AudioError, load_audio
from ser.features import EXTRACTOR_VERSION, build_actor_shard, extract, read_shards, write_shard
from ser.features.shards import ShardError, load_waves

AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 1.0}
MFCC = {"n_mfcc": 20, "n_fft": 512, "hop_length": 160, "n_mels": 64, "fmin": 0.0, "fmax": 8000.0}


@pytest.fixture(scope="module")
def metadata(ravdess16k, tmp_path_factory):
    """A metadata CSV of 5 files of actors 3 and 4 (the columns build_actor_shard reads)."""
    rows = []
    for actor in (3, 4):
        for path in sorted((ravdess16k / f"Actor_{actor:02d}").glob("*.flac"))[:5]:
            rows.append({"path": str(path), "file": path.stem, "actor": actor})
    csv = tmp_path_factory.mktemp("meta") / "metadata.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


@pytest.fixture(scope="module")
def shards(metadata, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    paths = [out / f"actor_{a:02d}.h5" for a in (3, 4)]
    for actor, path in zip((3, 4), paths):
        assert build_actor_shard(metadata, actor, "mfcc", MFCC, AUDIO, path, batch_size=2) == 5
    return paths


def test_round_trip_keeps_features_files_and_attrs(shards, metadata):
    feats, files = read_shards(shards, expect_kind="mfcc", expect_params=MFCC)
    meta = pd.read_csv(metadata)
    assert files == meta["file"].tolist()
    # Independent recomputation of the same files in one batch (the shard used batches of 2).
    expected = extract("mfcc", load_waves(meta["path"].tolist(), AUDIO), 16000, MFCC).numpy()
    assert feats.dtype == np.float32 and feats.shape == expected.shape == (10, 20, 101)
    np.testing.assert_allclose(feats, expected, atol=1e-3)
    with h5py.File(shards[0]) as h5:
        assert h5.attrs["kind"] == "mfcc" and h5.attrs["complete"]
        assert h5.attrs["extractor_version"] == EXTRACTOR_VERSION and h5.attrs["n_files"] == 5
        assert h5.attrs["params"] == '{"fmax": 8000.0, "fmin": 0.0, "hop_length": 160, ' \
                                     '"n_fft": 512, "n_mels": 64, "n_mfcc": 20}'
    assert not list(shards[0].parent.glob("*.tmp"))


def test_params_mismatch_and_wrong_kind_are_rejected_with_the_file(shards):
    with pytest.raises(ShardError, match=f"{shards[0]}.*stale shard"):
        read_shards(shards, expect_params={**MFCC, "n_mfcc": 40})
    with pytest.raises(ShardError, match=f"{shards[0]}.*not 'logmel'"):
        read_shards(shards, expect_kind="logmel")


def test_truncated_shard_is_rejected_with_the_file(shards, tmp_path):
    cut = tmp_path / "cut.h5"
    data = shards[1].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=f"{cut}.*truncated or corrupt"):
        read_shards([shards[0], cut])


def test_shard_without_complete_mark_is_rejected(shards, tmp_path):
    half = tmp_path / "half.h5"
    feats, files = read_shards(shards[:1])
    with h5py.File(half, "w") as h5:  # what a writer killed before its last attribute leaves
        h5.create_dataset("features", data=feats)
        h5.create_dataset("files", data=files, dtype=h5py.string_dtype())
        h5.attrs["kind"] = "mfcc"
    with pytest.raises(ShardError, match=f"{half}.*incomplete"):
        read_shards([half])


def test_write_shard_checks_lengths_and_leaves_no_file(tmp_path):
    feats = extract("waveform", torch.zeros(3, 8), 16000, {}).numpy()
    with pytest.raises(ValueError, match="3 feature rows but 2 file names"):
        write_shard(tmp_path / "x.h5", feats, ["a", "b"], {"kind": "waveform", "params": {}})
    assert not list(tmp_path.iterdir())


def test_unknown_actor_and_missing_audio_are_named(metadata, tmp_path):
    with pytest.raises(ValueError, match="no files of actor 7"):
        build_actor_shard(metadata, 7, "mfcc", MFCC, AUDIO, tmp_path / "a.h5")
    bad = tmp_path / "meta.csv"
    pd.DataFrame([{"path": str(tmp_path / "gone.flac"), "file": "gone", "actor": 1}]).to_csv(bad)
    with pytest.raises(ValueError, match="gone.flac"):
        build_actor_shard(bad, 1, "mfcc", MFCC, AUDIO, tmp_path / "b.h5")
    assert not (tmp_path / "b.h5").exists()


def test_stretch_resizes_each_whole_clip_as_pil_resized_dchungs_images(metadata, tmp_path):
    path = tmp_path / "stretched.h5"
    assert build_actor_shard(metadata, 3, "mfcc", MFCC, {**AUDIO, "stretch_frames": 64}, path) == 5
    feats, _ = read_shards([path], expect_kind="mfcc", expect_params=MFCC)
    assert feats.shape == (5, 20, 64)
    for path_, feat in zip(pd.read_csv(metadata).query("actor == 3")["path"], feats):
        whole = extract("mfcc", torch.from_numpy(load_audio(path_, 16000))[None], 16000, MFCC)[0]
        assert whole.shape[-1] > 300  # the whole clip (3 s or more), not the 1 s `duration`
        # dchung: transforms.ToPILImage() of the float dB image, then Resize (bilinear)
        pil = Image.fromarray(whole.numpy(), mode="F").resize((64, 20), Image.BILINEAR)
        np.testing.assert_allclose(feat, np.asarray(pil), atol=2e-3 * np.abs(feat).max())
    with h5py.File(path) as h5:
        assert h5.attrs["stretch_frames"] == 64


def test_stretch_leaves_the_waveform_padded_and_names_a_clip_with_nothing_left(metadata,
                                                                                tmp_path):
    stretch = {**AUDIO, "stretch_frames": 64}
    build_actor_shard(metadata, 3, "waveform", {}, stretch, tmp_path / "w.h5")
    waves, _ = read_shards([tmp_path / "w.h5"])
    expected = load_waves(pd.read_csv(metadata).query("actor == 3")["path"].tolist(), AUDIO)
    np.testing.assert_array_equal(waves, expected.numpy())
    with pytest.raises(AudioError, match=r"03-01-.*flac: nothing left to stretch after the "
                                         r"offset of 30 s \(the clip lasts 3\.\d+ s\)"):
        build_actor_shard(metadata, 3, "mfcc", MFCC, {**stretch, "offset": 30.0},
                          tmp_path / "late.h5")
    assert not list(tmp_path.glob("late.h5*"))
