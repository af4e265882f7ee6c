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

A model-hub file whose SHA-256 is not recorded here (`trust_on_first_fetch`) is checked at its
first download against the digest the hub publishes for it (the `X-Linked-Etag` header of a
large file), and its SHA-256 is then written beside it (`<file>.sha256`); every later use checks
the file against that record, and the log says what to pin.
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
DEFAULT_CACHE_DIR = Path("resources") / "weights"


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    """`cache_dir`, else $SER_WEIGHTS_DIR, else resources/weights (the config default)."""
    return Path(cache_dir or os.environ.get("SER_WEIGHTS_DIR") or DEFAULT_CACHE_DIR)


def recorded_cache_dir(recorded: str | Path | None) -> Path:
    """Where a trained model finds its hub encoder's snapshot: $SER_WEIGHTS_DIR when set (a model
    moved to another machine), else the absolute folder its features were made from (recorded in
    its shards), else the config default. So `ser predict` works from any working directory."""
    if os.environ.get("SER_WEIGHTS_DIR") or not recorded or not Path(recorded).is_dir():
        return resolve_cache_dir(None)
    return Path(recorded)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that are neither in the cache (verified) nor downloadable."""


@dataclass(frozen=True)
class WeightFile:
    """One published weights file: its name in the cache, its URL and its checksum."""

    name: str
    url: str
    md5: str | None = None
    sha256: str | None = None
    trust_on_first_fetch: bool = False  # a hub file without a recorded SHA-256 (see above)

    def as_dict(self) -> dict:
        return asdict(self)

    def expected(self, path: Path | None = None) -> tuple[str, str] | None:
        """(algorithm, expected hex digest or prefix), from $SER_WEIGHTS_CHECKSUMS, the record,
        the SHA-256 prefix in the file name or, for a file trusted on first fetch, the digest
        recorded beside `path` (None before its first fetch)."""
        override = _checksum_overrides().get(self.name)
        if override:
            algorithm, digest = next(iter(override.items()))
            return algorithm, digest.lower()
        if self.md5:
            return "md5", self.md5.lower()
        if self.sha256:
            return "sha256", self.sha256.lower()
        match = _HASH_IN_NAME.search(self.name)
        if self.trust_on_first_fetch and not match:
            record = first_fetch_record(path) if path is not None else None
            return ("sha256", record.read_text().strip()) if record and record.is_file() else None
        if not match:
            raise ValueError(f"{self.name}: no checksum recorded and none in the file name")
        return "sha256", match.group(1)


def from_hub_url(url: str) -> WeightFile:
    """A file published torch.hub-style: its name (the URL's last part) carries its SHA-256."""
    return WeightFile(url.rsplit("/", 1)[-1].split("?", 1)[0], url)


def first_fetch_record(path: Path) -> Path:
    """Where the SHA-256 of a file trusted on first fetch is kept: beside it."""
    return Path(path).with_name(Path(path).name + ".sha256")


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
    """Why `path` is not `weight`'s published file (None when it is, or when a file trusted on
    first fetch has no record yet)."""
    expected = weight.expected(path)
    if expected is None:
        return None
    algorithm, expected = expected
    actual = digest(path, algorithm)
    if not actual.startswith(expected):
        size = path.stat().st_size
        name = {"sha256": "SHA-256", "md5": "MD5"}[algorithm]
        return (f"{name} {actual[:len(expected)]}, expected {expected} "
                f"({size} bytes: truncated or corrupt)")
    return None


def source_url(weight: WeightFile) -> str:
    """The mirror's URL for `weight` when $SER_WEIGHTS_MIRROR is set, else the publisher's."""
    mirror = os.environ.get("SER_WEIGHTS_MIRROR")
    return f"{mirror.rstrip('/')}/{weight.name}" if mirror else weight.url


def _download(url: str, dest: Path, timeout: float) -> dict[str, str]:
    """Download `url` into `dest` (atomically); the response's headers."""
    request = urllib.request.Request(url, headers={"User-Agent": "ser-weights/0.1"})
    with atomic_file(dest) as tmp:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
            return {k.lower(): v for k, v in response.headers.items()}


def _record_first_fetch(path: Path, weight: WeightFile, headers: dict[str, str]) -> str | None:
    """Check a file trusted on first fetch against the hub's published SHA-256 (large files
    only) and record its own beside it; why it was refused, or None."""
    actual = digest(path, "sha256")
    published = headers.get("x-linked-etag", "").strip('"').lower()
    if re.fullmatch(r"[a-f0-9]{64}", published) and published != actual:
        return f"SHA-256 {actual[:16]}..., the hub publishes {published[:16]}..."
    with atomic_file(first_fetch_record(path)) as tmp:
        tmp.write_text(actual + "\n")
    commit = headers.get("x-repo-commit", "")
    log.warning("%s: no SHA-256 recorded for %s; recorded %s at this first fetch (pin it as "
                "`sha256` of this file to refuse any other)%s", path, weight.name, actual,
                f"; the hub served it from commit {commit}" if commit else "")
    return None


def fetch(weight: WeightFile, cache_dir: Path, timeout: float = 60) -> Path:
    """`cache_dir/<name>`, verified; downloaded (again) when missing or failing its check."""
    path = Path(cache_dir) / weight.name
    problem = None
    if path.is_file():
        problem = check(path, weight)
        if problem is None and weight.expected(path) is not None:
            return path
        log.warning("cached weights %s fail their check (%s); fetching them again", path,
                    problem or "no SHA-256 recorded at its first fetch")
    url = source_url(weight)
    try:
        headers = _download(url, path, timeout)
    except Exception as err:  # noqa: BLE001 - any network or disk failure means the same here
        state = f"{path} fails its check ({problem})" if problem else f"{path} is missing"
        raise WeightsUnavailableError(
            f"pretrained weights {weight.name!r}: {state}, and downloading {url} failed "
            f"({type(err).__name__}: {err}). On a host with network run `snakemake --until "
            f"weights`, or place the file {weight.name!r} in {Path(cache_dir).resolve()}, or "
            f"set $SER_WEIGHTS_MIRROR to a mirror serving it, or `pretrained: <path>`.") from err
    problem = check(path, weight)
    if problem is None and weight.expected(path) is None:
        problem = _record_first_fetch(path, weight, headers)
    if problem:
        path.unlink()
        raise WeightsUnavailableError(f"{url}: the downloaded file is not {weight.name} "
                                      f"({problem}); it was not kept")
    log.info("fetched %s from %s (verified)", path, url)
    return path
