"""Batched short-time Fourier features in torch: STFT dB, log-mel and MFCC.

Each function reproduces the librosa call the earlier RAVDESS projects made per file, so that a
model trained on these shards sees the same numbers (tests/test_features.py checks the agreement):

- `logmel`: ``power_to_db(melspectrogram(...), ref=1.0, top_db=None)`` (both settable),
- `mfcc`: ``librosa.feature.mfcc(...)`` (DCT-II, ortho, of the dB mel spectrogram with its
  default ``top_db=80``),
- `stft`: ``amplitude_to_db(|stft|, ref=np.max)`` (``ref: 1.0`` for an absolute scale).

librosa's defaults are kept: periodic Hann window of `win_length` centred in `n_fft`, frames
centred with zero padding, Slaney mel scale and Slaney area normalisation.
"""
from __future__ import annotations

import math
from functools import lru_cache

import librosa
import numpy as np
import torch

AMIN_POWER = 1e-10  # librosa's amin for power_to_db; amplitude_to_db's 1e-5 squared


@lru_cache(maxsize=16)
def _window(win_length: int) -> torch.Tensor:
    return torch.hann_window(win_length, periodic=True, dtype=torch.float32)


@lru_cache(maxsize=16)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                fmax: float) -> torch.Tensor:
    """Slaney-style mel filter bank (n_mels, n_fft // 2 + 1), built once per parameter set."""
    if fmax > sample_rate / 2:
        raise ValueError(f"fmax={fmax} Hz is above the Nyquist frequency of {sample_rate} Hz audio")
    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                             htk=False, norm="slaney")
    return torch.from_numpy(fb.astype(np.float32))


def power_spectrogram(waves: torch.Tensor, n_fft: int, hop_length: int,
                      win_length: int | None = None) -> torch.Tensor:
    """|STFT|^2 of a batch (B, S) -> (B, n_fft // 2 + 1, 1 + S // hop_length)."""
    win_length = win_length or n_fft
    spec = torch.stft(waves, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                      window=_window(win_length).to(waves.device), center=True,
                      pad_mode="constant", return_complex=True)
    return spec.real.square() + spec.imag.square()


def power_to_db(power: torch.Tensor, ref: float | str = 1.0,
                top_db: float | None = None) -> torch.Tensor:
    """10 log10 of a power spectrogram, as librosa.power_to_db, per item of the batch.

    `ref="max"` takes each item's own maximum as 0 dB (librosa's ``ref=np.max``); `top_db` clips
    each item to that many dB below its own maximum.
    """
    db = 10.0 * torch.log10(power.clamp_min(AMIN_POWER))
    if ref == "max":
        peak = power.amax(dim=tuple(range(1, power.dim())), keepdim=True)
        db = db - 10.0 * torch.log10(peak.clamp_min(AMIN_POWER))
    elif float(ref) != 1.0:
        db = db - 10.0 * math.log10(max(AMIN_POWER, float(ref)))
    if top_db is not None:
        floor = db.amax(dim=tuple(range(1, db.dim())), keepdim=True) - top_db
        db = torch.maximum(db, floor)
    return db


def logmel(waves: torch.Tensor, sample_rate: int, n_fft: int = 1024, win_length: int | None = None,
           hop_length: int = 256, n_mels: int = 128, fmin: float = 0.0,
           fmax: float | None = None, top_db: float | None = None, ref: str | float = 1.0, *,
           power: torch.Tensor | None = None) -> torch.Tensor:
    """Log-mel spectrogram in dB: (B, n_mels, T).

    `ref="max"` puts each clip's loudest bin at 0 dB, as dchung1209 did (librosa's ``ref=np.max``
    with its ``top_db=80``): the image then holds how the energy is spread, not the recording's
    absolute level. (On dchung's folds at 16 kHz it did not score higher than ``ref=1.0``: see the
    README's accuracy table.)
    `power` is this batch's `power_spectrogram` with the same n_fft, hop and window, when a
    caller extracting several kinds has it already (see `ser.features.extract.extract_all`).
    """
    fb = mel_filters(sample_rate, n_fft, n_mels, float(fmin), float(fmax or sample_rate / 2))
    if power is None:
        power = power_spectrogram(waves, n_fft, hop_length, win_length)
    return power_to_db(torch.matmul(fb.to(waves.device), power), ref=ref, top_db=top_db)


@lru_cache(maxsize=8)
def dct_ortho(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """DCT-II matrix with orthonormal scaling (n_mfcc, n_mels), as scipy.fft.dct(norm='ortho')."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    basis[0] /= math.sqrt(2.0)
    return basis.float()


def mfcc(waves: torch.Tensor, sample_rate: int, n_mfcc: int = 20, n_fft: int = 2048,
         win_length: int | None = None, hop_length: int = 512, n_mels: int = 128,
         fmin: float = 0.0, fmax: float | None = None, top_db: float | None = 80.0, *,
         power: torch.Tensor | None = None) -> torch.Tensor:
    """Mel-frequency cepstral coefficients: (B, n_mfcc, T); `power` as for `logmel`."""
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc={n_mfcc} is more than n_mels={n_mels}")
    db = logmel(waves, sample_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length,
                n_mels=n_mels, fmin=fmin, fmax=fmax, top_db=top_db, power=power)
    return torch.matmul(dct_ortho(n_mels, n_mfcc).to(waves.device), db)


def stft_db(waves: torch.Tensor, sample_rate: int, n_fft: int = 2048, hop_length: int = 512,
            win_length: int | None = None, ref: float | str = "max",
            top_db: float | None = 80.0, *, power: torch.Tensor | None = None) -> torch.Tensor:
    """STFT magnitude in dB: (B, n_fft // 2 + 1, T); `power` as for `logmel`.

    `sample_rate` is unused (uniform signature).
    """
    del sample_rate
    if power is None:
        power = power_spectrogram(waves, n_fft, hop_length, win_length)
    return power_to_db(power, ref=ref, top_db=top_db)
