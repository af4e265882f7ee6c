"""Which corpus a run read: results/corpus.json, the record the report's first sentence quotes.

A number about emotion recognition on RAVDESS is only that when the audio was RAVDESS. The record
says where the audio came from and how far it was checked:

- `source_kind`: `release` (the Zenodo zip, downloaded and verified by size and MD5), `zip` (a
  local zip), `folder` (a local folder of Actor_XX folders) or `synthetic` (the offline demo).
- `checksum`: `verified` (MD5 equals the release's), `differs`, `not checked` (a folder has no
  checksum to compare) or `not applicable` (synthetic audio).
- `differences`: short strings naming how a local copy's files differ from the release's facts
  (count, file type, sample rate, which files have two channels:
  `ser.data.download.format_differences`); empty for the verified release, a faithful copy and
  the synthetic corpus.
- `vocal_channel` (speech or song), `skipped` (the release's files of other kinds found beside
  them, by kind) and `resolved_locations` (where the corpus folder's symbolic links lead).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ser.data.download import format_differences, md5sum, resolve_source
from ser.io import atomic_file, read_json_object

KIND = {"zenodo": "release", "zip": "zip", "folder": "folder", "synthetic": "synthetic"}
RELEASE_ZIP = "resources/ravdess/Audio_Speech_Actors_01-24.zip"


def _checksum(kind: str, path: Path | None, md5: str) -> tuple[str, str]:
    """(status, detail) of the audio's checksum against the release's MD5."""
    if kind == "release":
        return "verified", f"MD5 {md5.lower()} checked by the download before use"
    if kind == "synthetic":
        return "not applicable", "generated audio: there is no release to compare with"
    if kind == "folder":
        return "not checked", "a folder of files has no checksum to compare with the release zip"
    actual = md5sum(path)
    if actual == md5.lower():
        return "verified", f"MD5 {actual} equals the release's"
    return "differs", f"MD5 {actual}, the release's is {md5.lower()}"


def corpus_record(source: str, md5: str, metadata_csv: str | Path,
                  audio_dir: str | Path | None = None, vocal_channel: str = "speech") -> dict:
    """The provenance record of `ravdess.source` (config) and the files the run found in it
    (`audio_dir`: the folder scanned, for what was skipped and where links lead)."""
    from ser.data.ravdess import resolved_locations, skipped_files

    kind, path = resolve_source(source)
    kind = KIND[kind]
    status, detail = _checksum(kind, path, md5)
    meta = pd.read_csv(metadata_csv)
    return {"source_kind": kind, "source": source,
            "path": RELEASE_ZIP if kind == "release" else (str(path) if path else None),
            "checksum": status, "checksum_detail": detail,
            "files": int(len(meta)), "actors": int(meta["actor"].nunique()),
            "differences": format_differences(meta) if kind in ("zip", "folder") else [],
            "vocal_channel": vocal_channel,
            "skipped": skipped_files(audio_dir, vocal_channel) if audio_dir else {},
            "resolved_locations": resolved_locations(audio_dir) if audio_dir else []}


def write_corpus_record(source: str, md5: str, metadata_csv: str | Path,
                        out_json: str | Path, audio_dir: str | Path | None = None,
                        vocal_channel: str = "speech") -> dict:
    record = corpus_record(source, md5, metadata_csv, audio_dir, vocal_channel)
    with atomic_file(out_json) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_corpus_record(path: str | Path) -> dict:
    record = read_json_object(path, "the corpus record",
                              ("source_kind", "path", "checksum", "differences"))
    if record["source_kind"] not in KIND.values():
        raise ValueError(f"{path}: source_kind must be one of {sorted(KIND.values())}, "
                         f"got {record['source_kind']!r}")
    return record


def describe(record: dict | None) -> str:
    """The corpus in words, for the report's first sentence."""
    if record is None:
        return "a corpus whose origin was not recorded (no corpus.json)"
    kind, path = record["source_kind"], record.get("path")
    checksum = {"verified": "MD5 verified against the Zenodo release",
                "differs": "its MD5 differs from the Zenodo release",
                "not checked": "files not checked against the release",
                "not applicable": ""}.get(record["checksum"], record["checksum"])
    # the copy's name, not its path: a published page names no folder of the machine it was made on
    name = Path(str(path)).name if path else "?"
    text = {"release": "RAVDESS speech from the Zenodo release",
            "zip": f"RAVDESS speech from a local zip ({name})",
            "folder": f"RAVDESS speech from a local folder ({name})",
            "synthetic": "the synthetic demo corpus (generated audio in RAVDESS form, not "
                         "RAVDESS recordings)"}[kind]
    if checksum:
        text += f" ({checksum})"
    if record.get("differences"):
        text += f", which differs from the release: {'; '.join(record['differences'])}"
    return text


def is_synthetic(record: dict | None) -> bool:
    return record is not None and record["source_kind"] == "synthetic"
