"""The registry of feature kinds and `extract`, the one entry point the pipeline calls.

Every kind is a function ``(waves (B, S) float32 tensor, sample_rate, **params) -> tensor`` that
runs on whatever device `waves` is on. Parameters come from config.yaml `features.<kind>`; an
unknown key is an error rather than silently ignored, so a typo cannot produce a shard that
differs from the one the config describes. `extract_all` computes several kinds of one batch
and lets the STFT kinds that frame the signal alike share one power spectrogram (with the
config.yaml defaults, `mfcc` and `stft` do: n_fft 1024, hop 256, window 1024; `logmel` uses a
640-sample window every 160 samples, so it cannot share).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

from ser.encoders.crepe import crepe_full_frames, crepe_tiny_frames
from ser.features.functionals import FUNCTIONAL_SETS
from ser.features.ge2e_mel import ge2e_mel
from ser.features.spectral import logmel, mfcc, power_spectrogram, stft_db
from ser.features.wavelet import scalogram


def waveform(waves: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The raw waveform (B, S), for the 1-D CNNs."""
    del sample_rate
    return waves


# Arguments that the extractor supplies, never config.yaml: a key of these in `params` is unknown.
NOT_PARAMS = {"waves", "sample_rate", "power"}
SPECTRAL = ("logmel", "mfcc", "stft")

FEATURES: dict[str, Callable[..., torch.Tensor]] = {
    "waveform": waveform,
    "crepe_tiny_frames": crepe_tiny_frames,
    "crepe_full_frames": crepe_full_frames,
    "ge2e_mel": ge2e_mel,
    "logmel": logmel,
    "mfcc": mfcc,
    "stft": stft_db,
    "scalogram": scalogram,
}


def check_params(kind: str, params: dict) -> None:
    """Raise a ValueError naming the kind and the keys it does not accept.

    The openSMILE functional kinds (ser.features.functionals) take no parameters: the feature set
    is the kind; the pretrained encoders (ser.encoders) take theirs."""
    from ser.encoders import ENCODERS, encoder_params, is_encoder

    if kind in FUNCTIONAL_SETS:
        accepted = set()
    elif is_encoder(kind):
        accepted = encoder_params(kind)
    elif kind not in FEATURES:
        known = sorted([*FEATURES, *FUNCTIONAL_SETS, *ENCODERS])
        raise ValueError(f"unknown feature kind {kind!r}; known: {known}")
    else:
        accepted = set(inspect.signature(FEATURES[kind]).parameters) - NOT_PARAMS
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"feature {kind!r} does not take {unknown}; it takes {sorted(accepted)}")


def _check_waves(waves: torch.Tensor) -> None:
    if waves.dim() != 2:
        raise ValueError(f"waves must be (batch, samples), got shape {tuple(waves.shape)}")


def stft_framing(kind: str, params: dict) -> tuple[int, int, int]:
    """(n_fft, hop_length, win_length) of a spectral kind, its signature's defaults filled in."""
    defaults = {k: v.default for k, v in inspect.signature(FEATURES[kind]).parameters.items()}
    full = {**defaults, **params}
    return int(full["n_fft"]), int(full["hop_length"]), int(full["win_length"] or full["n_fft"])


def extract(kind: str, waves: torch.Tensor, sample_rate: int, params: dict) -> torch.Tensor:
    """Features of one batch of equal-length waveforms (B, S): (B, F, T), or (B, S) for waveform."""
    check_params(kind, params)
    _check_waves(waves)
    with torch.inference_mode():
        return FEATURES[kind](waves.float(), sample_rate, **params).float()


def extract_all(waves: torch.Tensor, sample_rate: int,
                features: dict[str, dict]) -> dict[str, torch.Tensor]:
    """Every kind of `features` (kind -> params, as config.yaml `features`) for one batch.

    Equal to `extract` per kind; spectral kinds with equal framing share one power spectrogram.
    """
    for kind, params in features.items():
        check_params(kind, params)
    _check_waves(waves)
    waves = waves.float()
    powers: dict[tuple[int, int, int], torch.Tensor] = {}
    out = {}
    with torch.inference_mode():
        for kind, params in features.items():
            extra = {}
            if kind in SPECTRAL:
                framing = stft_framing(kind, params)
                if framing not in powers:
                    powers[framing] = power_spectrogram(waves, *framing)
                extra["power"] = powers[framing]
            out[kind] = FEATURES[kind](waves, sample_rate, **params, **extra).float()
    return out


def extract_batches(waves: torch.Tensor, sample_rate: int, features: dict[str, dict],
                    batch_size: int = 8, workers: int | None = None) -> dict[str, torch.Tensor]:
    """`extract_all` over batches of `batch_size` items, `workers` batches at once on the CPU.

    Measured on 2 shared cores (benchmarks/README.md): torch's own intra-op threads made the
    FFTs 2 times slower than one thread (the threads synchronise at every op), and batches of 60
    items ran 2 to 3 times slower than batches of 8 (the intermediates left the cache). So each
    worker thread runs whole small batches single-threaded; torch releases the GIL in its ops.
    `workers` defaults to torch's thread count, which is restored afterwards.
    """
    _check_waves(waves)
    starts = range(0, waves.shape[0], batch_size)

    def one(start: int) -> dict[str, torch.Tensor]:
        return extract_all(waves[start:start + batch_size], sample_rate, features)

    threads = torch.get_num_threads()
    workers = 1 if waves.device.type != "cpu" else (workers or threads)
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            parts = list(pool.map(one, starts))
    finally:
        torch.set_num_threads(threads)
    return {kind: torch.cat([p[kind] for p in parts]) for kind in features}
