"""Every script under benchmarks/ runs: each has a quick mode in benchmarks/quick.py (or a reason
it cannot run here), and each quick mode runs to the end on the real corpus (`make test-slow`)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import REPO
from test_fusion import corpus  # noqa: F401 - fixture of refit_fusion's runs
from test_refit_fusion import make_run

sys.path.insert(0, str(REPO / "benchmarks"))
import quick  # noqa: E402


def test_every_benchmark_script_has_a_quick_mode_or_a_reason():
    scripts = sorted(str(p.relative_to(REPO / "benchmarks"))
                     for p in (REPO / "benchmarks").rglob("*")
                     if p.suffix in (".py", ".sh") and p.name != "quick.py")
    listed = set(quick.QUICK) | set(quick.ELSEWHERE)
    assert [s for s in scripts if s not in listed] == []
    assert [s for s in listed if not (REPO / "benchmarks" / s).is_file()] == []


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(quick.QUICK))
def test_quick_mode_runs(script: str, ravdess16k: Path, request, tmp_path: Path):
    if script in quick.NEEDS_RUNS:  # refit_fusion: a held-out run with a fusion, and a refit
        runs = request.getfixturevalue("corpus")
        make_run(runs, tmp_path / "chosen", seed=1, fused=True)
        make_run(runs, tmp_path / "refit", seed=2)
    done = quick.run(script, tmp_path, ravdess16k)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
