"""The sentences that answer the question: which family won, by how much, and how sure we are."""
from __future__ import annotations

import math

import pandas as pd

from ser.stats import PairedComparison, summarize

SCHEMES = {
    "emobox_6fold": "speaker-independent, {n} folds by actor from the EmoBox fold list",
    "dchung_4fold": "speaker-independent, {n} folds by actor from the dchung1209/RAVDESS fold list",
    "actor_kfold": "speaker-independent, {n} folds of actors drawn with seed {seed}",
    "loso": "speaker-independent, leave one speaker out ({n} folds)",
    "random_kfold": "NOT speaker-independent: {n} folds of files drawn at random, so every test "
                    "speaker is also heard in training",
}


def protocol_description(scheme: str, n_folds: int, config: dict) -> str:
    seed = config.get("protocol", {}).get("seed", "?")
    template = SCHEMES.get(scheme, "unknown protocol, {n} folds")
    return template.format(n=n_folds, seed=seed)


def random_weight_models(metrics: pd.DataFrame) -> list[str]:
    """Transfer models whose weights were not pretrained ('none ...'): no transfer happened."""
    rows = metrics[(metrics["family"] == "transfer")
                   & metrics["weights"].astype(str).str.lower().str.startswith("none")]
    return sorted(rows["model"].unique())


def _p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def _pm(values: list[float]) -> str:
    s = summarize(values)
    std = "n/a" if math.isnan(s.std) else f"{100 * s.std:.1f}"
    return f"{100 * s.mean:.1f} ± {std} %"


def comparison_sentence(cmp: PairedComparison) -> str:
    """'a difference of D points (95 % CI [..], paired t-test p = .., Wilcoxon p = .., n folds)'."""
    d = cmp.differences
    word = "higher" if d.mean > 0 else "lower" if d.mean < 0 else "equal"
    if cmp.n < 2:
        stats = f"{cmp.n} fold, so no interval or test"
    else:
        stats = (f"95 % CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}], paired t-test "
                 f"p {_p(cmp.t_pvalue)}, Wilcoxon signed-rank p {_p(cmp.wilcoxon_pvalue)}, "
                 f"Cohen's d_z {'n/a' if math.isnan(cmp.cohen_dz) else f'{cmp.cohen_dz:.2f}'}, "
                 f"n = {cmp.n} folds")
    return (f"a difference of {100 * d.mean:+.1f} points for transfer ({word}; {stats})")


def answer_sentence(scheme: str, protocol_text: str, cmp: PairedComparison | None,
                    reason: str, metrics: pd.DataFrame) -> str:
    """The report's first sentence, in plain text."""
    head = f"On {scheme} ({protocol_text}), "
    if cmp is None:
        return head + reason + "."
    scratch = metrics[metrics["model"] == cmp.scratch]["accuracy"].tolist()
    transfer = metrics[metrics["model"] == cmp.transfer]["accuracy"].tolist()
    text = (head + f"the best transfer model {cmp.transfer} reached {_pm(transfer)} test "
            f"accuracy against {_pm(scratch)} for the best scratch model {cmp.scratch}: "
            + comparison_sentence(cmp) + ".")
    if cmp.transfer in random_weight_models(metrics):
        text += (f" Caution: {cmp.transfer} was trained from random weights, so this is NOT "
                 "real transfer learning; it compares architectures only.")
    return text
