"""Each encoder's weights, checked before they are loaded: a packaged file against the SHA-256
its spec records, a hub snapshot file by file (ser.weight_files); and what a shard records of
the encoder that made it."""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from ser.encoders.spec import EncoderSpec
from ser.weight_files import check, digest, resolve_cache_dir


class EncoderWeightsError(RuntimeError):
    """A packaged weight file that is missing or is not the file the pipeline was tested with."""


def package_version(package: str) -> str:
    return version(package)


def weight_path(spec: EncoderSpec) -> Path:
    """The encoder's packaged weight file (without importing the package's own loader)."""
    import importlib.util

    found = importlib.util.find_spec(spec.package)
    if found is None or found.origin is None:
        raise EncoderWeightsError(
            f"encoder {spec.name}: package {spec.package!r} is not installed; "
            f"run `pip install -r requirements.lock` (or `make venv`)")
    return Path(found.origin).parent / spec.weight_file


def verified_snapshot(spec: EncoderSpec, params: dict, weights_dir: str | Path | None) -> Path:
    """The hub snapshot folder of `spec` at its revision, after checking each of its files."""
    cache = resolve_cache_dir(weights_dir)
    for weight in spec.hub.weight_files(params.get("revision")):
        path = cache / weight.name
        problem = "missing" if not path.is_file() else check(path, weight)
        if problem is None and weight.expected(path) is None:
            problem = "no SHA-256 recorded at its fetch"
        if problem:
            raise EncoderWeightsError(
                f"{path}: {problem}; encoder {spec.name} ({spec.hub.repo_id}) reads it without "
                f"network: run `snakemake --until weights` on a host with network (or set "
                f"$SER_WEIGHTS_MIRROR), deleting the file first if it is corrupt")
    return cache / spec.hub.snapshot(params.get("revision"))


def verified_weights(spec: EncoderSpec, path: str | Path | None = None) -> Path:
    """`path` (default: the packaged file), after checking its SHA-256 against the record."""
    path = Path(path) if path is not None else weight_path(spec)
    if not path.is_file():
        raise EncoderWeightsError(f"{path}: encoder {spec.name}'s weight file is missing; "
                                  f"reinstall {spec.package} (pip install -r requirements.lock)")
    actual = digest(path, "sha256")
    if actual != spec.sha256:
        raise EncoderWeightsError(
            f"{path}: SHA-256 {actual[:16]}..., expected {spec.sha256[:16]}... for encoder "
            f"{spec.name} ({spec.package} {package_version(spec.package)}): an altered or "
            f"other version's file; reinstall {spec.package} from requirements.lock")
    return path


def identity(spec: EncoderSpec, params: dict | None = None,
             weights_dir: str | Path | None = None) -> dict:
    """What the shard records of the encoder that made it (its params are the shard's own); for a
    hub encoder, the repository at its revision and its weights file's SHA-256."""
    weights, sha256 = spec.weight_file, spec.sha256
    if spec.hub is not None:
        revision = (params or {}).get("revision") or spec.hub.revision
        snapshot = verified_snapshot(spec, params or {}, weights_dir)
        weights = f"{spec.hub.repo_id}@{revision}/{spec.weight_file}"
        sha256 = digest(snapshot / spec.weight_file, "sha256")
    return {"encoder": spec.name, "encoder_package": spec.package,
            "encoder_version": package_version(spec.package),
            "encoder_weights": weights, "encoder_sha256": sha256,
            "pretrained_on": spec.pretrained_on}
