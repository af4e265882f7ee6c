"""Awkward inputs to the data layer, built from real RAVDESS recordings.

Each case asserts the specific outcome: either the file is used (and how), or the error names the
offending file and says why.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.audio import AudioError, load_audio
from ser.data.ravdess import CorpusError, scan_corpus, skipped_files

STEM = "03-01-05-02-01-01-05"  # angry, strong, actor 5


@pytest.fixture(scope="module")
def real_wave(ravdess16k: Path) -> np.ndarray:
    return sf.read(str(ravdess16k / "Actor_05" / f"{STEM}.flac"), dtype="float64")[0]


def _small_corpus(ravdess16k: Path, root: Path, actors=(1, 2), per_actor: int = 2) -> Path:
    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for f in sorted((ravdess16k / f"Actor_{actor:02d}").glob("*.flac"))[:per_actor]:
            shutil.copy(f, folder / f.name)
    return root


def _scan_problems(root: Path, **kwargs) -> dict[str, str]:
    with pytest.raises(CorpusError) as err:
        scan_corpus(root, **kwargs)
    problems = dict(err.value.problems)
    for where, reason in problems.items():
        assert f"{where}: {reason}" in str(err.value)
    return problems


def _write_wav(path: Path, wave: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, rate, subtype=subtype, format="WAV")
    return path


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_truncated_file(ravdess16k, real_wave, tmp_path, suffix):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    path = root / "Actor_05" / f"{STEM}{suffix}"
    path.parent.mkdir()
    if suffix == ".wav":
        _write_wav(path, real_wave)
    else:
        shutil.copy(ravdess16k / "Actor_05" / path.name, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    problems = _scan_problems(root)
    assert list(problems) == [str(path)] and "truncated" in problems[str(path)]
    with pytest.raises(AudioError, match=rf"{path.name}: truncated"):
        load_audio(path, 16000)


def test_zero_length_file(ravdess16k, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    empty = root / "Actor_01" / "03-01-03-01-01-01-01.wav"
    empty.touch()
    assert _scan_problems(root) == {str(empty): "empty file (0 bytes)"}
    with pytest.raises(AudioError, match=r"03-01-03-01-01-01-01\.wav: empty file"):
        load_audio(empty, 16000)


def test_not_audio_despite_suffix(ravdess16k, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    fake = root / "Actor_02" / "03-01-03-01-01-01-02.wav"
    fake.write_text("this is not a wav file")
    problems = _scan_problems(root)
    assert problems[str(fake)].startswith("not a readable audio file")


def test_silent_file_is_accepted(ravdess16k, tmp_path):
    """Digital silence is valid audio: it loads as zeros and is kept (features floor their logs)."""
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    silent = _write_wav(root / "Actor_01" / "03-01-04-01-01-01-01.wav", np.zeros(32000))
    df = scan_corpus(root)
    assert silent.stem in set(df["file"]) and len(df) == 5
    wave = load_audio(silent, 16000)
    assert wave.shape == (32000,) and not wave.any()


@pytest.mark.parametrize(
    "subtype, tolerance",
    [("PCM_U8", 1e-2), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-6), ("FLOAT", 1e-7), ("DOUBLE", 1e-7)],
)
def test_sample_formats(real_wave, tmp_path, subtype, tolerance):
    path = _write_wav(tmp_path / "Actor_05" / f"{STEM}.wav", real_wave, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype
    wave = load_audio(path, 16000)
    assert wave.dtype == np.float32 and len(wave) == len(real_wave)
    assert np.abs(wave - real_wave).max() < tolerance
    assert scan_corpus(tmp_path)["n_frames"].tolist() == [len(real_wave)]


def test_non_finite_float_wav(real_wave, tmp_path):
    broken = real_wave.astype(np.float32)
    broken[100] = np.nan
    path = _write_wav(tmp_path / f"{STEM}.wav", broken, subtype="FLOAT")
    with pytest.raises(AudioError, match=rf"{STEM}\.wav: holds NaN or infinite samples"):
        load_audio(path, 16000)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_sample_rates(real_wave, tmp_path, rate):
    import torch
    import torchaudio.functional as AF

    resampled = AF.resample(torch.from_numpy(real_wave), 16000, rate).numpy()
    path = _write_wav(tmp_path / "Actor_05" / f"{STEM}.wav", resampled, rate=rate, subtype="FLOAT")
    row = scan_corpus(tmp_path).iloc[0]
    assert row["sample_rate"] == rate and row["duration"] == pytest.approx(len(real_wave) / 16000, abs=1e-3)
    wave, info = load_audio(path, 16000, return_info=True)
    assert info.resampled and info.source_rate == rate
    assert abs(len(wave) - len(real_wave)) <= 1


def test_stereo_is_downmixed_and_said_so(real_wave, tmp_path):
    stereo = np.stack([real_wave, 0.5 * real_wave], axis=1)
    path = _write_wav(tmp_path / "Actor_05" / f"{STEM}.wav", stereo, subtype="FLOAT")
    assert scan_corpus(tmp_path)["channels"].tolist() == [2]
    wave, info = load_audio(path, 16000, return_info=True)
    assert info.downmixed and info.channels == 2
    np.testing.assert_allclose(wave, 0.75 * real_wave, atol=1e-6)
    assert not load_audio(path, 16000, return_info=True)[1].resampled


def test_not_a_ravdess_name(ravdess16k, real_wave, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    path = _write_wav(root / "Actor_01" / "take2.wav", real_wave)
    problems = _scan_problems(root)
    assert list(problems) == [str(path)] and "not a RAVDESS name" in problems[str(path)]


@pytest.mark.parametrize("name, kind", [("03-02-05-01-01-01-01.wav", "song"),
                                        ("01-01-05-01-01-01-01.wav", "audio-video"),
                                        ("02-01-05-01-01-01-01.wav", "video-only")])
def test_the_release_s_other_files_are_skipped_not_mixed_in(ravdess16k, real_wave, tmp_path,
                                                             name, kind):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    _write_wav(root / "Actor_01" / name, real_wave)
    assert Path(name).stem not in set(scan_corpus(root)["file"])
    assert len(scan_corpus(root)) == 4
    assert skipped_files(root) == {kind: 1}


def test_same_file_in_two_folders(ravdess16k, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    first = next((root / "Actor_01").iterdir())
    copy = root / "backup" / first.name
    copy.parent.mkdir()
    shutil.copy(first, copy)
    problems = _scan_problems(root)
    assert set(problems) == {str(first), str(copy)}
    assert str(copy) in problems[str(first)] and str(first) in problems[str(copy)]


def test_missing_actors_listed(ravdess16k, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio", actors=(1, 2, 3))
    problems = _scan_problems(root, actors=[1, 2, 3, 7, 12])
    assert set(problems) == {"Actor_07", "Actor_12"}
    assert all("no files of it were found" in r for r in problems.values())
    assert sorted(scan_corpus(root, actors=[1, 3])["actor"].unique()) == [1, 3]


def test_kaggle_nested_layout(ravdess16k, tmp_path):
    nested = _small_corpus(ravdess16k, tmp_path / "kaggle" / "audio_speech_actors_01-24", actors=(1, 2, 3))
    (nested.parent / "README.md").write_text("downloaded from kaggle")
    (nested / "Actor_01" / ".DS_Store").write_bytes(b"\0\1")
    (nested / "Actor_01" / f"._{STEM}.wav").write_bytes(b"\0\1")  # macOS resource fork
    df = scan_corpus(tmp_path / "kaggle")
    assert len(df) == 6 and sorted(df["actor"].unique()) == [1, 2, 3]
    assert all(Path(p).parent.parent == nested for p in df["path"])


def test_upper_case_suffixes(ravdess16k, real_wave, tmp_path):
    _write_wav(tmp_path / "Actor_05" / f"{STEM}.WAV", real_wave)
    src = ravdess16k / "Actor_06" / "03-01-02-01-01-01-06.flac"
    (tmp_path / "Actor_06").mkdir()
    shutil.copy(src, tmp_path / "Actor_06" / "03-01-02-01-01-01-06.FLAC")
    assert scan_corpus(tmp_path)["file"].tolist() == [STEM, "03-01-02-01-01-01-06"]


def test_file_in_the_wrong_actor_folder(ravdess16k, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    moved = root / "Actor_02" / f"{STEM}.flac"
    shutil.copy(ravdess16k / "Actor_05" / moved.name, moved)
    assert _scan_problems(root) == {str(moved): "actor 05 in the name, but the file is in Actor_02"}


def test_links_outside_the_folder_are_followed(ravdess16k, tmp_path):
    """A corpus assembled from links into a read-only copy elsewhere reads the files they name."""
    root = _small_corpus(ravdess16k, tmp_path / "audio")
    outside = ravdess16k / "Actor_05" / f"{STEM}.flac"
    (root / "Actor_05").mkdir()
    os.symlink(outside, root / "Actor_05" / outside.name)
    os.symlink(ravdess16k / "Actor_06", root / "Actor_06")
    df = scan_corpus(root)
    assert sorted(df["actor"].unique()) == [1, 2, 5, 6]
    assert (df["actor"] == 6).sum() == 60 and STEM in set(df["file"])


def test_symlink_inside_the_folder_is_followed(ravdess16k, tmp_path):
    root = _small_corpus(ravdess16k, tmp_path / "audio", actors=(1,))
    spare = root / "spare"
    spare.mkdir()
    target = spare / f"{STEM}.flac"
    shutil.copy(ravdess16k / "Actor_05" / target.name, target)
    (root / "Actor_05").mkdir()
    os.symlink(target, root / "Actor_05" / target.name)
    problems = _scan_problems(root)  # the link and its target are the same recording twice
    assert set(problems) == {str(target), str(root / "Actor_05" / target.name)}
