"""The README is the front door: short, and every snakemake command in it runs as written.

Each `snakemake` line of the README's bash blocks is dry-run from the repository root (where a
user types it) into a scratch --directory. The example paths a user replaces with their own
(`/data/...`) point at the real corpus and at a zip made from it.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

README = REPO / "README.md"


def readme_commands(prefix: str) -> list[str]:
    """The lines of the README's ```bash blocks that start with `prefix`, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def test_readme_is_short_and_names_no_missing_section() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#]+)\)", text):  # relative links resolve
        assert (REPO / target).exists(), target
    assert "RESULTS_ROWS" not in text and "TEST_TIMING" not in text


@pytest.fixture(scope="module")
def user_paths(tmp_path_factory, ravdess16k: Path) -> dict[str, str]:
    """The README's example paths, made real: the shared corpus, and a zip of two actors of it."""
    archive = tmp_path_factory.mktemp("data") / "Audio_Speech_Actors_01-24.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(ravdess16k.glob("Actor_0[12]/*.flac")):
            z.write(path, path.relative_to(ravdess16k))
    return {"/data/Audio_Speech_Actors_01-24.zip": str(archive), "/data/ravdess": str(ravdess16k)}


@pytest.mark.slow
def test_every_readme_snakemake_command_dry_runs(tmp_path: Path, user_paths: dict) -> None:
    commands = readme_commands("snakemake ")
    assert len(commands) >= 6  # the real run, offline zip and folder, presets, the cluster run
    runs = []
    for i, command in enumerate(commands):  # started together: each is mostly Python start-up
        for example, real in user_paths.items():
            command = command.replace(example, real)
        args = shlex.split(command)[1:]
        runs.append((command, subprocess.Popen(
            [sys.executable, "-m", "snakemake", "-n", "--directory", str(tmp_path / str(i)), *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)})))
    failed = []
    for command, proc in runs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or "This was a dry-run" not in out:
            failed.append(f"{command}\n{err[-2000:]}")
    assert not failed, "\n\n".join(failed)
