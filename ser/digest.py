"""The one digest of settings: the report's provenance and the trainer's resume key use it both.

The canonical form is JSON with sorted keys and no spaces; tuples are written as lists and
anything else JSON cannot hold (paths, numpy scalars) as its `str`, so a config read back from
YAML or built in Python hashes the same.
"""
from __future__ import annotations

import hashlib
import json


def canonical_json(obj: object) -> str:
    """`obj` as canonical JSON (sorted keys, `,` and `:` without spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: object) -> str:
    """sha256 (hex) of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()
