"""One canonical form for every settings digest (report provenance and the trainer's resume key)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from conftest import REPO
from ser.digest import canonical_json, config_hash


def test_canonical_form_is_sorted_compact_json() -> None:
    cfg = {"b": [1, 2.5], "a": {"y": "x", "x": None}}
    assert canonical_json(cfg) == '{"a":{"x":null,"y":"x"},"b":[1,2.5]}'
    assert config_hash(cfg) == hashlib.sha256(b'{"a":{"x":null,"y":"x"},"b":[1,2.5]}').hexdigest()


def test_the_same_config_hashes_the_same_however_it_was_built() -> None:
    from_yaml = yaml.safe_load((REPO / "config.yaml").read_text())
    reordered = dict(reversed(list(json.loads(json.dumps(from_yaml)).items())))
    assert list(reordered) != list(from_yaml)
    assert config_hash(reordered) == config_hash(from_yaml)
    # tuples (Python defaults) and lists (YAML), paths and their strings are the same setting
    assert config_hash({"size": (128, 256), "dir": Path("a/b")}) == \
        config_hash({"dir": "a/b", "size": [128, 256]})
    assert config_hash({**from_yaml, "labels": "emotion7"}) != config_hash(from_yaml)


def test_report_and_trainer_use_the_one_digest() -> None:
    from ser.report import html
    from ser.train import loop

    assert html.config_hash is config_hash and loop.config_hash is config_hash
