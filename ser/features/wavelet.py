"""Morlet continuous wavelet transform (the scalogram) in torch through the FFT.

It reproduces ``pywt.cwt(x, scales, "morl")``: pywt integrates the Morlet wavelet
(``exp(-t^2/2) cos(5t)`` on [-8, 8], sampled at ``2**precision`` points), resamples the integral
for each scale, convolves the signal with it and takes ``-sqrt(scale) * diff`` of the result,
cropped to the centre. The difference of a convolution is the convolution with the differenced
kernel, so here every scale is one product of spectra: the differenced, centred kernel's
spectrum is computed once per (scales, length) and cached, the signal's spectrum once per batch.

The stored feature is ``|coef|`` averaged over non-overlapping frames of `hop_length` samples,
(B, n_scales, ceil(S / hop_length)). The magnitude, not the raw coefficient as the earlier
project stored: a real Morlet coefficient oscillates around zero at the scale's frequency, so the
mean of the raw coefficient over a frame is close to zero and carries no energy.

Speed: a scale's kernel is band-limited to about 10/scale rad/sample, so its coefficients are
computed on a grid decimated by a power of two `r` (dividing `hop_length`) that keeps at least
`oversample` samples per period of the highest frequency present: the decimated samples are the
exact coefficients at those instants, and only the frame mean is taken over fewer of them.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pywt
import scipy.fft
import torch

PYWT_PRECISION = 12  # pywt.cwt's default for continuous wavelets (pywt >= 1.5)
BAND_EDGE = 1e-4     # a kernel's bins below this fraction of its peak are dropped when decimating


def morlet_kernels(scales: tuple[float, ...], precision: int) -> list[np.ndarray]:
    """pywt's resampled, reversed wavelet integral for each scale, differenced (float64)."""
    int_psi, x = pywt.integrate_wavelet("morl", precision=precision)
    step = x[1] - x[0]
    kernels = []
    for scale in scales:
        j = (np.arange(scale * (x[-1] - x[0]) + 1) / (scale * step)).astype(int)
        k = int_psi[j[j < int_psi.size]][::-1]
        if k.size < 3:
            raise ValueError(f"scale {scale} is too small for the Morlet wavelet")
        kernels.append(-math.sqrt(scale) * np.diff(np.concatenate([[0.0], k, [0.0]])))
    return kernels


@lru_cache(maxsize=4)
def _plan(scales: tuple[float, ...], n_samples: int, precision: int, hop_length: int,
          oversample: float) -> tuple[int, torch.Tensor, list[tuple[int, list[int]]]]:
    """FFT length, kernel spectra (n_scales, N//2+1) complex64, and scale groups per decimation."""
    kernels = morlet_kernels(scales, precision)
    # pywt crops floor((L-2)/2) samples after its diff; the differenced kernel shifts by one more.
    offsets = [(k.size - 3) // 2 + 1 for k in kernels]
    reach = max(max(off, k.size - off) for k, off in zip(kernels, offsets))
    n_fft = scipy.fft.next_fast_len(math.ceil((n_samples + reach) / hop_length)) * hop_length
    spectra = np.empty((len(scales), n_fft // 2 + 1), dtype=np.complex128)
    groups: dict[int, list[int]] = {}
    for i, (k, off) in enumerate(zip(kernels, offsets)):
        h = np.zeros(n_fft)
        h[np.arange(k.size) - off] = k  # negative indices wrap: the kernel is centred at 0
        spectra[i] = np.fft.rfft(h)
        mag = np.abs(spectra[i])
        edge = int(np.nonzero(mag > BAND_EDGE * mag.max())[0].max()) + 1
        r = _decimation(n_fft, edge, hop_length, oversample)
        spectra[i] /= r  # irfft of length N/r normalises by r/N instead of 1/N
        groups.setdefault(r, []).append(i)
    return n_fft, torch.from_numpy(spectra.astype(np.complex64)), sorted(groups.items())


def _decimation(n_fft: int, edge_bin: int, hop_length: int, oversample: float) -> int:
    r = 1
    while (hop_length % (2 * r) == 0 and n_fft % (2 * r) == 0
           and n_fft / (2 * r) >= oversample * edge_bin * 2):
        r *= 2
    return r


def cwt_morlet(waves: torch.Tensor, scales: tuple[float, ...],
               precision: int = PYWT_PRECISION) -> torch.Tensor:
    """Full-rate Morlet CWT coefficients (B, n_scales, S), as pywt.cwt(x, scales, 'morl')[0]."""
    n = waves.shape[-1]
    n_fft, spectra, groups = _plan(tuple(scales), n, precision, 1, math.inf)
    spec = torch.fft.rfft(waves, n=n_fft)
    out = torch.fft.irfft(spec[:, None, :] * spectra.to(waves.device), n=n_fft)
    return out[..., :n]


def scalogram(waves: torch.Tensor, sample_rate: int, n_scales: int = 127, hop_length: int = 256,
              precision: int = PYWT_PRECISION, oversample: float = 4.0,
              chunk: int = 256) -> torch.Tensor:
    """Mean |Morlet CWT| over frames of `hop_length`, scales 1..n_scales: (B, n_scales, T).

    `chunk` bounds the memory: at most that many (item, scale) rows are transformed at once.
    `sample_rate` is unused (scales are in samples, as pywt's).
    """
    del sample_rate
    batch, n = waves.shape
    scales = tuple(float(s) for s in range(1, n_scales + 1))
    n_fft, spectra, groups = _plan(scales, n, precision, hop_length, float(oversample))
    spectra = spectra.to(waves.device)
    spec = torch.fft.rfft(waves, n=n_fft)
    n_frames = math.ceil(n / hop_length)
    out = waves.new_empty((batch, n_scales, n_frames))
    for r, idx in groups:
        bins = n_fft // (2 * r) + 1
        per = max(1, chunk // batch)
        for start in range(0, len(idx), per):
            sel = idx[start:start + per]
            prod = spec[:, None, :bins] * spectra[sel, :bins]
            coef = torch.fft.irfft(prod, n=n_fft // r)
            out[:, sel] = _frame_mean_abs(coef, n, r, hop_length, n_frames)
    return out


def _frame_mean_abs(coef: torch.Tensor, n: int, r: int, hop_length: int,
                    n_frames: int) -> torch.Tensor:
    """Mean |coef| of the first `n` full-rate samples over frames; the last frame may be short."""
    kept = math.ceil(n / r)
    per_frame = hop_length // r
    mag = coef[..., :kept].abs()
    mag = torch.nn.functional.pad(mag, (0, n_frames * per_frame - kept))
    sums = mag.reshape(*mag.shape[:-1], n_frames, per_frame).sum(-1)
    counts = torch.full((n_frames,), float(per_frame), device=coef.device)
    counts[-1] = kept - (n_frames - 1) * per_frame
    return sums / counts
