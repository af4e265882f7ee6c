"""Pretrained encoders whose weights ship in their packages (ser.encoders): CREPE (torchcrepe) and
the GE2E speaker encoder (resemblyzer), on real RAVDESS files. Each layer is checked against the
package's own public function where it has one, so the layer bookkeeping cannot drift."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from ser.audio import load_audio
from ser.encoders import (EncoderWeightsError, encoder_features, get_encoder, load_encoder,
                          weight_path)
from ser.features.extract import check_params
from ser.audio import clip_window
from ser.features.shards import build_actor_shard, read_shards, shard_layers

AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 4.0}
HOP = 1600  # 10 frames a second: the tests' cost, not the product's setting


@pytest.fixture(scope="module")
def files(ravdess16k: Path) -> list[Path]:
    return sorted((ravdess16k / "Actor_05").glob("*.flac"))[:3]


def columns(kind: str, layer: str) -> slice:
    start = 0
    for name, width in get_encoder(kind).layer_widths():
        if name == layer:
            return slice(start, start + width)
        start += width
    raise KeyError(layer)


def mean_part(row: np.ndarray, kind: str, layer: str) -> np.ndarray:
    block = row[columns(kind, layer)]
    return block[:len(block) // 2]


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_crepe_layers_match_torchcrepe(files: list[Path], capacity: str) -> None:
    """conv5 is torchcrepe.embed's embedding and `pitch` its 360 bins, frame by frame."""
    import torchcrepe

    kind = f"crepe_{capacity}"
    row = encoder_features(files[:1], kind, {"hop_length": HOP}, AUDIO)[0]
    assert row.shape == (sum(w for _, w in get_encoder(kind).layer_widths()),)
    wave = torch.from_numpy(clip_window(load_audio(files[0], 16000), 16000, 0.0, 4.0))[None]
    with torch.inference_mode():
        embedding = torchcrepe.embed(wave, 16000, HOP, capacity, device="cpu")[0]  # (T, 32, C)
        pitch = torchcrepe.infer(next(torchcrepe.preprocess(wave, 16000, HOP)), capacity)
    expected = embedding.reshape(len(embedding), -1).double().mean(0).numpy()
    np.testing.assert_allclose(mean_part(row, kind, "conv5"), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean_part(row, kind, "pitch"), pitch.double().mean(0).numpy(),
                               rtol=1e-4, atol=1e-6)


def test_ge2e_layers_match_resemblyzer(files: list[Path]) -> None:
    """The layers run one by one give the 3-layer LSTM's output, and `embedding` is
    resemblyzer's utterance embedding of the same preprocessed audio."""
    from resemblyzer import VoiceEncoder, audio, preprocess_wav

    wave = clip_window(load_audio(files[1], 16000), 16000, 0.0, 4.0)
    layers = load_encoder("ge2e", {})(wave)
    encoder = VoiceEncoder("cpu", verbose=False)
    voiced = preprocess_wav(wave)
    with torch.inference_mode():
        full, _ = encoder.lstm(torch.from_numpy(audio.wav_to_mel_spectrogram(voiced))[None])
    assert [tuple(x.shape) for x in layers] == [(full.shape[1], 256)] * 4 + [(1, 256)]
    torch.testing.assert_close(layers[2], full[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layers[4][0].numpy(), encoder.embed_utterance(voiced),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,params", [("crepe_tiny", {"hop_length": HOP}), ("ge2e", {})])
def test_same_file_gives_the_same_features_twice(files: list[Path], kind: str,
                                                 params: dict) -> None:
    first = encoder_features(files, kind, params, AUDIO)
    again = encoder_features(files[::-1], kind, params, AUDIO)[::-1]
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).all()
    assert not np.allclose(first[0], first[1])  # two files, two vectors


@pytest.mark.parametrize("kind", ["crepe_tiny", "ge2e"])
def test_an_altered_weight_file_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    spec = get_encoder(kind)
    copy = tmp_path / Path(spec.weight_file).name
    shutil.copy(weight_path(spec), copy)
    load_encoder(kind, {}, weights=copy)  # the untouched copy loads
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the tensors
    copy.write_bytes(bytes(data))
    with pytest.raises(EncoderWeightsError) as err:
        load_encoder(kind, {}, weights=copy)
    message = str(err.value)
    assert "\n" not in message and str(copy) in message and "SHA-256" in message
    assert spec.package in message and "reinstall" in message


def test_missing_weight_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EncoderWeightsError, match="missing"):
        load_encoder("crepe_tiny", {}, weights=tmp_path / "tiny.pth")


def test_encoder_params_are_checked() -> None:
    check_params("crepe_full", {"hop_length": 640})
    check_params("ge2e", {})
    with pytest.raises(ValueError, match="'ge2e' does not take \\['hop_length'\\]"):
        check_params("ge2e", {"hop_length": 160})
    with pytest.raises(ValueError, match="hop_length must be at least 1"):
        load_encoder("crepe_tiny", {"hop_length": 0})


def test_shard_records_the_encoder_and_its_layers(tmp_path: Path, ravdess16k: Path) -> None:
    from ser.data.ravdess import scan_corpus

    meta = scan_corpus(ravdess16k, [7])
    meta = meta[meta["file"].isin(sorted(meta["file"])[:4])]
    meta.to_csv(tmp_path / "metadata.csv", index=False)
    path = tmp_path / "crepe_tiny" / "actor_07.h5"
    n = build_actor_shard(tmp_path / "metadata.csv", 7, "crepe_tiny", {"hop_length": HOP}, AUDIO,
                          path)
    features, names = read_shards([path], expect_kind="crepe_tiny",
                                  expect_params={"hop_length": HOP})
    assert n == 4 and sorted(names) == sorted(meta["file"])
    spec = get_encoder("crepe_tiny")
    assert shard_layers([path]) == spec.layer_widths()
    assert features.shape == (4, sum(w for _, w in spec.layer_widths()))
    with h5py.File(path) as h5:
        attrs = dict(h5.attrs)
    assert attrs["encoder_sha256"] == spec.sha256 and attrs["encoder_package"] == "torchcrepe"
    assert attrs["encoder_version"] == "0.0.24" and "pitch" in attrs["pretrained_on"]
    assert json.loads(attrs["layers"])[0] == ["conv1", 2 * 128]
    # a shard of another kind holds no encoder layers
    other = tmp_path / "egemaps.h5"
    build_actor_shard(tmp_path / "metadata.csv", 7, "egemaps", {}, AUDIO, other)
    with pytest.raises(ValueError, match="no encoder layers"):
        shard_layers([other])
