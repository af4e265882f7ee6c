"""Getting RAVDESS onto disk: download with checks, safe unpacking, and where the corpus comes from.

Nothing half-written is ever left under its final name: downloads stream to `<dest>.part` and are
renamed once size and MD5 match; archives unpack into a temporary folder beside the destination.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd

from ser.io import atomic_dir

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Name-resolution and connection failures mean the machine is offline (a compute node, say):
# retrying only delays the message telling the user what to do, so the probe is kept short.
PROBE_TIMEOUT = 5.0
_OFFLINE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN}

SourceKind = Literal["zenodo", "synthetic", "zip", "folder"]


class ChecksumError(ValueError):
    """A downloaded or given file whose size or MD5 is not the expected one."""


class OfflineError(ConnectionError):
    """The download URL cannot be reached at all."""

    def __init__(self, url: str, reason: str):
        reason = " ".join(reason.split())
        super().__init__(
            f"cannot reach {url} ({reason}); set ravdess.source in config.yaml to a local zip "
            "or to a folder of Actor_XX folders"
        )


class ArchiveError(ValueError):
    """A zip that is corrupt or holds members that would escape the destination."""


def md5sum(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(path: Path, md5: str, size: int | None) -> str | None:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"size mismatch, expected {size} bytes, got {actual_size}"
    actual = md5sum(path)
    if actual != md5.lower():
        return f"MD5 mismatch, expected {md5.lower()}, got {actual}"
    return None


def verify_file(path: str | Path, md5: str, size: int | None = None) -> None:
    """Raise `ChecksumError` naming the file, the expected and the actual value on a mismatch."""
    reason = _mismatch(Path(path), md5, size)
    if reason:
        raise ChecksumError(f"{path}: {reason}")


def _offline_reason(reason: object) -> str | None:
    """Why a connection failed if it means the host cannot be reached at all, else None."""
    if isinstance(reason, socket.gaierror):
        return f"name resolution failed: {reason}"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "connection timed out"
    if isinstance(reason, OSError) and reason.errno in _OFFLINE_ERRNOS:
        return os.strerror(reason.errno)
    return None


def _probe(url: str, timeout: float) -> None:
    """Fail within seconds when the host cannot be reached directly (no proxy configured)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or urllib.request.getproxies().get(parts.scheme):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        probe_timeout = min(timeout, PROBE_TIMEOUT)
        socket.create_connection((parts.hostname, port), timeout=probe_timeout).close()
    except OSError as err:
        raise OfflineError(url, _offline_reason(err) or str(err)) from err


