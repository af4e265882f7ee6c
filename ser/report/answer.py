"""The sentences that answer the question: which corpus, which family won, by how much, how sure.

UA (unweighted accuracy, the mean per-class recall that EmoBox reports) is the headline, WA beside
it. The first sentence is the answer in short (scratch against transfer, the best family); the
next names the corpus, so that a number quoted from the page carries where it came from. On the
synthetic demo corpus the first sentence says that the numbers are about the pipeline.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import pandas as pd

from ser.data.provenance import describe, is_synthetic
from ser.stats import FamilyComparison, PairedComparison, random_weights, summarize

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
    return sorted(metrics.loc[random_weights(metrics), "model"].unique())


def p_text(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def pm(values) -> str:
    s = summarize(values)
    std = "n/a" if math.isnan(s.std) else f"{100 * s.std:.1f}"
    return f"{100 * s.mean:.1f} ± {std} %"


def scores_text(metrics: pd.DataFrame, model: str) -> str:
    """'UA 61.2 ± 3.4 % (WA 60.1 ± 3.0 %)' over the model's folds."""
    rows = metrics[metrics["model"] == model]
    return f"UA {pm(rows['unweighted_accuracy'])} (WA {pm(rows['accuracy'])})"


def comparison_sentence(cmp: PairedComparison, n_pairs: int) -> str:
    """'a difference of D UA points for transfer (95 % CI [..], corrected t-test p = .., ...)'."""
    d = cmp.differences
    word = "higher" if d.mean > 0 else "lower" if d.mean < 0 else "equal"
    if cmp.n < 2:
        stats = f"{cmp.n} fold, so no interval or test"
    else:
        holm = (f"Holm-adjusted over {n_pairs} pairs: t p {p_text(cmp.t_pvalue_holm)}, Wilcoxon "
                f"p {p_text(cmp.wilcoxon_pvalue_holm)}; " if n_pairs > 1 else "")
        stats = (f"95 % CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}] with the variance "
                 f"corrected for overlapping training sets, corrected resampled t-test "
                 f"p {p_text(cmp.t_pvalue)}, Wilcoxon signed-rank p {p_text(cmp.wilcoxon_pvalue)}; "
                 f"{holm}Cohen's d_z "
                 f"{'n/a' if math.isnan(cmp.cohen_dz) else f'{cmp.cohen_dz:.2f}'}, "
                 f"n = {cmp.n} folds")
    return (f"a difference of {100 * d.mean:+.1f} UA points for {cmp.family_b} "
            f"({word}; {stats})")


def corpus_clause(corpus: dict | None) -> str:
    if is_synthetic(corpus):
        return ("On synthetic audio, the demo corpus generated in RAVDESS form (not RAVDESS "
                "recordings, so these numbers are about the pipeline, not about emotion "
                "recognition, and no published result is comparable)")
    return f"On {describe(corpus)}"


def best_family(comparison: FamilyComparison, metrics: pd.DataFrame) -> tuple[str, str, str]:
    """(family, model, 'UA m ± s %') of the representative of highest mean test UA: reported,
    not chosen (each representative was chosen on validation actors)."""
    ua = {rep.model: metrics.loc[metrics["model"] == rep.model, "unweighted_accuracy"]
          for rep in comparison.representatives.values()}
    family, rep = max(comparison.representatives.items(), key=lambda kv: ua[kv[1].model].mean())
    return family, rep.model, f"UA {pm(ua[rep.model])}"


def cost_text(models: list[str], cost: Mapping[str, str]) -> str:
    """' (cnn6: 40 epochs instead of ..., for cost)' for the models whose recipe was cut."""
    cut = [f"{m}: {cost[m]}" for m in models if cost.get(m)]
    return f" ({'; '.join(cut)}, for cost)" if cut else ""


def short_answer(cmp: PairedComparison, comparison: FamilyComparison, metrics: pd.DataFrame,
                 corpus: dict | None, cost: Mapping[str, str] | None = None) -> str:
    """The first sentence, under 60 words: scratch against transfer, and the best family, and
    which of the two was cut for cost (config report.cost_settings)."""
    family, model, ua = best_family(comparison, metrics)
    ua_a = pm(metrics.loc[metrics["model"] == cmp.a, "unweighted_accuracy"])
    ua_b = pm(metrics.loc[metrics["model"] == cmp.b, "unweighted_accuracy"])
    where = ("On synthetic demo audio (numbers about the pipeline, not about emotion), transfer "
             if is_synthetic(corpus) else "Transfer ")
    return (f"{where}learning ({cmp.b}, UA {ua_b}) against CNNs from scratch ({cmp.a}, UA "
            f"{ua_a}): {100 * cmp.differences.mean:+.1f} points for transfer (corrected t-test "
            f"p {p_text(cmp.t_pvalue)}){cost_text([cmp.a, cmp.b], cost or {})}; best family "
            f"overall: {family} ({model}, {ua}).")


def answer_sentence(scheme: str, protocol_text: str, comparison: FamilyComparison,
                    metrics: pd.DataFrame, corpus: dict | None,
                    cost: Mapping[str, str] | None = None) -> str:
    """The report's first sentence (the answer in short), then the corpus, the protocol, the
    paired test and the caveats, in plain text."""
    head = f"{corpus_clause(corpus)}, under {scheme} ({protocol_text}), "
    cmp = comparison.headline
    if cmp is None:
        return head + comparison.reason() + "."
    reps = comparison.representatives
    text = (short_answer(cmp, comparison, metrics, corpus, cost) + " " + head +
            f"the transfer representative {cmp.b} reached {scores_text(metrics, cmp.b)} "
            f"on the test actors against {scores_text(metrics, cmp.a)} for the scratch "
            f"representative {cmp.a}: " + comparison_sentence(cmp, len(comparison.pairs)) + ". "
            f"Representatives: {cmp.a} ({reps['scratch'].rule}) and {cmp.b} "
            f"({reps['transfer'].rule}).")
    if cmp.b in random_weight_models(metrics):
        text += (f" Caution: {cmp.b} was trained from random weights, so this is NOT "
                 "real transfer learning; it compares architectures only.")
    return text


def first_sentence(text: str) -> str:
    """The first sentence of an answer: up to the first full stop followed by a capital letter
    (decimal points and 'p = 0.012)' are not sentence ends)."""
    return re.split(r"(?<=\.)\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]
