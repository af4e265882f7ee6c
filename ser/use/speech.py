"""Where a recording holds speech: WebRTC's voice activity detector (webrtcvad, installed with
resemblyzer) on 30 ms frames, its voiced frames joined into stretches of speech.

A pause shorter than `MAX_PAUSE_S` stays inside a stretch (the gaps between words), and a voiced
run shorter than `MIN_SPEECH_S` is a click or a breath, not speech. The detector misses the
quiet onsets and fading ends of words, so each stretch's edges then move (by up to `EDGE_S`) to
where the frames' energy falls `EDGE_DB` below the stretch's loudest frame. Checked on the real
corpus: four RAVDESS utterances (trimmed at 30 dB below their peak) placed 1.5 s apart in
digital silence give four stretches in 58 random draws of 60, 98 % of their boundaries within
0.2 s of the utterances' (97 % without the energy edges; aggressiveness 2: 3 splits or loses
quiet utterances, 1 keeps more noise).

`SpeechTracker` takes a recording block by block and gives each stretch as soon as the silence
after it is long enough, so a long recording never has to be in memory at once; a stretch that
reaches `MAX_STRETCH_S` is closed there and the next one starts at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.03
MODE = 2
MAX_PAUSE_S = 0.5
MIN_SPEECH_S = 0.25
MAX_STRETCH_S = 60.0
EDGE_DB = 35.0
EDGE_S = 0.3
VAD_RATES = (8000, 16000, 32000, 48000)


@dataclass(frozen=True)
class Stretch:
    """A stretch of speech: first and last sample (end exclusive) at the tracker's rate."""

    start: int
    end: int


class SpeechTracker:
    """Stretches of speech of audio fed in blocks at `rate` (mono float32)."""

    def __init__(self, rate: int, mode: int = MODE):
        import webrtcvad

        self.rate = rate
        self.vad = webrtcvad.Vad(mode)
        self.vad_rate = rate if rate in VAD_RATES else 16000
        self.resampler = None
        if self.vad_rate != rate:
            import soxr

            self.resampler = soxr.ResampleStream(rate, self.vad_rate, 1, dtype="float32")
        self.frame = int(round(FRAME_S * self.vad_rate))
        self.carry = np.zeros(0, np.int16)
        self.n_frames = 0          # frames classified so far
        self.start: int | None = None  # first frame of the open stretch
        self.last = -1             # last voiced frame of the open stretch
        self.voiced = 0            # voiced frames of the open stretch
        self.edge = int(round(EDGE_S / FRAME_S))
        self.levels: list[float] = []  # dB of the frames from `levels_from` on
        self.levels_from = 0

    def feed(self, block: np.ndarray, last: bool = False) -> list[Stretch]:
        """The stretches that `block` closes (all that are left with `last`)."""
        if self.resampler is not None:
            block = self.resampler.resample_chunk(block, last=last)
        pcm = np.concatenate([self.carry, (np.clip(block, -1, 1) * 32767).astype(np.int16)])
        n = len(pcm) // self.frame
        self.carry = pcm[n * self.frame:]
        closed = []
        for i in range(n):
            frame = pcm[i * self.frame:(i + 1) * self.frame]
            power = np.mean(frame.astype(np.float64) ** 2)
            self.levels.append(10 * np.log10(power + 1e-10))
            closed += self._step(self.vad.is_speech(frame.tobytes(), self.vad_rate))
        if last:
            closed += self._close(self.last + 1)
        return closed

    def _step(self, voiced: bool) -> list[Stretch]:
        i, self.n_frames = self.n_frames, self.n_frames + 1
        if voiced:
            if self.start is None:
                self.start, self.voiced = i, 0
            self.last, self.voiced = i, self.voiced + 1
            if (i + 1 - self.start) * FRAME_S >= MAX_STRETCH_S:
                return self._close(i + 1)
        elif self.start is not None and (i - self.last) * FRAME_S >= MAX_PAUSE_S:
            return self._close(self.last + 1)
        if self.start is None and len(self.levels) > 2 * self.edge:  # only the last few kept
            drop = len(self.levels) - self.edge
            self.levels, self.levels_from = self.levels[drop:], self.levels_from + drop
        return []

    def _close(self, end_frame: int) -> list[Stretch]:
        start, voiced, self.start = self.start, self.voiced, None
        if start is None or voiced * FRAME_S < MIN_SPEECH_S:
            return []
        start, end_frame = self._edges(start, end_frame)
        scale = self.rate * FRAME_S
        return [Stretch(int(round(start * scale)), int(round(end_frame * scale)))]

    def _edges(self, start: int, end: int) -> tuple[int, int]:
        """The stretch's frames moved to where the energy is within EDGE_DB of its peak."""
        def level(i: int) -> float:
            return self.levels[i - self.levels_from]

        floor = max(level(i) for i in range(start, end)) - EDGE_DB
        known = range(max(self.levels_from, start - self.edge),
                      min(self.n_frames, end + self.edge))
        while start - 1 in known and start > known.start and level(start - 1) > floor:
            start -= 1
        while end in known and level(end) > floor:
            end += 1
        while end - start > 1 and level(end - 1) <= floor:
            end -= 1
        while end - start > 1 and level(start) <= floor:
            start += 1
        return start, end

    def keep_from(self) -> int:
        """The first sample a stretch still to come can start at: audio before it is done."""
        frame = self.start if self.start is not None else self.n_frames
        return max(0, int((frame - 1) * self.rate * FRAME_S))  # a frame early: rates round


def speech_stretches(wave: np.ndarray, rate: int) -> list[Stretch]:
    """Every stretch of speech of a whole recording."""
    return SpeechTracker(rate).feed(np.asarray(wave, np.float32), last=True)


def speech_seconds(stretches: list[Stretch], start: int, end: int, rate: int) -> float:
    """Seconds of speech between samples `start` and `end`."""
    return sum(max(0, min(end, s.end) - max(start, s.start)) for s in stretches) / rate
