"""Which published RAVDESS results our numbers may be set beside, and why the others may not.

A published score is comparable only when it was measured on the same fold list (the protocol
column names the fold file, e.g. `emobox_6fold.csv`), with the same number of classes, and our run
covers every fold of that list: a mean over some folds is a mean over other test speakers.

Even then the training set-up may differ: the published rows train on every actor outside the
test fold (EmoBox on all 20 others), while a run that holds validation actors out trains on fewer.
Such rows are marked "same folds, different training set-up". On the synthetic demo corpus no
published row is comparable: its numbers are about the pipeline, not about RAVDESS.
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


SAME_SETUP = "comparable"
OTHER_SETUP = "same folds, different training set-up"
NOT_COMPARABLE = "not comparable"


def comparability(published: pd.DataFrame, scheme: str, n_classes: int,
                  our_folds: list[int], n_val_actors: int = 0,
                  synthetic: bool = False) -> pd.DataFrame:
    """`published` with three more columns: `comparable` (same fold list, classes and folds),
    `status` (comparable / same folds, different training set-up / not comparable) and `reason`.

    `n_val_actors`: validation actors this run held out of each training fold.
    """
    missing: list[int] = []
    if scheme in FOLD_FILES:
        missing = sorted(set(published_folds(scheme).values()) - {int(f) for f in our_folds})
    reasons = [_reason(row, scheme, n_classes, missing) for _, row in published.iterrows()]
    if synthetic:
        reasons = ["this run's corpus is synthetic audio, not RAVDESS: its numbers are about the "
                   "pipeline, so no published result is comparable"] * len(published)
    out = published.copy()
    out["comparable"] = [not r for r in reasons]
    setup = (f"{OTHER_SETUP}: the published model trains on every actor outside the test fold, "
             f"this run holds {n_val_actors} of them out for validation" if n_val_actors else "")
    out["status"] = [NOT_COMPARABLE if r else OTHER_SETUP if setup else SAME_SETUP
                     for r in reasons]
    out["reason"] = [r or setup for r in reasons]
    return out
