"""Speed of the synthetic demo corpus (`make demo`'s data): seconds of audio written per second.

    .venv/bin/python benchmarks/synth.py [--actors 6]
    .venv/bin/python benchmarks/synth.py --quick   # one actor (a test runs it)

It used to be a timed unit test (180 files in under 5 s), which a loaded machine can fail.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import soundfile as sf

from ser.data.synth import synthesize_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="one actor: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.actors = 1
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        files = synthesize_corpus(Path(tmp) / "audio", actors=range(1, args.actors + 1))
        seconds = time.perf_counter() - start
        audio = sum(sf.info(f).duration for f in files)
    print(f"{len(files)} files, {audio:.0f} s of audio in {seconds:.2f} s: "
          f"{audio / seconds:.0f}x real time, {len(files) / seconds:.1f} files/s")


if __name__ == "__main__":
    main()
