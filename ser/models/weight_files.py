"""Pretrained weight files: where each comes from, how it is verified, and the one fetch.

Every file is verified before it is used, in the way its publisher allows: torchvision's (and
timm's release) file names carry the first hex digits of the file's SHA-256
(`resnet18-f37072fd.pth`), Zenodo publishes an MD5 for each PANNs checkpoint, and a file without either carries a recorded
SHA-256. A cached file that fails its check (truncated, corrupt) is named in a warning and fetched
again; when the network is unreachable that becomes one error naming the file and what to do.

`$SER_WEIGHTS_MIRROR` (a base URL) serves the files under their file names instead of their
publishers' URLs, e.g. a site mirror. `$SER_WEIGHTS_CHECKSUMS` (a JSON file, `{file name:
{"sha256"|"md5": hex}}`) replaces recorded checksums: only for files rebuilt on purpose, such as
the tests' small stand-ins served from a loopback mirror.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ser.io import atomic_file

log = logging.getLogger(__name__)

# torch.hub's convention: `<name>-<first hex digits of the SHA-256>.<ext>`
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
CHUNK = 1 << 20


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that are neither in the cache (verified) nor downloadable."""


@dataclass(frozen=True)
class WeightFile:
    """One published weights file: its name in the cache, its URL and its checksum."""

    name: str
    url: str
    md5: str | None = None
    sha256: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def expected(self) -> tuple[str, str]:
        """(algorithm, expected hex digest or prefix), from $SER_WEIGHTS_CHECKSUMS, the record
        or the SHA-256 prefix in the file name."""
        override = _checksum_overrides().get(self.name)
        if override:
            algorithm, digest = next(iter(override.items()))
            return algorithm, digest.lower()
        if self.md5:
            return "md5", self.md5.lower()
        if self.sha256:
            return "sha256", self.sha256.lower()
        match = _HASH_IN_NAME.search(self.name)
        if not match:
            raise ValueError(f"{self.name}: no checksum recorded and none in the file name")
        return "sha256", match.group(1)


def from_hub_url(url: str) -> WeightFile:
    """A file published torch.hub-style: its name (the URL's last part) carries its SHA-256."""
    return WeightFile(url.rsplit("/", 1)[-1].split("?", 1)[0], url)


def _checksum_overrides() -> dict[str, dict[str, str]]:
    path = os.environ.get("SER_WEIGHTS_CHECKSUMS")
    return json.loads(Path(path).read_text()) if path else {}


def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check(path: Path, weight: WeightFile) -> str | None:
    """Why `path` is not `weight`'s published file (None when it is)."""
    algorithm, expected = weight.expected()
    actual = digest(path, algorithm)
    if not actual.startswith(expected):
        size = path.stat().st_size
        return (f"{algorithm.upper()} {actual[:len(expected)]}, expected {expected} "
                f"({size} bytes: truncated or corrupt)")
    return None


def source_url(weight: WeightFile) -> str:
    """The mirror's URL for `weight` when $SER_WEIGHTS_MIRROR is set, else the publisher's."""
    mirror = os.environ.get("SER_WEIGHTS_MIRROR")
    return f"{mirror.rstrip('/')}/{weight.name}" if mirror else weight.url


def _download(url: str, dest: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "ser-weights/0.1"})
    with atomic_file(dest) as tmp:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)


def fetch(weight: WeightFile, cache_dir: Path, timeout: float = 60) -> Path:
    """`cache_dir/<name>`, verified; downloaded (again) when missing or failing its check."""
    path = Path(cache_dir) / weight.name
    problem = None
    if path.is_file():
        problem = check(path, weight)
        if problem is None:
            return path
        log.warning("cached weights %s fail their check (%s); fetching them again", path, problem)
    url = source_url(weight)
    try:
        _download(url, path, timeout)
    except Exception as err:  # noqa: BLE001 - any network or disk failure means the same here
        state = f"{path} fails its check ({problem})" if problem else f"{path} is missing"
        raise WeightsUnavailableError(
            f"pretrained weights {weight.name!r}: {state}, and downloading {url} failed "
            f"({type(err).__name__}: {err}). On a host with network run `snakemake --until "
            f"weights`, or place the file {weight.name!r} in {Path(cache_dir).resolve()}, or "
            f"set `pretrained: <path to the file>`.") from err
    problem = check(path, weight)
    if problem:
        path.unlink()
        raise WeightsUnavailableError(f"{url}: the downloaded file is not {weight.name} "
                                      f"({problem}); it was not kept")
    log.info("fetched %s from %s (verified)", path, url)
    return path
