"""What travels to the GPU machine, against its 64 MiB limit.

The device tool sends the checkout's tracked files, its untracked files that git does not ignore,
and the ignored paths named in `carry` (here `.data` and `.whl`). Sizes are of the files as they
lie (a symbolic link counts as the link). Exits 1 when the total is over the limit.

    python benchmarks/device/size.py [--carry .data .whl]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The device tool's README says 64 MiB, yet it refused 63.01 MiB on 2026-12-04 and took 58.74:
# count 64 MB (64,000,000 bytes, 61.0 MiB) to be safe.
LIMIT = 64 * 10**6


def checkout_files(repo: Path = REPO) -> list[Path]:
    """Tracked files and untracked files git does not ignore."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], capture_output=True, check=True).stdout
    return [repo / name for name in out.decode().split("\0") if name]


def carried_files(paths: list[Path]) -> list[Path]:
    return [f for p in paths for f in ([p] if not p.is_dir() else p.rglob("*"))
            if f.is_file() or f.is_symlink()]


def total_bytes(files: list[Path]) -> int:
    # a tracked file deleted in the working tree does not travel
    return sum(f.lstat().st_size for f in files if f.is_symlink() or f.exists())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--carry", nargs="*", default=[".data", ".whl"])
    args = p.parse_args()
    parts = {"checkout": total_bytes(checkout_files())}
    for name in args.carry:
        parts[name] = total_bytes(carried_files([REPO / name]))
    for name, size in parts.items():
        print(f"{name:10s} {size / 2**20:8.2f} MiB")
    total = sum(parts.values())
    verdict = "fits" if total <= LIMIT else "OVER the limit"
    print(f"{'total':10s} {total / 2**20:8.2f} MiB of {LIMIT / 2**20:.1f} MiB: {verdict}")
    sys.exit(0 if total <= LIMIT else 1)


if __name__ == "__main__":
    main()
