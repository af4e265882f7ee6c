"""`ser export` of a fusion's model.json: each member exported into its own folder (its model and
its preprocessing.json, as `ser export` writes them for that member alone) and `fusion.json`
with the weights chosen on validation actors.

The members read different features of different windows, so no single graph takes one input:
a runtime scores a recording with each member as its preprocessing.json says (windows averaged
over a long recording), then combines the members' probabilities with `fuse_exported`, the small
runner kept here, or with the one line of arithmetic fusion.json states.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ser import __version__
from ser.io import atomic_file
from ser.use.calibration import export_record
from ser.use.trained import FusionTrained

FUSION_FILE = "fusion.json"


def export_fusion(fusion: FusionTrained, out_dir: Path,
                  export_member: Callable[[object, Path], list[Path]]) -> list[Path]:
    """<member>/ for each member and fusion.json in `out_dir`; returns the paths written.
    `export_member(trained, folder)` exports one member by its family (ser.use.export passes
    its own dispatch, so this module need not import it)."""
    written = []
    for name, _, trained in fusion.members:
        written += export_member(trained, out_dir / name)
    record = {"format": "late fusion", "ser_version": __version__, "classes": fusion.classes,
              "members": [{"name": name, "folder": name, "weight": w}
                          for (name, _, _), w in zip(fusion.members, fusion.weights)],
              "combine": "p = sum_m weight_m * p_m, p_m a member's (files, classes) "
                         "probabilities, each the mean over that member's windows",
              "weights_chosen_on": "the validation actors' files, never test files",
              "calibration": export_record(fusion.temperature),
              "fitted_on_files": len(fusion.info.get("fitted_on_files", []))}
    path = out_dir / FUSION_FILE
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return [*written, path]


def fuse_exported(export_dir: str | Path, member_probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The fused (files, classes) probabilities from each member's probabilities, by name, with
    the weights of `export_dir`/fusion.json."""
    record = json.loads((Path(export_dir) / FUSION_FILE).read_text())
    missing = [m["name"] for m in record["members"] if m["name"] not in member_probs]
    if missing:
        raise ValueError(f"{export_dir}: probabilities of members {missing} are missing")
    return sum(m["weight"] * np.asarray(member_probs[m["name"]], np.float64)
               for m in record["members"])
