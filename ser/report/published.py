"""Which published RAVDESS results our numbers may be set beside, and why the others may not.

A published score is comparable only when it was measured on the same fold list (the protocol
column names the fold file, e.g. `emobox_6fold.csv`), with the same number of classes, and our run
covers every fold of that list: a mean over some folds is a mean over other test speakers.
"""
from __future__ import annotations

import pandas as pd

from ser.data.folds import published_folds

FOLD_FILES = {"emobox_6fold": "emobox_6fold.csv", "dchung_4fold": "dchung_4fold.csv"}


def _reason(row: pd.Series, scheme: str, n_classes: int, missing_folds: list[int]) -> str:
    """Empty when comparable, else the reason it is not."""
    protocol = str(row["protocol"])
    if scheme not in FOLD_FILES:
        return (f"our protocol {scheme} is not a published fold list, so no published number "
                f"shares our test speakers (this row: {protocol})")
    if FOLD_FILES[scheme] not in protocol:
        return f"protocol '{protocol}' is not our fold list {FOLD_FILES[scheme]}"
    if int(row["n_classes"]) != n_classes:
        return f"{int(row['n_classes'])} classes against our {n_classes}"
    if missing_folds:
        return (f"same fold list, but our run lacks folds {missing_folds}, so its mean covers "
                "other test speakers")
    return ""


def comparability(published: pd.DataFrame, scheme: str, n_classes: int,
                  our_folds: list[int]) -> pd.DataFrame:
    """`published` with two more columns: `comparable` (bool) and `reason` (why not)."""
    missing: list[int] = []
    if scheme in FOLD_FILES:
        missing = sorted(set(published_folds(scheme).values()) - {int(f) for f in our_folds})
    reasons = [_reason(row, scheme, n_classes, missing) for _, row in published.iterrows()]
    out = published.copy()
    out["comparable"] = [not r for r in reasons]
    out["reason"] = reasons
    return out
