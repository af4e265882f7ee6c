"""GE2E's own input: 40-band mel power frames, 25 ms windows every 10 ms (resemblyzer's
`wav_to_mel_spectrogram`), of each waveform brought to -30 dBFS as resemblyzer's preprocessing
does (never turned down, only up).

The frozen GE2E rows (ser.encoders.ge2e) also trim silences longer than ~0.2 s with WebRTC's VAD;
the end-to-end rows (ser.models.ge2e_ft) read the fixed window instead, because the trainer's
crops and batches need frames of one length, and so does a scratch network's input. The frames
stay power, not log power: the pretrained LSTM was trained on power.
"""
from __future__ import annotations

import numpy as np
import torch

N_MELS = 40


def ge2e_mel(waves: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, S) waveforms at 16 kHz -> (B, 40, T) mel power frames, T = 1 + S // 160."""
    from resemblyzer import audio
    from resemblyzer.hparams import audio_norm_target_dBFS, sampling_rate

    if int(sample_rate) != sampling_rate:
        raise ValueError(f"ge2e_mel: GE2E reads {sampling_rate} Hz audio; audio.sample_rate is "
                         f"{sample_rate}: set it to {sampling_rate} for the ge2e_mel kind")
    out = []
    for wave in waves.detach().cpu().numpy().astype(np.float32):
        if np.any(wave):  # an all-zero clip has no level to normalise
            wave = audio.normalize_volume(wave, audio_norm_target_dBFS, increase_only=True)
        out.append(torch.from_numpy(audio.wav_to_mel_spectrogram(wave).T.copy()))  # (40, T)
    return torch.stack(out).to(waves.device)
