"""Decoding audio files into mono float32 waveforms at the pipeline's sample rate.

Everything is decoded with soundfile (libsndfile): torchaudio's own loader needs an FFmpeg build
that clusters often lack. Integer PCM (8/16/24/32 bit) and float WAV, and FLAC, are accepted (and
MP3, Ogg Vorbis and Opus). Containers libsndfile cannot read (AAC in .m4a from phones, .mp4,
.webm ...) are decoded by PyAV, whose wheel carries its own FFmpeg. `stream_audio` reads a long
recording in blocks, resampled on the way, so that its length does not set the memory it takes.

Silent files are not an error here: a recording of digital silence decodes to zeros like any other
and it is for the feature extractors (which floor their logarithms) to cope with it. Files that
cannot be decoded, hold no samples, were cut short or hold non-finite samples are errors naming the
file, because training on half a recording would go unnoticed.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ser.io import short_error

# libsndfile notes a WAV whose data chunk claims more bytes than the file holds as
# "data : 32000 (should be 15978)" in its log and then silently reads the shorter data.
_SHORT_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_TAIL_FRAMES = 256
AV_SUFFIXES = {".m4a", ".m4b", ".aac", ".mp4", ".3gp", ".webm", ".mka", ".mkv", ".wma", ".amr"}
CONVERT = "convert it to WAV or FLAC first, e.g. `ffmpeg -i {name} {stem}.wav`"


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
    if path.suffix.lower() in AV_SUFFIXES:
        return _probe_av(path)
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
        if path.suffix.lower() in AV_SUFFIXES:
            data, rate = np.concatenate(list(_av_blocks(path)) or [np.zeros((0, 1))]), \
                header.sample_rate
        else:
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


def _open_av(path: Path):
    try:
        import av
    except ImportError as err:  # a site without the wheel: say what to do instead
        raise AudioError(path, f"{path.suffix} needs PyAV (pip install av); or "
                               + CONVERT.format(name=path.name, stem=path.stem)) from err
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise AudioError(path, f"not a readable audio file ({short_error(err)})") from err
    if not container.streams.audio:
        container.close()
        raise AudioError(path, "holds no audio stream")
    return container


def _probe_av(path: Path) -> AudioHeader:
    with _open_av(path) as container:
        stream = container.streams.audio[0]
        seconds = (float(stream.duration * stream.time_base) if stream.duration
                   else (container.duration or 0) / 1e6)
        rate = int(stream.rate)
        if seconds <= 0:
            raise AudioError(path, "holds no audio samples")
        return AudioHeader(rate, int(stream.channels), int(round(seconds * rate)),
                           stream.codec_context.name)


def _av_blocks(path: Path) -> Iterator[np.ndarray]:
    """(samples, channels) float32 blocks of a container's first audio stream."""
    import av

    with _open_av(path) as container:
        try:
            for frame in container.decode(container.streams.audio[0]):
                data = frame.to_ndarray()  # (channels, n) planar or (1, n * channels) packed
                if not frame.format.is_planar:
                    data = data.reshape(-1, len(frame.layout.channels)).T
                yield data.T.astype(np.float32, copy=False)
        except av.FFmpegError as err:
            raise AudioError(path, f"cannot decode ({short_error(err)})") from err


def _joined(blocks: Iterator[np.ndarray], frames: int) -> Iterator[np.ndarray]:
    parts, n = [], 0
    for block in blocks:
        parts.append(block)
        n += len(block)
        if n >= frames:
            yield np.concatenate(parts)
            parts, n = [], 0
    if parts:
        yield np.concatenate(parts)


def audio_seconds(path: str | Path) -> float:
    """The recording's length, from its header (after checking the file is whole)."""
    return probe_audio(path).duration


def stream_audio(path: str | Path, sample_rate: int, block_seconds: float = 30.0
                 ) -> Iterator[np.ndarray]:
    """A recording as mono float32 blocks of about `block_seconds` at `sample_rate`, decoded and
    resampled (soxr, streaming) block by block; AudioError names the file when it cannot."""
    path = Path(path)
    header = probe_audio(path)
    rate = header.sample_rate
    frames = max(1, int(block_seconds * rate))
    if path.suffix.lower() in AV_SUFFIXES:  # frames of ~1,024 samples, joined into blocks
        blocks = _joined(_av_blocks(path), frames)
    else:
        blocks = sf.blocks(str(path), blocksize=frames, dtype="float32", always_2d=True)
    resampler = None
    if rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    try:
        for block in blocks:
            if not np.isfinite(block).all():
                raise AudioError(path, "holds NaN or infinite samples")
            mono = np.ascontiguousarray(block.mean(axis=1), dtype=np.float32)
            yield mono if resampler is None else resampler.resample_chunk(mono)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"cannot decode ({short_error(err)})") from err
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
