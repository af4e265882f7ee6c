"""Which model `snakemake final` trains when `final.models` names none: of the family
representatives (chosen within each family on validation UA, as the report chooses them), the
one of highest mean validation UA. No test score takes part.

A fusion's validation UA is that of weights chosen on the same validation files, so it is
optimistic; a linear model's is that of a fit on the training actors alone, scored on the
validation actors. Both are what the report ranks its families by.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ser.io import read_table
from ser.stats import Representative, choose_representatives


def best_representative(metrics: pd.DataFrame, pinned: Mapping[str, str] | None = None
                        ) -> tuple[Representative, dict[str, Representative]]:
    """The representative of highest mean validation UA (ties by name) and every family's."""
    chosen, missing = choose_representatives(metrics, pinned)
    scored = {f: r for f, r in chosen.items() if not math.isnan(r.val_score)}
    if not scored:
        why = "; ".join(f"{f}: {reason}" for f, reason in missing.items()) or \
            "no model has validation scores (no validation actors)"
        raise ValueError("final.models is empty, so the final model is the validation-best "
                         f"family representative, but none can be chosen ({why}); name the "
                         "models in final.models")
    best = sorted(scored.values(), key=lambda r: (-r.val_score, r.model))[0]
    return best, chosen


def write_final_choice(metrics_csv: str | Path, pinned: Mapping[str, str] | None,
                       out: str | Path, log: logging.Logger) -> dict:
    """results/final/chosen.json: the model, its family, its validation UA, why, and the others."""
    from ser.train.outputs import write_json

    metrics = read_table(metrics_csv, "the run's metrics", ("model", "family"))
    best, chosen = best_representative(metrics, pinned)
    record = {"model": best.model, "family": best.family,
              "val_unweighted_accuracy": best.val_score,
              "folder": f"results/final/{best.model}",
              "rule": "the family representative of highest mean validation UA over the "
                      "cross-validation folds (no test score takes part)",
              "representatives": {f: {"model": r.model, "val_unweighted_accuracy": r.val_score,
                                      "rule": r.rule} for f, r in sorted(chosen.items())}}
    for family, rep in sorted(chosen.items(), key=lambda kv: -kv[1].val_score):
        log.info("%-10s %-22s mean validation UA %.4f", family, rep.model, rep.val_score)
    log.info("final model: %s (%s)", best.model, best.family)
    write_json(record, Path(out))
    return record
