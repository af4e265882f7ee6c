"""The GE2E speaker encoder (Wan et al. 2018) as an encoder: speaker identity, not emotion.

`resemblyzer` (Apache-2.0) ships the weights in its wheel: a 3-layer LSTM of 256 units over
40-band mel frames (25 ms windows every 10 ms) with a 256-d ReLU projection, trained for
speaker verification on VoxCeleb 1 and 2 and LibriSpeech. Applied to emotion: Pappagari et al.
2020 (arXiv 2002.05039).

The waveform goes through resemblyzer's own preprocessing (volume normalised to -30 dBFS,
silences longer than ~0.2 s trimmed by WebRTC's VAD; a file with no voiced frame keeps its
audio). Layers kept: each LSTM layer's frames (one nn.LSTM of 3 layers hides the first two,
so the layers run one by one with the same weights), the projection's frames, and the
published utterance embedding (`embed_utterance`: 1.6 s partials, averaged, L2-normalised).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser.encoders.spec import EncoderSpec

HIDDEN, N_LAYERS, EMBEDDING = 256, 3, 256
SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
# resemblyzer needs 160 frames (1.6 s) for a full partial; shorter voiced audio keeps all of it
MIN_VOICED_SAMPLES = 1600


def single_layers(lstm: nn.LSTM) -> nn.ModuleList:
    """One nn.LSTM per layer of `lstm`, holding the same weights, so every layer's output shows."""
    layers = nn.ModuleList()
    for k in range(lstm.num_layers):
        one = nn.LSTM(lstm.input_size if k == 0 else lstm.hidden_size, lstm.hidden_size,
                      batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{name}_l0").data.copy_(getattr(lstm, f"{name}_l{k}").data)
        layers.append(one)
    return layers


def ge2e_activations(encoder, layers: nn.ModuleList, wave: np.ndarray) -> list[torch.Tensor]:
    """The LSTM layers' and the projection's frames and the utterance embedding of one
    preprocessed waveform: (T, 256) x 4 and (1, 256)."""
    from resemblyzer import audio

    mel = torch.from_numpy(audio.wav_to_mel_spectrogram(wave)).to(encoder.device)[None]
    x, out = mel, []                                   # (1, T, 40)
    for layer in layers:
        x, _ = layer(x)                                # (1, T, 256)
        out.append(x[0])
    out.append(encoder.relu(encoder.linear(x[0])))     # (T, 256)
    embedding = encoder.embed_utterance(wave)          # (256,), numpy
    out.append(torch.from_numpy(embedding)[None].to(x.device))
    return out


def load(weights: Path, device: torch.device) -> Callable[[np.ndarray], list[torch.Tensor]]:
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder(device=device, verbose=False, weights_fpath=weights).train(False)
    layers = single_layers(encoder.lstm).to(device).train(False)

    def run(wave: np.ndarray) -> list[torch.Tensor]:
        voiced = preprocess_wav(wave.astype(np.float32))
        if len(voiced) < MIN_VOICED_SAMPLES:  # nothing the VAD calls voice: keep the audio
            voiced = wave.astype(np.float32)
        return ge2e_activations(encoder, layers, voiced)
    return run


SPEC = EncoderSpec(
    name="ge2e", package="resemblyzer", weight_file="pretrained.pt", sha256=SHA256,
    pretrained_on="speaker identity (GE2E on VoxCeleb 1-2 and LibriSpeech)",
    licence="Apache-2.0", sample_rate=16000,
    layers=(("lstm1", HIDDEN), ("lstm2", HIDDEN), ("lstm3", HIDDEN), ("projection", EMBEDDING),
            ("embedding", EMBEDDING)),
    load=load)
