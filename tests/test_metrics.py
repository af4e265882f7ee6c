"""ser.metrics against sklearn and against cases small enough to check by hand."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from ser.metrics import classification_metrics, confusion_matrix


def test_hand_checkable_case() -> None:
    # class 0: 2 of 3 right; class 1: 1 of 1 right; class 2: never predicted, 0 of 1 right.
    y_true = np.array([0, 0, 0, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 0])
    m = classification_metrics(y_true, y_pred, 3)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["unweighted_accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    # precision: class 0 2/3, class 1 1/2, class 2 undefined -> 0
    assert m["precision_macro"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    f1_0 = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    f1_1 = 2 * 0.5 * 1 / 1.5
    assert m["f1_macro"] == pytest.approx((f1_0 + f1_1 + 0) / 3)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_perfect_and_all_wrong() -> None:
    y = np.array([0, 1, 2, 3, 3])
    assert classification_metrics(y, y, 4)["f1_macro"] == pytest.approx(1.0)
    wrong = classification_metrics(y, (y + 1) % 4, 4)
    assert wrong["accuracy"] == 0.0 and wrong["unweighted_accuracy"] == 0.0


@pytest.mark.parametrize("n_classes", [2, 8, 14])
def test_matches_sklearn_on_test_fold_sized_arrays(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    y_true = rng.integers(0, n_classes, size=240)
    # a biased classifier: right 40 % of the time, otherwise a skewed guess, so some classes are
    # rarely or never predicted and zero_division matters
    guess = rng.choice(n_classes, size=240, p=np.arange(1, n_classes + 1) ** 3 /
                       (np.arange(1, n_classes + 1) ** 3).sum())
    y_pred = np.where(rng.random(240) < 0.4, y_true, guess)
    labels = list(range(n_classes))
    m = classification_metrics(y_true, y_pred, n_classes)
    kw = dict(labels=labels, average="macro", zero_division=0)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert m["unweighted_accuracy"] == pytest.approx(skm.recall_score(y_true, y_pred, **kw))
    assert m["precision_macro"] == pytest.approx(skm.precision_score(y_true, y_pred, **kw))
    assert m["recall_macro"] == pytest.approx(skm.recall_score(y_true, y_pred, **kw))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, **kw))
    np.testing.assert_array_equal(m["confusion_matrix"],
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))


def test_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="shapes"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)
