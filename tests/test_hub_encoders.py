"""The model hub's speech encoders (ser.encoders.hub), end to end without the hub: tiny randomly
initialised models of the same architectures (wav2vec 2.0, HuBERT, WavLM, Whisper), saved as the
hub publishes them, served by a loopback mirror in the hub's cache layout, fetched and verified,
then run on real RAVDESS files; and the pipeline's jobs after the fetch need no network."""
from __future__ import annotations

import hashlib
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import transformers as tf
import yaml

from conftest import REPO, run_snakemake
from ser.audio import load_audio
from ser.encoders import (EncoderWeightsError, encoder_features, get_encoder, hub_weight_files,
                          identity)
from ser.audio import clip_window
from ser.features.shards import encoder_attrs
from ser.weight_files import WeightsUnavailableError, fetch, first_fetch_record
from weights_server import serve

HUB = ("wav2vec2_base", "hubert_base", "wavlm_base_plus", "whisper_base")
WIDTH, DEPTH = 32, 2
SSL = dict(hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=2,
           intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
           num_conv_pos_embedding_groups=2)
CONFIGS = {"wav2vec2_base": tf.Wav2Vec2Config, "hubert_base": tf.HubertConfig,
           "wavlm_base_plus": tf.WavLMConfig}
AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 3.0}


def tiny_model(kind: str):
    """A random model of `kind`'s architecture at toy size, and its feature extractor."""
    torch.manual_seed(0)
    if kind == "whisper_base":
        config = tf.WhisperConfig(d_model=WIDTH, encoder_layers=DEPTH, decoder_layers=1,
                                  encoder_attention_heads=2, decoder_attention_heads=2,
                                  encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80)
        return tf.WhisperModel(config).train(False), tf.WhisperFeatureExtractor(feature_size=80)
    model = tf.AutoModel.from_config(CONFIGS[kind](**SSL)).train(False)
    return model, tf.Wav2Vec2FeatureExtractor(do_normalize=kind == "wav2vec2_base")


def publish(kind: str, mirror: Path) -> Path:
    """Save the tiny model as the hub serves it (config, preprocessor config, pytorch_model.bin)
    at the path the mirror serves for the encoder's files; returns that folder."""
    model, extractor = tiny_model(kind)
    folder = mirror / get_encoder(kind).hub.snapshot()
    model.config.save_pretrained(folder)
    extractor.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def mirror_dir(tmp_path_factory) -> Path:
    mirror = tmp_path_factory.mktemp("hub_mirror")
    for kind in HUB:
        publish(kind, mirror)
    return mirror


@pytest.fixture(scope="module")
def cache(mirror_dir, tmp_path_factory) -> Path:
    """Every encoder's files fetched from the loopback mirror into a weights cache."""
    folder = tmp_path_factory.mktemp("weights")
    with pytest.MonkeyPatch.context() as mp, serve(mirror_dir) as server:
        mp.setenv("SER_WEIGHTS_MIRROR", server.url)
        for kind in HUB:
            for weight in hub_weight_files(kind):
                fetch(weight, folder)
    return folder


@pytest.fixture(scope="module")
def files(ravdess16k) -> list[str]:
    return [str(p) for p in sorted((ravdess16k / "Actor_03").glob("*.flac"))[:3]]


def test_each_hub_file_is_fetched_into_the_hubs_cache_layout_with_its_digest(cache, mirror_dir):
    for kind in HUB:
        for weight in hub_weight_files(kind):
            path = cache / weight.name
            assert "/snapshots/" in weight.name and weight.url.startswith("https://huggingface.co/")
            assert path.read_bytes() == (mirror_dir / weight.name).read_bytes()
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            assert first_fetch_record(path).read_text().strip() == sha


