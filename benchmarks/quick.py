"""Every benchmark's quick mode (a few files, one round) in one table, and a runner for them all.

    .venv/bin/python benchmarks/quick.py            # every quick mode, one after another
    .venv/bin/python benchmarks/quick.py features.py loading.py

`make benchmarks` runs this; tests/test_benchmarks.py (`make test-slow`) runs each entry and
checks that every script under benchmarks/ has one. A quick mode proves the script runs end to
end on real inputs; its numbers are not the measurement (run the script without it for that).
`{tmp}` is a fresh temporary folder, `{corpus}` the real 16 kHz corpus.

Scripts that cannot run here have no entry but a reason in `ELSEWHERE`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SER_SHARED", REPO.parent / "shared")) / "data" / "ravdess-16k"
ONE_EPOCH = "training: {epochs: 1}\n"

QUICK: dict[str, list[str]] = {
    "features.py": ["--quick", "--corpus", "{corpus}"],
    "loading.py": ["--quick", "--corpus", "{corpus}"],
    "predict.py": ["--quick", "--corpus", "{corpus}"],
    "encoders.py": ["--quick", "--corpus", "{corpus}"],
    "startup.py": ["--quick", "--corpus", "{corpus}"],
    "synth.py": ["--quick"],
    "train_speed.py": ["--quick"],
    "training.py": ["--quick"],
    "results_table.py": ["--check"],
    # one fold of one small CNN for one epoch: the real pipeline on the real corpus
    "accuracy.py": ["--protocol", "emobox_6fold", "--models", "cnnx", "--folds", "1",
                    "--no-registry", "--workdir", "{tmp}/accuracy", "--corpus", "{corpus}",
                    "--configfile", "{tmp}/one_epoch.yaml"],
    "refit_fusion.py": ["--chosen", "{tmp}/chosen", "--refit", "{tmp}/refit"],
    "device/run.py": ["--smoke", "--out", "{tmp}/device", "--workdir", "{tmp}/device-work",
                      "--corpus", "{corpus}", "--budget-s", "300"],
    "device/size.py": [],
    "device/summarise.py": ["benchmarks/device/results/full_recipes_2026-12-04.tar.gz",
                            "--folds"],
}

# what `{tmp}` must hold before an entry runs, made by tests/test_benchmarks.py
NEEDS_RUNS = {"refit_fusion.py": "two finished runs, the held-out one with a fusion"}

ELSEWHERE = {
    "publish_report.py": "copies a finished real-corpus run's report after opening it in "
                         "headless Chromium; tests/test_published_report.py checks the "
                         "published page",
    "device/prepare.py": "fetches wheels from PyPI for the GPU machine",
    "device/run.sh": "the GPU machine's command (run.py --smoke is its check here)",
    "device/session.sh": "a GPU session; its CPU check is in its header",
    "device/cnn14.sh": "CNN-14 runs on the GPU machine",
    "device/full.sh": "full recipes on the GPU machine",
}


def command(script: str, tmp: Path, corpus: Path = CORPUS) -> list[str]:
    """The quick mode of `script` (a path under benchmarks/) as an argument list."""
    args = [a.format(tmp=tmp, corpus=corpus) for a in QUICK[script]]
    return [sys.executable, str(REPO / "benchmarks" / script), *args]


def run(script: str, tmp: Path, corpus: Path = CORPUS) -> subprocess.CompletedProcess:
    """Run one quick mode in the repository, its output captured."""
    (tmp / "one_epoch.yaml").write_text(ONE_EPOCH)
    return subprocess.run(command(script, tmp, corpus), cwd=REPO, capture_output=True, text=True,
                          timeout=900)


def main(names: list[str]) -> int:
    failed = []
    for script in names or [s for s in QUICK if s not in NEEDS_RUNS]:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.monotonic()
            done = run(script, Path(tmp))
        status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"== {script} (quick mode): {status} in {time.monotonic() - start:.0f} s", flush=True)
        shown = done.stdout if done.returncode == 0 else done.stdout + done.stderr
        print(shown.strip()[-2000:], flush=True)
        if done.returncode:
            failed.append(script)
    for script, why in {**NEEDS_RUNS, **ELSEWHERE}.items():
        print(f"== {script}: not run here ({why})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