def _stream(url: str, part: Path, timeout: float, size: int | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "ser-ravdess/0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        total = size or int(response.headers.get("Content-Length") or 0)
        done, next_report = 0, 0.0
        for block in iter(lambda: response.read(CHUNK), b""):
            out.write(block)
            done += len(block)
            if total and done / total >= next_report:
                log.info("%s: %d / %d bytes (%.0f%%)", part.name, done, total, 100 * done / total)
                next_report += 0.1


def _download(url: str, part: Path, timeout: float, size: int | None, retries: int) -> None:
    """Stream to `part`, retrying transient failures with backoff; offline fails at once."""
    for attempt in range(retries + 1):
        try:
            _stream(url, part, timeout, size)
            return
        except (urllib.error.URLError, OSError) as err:
            part.unlink(missing_ok=True)
            # Only a failure to connect means offline; a timeout while reading is transient.
            connecting = isinstance(err, urllib.error.URLError) and not isinstance(
                err, urllib.error.HTTPError
            )
            offline = _offline_reason(err.reason) if connecting else None
            if offline:
                raise OfflineError(url, offline) from err
            client_error = isinstance(err, urllib.error.HTTPError) and err.code < 500
            if client_error or attempt == retries:
                raise ConnectionError(f"downloading {url} failed: {err}") from err
            log.warning("attempt %d of %d failed (%s); retrying", attempt + 1, retries + 1, err)
            time.sleep(min(2**attempt, 30))


def fetch(
    url: str, dest: str | Path, md5: str, size: int | None, retries: int = 3, timeout: float = 30
) -> Path:
    """Download `url` to `dest`, verified by size and MD5; an existing verified `dest` is kept."""
    dest = Path(dest)
    if dest.exists():
        try:
            verify_file(dest, md5, size)
            log.info("%s already present and verified", dest)
            return dest
        except ChecksumError as err:
            log.warning("%s; downloading again", err)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _probe(url, timeout)
    _download(url, part, timeout, size, retries)
    reason = _mismatch(part, md5, size)
    if reason:
        # A wrong file does not get better by downloading it again.
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{dest} (downloaded from {url}): {reason}")
    os.replace(part, dest)
    return dest


def _check_member(zip_path: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or PurePosixPath(name).is_absolute() or ":" in name.split("/")[0]:
        raise ArchiveError(f"{zip_path}: member {info.filename!r} has an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise ArchiveError(f"{zip_path}: member {info.filename!r} would escape the destination")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise ArchiveError(f"{zip_path}: member {info.filename!r} is a symbolic link")


def safe_extract(zip_path: str | Path, dest: str | Path) -> Path:
    """Unpack a zip into `dest`, refusing absolute, `..` and symlink members before writing."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            for info in members:
                _check_member(zip_path, info)
            with atomic_dir(dest) as tmp:
                for info in members:
                    archive.extract(info, tmp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
        raise ArchiveError(f"{zip_path}: corrupt or not a zip archive ({err})") from err
    return dest


def resolve_source(source: str) -> tuple[SourceKind, Path | None]:
    """Classify `ravdess.source`: the Zenodo download, the synthetic demo, a local zip or folder."""
    if source in ("zenodo", "synthetic"):
        return source, None
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"ravdess.source is {source!r}: no such file or folder (use zenodo, synthetic, "
            "a local copy of Audio_Speech_Actors_01-24.zip, or a folder of Actor_XX folders)"
        )
    if path.is_dir():
        return "folder", path.resolve()
    if not zipfile.is_zipfile(path):
        raise ArchiveError(f"ravdess.source is {source!r}: a file, but not a zip archive")
    return "zip", path.resolve()


# The official release: 1,440 speech files (60 per actor), 16-bit mono WAV at 48 kHz.
RELEASE_FILES_PER_ACTOR, RELEASE_RATE, RELEASE_SUFFIX = 60, 48000, ".wav"
# The release's own two-channel files (byte-identical in every public copy; the rest is mono):
# a copy that keeps them does not differ from the release.
RELEASE_STEREO = frozenset({"03-01-02-01-01-02-01", "03-01-08-01-02-02-01",
                            "03-01-02-01-02-02-05", "03-01-03-01-02-01-20",
                            "03-01-06-01-01-02-20"})


def format_differences(metadata: pd.DataFrame) -> list[str]:
    """How the scanned files differ from the release's facts: count (speech), file type, rate,
    and which files have two channels (the report's corpus record lists these)."""
    lines = []
    n_actors, n = metadata["actor"].nunique(), len(metadata)
    song = "vocal_channel" in metadata and (metadata["vocal_channel"] == 2).any()
    if not song and n != RELEASE_FILES_PER_ACTOR * n_actors:
        lines.append(f"{n} files for {n_actors} actors; the release has "
                     f"{RELEASE_FILES_PER_ACTOR * n_actors}")
    suffixes = sorted({Path(p).suffix.lower() for p in metadata["path"]})
    if suffixes != [RELEASE_SUFFIX]:
        lines.append(f"{'/'.join(s.lstrip('.').upper() for s in suffixes)} files; the "
                     f"release's are {RELEASE_SUFFIX.lstrip('.').upper()}")
    rates = sorted(int(r) for r in metadata["sample_rate"].unique())
    if rates != [RELEASE_RATE]:
        lines.append(f"sample rate {'/'.join(map(str, rates))} Hz; the release's is "
                     f"{RELEASE_RATE} Hz")
    files = set(metadata["file"])
    multi = set(metadata.loc[metadata["channels"] != 1, "file"])
    expected = RELEASE_STEREO & files
    if multi != expected:
        lines.append(f"{len(multi)} files with more than one channel; the release has "
                     f"{len(expected)} among these files "
                     f"({', '.join(sorted(expected)) or 'none'}), the rest mono")
    return lines


def source_differences(source: str, metadata: pd.DataFrame, md5: str,
                       size: int | None = None) -> list[str]:
    """Short lines saying how the corpus used differs from the official release (empty when it
    does not): a local zip's MD5 and size, and for any local copy the files' count and formats.

    `source` is `ravdess.source`; `metadata` the scanned table (results/metadata.csv); `md5` and
    `size` the release zip's (config `ravdess.md5`, `ravdess.size`).
    """
    kind, path = resolve_source(source)
    if kind == "zenodo":
        return []  # fetched and verified against `md5` and `size`
    if kind == "synthetic":
        return ["synthetic demo corpus (ser.data.synth), not RAVDESS recordings"]
    lines = []
    if kind == "zip":
        reason = _mismatch(path, md5, size)
        if reason:
            lines.append(f"local zip {path}: {reason} (expected: the release's)")
    else:
        lines.append(f"local folder {path}")
    return lines + format_differences(metadata)
