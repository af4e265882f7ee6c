"""Self-supervised speech encoders from the Hugging Face hub, through `transformers`.

The encoders behind the field's strongest RAVDESS rows (SUPERB, Yang et al. 2021; EmoBox, Ma et
al. 2024): wav2vec 2.0 base (Baevski et al. 2020), HuBERT base (Hsu et al. 2021) and WavLM base+
(Chen et al. 2022), pretrained without labels on 960 h of LibriSpeech (WavLM base+: 94k h), and
Whisper base's encoder (Radford et al. 2022, 680k h of weakly supervised speech recognition).
Layers kept: the transformer's input (`cnn`: the convolutional front end, or Whisper's two
convolutions, with positions) and every transformer layer's output, as `hidden_states` gives them.

Weights are the model hub's files at a pinned revision (config `features.<encoder>.revision`),
fetched by the `weights` localrule into the hub's cache layout under `weights.cache_dir`
(`hub/models--<org>--<name>/snapshots/<revision>/<file>`) and loaded from there with the network
switched off: a job never fetches. A file's SHA-256 is pinned in `HubRepo.files` where known and
otherwise recorded at its first fetch (ser.weight_files). The revisions below are public
pins that this offline machine cannot confirm; a wrong one fails the first fetch with the hub's
404, named in one line.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ser.encoders.spec import EncoderSpec, HubRepo

FILES = (("config.json", None), ("preprocessor_config.json", None), ("pytorch_model.bin", None))
SSL_ON = "self-supervised speech (LibriSpeech 960 h)"
# Whisper's encoder sees 30 s windows of 10 ms mel frames, halved by its second convolution
WHISPER_SAMPLES_PER_FRAME = 320
WHISPER_FRAMES = 1500


def hub_layers(snapshot: Path) -> tuple[tuple[str, int], ...]:
    """(name, frame size) of each kept layer, read from the snapshot's config.json."""
    config = json.loads((Path(snapshot) / "config.json").read_text())
    width = int(config.get("hidden_size") or config["d_model"])
    depth = int(config.get("num_hidden_layers") or config["encoder_layers"])
    return (("cnn", width),) + tuple((f"layer{k:02d}", width) for k in range(1, depth + 1))


def load(snapshot: Path, device: torch.device) -> Callable[[np.ndarray], list[torch.Tensor]]:
    """Every kept layer's frames of one 16 kHz waveform, from a verified local snapshot."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # a job reads the fetched snapshot, never the network
    from transformers import AutoFeatureExtractor, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per load in every job's log says nothing
    model = AutoModel.from_pretrained(str(snapshot), local_files_only=True)
    extractor = AutoFeatureExtractor.from_pretrained(str(snapshot), local_files_only=True)
    whisper = model.config.model_type == "whisper"
    network = (model.encoder if whisper else model).to(device).train(False)

    def run(wave: np.ndarray) -> list[torch.Tensor]:
        inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
        x = (inputs.input_features if whisper else inputs.input_values).to(device)
        hidden = network(x, output_hidden_states=True).hidden_states  # L+1 x (1, T, D)
        # Whisper pads every clip to 30 s; only the frames of the clip itself are pooled
        n = (min(math.ceil(len(wave) / WHISPER_SAMPLES_PER_FRAME), WHISPER_FRAMES) if whisper
             else hidden[0].shape[1])
        return [h[0, :n] for h in hidden]                            # (n, D) each
    return run


def _spec(name: str, repo_id: str, revision: str, pretrained_on: str, licence: str,
          width: int, depth: int) -> EncoderSpec:
    return EncoderSpec(
        name=name, package="transformers", weight_file="pytorch_model.bin", sha256="",
        pretrained_on=pretrained_on, licence=licence, sample_rate=16000,
        layers=(("cnn", width),) + tuple((f"layer{k:02d}", width) for k in range(1, depth + 1)),
        load=load, params={"revision": revision},
        hub=HubRepo(repo_id, revision, FILES), layers_of=hub_layers)


SPECS = (
    _spec("wav2vec2_base", "facebook/wav2vec2-base", "0b5b8e868dd84f03fd87d01f9c4ff0f080fecfe8",
          SSL_ON, "Apache-2.0", 768, 12),
    _spec("hubert_base", "facebook/hubert-base-ls960", "main", SSL_ON, "Apache-2.0", 768, 12),
    _spec("wavlm_base_plus", "microsoft/wavlm-base-plus",
          "4c66d4806a428f2e922ccfa1a962776e232d487b",
          "self-supervised speech (Libri-Light, GigaSpeech, VoxPopuli: 94k h)", "MIT", 768, 12),
    _spec("whisper_base", "openai/whisper-base", "main",
          "speech recognition (680k h of weakly supervised speech)", "Apache-2.0", 512, 6),
)