@pytest.mark.parametrize("kind", HUB)
def test_every_layer_is_pooled_over_the_clip_itself(kind, cache, files):
    """Mean and std of each hidden state (the front end and every transformer layer), computed
    again here with transformers directly; Whisper's 30 s padding is left out of the pools."""
    feats = encoder_features(files, kind, {}, AUDIO, weights_dir=cache)
    attrs = encoder_attrs(kind, {}, cache)
    layers = json.loads(attrs["layers"])
    assert layers == [["cnn", 2 * WIDTH]] + [[f"layer{k:02d}", 2 * WIDTH] for k in (1, 2)]
    assert feats.shape == (3, 2 * WIDTH * (DEPTH + 1)) and np.isfinite(feats).all()
    model, extractor = tiny_model(kind)
    wave = clip_window(load_audio(files[1], 16000), 16000, 0.0, 3.0)
    inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        if kind == "whisper_base":
            hidden = model.encoder(inputs.input_features, output_hidden_states=True).hidden_states
            hidden = [h[:, :math.ceil(len(wave) / 320)] for h in hidden]
            assert hidden[0].shape[1] == 150  # 3 s of 1500 frames per 30 s
        else:
            hidden = model(inputs.input_values, output_hidden_states=True).hidden_states
    last = hidden[DEPTH][0].double()
    np.testing.assert_allclose(feats[1, -2 * WIDTH:-WIDTH], last.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(feats[1, -WIDTH:], last.std(0, correction=0), rtol=1e-4, atol=1e-5)
    assert attrs["encoder_weights"] == f"{get_encoder(kind).hub.repo_id}@" \
        f"{get_encoder(kind).hub.revision}/pytorch_model.bin"
    bin_sha = hashlib.sha256((cache / get_encoder(kind).hub.snapshot() /
                              "pytorch_model.bin").read_bytes()).hexdigest()
    assert attrs["encoder_sha256"] == bin_sha


def test_an_altered_file_in_the_cache_is_refused_in_one_line(cache, files, tmp_path):
    altered = tmp_path / "weights"
    snapshot = get_encoder("hubert_base").hub.snapshot()
    (altered / snapshot).mkdir(parents=True)
    for path in (cache / snapshot).iterdir():
        (altered / snapshot / path.name).write_bytes(path.read_bytes())
    with open(altered / snapshot / "pytorch_model.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    with pytest.raises(EncoderWeightsError) as err:
        encoder_features(files, "hubert_base", {}, AUDIO, weights_dir=altered)
    message = str(err.value)
    assert "\n" not in message and "pytorch_model.bin: SHA-256" in message
    assert "snakemake --until weights" in message


def test_a_file_unlike_the_hubs_published_digest_is_not_kept(mirror_dir, tmp_path, monkeypatch):
    weight = hub_weight_files("wavlm_base_plus")[2]
    with serve(mirror_dir, headers={weight.name: {"X-Linked-Etag": '"' + "ab" * 32 + '"'}}) as s:
        monkeypatch.setenv("SER_WEIGHTS_MIRROR", s.url)
        with pytest.raises(WeightsUnavailableError, match="the hub publishes abababab"):
            fetch(weight, tmp_path)
    assert not (tmp_path / weight.name).exists()
    assert not first_fetch_record(tmp_path / weight.name).exists()


def test_offline_the_fetch_and_the_job_each_say_what_to_do_in_one_line(files, tmp_path,
                                                                       monkeypatch):
    with socket.socket() as s:  # a port nothing listens on: the hub unreachable
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SER_WEIGHTS_MIRROR", f"http://127.0.0.1:{s.getsockname()[1]}")
        with pytest.raises(WeightsUnavailableError) as fetched:
            fetch(hub_weight_files("wav2vec2_base")[0], tmp_path)
    with pytest.raises(EncoderWeightsError) as loaded:
        encoder_features(files, "wav2vec2_base", {}, AUDIO, weights_dir=tmp_path)
    for err in (fetched, loaded):
        assert "\n" not in str(err.value) and "snakemake --until weights" in str(err.value)
    assert "config.json: missing" in str(loaded.value)


def test_a_revision_in_the_config_is_the_snapshot_read(cache):
    other = hub_weight_files("whisper_base", {"revision": "0123abc"})
    assert all("/snapshots/0123abc/" in w.name and "/resolve/0123abc/" in w.url for w in other)
    with pytest.raises(EncoderWeightsError, match="snapshots/0123abc/config.json: missing"):
        identity(get_encoder("whisper_base"), {"revision": "0123abc"}, cache)


@pytest.mark.slow
def test_the_pipeline_fetches_once_and_its_jobs_open_no_connection(mirror_dir, tiny_config,
                                                                  tmp_path):
    """`snakemake --until weights` against the mirror, then the whole run with the mirror gone
    and every Python process of the run refusing to open an internet socket."""
    cfg = yaml.safe_load(tiny_config.read_text())
    cfg["run_models"] = ["wav2vec2_base_lr"]  # the heads' own tests cover _ws
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(cfg))
    workdir = tmp_path / "run"
    with serve(mirror_dir) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("SER_WEIGHTS_MIRROR", server.url)
        run_snakemake(workdir, "--cores", "2", "--until", "weights", configfiles=(config,))
        fetched = len(server.requests)
    assert fetched == 3  # config, preprocessor config, weights: once each
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_INTERNET)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(guard))
        mp.setenv("SER_WEIGHTS_MIRROR", "http://127.0.0.1:9")  # nothing there
        run_snakemake(workdir, "--cores", "2", configfiles=(config,))
    metrics = pd.read_csv(workdir / "results" / "metrics.csv")
    assert metrics["model"].tolist() == ["wav2vec2_base_lr"] * 3  # one row per fold
    assert metrics["unweighted_accuracy"].between(0, 1).all()
    assert metrics["weights"].str.contains("facebook/wav2vec2-base through transformers").all()
    log = (workdir / "logs" / "features" / "wav2vec2_base.log").read_text()
    assert "internet socket refused" not in log
    served_from_elsewhere(workdir, guard, tmp_path / "elsewhere")


def served_from_elsewhere(workdir: Path, guard: Path, cwd: Path) -> None:
    """`ser predict` of a hub head from a folder that is not the run's (issue 44): the model
    finds its encoder's snapshot where its features were made (no network, no resources/ in
    the folder) and gives what it gives in the run's own folder."""
    model = workdir / "results/models/wav2vec2_base_lr/fold_1"
    audio = sorted(Path(p) for p in pd.read_csv(workdir / "results/metadata.csv")["path"])[:2]
    cwd.mkdir()
    env = {"PYTHONPATH": f"{guard}:{REPO}", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    tables = []
    for folder in (workdir, cwd):
        proc = subprocess.run([sys.executable, "-m", "ser", "predict", model, *audio, "--out",
                               cwd / f"{folder.name}.csv"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        tables.append(pd.read_csv(cwd / f"{folder.name}.csv"))
    assert not (cwd / "resources").exists() and len(tables[1]) == 2
    p_cols = [c for c in tables[0].columns if c.startswith("p_")]
    assert np.abs(tables[0][p_cols].to_numpy() - tables[1][p_cols].to_numpy()).max() < 1e-6


# Installed into every Python process of the run: an internet socket's connect raises.
NO_INTERNET = '''
import socket
import subprocess
import sys
_connect = socket.socket.connect
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError(f"internet socket refused in a job: {address}")
    return _connect(self, address)
socket.socket.connect = connect
'''
