"""Speech found in silence (ser.use.speech) on real RAVDESS utterances, long recordings read in
blocks, and a recording without speech scored as such (issue 45)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import REPO
from ser.audio import load_audio, stream_audio
from ser.use.speech import SpeechTracker, speech_stretches

SR = 16000
GAP_S = 1.5


def trimmed(path: Path) -> np.ndarray:
    """The utterance of a release file without its leading and trailing near-silence (30 dB
    below its peak): the truth the detector is checked against."""
    import librosa

    wave, _ = librosa.effects.trim(load_audio(path, SR), top_db=30)
    return wave


def spoken_recording(files: list[Path]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """1 s of digital silence, then each utterance followed by `GAP_S` of silence; and where
    each utterance lies (start s, end s)."""
    parts, truth, t = [np.zeros(SR, np.float32)], [], 1.0
    for path in files:
        wave = trimmed(path)
        truth.append((t, t + len(wave) / SR))
        parts += [wave, np.zeros(int(GAP_S * SR), np.float32)]
        t += len(wave) / SR + GAP_S
    return np.concatenate(parts), truth


@pytest.fixture(scope="module")
def utterances(ravdess16k: Path) -> list[Path]:
    return sorted((ravdess16k / "Actor_05").glob("03-01-0*-02-01-01-05.flac"))[:4]


def test_each_utterance_is_one_stretch_within_a_fifth_of_a_second(utterances):
    wave, truth = spoken_recording(utterances)
    found = [(s.start / SR, s.end / SR) for s in speech_stretches(wave, SR)]
    assert len(found) == len(truth)
    worst = max(max(abs(a - ta), abs(b - tb)) for (a, b), (ta, tb) in zip(found, truth))
    assert worst < 0.2, (found, truth)


def test_blocks_give_the_stretches_of_the_whole_recording(utterances, tmp_path):
    """Fed in blocks of 0.7 s from a 48 kHz stereo file, as a long recording is read."""
    import soxr

    wave, _ = spoken_recording(utterances)
    loud = soxr.resample(wave, SR, 48000)
    sf.write(tmp_path / "r.wav", np.stack([loud, loud], axis=1), 48000)
    tracker = SpeechTracker(SR)
    blocks = list(stream_audio(tmp_path / "r.wav", SR, block_seconds=0.7))
    found = [s for b in blocks for s in tracker.feed(b)] + tracker.feed(np.zeros(0), last=True)
    whole = speech_stretches(np.concatenate(blocks), SR)
    assert len(blocks) > 20 and found == whole
    assert abs(sum(map(len, blocks)) - len(wave)) <= 2


def test_digital_silence_and_quiet_noise_hold_no_speech():
    rng = np.random.default_rng(0)
    assert speech_stretches(np.zeros(3 * SR, np.float32), SR) == []
    hiss = (1e-4 * rng.standard_normal(3 * SR)).astype(np.float32)
    assert speech_stretches(hiss, SR) == []


def test_a_silent_file_gets_a_no_speech_row_and_the_others_their_scores(utterances, tmp_path):
    from ser.use.export_torch import fresh_model
    from ser.use.predict import NO_SPEECH, predict_files, score_table

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    trained = fresh_model("kaggle_cnn1d", config["features"], config["audio"])
    sf.write(tmp_path / "silence.wav", np.zeros(3 * SR, np.float32), SR)
    paths = [tmp_path / "silence.wav", *utterances[:2]]
    scores, failed = predict_files(paths, trained, progress=False)
    table = score_table(scores, trained.classes)
    assert failed == [] and table["file"].tolist() == list(map(str, paths))
    assert table["top_class"].tolist()[0] == NO_SPEECH
    assert table.iloc[0].filter(regex="^p_").isna().all()
    assert NO_SPEECH not in table["top_class"].tolist()[1:]
    assert np.allclose(table.iloc[1:].filter(regex="^p_").sum(axis=1), 1, atol=1e-5)
    assert table["speech_s"].iloc[0] == 0 and (table["speech_s"].iloc[1:] > 1).all()
