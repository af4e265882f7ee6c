"""Decoding real RAVDESS files: mono/stereo, resampling, fixed-length windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.audio import AudioError, fix_length, load_audio, probe_audio


def _stereo_files(ravdess16k: Path) -> list[Path]:
    return [f for f in sorted(ravdess16k.rglob("*.flac")) if sf.info(str(f)).channels == 2]


@pytest.fixture(scope="module")
def mono_file(ravdess16k: Path) -> Path:
    return ravdess16k / "Actor_05" / "03-01-05-02-01-01-05.flac"


def test_real_mono_file_decodes_exactly(mono_file: Path):
    wave, info = load_audio(mono_file, 16000, return_info=True)
    reference, rate = sf.read(str(mono_file), dtype="float32")
    assert rate == 16000 and wave.dtype == np.float32
    np.testing.assert_array_equal(wave, reference)
    assert not info.downmixed and not info.resampled and info.channels == 1


def test_real_stereo_files_are_downmixed(ravdess16k: Path):
    stereo = _stereo_files(ravdess16k)
    assert len(stereo) == 5
    for path in stereo:
        wave, info = load_audio(path, 16000, return_info=True)
        both, _ = sf.read(str(path), dtype="float32")
        assert info.downmixed and info.channels == 2 and wave.ndim == 1
        np.testing.assert_allclose(wave, both.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling(mono_file: Path, rate: int):
    original = load_audio(mono_file, 16000)
    wave, info = load_audio(mono_file, rate, return_info=True)
    assert info.resampled and info.source_rate == 16000
    assert len(wave) == int(np.ceil(len(original) * rate / 16000))
    # Loudness survives resampling (speech energy lies well below 4 kHz).
    ratio = np.sqrt(np.mean(wave**2) / np.mean(original**2))
    assert 0.9 < ratio < 1.1


def test_probe_matches_header(mono_file: Path):
    header = probe_audio(mono_file)
    info = sf.info(str(mono_file))
    assert (header.sample_rate, header.channels, header.n_frames) == (16000, 1, info.frames)
    assert header.duration == pytest.approx(info.duration)


def test_missing_file_named(tmp_path: Path):
    with pytest.raises(AudioError, match=r"gone\.flac: no such file"):
        load_audio(tmp_path / "gone.flac", 16000)


def test_fix_length_crops_and_pads(mono_file: Path):
    wave = load_audio(mono_file, 16000)
    window = fix_length(wave, 16000, offset=0.5, duration=1.0)
    np.testing.assert_array_equal(window, wave[8000:24000])
    long = fix_length(wave, 16000, offset=0.0, duration=10.0)
    assert len(long) == 160000 and np.array_equal(long[: len(wave)], wave)
    assert not long[len(wave):].any()
    assert not fix_length(wave, 16000, offset=100.0, duration=1.0).any()


def test_fix_length_rejects_bad_window():
    with pytest.raises(ValueError, match="offset must be >= 0"):
        fix_length(np.zeros(10), 16000, offset=-1, duration=1)
    with pytest.raises(ValueError, match="duration > 0"):
        fix_length(np.zeros(10), 16000, offset=0, duration=0)
