"""The workflow's own promises: lint-clean, every rule logged and benchmarked, envs agree with the lock."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO, run_snakemake


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_snakemake_lint_is_clean(tmp_path):
    proc = run_snakemake(tmp_path, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_has_log_benchmark_and_conda_env():
    for smk in (REPO / "rules").glob("*.smk"):
        for rule in re.split(r"\nrule ", smk.read_text())[1:]:
            name = rule.split(":")[0]
            for directive in ("log:", "benchmark:", "conda:"):
                assert f"    {directive}" in rule, f"rule {name} in {smk.name} lacks {directive}"


def test_conda_env_pins_agree_with_the_lock():
    lock = lock_pins()
    env = yaml.safe_load((REPO / "envs" / "ser.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = dict(p.split("==") for p in pip)
    for name, version in env_pins.items():
        assert lock.get(name) == version, f"envs/ser.yaml pins {name}=={version}, lock {lock.get(name)}"
    direct = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in direct:
        name = re.split(r"[<>=!~ ]", dep)[0].lower()
        assert name in env_pins, f"{name} (pyproject.toml) is missing from envs/ser.yaml"
        assert name in lock, f"{name} (pyproject.toml) is missing from requirements.lock"
