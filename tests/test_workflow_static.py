"""The workflow's own promises: lint-clean, every rule logged and benchmarked, envs agree with the lock."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO, layered_config, run_snakemake


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


PRESETS = sorted((REPO / "workflow" / "presets").glob("*.yaml"))


def test_every_preset_validates_over_the_default_config():
    assert {p.stem for p in PRESETS} >= {"emobox_6fold", "dchung_4fold", "demo", "whole_clip"}
    for preset in PRESETS:
        layered_config(preset)  # raises snakemake's WorkflowError naming the bad key


def test_whole_clip_changes_the_front_end_and_keeps_the_protocol():
    whole_clip = REPO / "workflow" / "presets" / "whole_clip.yaml"
    for protocol in ("emobox_6fold", "dchung_4fold"):
        base = layered_config(REPO / "workflow" / "presets" / f"{protocol}.yaml")
        config = layered_config(REPO / "workflow" / "presets" / f"{protocol}.yaml", whole_clip)
        assert config["protocol"] == base["protocol"]
        assert config["training"] == base["training"]
        assert config["audio"]["stretch_frames"] == 256
        assert config["features"]["logmel"]["ref"] == "max"
        # only the keys it names change: the mel resolution stays the preset's
        assert config["features"]["logmel"]["n_mels"] == base["features"]["logmel"]["n_mels"]
