"""Scoring one recording: its speech found first (ser.use.speech), then class probabilities of
the windows the model was trained on, over speech only.

A clip (at most `LONG_SECONDS`) is decoded whole and cut into windows as the features rule cut
the training clips: one no longer than the window is treated exactly as they were (cut or
zero-padded from the offset, or stretched), a longer one is scored in windows of that length
every `hop` of a window, the last ending at the recording's end. A window with less than
`MIN_SPEECH_S` of speech gets no probabilities and stays out of the file's mean, and a clip
without speech gets none at all.

A longer recording (or any with `timeline`) is read in blocks and scored stretch by stretch of
speech, each stretch as a clip of its own; the file's probabilities are the stretches' mean
weighted by their length. Memory holds one block and the open stretch, whatever the length.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser.audio import AudioError, audio_seconds, fix_length, load_audio, stream_audio
from ser.use.speech import MIN_SPEECH_S, SpeechTracker, speech_seconds, speech_stretches
from ser.use.trained import FusionTrained, LinearTrained, TrainedModel

# Shorter recordings are refused rather than padded into a window of near silence: 0.5 s holds
# about one word, and the shortest RAVDESS clip lasts about 3 s.
MIN_SECONDS = 0.5
LONG_SECONDS = 120.0
BATCH = 32


@dataclass
class FileScore:
    """A file's probabilities (None: no speech), its length and seconds of speech, and each
    window's or stretch's (start s, end s, seconds of speech, probabilities or None)."""

    path: Path
    probs: np.ndarray | None
    windows: list[tuple[float, float, float, np.ndarray | None]]
    seconds: float
    speech: float
    timeline: bool = False


def windows(wave: np.ndarray, trained: TrainedModel | LinearTrained, hop: float = 0.5,
            offset: float | None = None) -> list[tuple[int, np.ndarray]]:
    """(start sample, window) pairs covering the recording from the model's offset (or
    `offset` seconds: 0 for a stretch of speech)."""
    pre, sr, n = trained.preprocessing, trained.sample_rate, trained.window_samples
    offset = pre["offset"] if offset is None else offset
    start = int(round(offset * sr))
    body = wave[start:]
    stretched = any(made["stretch_frames"] for made in pre["features"].values())
    if len(body) <= n:
        # as the features rule cut the training clips: whole (stretched), unpadded (functionals,
        # encoders) or cut or zero-padded
        window = body if stretched or trained.unpadded else \
            fix_length(wave, sr, offset, pre["duration"])
        return [(start, window)]
    step = max(1, int(round(n * hop)))
    starts = list(range(0, len(body) - n + 1, step))
    if starts[-1] + n < len(body):
        starts.append(len(body) - n)
    return [(start + s, body[s:s + n]) for s in starts]


def probabilities(trained: TrainedModel | LinearTrained, parts: list[np.ndarray]) -> np.ndarray:
    """(windows, classes) probabilities, `BATCH` windows at a time."""
    return np.concatenate([trained.probabilities(parts[i:i + BATCH])
                           for i in range(0, len(parts), BATCH)])


def _check_length(path: Path, seconds: float, trained, min_seconds: float) -> None:
    if seconds < min_seconds:
        raise AudioError(path, f"too short: {seconds:.2f} s, below the {min_seconds:g} s minimum")
    offset = trained.preprocessing["offset"]
    if seconds <= offset:
        raise AudioError(path, f"nothing after the model's offset of {offset:g} s "
                               f"(the recording lasts {seconds:.2f} s)")


def clip_windows(path: Path, trained: TrainedModel | LinearTrained, hop: float,
                 min_seconds: float
                 ) -> tuple[list[tuple[float, float, float, np.ndarray]], float, float]:
    """The windows of a clip with their speech, (start s, end s, speech s, window), its length
    and its seconds of speech: what `score_clips` scores."""
    sr = trained.sample_rate
    wave = load_audio(path, sr)
    _check_length(path, len(wave) / sr, trained, min_seconds)
    stretches = speech_stretches(wave, sr)
    out = []
    for s, w in windows(wave, trained, hop):
        end = min(s + len(w), len(wave))
        out.append((s / sr, end / sr, speech_seconds(stretches, s, end, sr), w))
    return out, len(wave) / sr, speech_seconds(stretches, 0, len(wave), sr)


def score_clips(paths: list[Path], trained: TrainedModel | LinearTrained, hop: float,
                min_seconds: float) -> tuple[list[FileScore], list[tuple[str, str]]]:
    """Scores of several clips, their speech windows batched together."""
    cut, failed = [], []
    for path in paths:
        try:
            cut.append((path, *clip_windows(path, trained, hop, min_seconds)))
        except AudioError as err:
            failed.append((str(path), err.reason))
    spoken = [w[3] for _, parts, *_ in cut for w in parts if w[2] >= MIN_SPEECH_S]
    probs = iter(probabilities(trained, spoken) if spoken else [])
    scores = []
    for path, parts, seconds, speech in cut:
        rows = [(a, b, s, next(probs) if s >= MIN_SPEECH_S else None) for a, b, s, _ in parts]
        scored = [p for *_, p in rows if p is not None]
        scores.append(FileScore(path, np.mean(scored, 0) if scored else None, rows, seconds,
                                speech))
    return scores, failed


def wave_probs(wave: np.ndarray, rate: int, trained, hop: float) -> np.ndarray:
    """Mean probabilities of a stretch of speech at `rate` (a fusion: each member's at its own
    rate, then their weighted average)."""
    if isinstance(trained, FusionTrained):
        return trained.fuse([wave_probs(_at(wave, rate, m.sample_rate), m.sample_rate, m, hop)
                             for _, _, m in trained.members])
    return probabilities(trained, [w for _, w in windows(wave, trained, hop, 0.0)]).mean(0)


def _at(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wave
    import soxr

    return soxr.resample(wave, rate, target).astype(np.float32)


def lead(trained) -> TrainedModel | LinearTrained:
    """The model whose rate a long recording is decoded at: itself, or a fusion's first
    member."""
    return trained.members[0][2] if isinstance(trained, FusionTrained) else trained


def score_timeline(path: Path, trained, hop: float = 0.5, min_seconds: float = MIN_SECONDS,
                   progress=None) -> FileScore:
    """Stretch by stretch of speech, read in blocks; `progress(seconds)` after each block."""
    sr = lead(trained).sample_rate
    seconds = audio_seconds(path)
    _check_length(path, seconds, lead(trained), min_seconds)
    tracker, buffer, first = SpeechTracker(sr), np.zeros(0, np.float32), 0
    rows = []

    def score(stretches) -> None:
        for st in stretches:
            wave = buffer[st.start - first:st.end - first]
            rows.append((st.start / sr, st.end / sr, len(wave) / sr,
                         wave_probs(wave, sr, trained, hop)))

    for block in stream_audio(path, sr):
        buffer = np.concatenate([buffer, block])
        score(tracker.feed(block))
        keep = tracker.keep_from()
        buffer, first = buffer[max(0, keep - first):], max(first, keep)
        if progress:
            progress(len(block) / sr)
    score(tracker.feed(np.zeros(0, np.float32), last=True))
    weights = np.array([r[2] for r in rows])
    probs = (np.average([r[3] for r in rows], axis=0, weights=weights) if rows else None)
    return FileScore(path, probs, rows, seconds, float(weights.sum()), timeline=True)


def fused_score(path: Path, fusion: FusionTrained, hop: float = 0.5,
                min_seconds: float = MIN_SECONDS) -> FileScore:
    """A fusion's probabilities of one clip: each member scores it its own way (as the fuse
    rule's members scored a fold's files), then their weighted average. One window, the whole
    recording: the members' windows differ."""
    scores = [score_clips([path], m, hop, min_seconds) for _, _, m in fusion.members]
    for found, failed in scores:
        if failed:
            raise AudioError(path, failed[0][1])
    files = [found[0] for found, _ in scores]
    end = max(s.windows[-1][1] for s in files)
    speech = max(s.speech for s in files)
    if any(s.probs is None for s in files):
        return FileScore(path, None, [(0.0, end, speech, None)], end, speech)
    probs = fusion.fuse([s.probs for s in files])
    return FileScore(path, probs, [(0.0, end, speech, probs)], end, speech)
