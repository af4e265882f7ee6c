"""Bad configuration and bad corpus sources, through the real workflow.

Every case asserts the specific message the user sees from `snakemake -n` (config errors are
caught before anything runs) or from a real run (archives are only opened by the unpack rule).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake
from ser.models import list_models

pytestmark = pytest.mark.slow  # every case starts Snakemake (a few seconds each)

BASE = {
    "ravdess": {"actors": [1, 2, 3]},
    "audio": {"duration": 3.0},
    "protocol": {"scheme": "actor_kfold", "k": 3, "n_val_actors": 1},
    "run_models": ["kaggle_cnn1d"],
}


def _config(tmp_path: Path, source: str, extra: dict) -> Path:
    cfg = {**BASE, **extra}
    cfg["ravdess"] = {**BASE["ravdess"], "source": source, **extra.get("ravdess", {})}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _fails(tmp_path: Path, config: Path, *args: str) -> str:
    proc = run_snakemake(tmp_path / "run", *args, configfiles=(config,), timeout=300, check=False)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr


CONFIG_CASES = {
    "top_level_typo": ({"trainig": {"epochs": 3}},
                       ["Additional properties are not allowed ('trainig' was unexpected)"]),
    "model_hparam_typo": ({"models": {"cnnx": {"arch": "cnnx", "pretrained": "none",
                                               "lrr": 0.1}}},
                          ["('lrr' was unexpected)", "On instance['models']['cnnx']"]),
    "feature_param_typo": ({"features": {"logmel": {"n_melz": 64}}},
                           ["('n_melz' was unexpected)", "On instance['features']['logmel']"]),
    "unknown_feature": ({"features": {"logmell": {"n_mels": 64}}},
                        ["('logmell' was unexpected)", "schema['properties']['features']"]),
    "unknown_scheme": ({"protocol": {"scheme": "loso_folds"}},
                       ["'loso_folds' is not one of", "On instance['protocol']['scheme']"]),
    "wrong_type": ({"training": {"epochs": "ten"}},
                   ["'ten' is not of type 'integer'", "On instance['training']['epochs']"]),
    "unknown_arch": ({"models": {"kaggle_cnn1d": {"arch": "kagle_cnn1d", "pretrained": "none"}}},
                     ["models.kaggle_cnn1d.arch is 'kagle_cnn1d', not a known model; valid: "
                      + str(list_models())]),
    "run_models_not_in_models": ({"run_models": ["kaggle_cnn1d", "cnnxx"]},
                                 ["run_models names ['cnnxx'], which are not entries of `models`"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_refused_before_running(tmp_path, ravdess16k, case):
    extra, messages = CONFIG_CASES[case]
    out = _fails(tmp_path, _config(tmp_path, str(ravdess16k), extra), "-n")
    for message in messages:
        assert message in out, out[-3000:]
    assert not (tmp_path / "run" / "results").exists()


def test_missing_source_path_named(tmp_path):
    missing = tmp_path / "nowhere" / "Audio_Speech_Actors_01-24.zip"
    out = _fails(tmp_path, _config(tmp_path, str(missing), {}), "-n")
    assert f"ravdess.source is '{missing}': no such file or folder" in out


def _real_zip(ravdess16k: Path, path: Path, per_actor: int = 2) -> Path:
    """A small archive laid out like the official one (Actor_XX/<file>), of real recordings."""
    with zipfile.ZipFile(path, "w") as archive:
        for actor in (1, 2, 3):
            folder = ravdess16k / f"Actor_{actor:02d}"
            for f in sorted(folder.glob("*.flac"))[:per_actor]:
                archive.write(f, f"Actor_{actor:02d}/{f.name}")
    return path


def test_zip_without_central_directory_named(tmp_path, ravdess16k):
    good = _real_zip(ravdess16k, tmp_path / "good.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out = _fails(tmp_path, _config(tmp_path, str(cut), {}), "-n")
    assert f"ravdess.source is '{cut}': a file, but not a zip archive" in out


def test_corrupt_zip_member_fails_unpack(tmp_path, ravdess16k):
    """Damage inside one member is only found on extraction: the unpack rule must name the zip."""
    zip_path = _real_zip(ravdess16k, tmp_path / "corrupt.zip")
    data = bytearray(zip_path.read_bytes())
    info = zipfile.ZipFile(zip_path).infolist()[2]
    start = info.header_offset + 30 + len(info.filename.encode()) + 100
    data[start:start + 16] = bytes(16)
    zip_path.write_bytes(bytes(data))
    out = _fails(tmp_path, _config(tmp_path, str(zip_path), {}), "--cores", "1",
                 "results/metadata.csv")
    assert "Error in rule unpack" in out
    bad_crc = f"Bad CRC-32 for file '{info.filename}'"
    assert f"{zip_path}: corrupt or not a zip archive ({bad_crc})" in out
    assert not (tmp_path / "run" / "resources" / "ravdess" / "audio").exists()


def test_wrong_checksum_refused_before_unpack(tmp_path, ravdess16k):
    """The download path: a file whose MD5 differs from the config's never reaches unpack."""
    served = _real_zip(ravdess16k, tmp_path / "served.zip")
    wrong = "0123456789abcdef0123456789abcdef"
    extra = {"ravdess": {"url": served.as_uri(), "md5": wrong, "size": served.stat().st_size,
                         "retries": 0}}
    out = _fails(tmp_path, _config(tmp_path, "zenodo", extra), "--cores", "1",
                 "results/metadata.csv")
    assert "Error in rule download" in out and "Error in rule unpack" not in out
    assert f"(downloaded from {served.as_uri()}): MD5 mismatch, expected {wrong}" in out
    # Neither the unverified zip nor its partial download is left where unpack would find it.
    assert [p for p in (tmp_path / "run" / "resources").rglob("*") if p.is_file()] == []
