"""ser.stats against independent computations: the corrected resampled t-test by hand from its
published formula, Holm's adjustment against statsmodels, and the choice of representatives."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from ser.stats import (choose_representatives, compare_families, corrected_t, holm,
                       paired_comparison, what_folds_can_show)

# A worked example: 6 folds, 240 test and 960 training files per fold.
DIFF = [0.02, 0.05, -0.01, 0.04, 0.03, 0.01]


def test_corrected_t_by_hand_from_nadeau_and_bengio() -> None:
    """t = mean(d) / sqrt((1/k + n_test/n_train) s²): mean 0.14/6, s² = 0.0014/3 (the squared
    deviations from the mean sum to 0.007/3, over k - 1 = 5), n_test/n_train = 240/960."""
    t_hand = (0.14 / 6) / math.sqrt((1 / 6 + 1 / 4) * 0.0014 / 3)
    assert t_hand == pytest.approx(1.6733, abs=1e-4)
    t, p = corrected_t(DIFF, 240 / 960)
    assert t == pytest.approx(t_hand, rel=1e-12)
    assert p == pytest.approx(2 * sps.t.sf(t_hand, df=5), rel=1e-12)
    # the correction only shrinks the plain paired t by sqrt((1/k) / (1/k + n_test/n_train))
    plain = sps.ttest_1samp(DIFF, 0.0)
    assert t == pytest.approx(plain.statistic * math.sqrt((1 / 6) / (1 / 6 + 1 / 4)))
    assert p > plain.pvalue


def fold_table(models: dict[str, tuple[str, list[float], list[float] | None]],
               n_train: int = 960, n_test: int = 240) -> pd.DataFrame:
    """model -> (family, test UA per fold, validation UA per fold or None)."""
    rows = []
    for model, (family, test, val) in models.items():
        for k, ua in enumerate(test, start=1):
            rows.append({"model": model, "family": family, "fold": k, "unweighted_accuracy": ua,
                         "accuracy": ua + 0.01, "n_train": n_train, "n_test": n_test,
                         "val_unweighted_accuracy": math.nan if val is None else val[k - 1]})
    return pd.DataFrame(rows)


def test_paired_comparison_uses_the_corrected_variance_for_test_and_interval() -> None:
    base = [0.40, 0.45, 0.50, 0.42, 0.47, 0.44]
    m = fold_table({"a": ("scratch", base, None),
                    "b": ("transfer", [x + d for x, d in zip(base, DIFF)], None)})
    cmp = paired_comparison(m, "a", "b")
    t_hand = (0.14 / 6) / math.sqrt((1 / 6 + 1 / 4) * 0.0014 / 3)
    assert cmp.t_statistic == pytest.approx(t_hand)
    half = sps.t.ppf(0.975, 5) * math.sqrt((1 / 6 + 1 / 4) * 0.0014 / 3)
    assert (cmp.differences.ci_low, cmp.differences.ci_high) == pytest.approx(
        (0.14 / 6 - half, 0.14 / 6 + half))
    assert cmp.wilcoxon_pvalue == pytest.approx(sps.wilcoxon(DIFF).pvalue)
    assert cmp.label == "transfer minus scratch"


THREE = {  # classical: svm is test-best, logreg validation-best; scratch: likewise cnnx / kaggle
    "svm": ("classical", [0.36, 0.40, 0.33, 0.41, 0.38, 0.35], [0.30] * 6),
    "logreg": ("classical", [0.30, 0.33, 0.29, 0.36, 0.31, 0.28], [0.34] * 6),
    "cnnx": ("scratch", [0.48, 0.50, 0.41, 0.55, 0.47, 0.44], [0.40] * 6),
    "kaggle_cnn1d": ("scratch", [0.38, 0.44, 0.37, 0.42, 0.41, 0.39], [0.45] * 6),
    "resnet18": ("transfer", [0.45, 0.43, 0.44, 0.47, 0.40, 0.46], [0.42] * 6),
}


def test_three_families_every_pair_holm_adjusted_as_statsmodels_does() -> None:
    cmp = compare_families(fold_table(THREE))
    assert {f: r.model for f, r in cmp.representatives.items()} == {
        "classical": "logreg", "scratch": "kaggle_cnn1d", "transfer": "resnet18"}
    assert [p.label for p in cmp.pairs] == ["scratch minus classical", "transfer minus classical",
                                            "transfer minus scratch"]
    assert (cmp.headline.a, cmp.headline.b) == ("kaggle_cnn1d", "resnet18")
    for raw, adjusted in (("t_pvalue", "t_pvalue_holm"),
                          ("wilcoxon_pvalue", "wilcoxon_pvalue_holm")):
        p = [getattr(pair, raw) for pair in cmp.pairs]
        expected = multipletests(p, method="holm")[1]
        assert [getattr(pair, adjusted) for pair in cmp.pairs] == pytest.approx(expected)
    # not all adjusted values are clipped at 1 or equal to the raw ones: the check has teeth
    assert len({round(x, 9) for x in multipletests([p.t_pvalue for p in cmp.pairs],
                                                   method="holm")[1]}) == 3


def test_holm_matches_statsmodels_and_skips_nan() -> None:
    p = [0.01, 0.04, 0.03, 0.20, 0.012]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    out = holm([0.04, math.nan, 0.01])
    assert math.isnan(out[1])
    assert [out[0], out[2]] == pytest.approx(multipletests([0.04, 0.01], method="holm")[1])


def test_representative_is_never_the_test_best_by_default_and_can_be_pinned() -> None:
    m = fold_table(THREE)
    chosen, _ = choose_representatives(m)
    assert chosen["scratch"].model == "kaggle_cnn1d"  # though cnnx has the higher test UA
    assert "validation UA" in chosen["scratch"].rule and "never on test" in chosen["scratch"].rule
    chosen, _ = choose_representatives(m, {"scratch": "cnnx"})
    assert chosen["scratch"].model == "cnnx" and "pinned" in chosen["scratch"].rule
    with pytest.raises(ValueError, match="pins 'vgg'.*scratch"):
        choose_representatives(m, {"scratch": "vgg"})
    with pytest.raises(ValueError, match="no transfer model of that name"):
        choose_representatives(m, {"transfer": "cnnx"})


def test_transfer_representative_has_real_pretrained_weights_when_the_run_has_any() -> None:
    """A randomly initialised 'transfer' architecture answers nothing about transfer: with a
    real pretrained model in the run it is no candidate, however high its validation UA."""
    m = fold_table({"resnet18": ("transfer", [0.5] * 3, [0.7] * 3),
                    "ge2e_lr": ("transfer", [0.6] * 3, [0.6] * 3),
                    "cnn6": ("scratch", [0.5] * 3, [0.5] * 3)})
    m["weights"] = m["model"].map({"resnet18": "none (random init)", "cnn6": "none (random init)",
                                   "ge2e_lr": "speaker identity: ge2e (sha256 39373b86598f)"})
    rep = choose_representatives(m)[0]["transfer"]
    assert rep.model == "ge2e_lr" and "resnet18 (random initial weights) not candidates" in rep.rule
    assert choose_representatives(m)[0]["scratch"].model == "cnn6"  # scratch is random by nature
    # no real weights at all: the architectures are compared, as before (the report cautions)
    only_random = m[m["model"] != "ge2e_lr"]
    assert choose_representatives(only_random)[0]["transfer"].model == "resnet18"
    assert choose_representatives(m, {"transfer": "resnet18"})[0]["transfer"].model == "resnet18"


def test_ties_by_name_and_no_validation_scores_require_pinning() -> None:
    tie = fold_table({"b_model": ("scratch", [0.5] * 3, [0.4] * 3),
                      "a_model": ("scratch", [0.3] * 3, [0.4] * 3)})
    assert choose_representatives(tie)[0]["scratch"].model == "a_model"
    # dchung_4fold holds no validation actors: nothing honest to choose by among several models
    none = fold_table({"cnnx": ("scratch", [0.5] * 3, None),
                       "kaggle_cnn1d": ("scratch", [0.4] * 3, None),
                       "resnet18": ("transfer", [0.6] * 3, None)})
    cmp = compare_families(none)
    assert cmp.headline is None and "scratch" not in cmp.representatives
    assert cmp.representatives["transfer"].rule == "the only transfer model of this run"
    assert "no validation scores" in cmp.reason() and "report.compare" in cmp.reason()
    assert compare_families(none, {"scratch": "cnnx"}).headline.a == "cnnx"


def test_what_folds_can_show_names_the_wilcoxon_floor() -> None:
    text = what_folds_can_show(4)
    assert text.startswith("With 4 folds") and text.count(".") >= 1
    assert f"{2 / 2 ** 4:.3g}" in text and "not that it holds for other speakers" in text
    assert np.isclose(float(text.rsplit(" ", 1)[1].rstrip(").")), 0.125)
