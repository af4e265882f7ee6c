"""results/corpus.json: where the audio came from and how far it was checked."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ser.data.provenance import (describe, is_synthetic, read_corpus_record,
                                 write_corpus_record)

RELEASE_MD5 = "bc696df654c87fed845eb13823edef8a"


@pytest.fixture()
def metadata(tmp_path: Path) -> Path:
    path = tmp_path / "metadata.csv"
    # release-like files (WAV, 48 kHz, mono): only the count differs from the release's
    pd.DataFrame({"file": ["a", "b", "c"], "actor": [1, 1, 2],
                  "path": ["Actor_01/a.wav", "Actor_01/b.wav", "Actor_02/c.wav"],
                  "sample_rate": [48000] * 3, "channels": [1] * 3}).to_csv(path, index=False)
    return path


def test_local_zip_is_checked_against_the_release_md5(tmp_path: Path, metadata: Path) -> None:
    archive = tmp_path / "ravdess.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Actor_01/03-01-01-01-01-01-01.wav", b"not audio")
    own = hashlib.md5(archive.read_bytes()).hexdigest()
    record = write_corpus_record(str(archive), own, metadata, tmp_path / "same.json")
    assert (record["source_kind"], record["checksum"]) == ("zip", "verified")
    record = write_corpus_record(str(archive), RELEASE_MD5, metadata, tmp_path / "corpus.json")
    assert (record["source_kind"], record["checksum"]) == ("zip", "differs")
    assert own in record["checksum_detail"] and RELEASE_MD5 in record["checksum_detail"]
    assert read_corpus_record(tmp_path / "corpus.json") == record
    assert describe(record) == (f"RAVDESS speech from a local zip ({archive.name}) "
                                "(its MD5 differs from the Zenodo release), which differs from "
                                "the release: 3 files for 2 actors; the release has 120")
    assert (record["files"], record["actors"]) == (3, 2)
    assert record["differences"] == ["3 files for 2 actors; the release has 120"]


def test_folder_release_and_synthetic(tmp_path: Path, metadata: Path, ravdess16k: Path) -> None:
    folder = write_corpus_record(str(ravdess16k), RELEASE_MD5, metadata, tmp_path / "f.json")
    assert (folder["source_kind"], folder["checksum"]) == ("folder", "not checked")
    assert folder["path"] == str(ravdess16k.resolve())
    release = write_corpus_record("zenodo", RELEASE_MD5, metadata, tmp_path / "r.json")
    assert (release["source_kind"], release["checksum"]) == ("release", "verified")
    assert describe(release) == ("RAVDESS speech from the Zenodo release (MD5 verified against "
                                 "the Zenodo release)")
    synthetic = write_corpus_record("synthetic", RELEASE_MD5, metadata, tmp_path / "s.json")
    assert (synthetic["source_kind"], synthetic["checksum"]) == ("synthetic", "not applicable")
    assert is_synthetic(synthetic) and not is_synthetic(folder) and not is_synthetic(None)
    assert describe(synthetic).startswith("the synthetic demo corpus")
    assert release["differences"] == [] and synthetic["differences"] == []
    assert describe({**folder, "differences": ["24 actors, 1,440 FLAC files"]}).endswith(
        "which differs from the release: 24 actors, 1,440 FLAC files")


def test_bad_record_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.json"
    bad.write_text(json.dumps({"source_kind": "release"}))
    with pytest.raises(ValueError, match=f"{bad}.*lacks keys"):
        read_corpus_record(bad)
    bad.write_text(json.dumps({"source_kind": "cloud", "path": None, "checksum": "x",
                               "differences": []}))
    with pytest.raises(ValueError, match=f"{bad}: source_kind must be one of"):
        read_corpus_record(bad)
