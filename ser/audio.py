"""Decoding audio files into mono float32 waveforms at the pipeline's sample rate.

Everything is decoded with soundfile (libsndfile): torchaudio's own loader needs an FFmpeg build
that clusters often lack. Integer PCM (8/16/24/32 bit) and float WAV, and FLAC, are accepted.

Silent files are not an error here: a recording of digital silence decodes to zeros like any other
and it is for the feature extractors (which floor their logarithms) to cope with it. Files that
cannot be decoded, hold no samples, were cut short or hold non-finite samples are errors naming the
file, because training on half a recording would go unnoticed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ser.io import short_error

# libsndfile notes a WAV whose data chunk claims more bytes than the file holds as
# "data : 32000 (should be 15978)" in its log and then silently reads the shorter data.
_SHORT_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_TAIL_FRAMES = 256


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class AudioHeader:
    """What the file's header says, checked against what the file really holds."""

    sample_rate: int
    channels: int
    n_frames: int
    subtype: str

    @property
    def duration(self) -> float:
        return self.n_frames / self.sample_rate


@dataclass(frozen=True)
class LoadInfo:
    """How a file was turned into the returned waveform."""

    source_rate: int
    channels: int
    downmixed: bool
    resampled: bool


def probe_audio(path: str | Path) -> AudioHeader:
    """Read the header and make sure the whole file is there (not empty, not truncated)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"not a readable audio file ({short_error(err)})") from err
    if info.frames <= 0:
        raise AudioError(path, "holds no audio samples")
    short = _SHORT_CHUNK.search(info.extra_info or "")
    if short and int(short.group(2)) < int(short.group(1)):
        raise AudioError(
            path,
            f"truncated: the header promises {short.group(1)} data bytes, "
            f"the file holds {short.group(2)}",
        )
    _check_tail(path, info.frames)
    return AudioHeader(int(info.samplerate), int(info.channels), int(info.frames), info.subtype)


def _check_tail(path: Path, n_frames: int) -> None:
    # Compressed formats (FLAC) only fail once the decoder reaches the missing part, so read the
    # last frames the header promises.
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(max(0, n_frames - _TAIL_FRAMES))
            got = len(f.read(_TAIL_FRAMES))
    except (sf.LibsndfileError, RuntimeError) as err:
        reason = f"truncated or corrupt: cannot decode its end ({short_error(err)})"
        raise AudioError(path, reason) from err
    if got < min(_TAIL_FRAMES, n_frames):
        raise AudioError(path, f"truncated: the header promises {n_frames} frames")


def load_audio(
    path: str | Path, sample_rate: int, return_info: bool = False
) -> np.ndarray | tuple[np.ndarray, LoadInfo]:
    """Decode a file to a mono float32 waveform at `sample_rate`.

    Stereo is downmixed by averaging the channels (RAVDESS has a few stereo files whose channels
    are the same microphone). With `return_info` a `LoadInfo` says whether it was downmixed or
    resampled.
    """
    path = Path(path)
    header = probe_audio(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"cannot decode ({short_error(err)})") from err
    if data.shape[0] == 0:
        raise AudioError(path, "holds no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(path, "holds NaN or infinite samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    resampled = rate != sample_rate
    if resampled:
        # imported here: the metadata and folds jobs (and Snakemake's DAG) need no torch
        import torch
        import torchaudio.functional as AF

        wave = AF.resample(torch.from_numpy(np.ascontiguousarray(wave)), rate, sample_rate).numpy()
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if not return_info:
        return wave
    return wave, LoadInfo(int(rate), header.channels, data.shape[1] > 1, resampled)


def clip_window(wave: np.ndarray, sample_rate: int, offset: float, duration: float) -> np.ndarray:
    """`duration` seconds from `offset` on, shorter when the clip ends first (never padded)."""
    start = int(round(offset * sample_rate))
    return wave[start:start + int(round(duration * sample_rate))]


def fix_length(x: np.ndarray, sample_rate: int, offset: float, duration: float) -> np.ndarray:
    """Skip `offset` seconds, keep `duration` seconds, zero-pad the end when the file is shorter.

    An offset past the end of the file gives silence rather than an error: the RAVDESS recordings
    vary in length and a fixed window is what every model of the comparison uses.
    """
    if offset < 0 or duration <= 0:
        raise ValueError(f"offset must be >= 0 and duration > 0, got {offset} and {duration}")
    start = int(round(offset * sample_rate))
    n = int(round(duration * sample_rate))
    kept = np.asarray(x, dtype=np.float32)[start : start + n]
    out = np.zeros(n, dtype=np.float32)
    out[: len(kept)] = kept
    return out
